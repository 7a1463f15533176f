"""The quote is a section of the help center, not sentences sampled from three passages
(fast: the fake embedder, whose cosine follows the characters a sentence shares with the
question)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from service import prompting
from service.prompting import (
    ASKS_BONUS,
    REMEDY_BONUS,
    RememberedSentences,
    SelectedEvidence,
    Source,
    _one_source,
    _standalone,
    asks_bonus,
    chains_named,
    off_chain,
    quote_answer,
    select_evidence,
    select_sentences,
)
from service.retriever import DocumentHit, Passage, document_sections
from tests.fakes.embedder import FakeEmbedder


def _hit(doc_id: str, passage: str, chunk: int = 0) -> DocumentHit:
    return DocumentHit(
        doc_id=doc_id, paths=[doc_id], title=doc_id, kind="article", lang="zh", category=None, url=None,
        score=1.0, dense_score=0.9, sparse_score=1.0, dense_rank=1, sparse_rank=1, heading_path=[],
        passage=passage, snippet=passage[:40], chunk=chunk,
    )  # fmt: skip


STEPS = (
    "批量转账工具的使用步骤如下：\n"
    "1、打开批量转账工具，连接钱包。\n"
    "2、选择代币，上传收款地址和数量。\n"
    "3、点击确认并输入密码，完成批量转账。"
)


def test_the_section_that_answers_is_quoted_whole_with_its_steps_in_order() -> None:
    evidence = select_evidence([_hit("batch.md", STEPS)], "批量转账工具怎么使用", FakeEmbedder(), budget=300)
    (source,) = evidence.sources
    lines = source.text.split("\n")
    # Every step, in the article's order: not the two sentences closest to the question.
    assert [line[:2] for line in lines[1:]] == ["1、", "2、", "3、"]
    assert lines[0] == "批量转账工具的使用步骤如下："
    assert evidence.has_top and evidence.best_match > 0


def test_a_long_section_is_cut_to_a_run_of_sentences_around_the_answer() -> None:
    filler = "\n".join(f"港湾钱包第{n}次版本更新修复了若干显示问题。" for n in range(8))
    passage = f"{filler}\n取消交易需要上链，因此仍需支付少量矿工费。\n取消后原来的交易不会再被打包。\n{filler}"
    evidence = select_evidence([_hit("cancel.md", passage)], "取消交易为什么还要矿工费", FakeEmbedder(), budget=60)
    text = evidence.sources[0].text
    assert text.startswith("取消交易需要上链，因此仍需支付少量矿工费。")
    # The run grows from that sentence, the next one first; it stays within the budget.
    assert "取消后原来的交易不会再被打包。" in text
    assert len(text.replace("\n", "")) <= 60


def test_the_answering_sentence_leads_a_section_that_is_not_a_list() -> None:
    passage = "HD 钱包是分层确定性钱包。\n主私钥可以派生出所有子私钥。\n暴露助记词就等于交出了所有子钱包的私钥。"
    evidence = select_evidence([_hit("hd.md", passage)], "暴露助记词 子钱包的私钥安全吗", FakeEmbedder())
    lines = evidence.sources[0].text.split("\n")
    assert lines[0] == "暴露助记词就等于交出了所有子钱包的私钥。"
    assert lines[1:] == ["HD 钱包是分层确定性钱包。", "主私钥可以派生出所有子私钥。"]


def test_another_section_of_the_top_article_can_be_the_answer() -> None:
    sections = ["多链批量转账工具支持十几条公链。", "加入VIP会员可以无限次免费批量转账，否则每次收取单次费用。", STEPS]
    hit = _hit("batch.md", STEPS)
    question = "批量转账每次都收费吗 有没有VIP会员"
    only_hit = select_evidence([hit], question, FakeEmbedder())
    whole = select_evidence([hit], question, FakeEmbedder(), top_sections=[Passage("", s) for s in sections])
    assert "VIP" not in only_hit.sources[0].text
    assert whole.sources[0].text.startswith("加入VIP会员可以无限次免费批量转账")
    assert "1、" not in whole.sources[0].text


def test_another_document_joins_only_with_a_sentence_as_close_as_the_best() -> None:
    top = _hit("pending.md", "转账一直打包中怎么加速：在交易详情页点击加速。")
    near = _hit("nonce.md", "NFT 是非同质化代币。\n转账打包中，也可能是前面一笔交易卡住了。")
    far = _hit("nft.md", "NFT 可以在收藏页查看。")
    question = "转账一直打包中怎么加速"
    evidence = select_evidence([top, near, far], question, FakeEmbedder(), other_floor=0.45)
    assert [s.doc_id for s in evidence.sources] == ["pending.md", "nonce.md"]
    # Only the sentence that comes close: not the rest of that document's section.
    assert evidence.sources[1].text == "转账打包中，也可能是前面一笔交易卡住了。"
    strict = select_evidence([top, near, far], question, FakeEmbedder(), other_floor=0.0)
    assert [s.doc_id for s in strict.sources] == ["pending.md"]


def test_another_document_gives_no_sentence_announcing_what_it_leaves_out() -> None:
    top = _hit("pending.md", "转账一直打包中怎么加速：在交易详情页点击加速。")
    other = _hit("deposit.md", "打包中的查法：\n转账一直打包中可以在浏览器查看。")
    evidence = select_evidence([top, other], "转账一直打包中怎么加速", FakeEmbedder(), other_floor=0.5)
    assert evidence.sources[1].text == "转账一直打包中可以在浏览器查看。"


def test_a_sentence_shown_first_drops_the_connective_that_tied_it_to_the_one_before() -> None:
    passage = "单签钱包由一个私钥控制。\n而多签钱包则是由多个私钥共同控制，每个私钥关联的钱包称为管理者。"
    evidence = select_evidence([_hit("multisig.md", passage)], "多签钱包的管理者是什么", FakeEmbedder())
    assert evidence.sources[0].text.split("\n") == [
        "多签钱包则是由多个私钥共同控制，每个私钥关联的钱包称为管理者。",
        "单签钱包由一个私钥控制。",
    ]
    # A sentence pointing back ("此时") keeps its place after the one it points to.
    passage = "转账时选择了过低的手续费。\n此时交易会一直打包中，可以加速交易。"
    evidence = select_evidence([_hit("pending.md", passage)], "交易一直打包中 加速交易", FakeEmbedder())
    assert evidence.sources[0].text.split("\n") == [
        "转账时选择了过低的手续费。",
        "此时交易会一直打包中，可以加速交易。",
    ]
    # "而是" is not a connective to drop.
    assert _standalone("而是等待区块确认。") == "而是等待区块确认。"
    assert _standalone("However, the fee is not refunded.") == "The fee is not refunded."


def test_the_answering_sentence_brings_the_rest_of_its_paragraph_to_the_front() -> None:
    passage = (
        "常见原因是矿工费给低了。\n"
        "处理方法：在交易详情页点加速，提高矿工费重新提交。如果不想转了，可以点取消。\n"
        "比特币交易可能要等几个小时。"
    )
    evidence = select_evidence([_hit("pending.md", passage)], "交易详情页 加速 提高矿工费", FakeEmbedder())
    assert evidence.sources[0].text.split("\n") == [
        "处理方法：在交易详情页点加速，提高矿工费重新提交。",
        "如果不想转了，可以点取消。",
        "常见原因是矿工费给低了。",
        "比特币交易可能要等几个小时。",
    ]


def test_a_source_never_ends_announcing_what_it_leaves_out() -> None:
    # The list the last sentence announces is in the next chunk, which is not shown.
    passage = "假客服会主动私信你，企图盗取助记词。\n假管理员的账号名片上还是有不少破绽："
    evidence = select_evidence([_hit("telegram.md", passage)], "假客服私信我 盗取助记词", FakeEmbedder())
    assert evidence.sources[0].text == "假客服会主动私信你，企图盗取助记词。"


def test_a_question_asking_what_to_do_favours_the_sentence_labelled_as_the_remedy() -> None:
    remedy = "处理方法：在交易详情页点「加速」，用同一个 Nonce 提高矿工费重新提交。"
    assert asks_bonus("我的转账一直显示打包中怎么办？", remedy) == REMEDY_BONUS > ASKS_BONUS
    assert asks_bonus("How do I fix a stuck transfer?", "Solution: speed it up from the details page.") == REMEDY_BONUS
    # The word in a table's column or a link is no label; a question not asking what to do gets none.
    assert asks_bonus("打包中怎么办", "浏览器显示：Pending | 怎么办：按下面“不同链的处理方式”操作") == 0.0
    assert asks_bonus("加速是什么意思", remedy) == 0.0


def test_headings_navigation_and_repeats_are_never_quoted() -> None:
    warning = "请务必保管好私钥，不要告诉任何人。"
    passage = f"如何导出私钥？\n相关文章：私钥是什么\n在钱包管理页点击导出私钥。\n{warning}"
    hits = [_hit("a.md", passage), _hit("b.md", warning)]
    evidence = select_evidence(hits, "怎么导出私钥", FakeEmbedder(), other_floor=1.0)
    quoted = "\n".join(s.text for s in evidence.sources)
    assert "如何导出私钥？" not in quoted and "相关文章" not in quoted
    assert quoted.count(warning) == 1


def test_steps_and_rows_are_shown_on_lines_of_their_own() -> None:
    text = "\n".join(
        [
            "操作如下：",
            "1、打开钱包。",
            "2、点击转账。",
            "提示：矿工费可以自定义。",
            "（1）第一种情况。",
            "浏览器显示：成功 | 说明：已上链",
        ]
    )
    assert _one_source(text).split("\n") == [
        "操作如下：",
        "1、打开钱包。",
        "2、点击转账。 提示：矿工费可以自定义。",
        "（1）第一种情况。",
        "浏览器显示：成功 | 说明：已上链",
    ]
    evidence = select_evidence([_hit("batch.md", STEPS)], "批量转账工具怎么使用", FakeEmbedder())
    answer = quote_answer(evidence, "zh")
    assert answer is not None and "\n2、选择代币" in answer and answer.endswith(" [1]")


def test_the_sections_of_a_hits_document_come_from_the_index_in_order() -> None:
    chunks = [SimpleNamespace(doc=0, text="a0", heading_path=[])] + [
        SimpleNamespace(doc=1, text=f"b{n}", heading_path=["Step 2", f"h{n}"]) for n in range(12)
    ]
    documents = [SimpleNamespace(chunk_start=0, chunk_count=1), SimpleNamespace(chunk_start=1, chunk_count=12)]
    index = SimpleNamespace(chunks=chunks, documents=documents)
    first = document_sections(index, _hit("b.md", "b1", chunk=2))  # type: ignore[arg-type]
    assert [p.text for p in first] == [f"b{n}" for n in range(8)]
    # At most `limit` around the hit's own section, each with its own heading, the last of its
    # path (what the chain check reads).
    last = document_sections(index, _hit("b.md", "b10", chunk=11), limit=4)  # type: ignore[arg-type]
    assert last == [("h8", "b8"), ("h9", "b9"), ("h10", "b10"), ("h11", "b11")]
    # Chunks under one heading path are one section, in order: ingest cut it, the steps go on.
    cut = [SimpleNamespace(doc=0, text=t, heading_path=p) for t, p in (
        ("intro", []), ("1、打开钱包。", ["Steps"]), ("2、点击转账。", ["Steps"]), ("faq", ["FAQ"]),
    )]  # fmt: skip
    one = SimpleNamespace(chunks=cut, documents=[SimpleNamespace(chunk_start=0, chunk_count=4)])
    assert document_sections(one, _hit("c.md", "1、打开钱包。", chunk=1)) == [  # type: ignore[arg-type]
        ("", "intro"), ("Steps", "1、打开钱包。\n2、点击转账。"), ("FAQ", "faq"),
    ]  # fmt: skip
    # Ingest carries a chunk's last line over into the next: the section says it once.
    overlap = [SimpleNamespace(doc=0, text=t, heading_path=["Steps"]) for t in (
        "1、打开钱包。\n2、点击转账。", "2、点击转账。\n3、确认。", "3、确认。", "3、确认。\n4、完成。",
    )]  # fmt: skip
    once = SimpleNamespace(chunks=overlap, documents=[SimpleNamespace(chunk_start=0, chunk_count=4)])
    assert document_sections(once, _hit("d.md", "1、打开钱包。", chunk=0)) == [  # type: ignore[arg-type]
        ("Steps", "1、打开钱包。\n2、点击转账。\n3、确认。\n4、完成。"),
    ]
    # An index without its chunks (a fake's) gives the hit's passage.
    assert document_sections(SimpleNamespace(chunks=[]), _hit("x.md", "x")) == [("", "x")]  # type: ignore[arg-type]


def test_sentences_are_embedded_once_and_the_least_recently_used_forgotten() -> None:
    embedder = FakeEmbedder()
    remembered = RememberedSentences(embedder, max_items=3)
    first = remembered.embed_passages(["甲句。", "乙句。", "甲句。"])
    assert embedder.seen == ["甲句。", "乙句。"]
    np.testing.assert_allclose(first[0], first[2])
    np.testing.assert_allclose(first, embedder.embed_passages(["甲句。", "乙句。", "甲句。"]))
    embedder.seen.clear()
    remembered.embed_passages(["乙句。", "丙句。", "丁句。"])
    # 甲 was used least recently: forgotten, so it is embedded again; 乙 is remembered.
    remembered.embed_passages(["乙句。", "甲句。"])
    assert embedder.seen == ["丙句。", "丁句。", "甲句。"]


def test_across_languages_the_closest_sentences_are_taken_wherever_they_stand() -> None:
    sentences = [
        "转账一直打包中可以加速。",
        "港湾钱包成立于2020年。",
        "打包中的交易不会丢失。",
        "加速的操作如下：",
        "点详情页。",
    ]
    passage = "\n".join(sentences)
    hits = [_hit("pending.md", passage), _hit("nft.md", "NFT 可以在收藏页查看。")]
    evidence = select_sentences(hits, "转账打包中 加速操作", FakeEmbedder(), budget=30, floor=1.0)
    (source,) = evidence.sources
    # Not a run of the section: the close sentences, in the passage's order, and the step
    # that a sentence announcing steps brings with it; nothing unrelated.
    assert source.text.split("\n") == ["转账一直打包中可以加速。", "加速的操作如下：", "点详情页。"]
    assert source.doc_id == "pending.md"


def test_a_label_keeps_the_value_it_labels() -> None:
    passage = (
        "常见的区块浏览器有：\nBSC: https://www.bscscan.com/ ETH: https://etherscan.io/\n"
        "【最新版本号】\nAndroid: 1.6.0 iOS: 1.9.0"
    )
    evidence = select_evidence([_hit("explorers.md", passage)], "BSC的区块浏览器是哪个", FakeEmbedder(), budget=300)
    text = evidence.sources[0].text
    # Never "BSC:" with its address cut away, nor "Android:" without its version.
    assert "BSC: https://www.bscscan.com/" in text
    assert "Android: 1.6.0" in text


def test_a_section_about_another_chain_than_the_question_names_loses_to_one_about_it() -> None:
    # The Bitcoin section comes a little closer to the question; the question is about USDT.
    bitcoin = "my transfer is pending for a week."
    tron = "a transfer is pending on TRON."
    question = "my USDT transfer is pending"
    hits = [_hit("pending.md", "x")]
    unheaded = [Passage("", bitcoin), Passage("", tron)]
    plain = select_evidence(hits, question, FakeEmbedder(), top_sections=unheaded)
    assert plain.sources[0].text.startswith("my transfer is pending for a week")
    headed = [Passage("Bitcoin", bitcoin), Passage("TRON", tron)]
    chosen = select_evidence(hits, question, FakeEmbedder(), top_sections=headed)
    assert chosen.sources[0].text.startswith("a transfer is pending on TRON")


def test_the_chain_check_needs_a_chain_on_both_sides() -> None:
    assert off_chain("sent btc to the wrong address", "TRON")
    assert off_chain("USDT 转账一直打包中", "Bitcoin")
    # USDT lives on TRON and the EVM chains; a heading naming none, or a question naming none, is never off.
    assert not off_chain("my USDT transfer is pending", "Ethereum and other EVM chains (BSC, Polygon)")
    assert not off_chain("my USDT transfer is pending", "Step 1: check the explorer")
    assert not off_chain("转账一直打包中", "Bitcoin")
    assert chains_named("波场上的usdt") == {"tron", "evm", "solana"}


def test_the_section_like_the_question_as_a_whole_beats_one_closing_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    # The import section's closing line comes closest to "咋建"; the create section, heading
    # and steps together, is the answer.
    imports = Passage("导入助记词", "打开应用，选择导入方式。\n输入备份的助记词和新密码。\n至此，新钱包就建好了。")
    creates = Passage("新建钱包", "打开应用，点击新建钱包。\n设置钱包名称和钱包密码。\n备份助记词并完成验证。")
    question, hits = "新钱包咋建", [_hit("wallet.md", "x")]
    embedder = FakeEmbedder()
    chosen = select_evidence(hits, question, embedder, top_sections=[imports, creates])
    assert chosen.sources[0].text == creates.text
    assert embedder.seen.count(question) == 1  # one vector of the question, for sentences and sections
    # The confidence still reads the chosen sentence's own cosine.
    assert chosen.best_match == pytest.approx(float(_cosine(question, "打开应用，点击新建钱包。")), abs=1e-4)
    monkeypatch.setattr(prompting, "SECTION_WEIGHT", 0.0)
    by_sentence = select_evidence(hits, question, FakeEmbedder(), top_sections=[imports, creates])
    assert by_sentence.sources[0].text == imports.text


def _cosine(a: str, b: str) -> float:
    embedder = FakeEmbedder()
    return float(embedder.embed_queries([a])[0] @ embedder.embed_passages([b])[0])


def test_a_closing_sentence_keeps_its_place_after_the_steps() -> None:
    passage = "1、打开应用，点击添加钱包。\n2、点击导入钱包，输入助记词。\n至此，你已经成功导入钱包。"
    evidence = select_evidence([_hit("import.md", passage)], "成功导入钱包", FakeEmbedder())
    assert evidence.sources[0].text.split("\n")[0] == "1、打开应用，点击添加钱包。"
    assert evidence.sources[0].text.endswith("至此，你已经成功导入钱包。")


def test_the_top_document_leads_even_when_another_has_a_closer_sentence() -> None:
    # Search ranks documents better than a sentence's cosine does: the top article's section is
    # the answer, and the other document's closer sentence only joins it.
    top = _hit("cancel.md", "港湾钱包的说明如下。\n未上链的转账可以在详情页点击取消交易。\n取消交易需要少量矿工费。")
    other = _hit("failed.md", "转账一直打包中能取消吗？打包中的转账可以取消。")
    evidence = select_evidence([top, other], "打包中的转账能取消吗", FakeEmbedder(), other_floor=0.03)
    assert [s.doc_id for s in evidence.sources] == ["cancel.md", "failed.md"]
    assert "点击取消交易" in evidence.sources[0].text
    assert evidence.sources[1].text == "打包中的转账可以取消。"


def test_a_quote_is_only_for_sources_all_in_the_users_language() -> None:
    # A Chinese line full of product names beside an English one reads as English as a whole;
    # it is still Chinese, so an English question gets the two rendered, not quoted.
    zh_line = "- WalletConnect 会话：同一页面下的「WalletConnect 会话」列表，逐个断开。"
    en_line = "Nothing is sent to Harbor Labs, so nobody can restore the wallet for you later."
    chinese = Source(n=1, doc_id="zh.md", title="DApp", url=None, kind="article", lang="zh", text=zh_line, snippet="")
    english = Source(n=2, doc_id="en.md", title="Wallet", url=None, kind="article", lang="en", text=en_line, snippet="")
    mixed = SelectedEvidence(sources=[chinese, english], best_match=0.9, has_top=True)
    assert quote_answer(mixed, "en") is None
    only_english = SelectedEvidence(sources=[english], best_match=0.9, has_top=True)
    assert (quote_answer(only_english, "en") or "").endswith("restore the wallet for you later. [2]")
