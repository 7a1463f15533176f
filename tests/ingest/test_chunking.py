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
