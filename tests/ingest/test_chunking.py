from __future__ import annotations

import pytest

from ingest.chunking import ChunkerConfig, chunk_document, embed_text, text_units
from ingest.documents import Section, SourceDocument


def _doc(*sections: Section, title: str = "转账一直显示打包中") -> SourceDocument:
    return SourceDocument(path="a.md", kind="article", title=title, sections=list(sections))


def test_small_sections_merge_and_keep_the_first_heading_path() -> None:
    doc = _doc(Section(("原因",), "矿工费太低。"), Section(("处理",), "点击加速。"))
    chunks = chunk_document(doc)
    assert len(chunks) == 1
    assert chunks[0].heading_path == ("原因",)
    assert "矿工费太低" in chunks[0].text and "点击加速" in chunks[0].text


def test_long_sections_split_at_sentence_ends_within_the_budget() -> None:
    cfg = ChunkerConfig(max_units=60, min_units=10)
    text = "".join(f"第{i}句话讲的是转账打包中的一个处理步骤。" for i in range(20))
    chunks = chunk_document(_doc(Section(("步骤",), text)), cfg)
    assert len(chunks) > 3
    for chunk in chunks:
        assert text_units(chunk.text) <= cfg.max_units
        assert chunk.text.endswith("。")
    # one sentence of overlap between neighbours
    assert chunks[0].text.split("\n")[-1] == chunks[1].text.split("\n")[0]


def test_embedded_text_carries_title_and_headings() -> None:
    chunk = chunk_document(_doc(Section(("处理方法", "以太坊"), "在交易详情页点击加速。")))[0]
    assert (
        embed_text("转账一直显示打包中", chunk.heading_path, chunk.text)
        == "转账一直显示打包中\n处理方法 > 以太坊\n在交易详情页点击加速。"
    )


def test_english_units_are_lighter_than_chinese() -> None:
    assert text_units("转账") == 2
    assert text_units("transfer") == pytest.approx(8 * 0.27)


def test_a_page_with_only_a_title_is_still_indexed() -> None:
    chunks = chunk_document(_doc(title="安全知识"))
    assert [c.text for c in chunks] == ["安全知识"]


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="min_units < max_units"):
        ChunkerConfig(max_units=50, min_units=80)


@pytest.mark.parametrize("heading", ["相关文章", "Related articles", "See also", "延伸阅读："])
def test_a_related_articles_list_is_not_indexed(heading: str) -> None:
    doc = _doc(
        Section(("原因",), "矿工费设置得太低，交易在排队。" * 3),
        Section((heading,), "- 如何加速交易\n- 转到交易所一直不到账怎么办？"),
    )
    text = "\n".join(c.text for c in chunk_document(doc))
    assert "矿工费" in text and "如何加速交易" not in text


def test_a_related_section_with_its_own_words_is_kept() -> None:
    doc = _doc(Section(("相关文章",), "加速前请先确认交易仍在打包中。\n- 如何加速交易"))
    assert "加速前请先确认" in chunk_document(doc)[0].text


_NOTE = (
    "【版本更新详情】\nAndroid：1.3.6\n【版本更新内容】\n"
    "1.新版本将对中国大陆IP进行以下第三方的应用移除：\nDApp：DEX 币币兑换\nStaking：流动性挖矿\n"
    "2.整体下架DeFi数据板块。\n3、自定义代币管理\n"
    "【版本更新方式】\nApp内提示更新，或官网下载最新版本。"
)


def test_each_change_of_a_release_note_is_a_chunk_with_the_lines_that_continue_it() -> None:
    chunks = chunk_document(_doc(Section(heading_path=(), text=_NOTE), title="版本更新日志（11/5/2021）"))
    assert [c.text for c in chunks] == [
        # The versions and how to update; the label that announced the list goes with it.
        "【版本更新详情】\nAndroid：1.3.6\n【版本更新方式】\nApp内提示更新，或官网下载最新版本。",
        "1.新版本将对中国大陆IP进行以下第三方的应用移除：\nDApp：DEX 币币兑换\nStaking：流动性挖矿",
        "2.整体下架DeFi数据板块。",
        "3、自定义代币管理",
    ]


@pytest.mark.parametrize("title", ["What's new in 2.1", "Release notes (June)", "更新日志 6/28"])
def test_release_notes_are_known_by_their_title_in_either_language(title: str) -> None:
    text = "Changes:\n- Dark mode\n- Japanese, with\nthe settings in Japanese too\nHow to update:\nFrom the app store."
    chunks = chunk_document(_doc(Section(heading_path=(), text=text), title=title))
    assert [c.text for c in chunks] == [
        "How to update:\nFrom the app store.",
        "- Dark mode",
        "- Japanese, with\nthe settings in Japanese too",
    ]


def test_a_list_in_another_article_stays_one_chunk() -> None:
    text = "【步骤】\n1.打开钱包。\n2.点击【加速】。\n3.确认。"
    assert [c.text for c in chunk_document(_doc(Section(heading_path=(), text=text)))] == [text]


def test_a_release_note_with_one_change_is_left_whole() -> None:
    text = "【版本更新内容】\n1.修复bug。\n【版本更新方式】\nApp内更新。"
    assert [c.text for c in chunk_document(_doc(Section(heading_path=(), text=text), title="版本更新日志"))] == [text]
