"""The answer path's stages with fakes (no model, no index): prepare, decide, compose (quote,
rendering, fraud warning) and score each do what they say, in well under a second."""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from kefu.generators.base import ChatMessage, Chunk, GenerationOptions, GeneratorHealth
from service.answerer import Answerer, AnswerResult
from service.confidence import Calibration
from service.retriever import DocumentHit, SearchFilters, SearchResult

pytestmark = pytest.mark.anyio


class BigramEmbedder:
    """Hashed character bigrams, L2-normalised: texts that share words are close."""

    dim = 256

    def warm_up(self) -> None:
        pass

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            low = text.lower()
            for a, b in itertools.pairwise(low):
                out[row, zlib.crc32((a + b).encode()) % self.dim] += 1.0
            out[row] /= max(float(np.linalg.norm(out[row])), 1e-6)
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)


def hit(doc_id: str, passage: str, *, dense: float = 0.9, lang: str = "zh", title: str = "标题") -> DocumentHit:
    return DocumentHit(
        doc_id=doc_id, paths=[doc_id], title=title, kind="article", lang=lang, category=None, url=None,
        score=1.0, dense_score=dense, sparse_score=5.0, dense_rank=1, sparse_rank=1, heading_path=[],
        passage=passage, snippet=passage[:40], chunk=0,
    )  # fmt: skip


@dataclass
class FakeRetriever:
    hits: list[DocumentHit]
    embedder: BigramEmbedder = field(default_factory=BigramEmbedder)
    queries: list[str] = field(default_factory=list)

    @property
    def plain_embedder(self) -> BigramEmbedder:
        return self.embedder

    def search(self, query: str, *, k: int = 5, filters: SearchFilters | None = None) -> SearchResult:
        self.queries.append(query)
        hits = [h for h in self.hits if filters is None or filters.kind in (None, h.kind)]
        return SearchResult(query=query, lang="zh", expansion=[], hits=hits[:k], timings_ms={})


@dataclass
class FakeGenerator:
    """Streams a scripted reply; records each prompt."""

    reply: list[str]
    delay: float = 0.0
    name: str = "fake:model"
    prompts: list[list[ChatMessage]] = field(default_factory=list)

    async def warm_up(self) -> None:
        pass

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None
    ) -> AsyncIterator[Chunk]:  # fmt: skip
        self.prompts.append(list(messages))
        for piece in self.reply:
            await asyncio.sleep(self.delay)
            yield Chunk(piece)
        yield Chunk("", done=True, finish_reason="stop")

    def health(self) -> GeneratorHealth:
        return GeneratorHealth()

    async def close(self) -> None:
        pass


PENDING = hit(
    "help/zh/pending.md",
    "转账一直打包中，通常是矿工费设置过低。\n在交易详情页点击「加速」，提高矿工费后重新提交。\n港湾钱包成立于2020年。",
    title="转账一直打包中",
)
OPEN = Calibration(threshold=0.0)


async def collect(a: Answerer, question: str, **kw: object) -> tuple[str, AnswerResult]:
    text, final = "", None
    async for event in a.stream(question, **kw):  # type: ignore[arg-type]
        if event.type == "token":
            text += event.text
        else:
            final = event.result
    assert final is not None
    return text, final


def answerer(hits: list[DocumentHit], gen: FakeGenerator | None = None, **kw: object) -> Answerer:
    return Answerer(FakeRetriever(hits), gen or FakeGenerator([]), **kw)  # type: ignore[arg-type]


def test_prepare_redacts_runs_the_rules_and_knows_the_language() -> None:
    a = answerer([PENDING])
    seed = "abandon ability able about above absent absorb abstract absurd abuse access accident"
    turn = a.prepare(f"我的助记词是 {seed} 帮我看看")
    assert "abandon" not in turn.question and turn.reasons[0] == "secret_shared" and turn.lang == "zh"
    assert a.prepare("why is my transfer pending?").lang == "en"


