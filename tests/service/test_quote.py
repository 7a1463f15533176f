"""Quoted answers: the help center's own sentences, chosen by meaning, when they are in the
user's language; the LLM only when it must translate. Real retrieval and the real embedder
over the demo index; the LLM scripted through a local server that speaks Ollama's API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.index import open_index
from kefu.embedder import SentenceTransformerEmbedder
from kefu.errors import ConfigError
from kefu.generators.ollama import OllamaGenerator
from kefu.settings import Settings
from service.answerer import Answerer
from service.confidence import Calibration
from service.glossary import Glossary
from service.prompting import quote_answer, select_evidence
from service.retriever import DocumentHit, HybridRetriever, SearchFilters, SearchResult
from tests.fakes.generator import collect
from tests.fakes.ollama_server import FakeOllama, ScriptedModel

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

PENDING = "help/zh/transfers/pending-transfer.md"


@pytest.fixture
def llm() -> Iterator[FakeOllama]:
    server = FakeOllama(
        {"en": ScriptedModel(tokens=["Raise the fee with Speed up in the transaction details", " [1]", "."])}
    ).start()
    yield server
    server.stop()


def quoting(retriever: HybridRetriever, llm: FakeOllama, **kw: object) -> Answerer:
    return Answerer(retriever, OllamaGenerator(llm.url, "en", timeout=10), style="quote", **kw)  # type: ignore[arg-type]


def _hit(doc_id: str, passage: str, title: str = "标题") -> DocumentHit:
    return DocumentHit(
        doc_id=doc_id, paths=[doc_id], title=title, kind="article", lang="zh", category=None, url=None,
        score=1.0, dense_score=0.9, sparse_score=1.0, dense_rank=1, sparse_rank=1, heading_path=[],
        passage=passage, snippet=passage[:40], chunk=0,
    )  # fmt: skip


def test_evidence_is_the_section_that_answers_and_close_sentences_of_other_sources(
    embedder: SentenceTransformerEmbedder,
) -> None:
    hits = [
        _hit(
            "a.md",
            "如何管理未打包的交易？\n相关文章：Nonce 是什么\n"
            "交易一直打包中，通常是矿工费设置过低。加速的操作如下：\n在交易详情页点击「加速」，提高矿工费后重新提交。",
        ),
        _hit("b.md", "NFT 是非同质化代币。\n港湾钱包成立于2020年，总部在新加坡。"),
    ]
    evidence = select_evidence(hits, "转账一直在打包中怎么办", embedder, budget=120)
    assert [s.doc_id for s in evidence.sources] == ["a.md"] and evidence.has_top
    first = evidence.sources[0].text
    # The section whole, its steps with it.
    assert "矿工费设置过低" in first and "点击「加速」" in first
    # Headings phrased as questions and navigation lines are never quoted.
    assert "如何管理未打包的交易" not in first and "相关文章" not in first
    assert 0.8 < evidence.best_match <= 1.0
    answer = quote_answer(evidence, "zh")
    assert answer is not None and answer.startswith("帮助中心的相关说明：") and answer.endswith(" [1]")
    # The sentences are Chinese: an English question cannot be answered by quoting them.
    assert quote_answer(evidence, "en") is None


def test_a_sentence_announcing_steps_brings_the_steps(embedder: SentenceTransformerEmbedder) -> None:
    passage = "港湾钱包成立于2020年，总部在新加坡。\n加速一笔转账的操作步骤如下：\n1. 在交易详情页点击「加速」。"
    evidence = select_evidence([_hit("a.md", passage)], "怎么加速转账", embedder, budget=10)
    assert evidence.sources[0].text == "加速一笔转账的操作步骤如下：\n1. 在交易详情页点击「加速」。"


def test_a_sentence_is_quoted_once(embedder: SentenceTransformerEmbedder) -> None:
    warning = "请务必保管好私钥，不要告诉任何人。"
    hits = [_hit("a.md", f"导出私钥：在钱包管理页点击【导出私钥】。\n{warning}\n{warning}"), _hit("b.md", warning)]
    evidence = select_evidence(hits, "怎么导出私钥 要注意什么", embedder, budget=300)
    quoted = "\n".join(s.text for s in evidence.sources)
    assert quoted.count(warning) == 1 and "导出私钥" in quoted


def test_no_passage_sentences_no_evidence(embedder: SentenceTransformerEmbedder) -> None:
    evidence = select_evidence([_hit("a.md", "相关文章：\n点击这里")], "转账打包中", embedder)
    assert evidence.sources == [] and evidence.best_match == 0.0 and not evidence.has_top
    assert quote_answer(evidence, "zh") is None


async def test_a_chinese_question_is_answered_from_the_articles_own_sentences_without_the_llm(
    retriever: HybridRetriever, llm: FakeOllama
) -> None:
    streamed, result = await collect(quoting(retriever, llm), "我的转账一直在打包中怎么办")
    assert result.action == "answer" and result.reason == "grounded" and result.mode == "quoted"
    assert streamed == result.answer and llm.requests == []
    assert PENDING in [c.source for c in result.citations]
    assert [c.n for c in result.citations] == [s.n for s in result.sources]
    body = result.answer.split("\n", 1)[1]
    # Each source's block (its sentences, a table row on a line of its own) is made of the
    # cited source's own sentences and ends with its citation.
    blocks = re.findall(r"(.*?) \[(\d+)\](?:\n|$)", body, flags=re.DOTALL)
    assert [int(n) for _, n in blocks] == [s.n for s in result.sources]
    for (text, _), source in zip(blocks, result.sources, strict=True):
        for sentence in source.text.split("\n"):
            assert sentence in text
    assert result.evidence.grounded == 1.0 and result.evidence.cited == 1.0 and result.evidence.evidence_match > 0
    assert "first_token" in result.timings_ms


async def test_an_english_question_is_quoted_from_the_english_translation_of_the_best_article(
    retriever: HybridRetriever, llm: FakeOllama
) -> None:
    # The demo's pending-transfer article is in Chinese and in English (help/en/...): search
    # ranks the Chinese one first (the glossary adds its terms), the user reads the English one.
    streamed, result = await collect(
        quoting(retriever, llm), "my USDT transfer has been pending since yesterday, what do I do?"
    )
    assert result.action == "answer" and result.mode == "quoted" and llm.requests == []
    assert result.hits[0].paths == ["help/en/transfers/pending-transfer.md"]
    assert result.citations[0].source == "help/en/transfers/pending-transfer.md"
    assert result.answer.startswith("From the help center:\n") and streamed == result.answer
    assert not re.search(r"[\u4e00-\u9fff]", result.answer)


class ChineseHelpCenter(HybridRetriever):
    """The demo index searched as if it held Chinese articles only."""

    def search(self, query: str, *, k: int = 5, filters: SearchFilters | None = None) -> SearchResult:
        kind = filters.kind if filters else None
        return super().search(query, k=k, filters=SearchFilters(lang="zh", kind=kind))


async def test_an_english_question_over_chinese_articles_gets_the_quote_rendered_in_english(
    harbor_data_dir: Path, embedder: SentenceTransformerEmbedder, llm: FakeOllama
) -> None:
    chinese = ChineseHelpCenter(open_index(harbor_data_dir, "harbor"), embedder, glossary=Glossary.load())
    a = quoting(chinese, llm, calibration=Calibration(threshold=0.0))
    streamed, result = await collect(a, "my transfer has been pending for hours, how do I speed it up?")
    assert result.lang == "en" and all("/zh/" in h.paths[0] for h in result.hits)
    # Quoting Chinese sentences to an English user is not an answer: the LLM translates the
    # sentences the quote would show, one line per source, and writes nothing of its own.
    assert len(llm.requests) == 1
    prompt = llm.requests[0]["messages"]
    assert "Translate" in prompt[0]["content"]
    assert prompt[-1]["content"].split("\n") == [" ".join(s.text.split("\n")) for s in result.sources]
    assert result.action == "answer" and result.mode == "rendered" and result.reason == "grounded"
    # The model's own marker is dropped; the line is cited to the source it renders.
    assert result.answer == "Raise the fee with Speed up in the transaction details. [1]"
    assert streamed == result.answer and [c.n for c in result.citations] == [1]
    assert "render" in result.timings_ms and result.timings_ms["first_token"] <= result.timings_ms["total"]


async def test_when_the_llm_cannot_render_the_english_user_gets_the_sentences_said_to_be_chinese(
    harbor_data_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    chinese = ChineseHelpCenter(open_index(harbor_data_dir, "harbor"), embedder, glossary=Glossary.load())
    down = Answerer(chinese, OllamaGenerator("http://127.0.0.1:9", "en", timeout=1), style="quote",
                    calibration=Calibration(threshold=0.0))  # fmt: skip
    streamed, result = await collect(down, "my transfer has been pending for hours, how do I speed it up?")
    assert result.action == "answer" and result.mode == "extractive" and result.reason == "extractive_fallback"
    lead, *lines = result.answer.split("\n")
    assert lead == "From the help center (in Chinese):" and streamed.strip() == result.answer
    for line, source in zip(lines, result.sources, strict=True):
        assert line == " ".join(source.text.split("\n")) + f" [{source.n}]"


async def test_a_weak_quote_goes_to_the_agent_as_a_draft(retriever: HybridRetriever, llm: FakeOllama) -> None:
    strict = Calibration(threshold=0.999)
    _, result = await collect(quoting(retriever, llm, calibration=strict), "我的转账一直在打包中怎么办")
    assert result.action == "handoff" and result.reason == "low_confidence"
    assert result.handoff is not None and result.handoff.suggested_reply
    assert "[1]" in result.handoff.suggested_reply and llm.requests == []


def test_the_answer_style_is_a_setting() -> None:
    assert Settings.from_env({}).answer_style == "quote"
    assert Settings.from_env({"KEFU_ANSWER_STYLE": "Generate"}).answer_style == "generate"
    with pytest.raises(ConfigError, match=r"KEFU_ANSWER_STYLE.*quote, generate"):
        Settings.from_env({"KEFU_ANSWER_STYLE": "poem"})
