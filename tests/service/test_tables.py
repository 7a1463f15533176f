"""A help-center table as a user is shown it: every row names its columns, from the reader
to the quote (fast: the fake embedder, no model)."""

from __future__ import annotations

from pathlib import Path

from ingest.sources import read_source
from service.prompting import quote_answer, select_evidence
from service.retriever import DocumentHit
from tests.fakes.embedder import FakeEmbedder

ROW = "浏览器显示：查不到这笔交易 | 说明：交易没有广播成功，或已被网络丢弃 | 怎么办：资产没有转出；可以重新发起"


def _hit(passage: str) -> DocumentHit:
    return DocumentHit(
        doc_id="a.md", paths=["a.md"], title="转账一直显示打包中", kind="article", lang="zh", category=None,
        url=None, score=1.0, dense_score=0.9, sparse_score=1.0, dense_rank=1, sparse_rank=1, heading_path=[],
        passage=passage, snippet=passage[:40], chunk=0,
    )  # fmt: skip


def test_a_markdown_table_reads_as_rows_that_name_their_columns(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "# 转账一直显示打包中\n\n浏览器里会出现三种情况：\n\n"
        "| 浏览器显示 | 说明 | 怎么办 |\n| --- | --- | --- |\n"
        "| 成功 | 交易已经上链 | |\n"
        "| 查不到这笔交易 | 交易没有广播成功，或已被网络丢弃 | 资产没有转出；可以重新发起 |\n",
        encoding="utf-8",
    )
    (doc,) = read_source(tmp_path).documents
    lines = doc.sections[0].text.split("\n")
    # The header row is not a line of its own; an empty cell is left out.
    assert lines == ["浏览器里会出现三种情况：", "浏览器显示：成功 | 说明：交易已经上链", ROW]


def test_an_english_table_takes_a_plain_colon(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Fees\n\n| Chain | Token |\n| --- | --- |\n| Ethereum | ETH |\n", encoding="utf-8")
    (doc,) = read_source(tmp_path).documents
    assert doc.sections[0].text == "Chain: Ethereum | Token: ETH"


def test_a_table_row_is_quoted_whole() -> None:
    other = "浏览器显示：成功 | 说明：交易已经上链 | 怎么办：下拉刷新；仍不变就看最后一节"
    passage = f"浏览器里会出现三种情况：\n{other}\n{ROW}"
    evidence = select_evidence([_hit(passage)], "浏览器显示查不到这笔交易 说明什么", FakeEmbedder(), budget=80)
    quoted = evidence.sources[0].text.split("\n")
    # One row is one sentence: not cut at the "；" inside a cell.
    assert ROW in quoted
    assert all(line.count(" | ") == 2 for line in quoted if "|" in line)
    # Shown on a line of its own, between the sentences around it.
    answer = quote_answer(evidence, "zh")
    assert answer is not None and f"\n{ROW}" in answer


def test_a_long_section_is_chunked_between_rows_never_inside_one() -> None:
    from ingest.chunking import ChunkerConfig, chunk_document
    from ingest.documents import Section, SourceDocument

    rows = [f"现象：第{i}种提示 | 常见原因：单词拼错；输入法补全了空格 | 处理办法：逐个核对单词" for i in range(12)]
    doc = SourceDocument(path="a.md", title="导入钱包", kind="article", sections=[Section((), "\n".join(rows))])
    chunks = chunk_document(doc, ChunkerConfig(max_units=120, min_units=20, overlap_sentences=0))
    assert len(chunks) > 1
    assert all(line in rows for c in chunks for line in c.text.split("\n"))