async def test_rules_and_empty_search_decide_before_any_answer() -> None:
    gen = FakeGenerator(["不会用到"])
    _, stolen = await collect(answerer([PENDING], gen), "我的币被盗了，被转走了全部USDT")
    assert stolen.action == "handoff" and stolen.reason == "stolen_funds"
    _, nothing = await collect(answerer([], gen), "转账一直打包中怎么办")
    assert nothing.action == "handoff" and nothing.reason == "no_sources"
    assert gen.prompts == []


async def test_a_chinese_question_is_quoted_without_the_llm() -> None:
    gen = FakeGenerator(["不会用到"])
    streamed, result = await collect(answerer([PENDING], gen, calibration=OPEN), "转账一直打包中怎么办")
    assert result.action == "answer" and result.mode == "quoted" and gen.prompts == []
    assert "矿工费设置过低" in result.answer and result.answer.rstrip().endswith("[1]")
    assert streamed == result.answer and [c.source for c in result.citations] == ["help/zh/pending.md"]


async def test_an_english_question_gets_the_chinese_sentences_rendered_and_cited() -> None:
    gen = FakeGenerator(["Here is the translation:\n", "The fee is too low. Tap Speed up", " [3] to resubmit."])
    streamed, result = await collect(answerer([PENDING], gen, calibration=OPEN), "my transfer is stuck pending")
    assert result.mode == "rendered" and result.action == "answer" and result.lang == "en"
    assert result.answer == "The fee is too low. Tap Speed up to resubmit. [1]" and streamed == result.answer
    (prompt,) = gen.prompts
    assert prompt[-1].content == " ".join(result.sources[0].text.split("\n"))


async def test_a_late_rendering_falls_back_to_the_sentences_said_to_be_chinese() -> None:
    slow = FakeGenerator(["The fee", " is too low."], delay=2.0)
    _, result = await collect(answerer([PENDING], slow, calibration=OPEN, deadline=1.0), "my transfer is stuck")
    assert result.mode == "extractive" and result.action == "answer"
    assert result.answer.startswith("From the help center (in Chinese):\n") and "矿工费" in result.answer


async def test_a_rendering_in_the_wrong_language_is_not_shown_as_english() -> None:
    gen = FakeGenerator(["转账一直打包中，矿工费太低。"])
    _, result = await collect(answerer([PENDING], gen, calibration=OPEN), "my transfer is stuck pending")
    assert result.mode == "extractive" and result.answer.startswith("From the help center (in Chinese):")


async def test_a_scam_question_opens_with_the_warning_at_high_priority() -> None:
    fake = hit("help/zh/scam.md", "官方客服不会私信你，也不会索要助记词。\n请只通过官网联系客服。", title="防骗")
    _, result = await collect(answerer([fake], calibration=OPEN), "有个自称官方客服的加我电报 让我填助记词验证钱包")
    assert result.action == "answer" and result.intent == "fraud:secret_request" and result.priority == "high"
    first, *rest = result.answer.split("\n")
    assert first.startswith("这是诈骗") and rest


async def test_a_scam_question_no_article_answers_still_gets_the_warning() -> None:
    unrelated = hit("help/zh/nft.md", "NFT 是非同质化代币。", dense=0.1)
    strict = Calibration(threshold=0.99)
    _, result = await collect(answerer([unrelated], calibration=strict), "有人发我tp国际版下载链接 说功能更全 能装吗")
    assert result.action == "answer" and result.reason == "fraud_warning" and result.mode == "warning"
    assert "官网" in result.answer and result.citations == [] and result.priority == "high"


async def test_a_weak_answer_goes_to_the_agent_as_a_draft() -> None:
    _, result = await collect(answerer([PENDING], calibration=Calibration(threshold=0.999)), "转账一直打包中怎么办")
    assert result.action == "handoff" and result.reason == "low_confidence"
    assert result.handoff is not None and "矿工费" in (result.handoff.suggested_reply or "")
