"""The answering core end to end: real retrieval over the demo index, the LLM scripted
through a local server that speaks Ollama's API (so every path is deterministic)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from kefu.generators.ollama import OllamaGenerator
from service.answerer import Answerer, AnswerResult
from service.confidence import Calibration
from service.retriever import HybridRetriever
from tests.fakes.ollama_server import FakeOllama, ScriptedModel

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

GOOD = [
    "打包中",
    "通常",
    "是因为",
    "矿工费",
    "设置",
    "过低",
    "，可以在交易详情页点击",
    "「加速」",
    "提高矿工费",
    " [",
    "1",
    "]",
    "。",
]


@pytest.fixture
def llm() -> Iterator[FakeOllama]:
    server = FakeOllama(
        {
            "good": ScriptedModel(tokens=GOOD),
            "bad-marker": ScriptedModel(tokens=["在交易详情页点击加速提高矿工费", " [7]", "。"]),
            "unsafe": ScriptedModel(
                tokens=["在交易详情页点击加速提高矿工费 [1]。", "请提供您的助记词以便我们验证 [1]。"]
            ),
            "no-answer": ScriptedModel(tokens=["无法根据资料回答。"]),
            "slow": ScriptedModel(tokens=["打包中"] * 50, delay=0.2),
        }
    ).start()
    yield server
    server.stop()


def answerer(retriever: HybridRetriever, llm: FakeOllama | str, model: str = "good", **kw: object) -> Answerer:
    host = llm.url if isinstance(llm, FakeOllama) else llm
    # These tests are about the LLM's own answers: the generate style (the default quotes).
    kw.setdefault("style", "generate")
    return Answerer(retriever, OllamaGenerator(host, model, timeout=10), **kw)  # type: ignore[arg-type]


async def _collect(a: Answerer, question: str, **kw: object) -> tuple[list[str], AnswerResult]:
    tokens: list[str] = []
    final = None
    async for event in a.stream(question, **kw):  # type: ignore[arg-type]
        if event.type == "token":
            tokens.append(event.text)
        else:
            final = event.result
    assert final is not None
    return tokens, final


async def test_a_grounded_answer_cites_the_right_article(retriever: HybridRetriever, llm: FakeOllama) -> None:
    tokens, result = await _collect(answerer(retriever, llm), "我的转账一直在打包中怎么办")
    assert result.action == "answer" and result.reason == "grounded" and result.mode == "generated"
    assert "[1]" in result.answer and "".join(tokens).strip() == result.answer
    assert [c.n for c in result.citations] == [1]
    assert result.citations[0].source == "help/zh/transfers/pending-transfer.md"
    assert result.citations[0].title and result.citations[0].url
    assert 0.0 <= result.confidence <= 1.0 and result.confidence >= 0.45
    assert result.evidence.grounded == 1.0 and result.evidence.cited == 1.0
    # Nothing weighs the closest source sentence here: it is not computed on this path.
    assert "select" not in result.timings_ms and result.evidence.evidence_match == 0.0
    # The prompt carried numbered sources and nothing but help articles.
    prompt = llm.requests[-1]["messages"][-1]["content"]
    assert "[1]" in prompt and "【问题】" in prompt and "tickets/" not in prompt


async def test_an_invalid_citation_is_dropped_and_the_sentence_attributed_to_its_source(
    retriever: HybridRetriever, llm: FakeOllama
) -> None:
    _, result = await _collect(answerer(retriever, llm, "bad-marker"), "转账一直在打包中")
    assert "[7]" not in result.answer
    # The sentence is backed by the pending-transfer article: it gets that source's marker.
    assert result.citations and all(0 < c.n <= len(result.sources) for c in result.citations)
    assert "help/zh/transfers/pending-transfer.md" in [c.source for c in result.citations]


async def test_an_answer_that_only_echoes_the_question_is_not_grounded(retriever: HybridRetriever) -> None:
    server = FakeOllama({"echo": ScriptedModel(tokens=["我的转账一直在打包中怎么办。"])}).start()
    try:
        _, result = await _collect(answerer(retriever, server.url, "echo"), "我的转账一直在打包中怎么办")
    finally:
        server.stop()
    assert result.action == "handoff" and result.reason == "low_confidence"
    assert result.evidence.grounded == 0.0


async def test_a_cited_answer_no_source_supports_goes_to_the_agent_whatever_its_score(
    retriever: HybridRetriever,
) -> None:
    server = FakeOllama({"mars": ScriptedModel(tokens=["火星上的天气非常寒冷", " [1]", "。"])}).start()
    try:
        # Threshold 0: only the "no supported sentence" rule can stop this answer.
        a = answerer(retriever, server.url, "mars", calibration=Calibration(threshold=0.0))
        _, result = await _collect(a, "我的转账一直在打包中怎么办")
    finally:
        server.stop()
    assert result.evidence.cited == 1.0 and result.evidence.grounded == 0.0
    assert result.action == "handoff" and result.reason == "low_confidence"
    assert result.handoff is not None and "火星" in result.handoff.suggested_reply


async def test_an_unsafe_sentence_never_reaches_the_user(retriever: HybridRetriever, llm: FakeOllama) -> None:
    tokens, result = await _collect(answerer(retriever, llm, "unsafe"), "转账一直在打包中")
    shown = "".join(tokens)
    assert "助记词" not in shown and "助记词" not in result.answer
    assert "asks_for_secret" in result.violations


async def test_no_answer_from_the_model_becomes_a_handoff(retriever: HybridRetriever, llm: FakeOllama) -> None:
    _, result = await _collect(answerer(retriever, llm, "no-answer"), "转账一直在打包中")
    assert result.action == "handoff" and result.reason == "no_answer"
    assert result.handoff is not None and result.handoff.suggested_reply


async def test_llm_down_falls_back_to_an_extractive_answer_never_an_error(retriever: HybridRetriever) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, result = await _collect(answerer(retriever, f"http://127.0.0.1:{port}"), "转账一直显示打包中怎么办")
    assert result.mode in ("extractive", "handoff")
    if result.mode == "extractive":
        assert result.action == "answer" and result.reason == "extractive_fallback"
        assert result.answer.startswith("以下内容摘自帮助中心") and result.citations
    else:
        assert result.reason == "llm_unavailable"


async def test_a_slow_llm_hits_the_deadline_and_falls_back(retriever: HybridRetriever, llm: FakeOllama) -> None:
    _, result = await _collect(answerer(retriever, llm, "slow", deadline=1.0), "转账一直显示打包中怎么办")
    assert result.reason in ("extractive_fallback", "llm_unavailable")


@pytest.mark.parametrize(
    ("question", "reason", "priority"),
    [
        ("我的钱包刚刚被盗了，USDT全被转走了，不是我操作的！", "stolen_funds", "urgent"),
        ("Someone drained my wallet 10 minutes ago, please help", "stolen_funds", "urgent"),
        ("转人工", "human_requested", None),
        ("I want to talk to a real person", "human_requested", None),
    ],
)
async def test_rules_hand_off_whatever_the_confidence(
    retriever: HybridRetriever, llm: FakeOllama, question: str, reason: str, priority: str | None
) -> None:
    before = len(llm.requests)
    _, result = await _collect(answerer(retriever, llm), question)
    assert result.action == "handoff" and result.reason == reason and result.mode == "handoff"
    assert result.handoff is not None and result.handoff.summary and result.handoff.conversation
    if priority:
        assert result.handoff.priority == priority
    assert len(llm.requests) == before, "a rule hands off without asking the LLM"


async def test_a_pasted_seed_phrase_is_redacted_and_the_user_warned(
    retriever: HybridRetriever, llm: FakeOllama
) -> None:
    phrase = "legal winner thank year wave sausage worth useful legal winner thank yellow"
    _, result = await _collect(answerer(retriever, llm), f"我的助记词是 {phrase} 为什么导入后余额是0")
    assert result.action == "handoff" and result.reason == "secret_shared"
    assert "winner" not in result.question and "[REDACTED:seed_phrase]" in result.question
    assert result.redactions.get("seed_phrase") == 1
    assert "不要向任何人" in result.answer
    assert result.handoff is not None
    assert all("winner" not in turn["text"] for turn in result.handoff.conversation)


async def test_a_follow_up_is_answered_as_a_standalone_question(retriever: HybridRetriever, llm: FakeOllama) -> None:
    history = [("user", "波场转USDT需要什么"), ("assistant", "需要能量和带宽 [1]。")]
    _, result = await _collect(answerer(retriever, llm), "那手续费呢？", history=history)
    assert result.standalone_question.startswith("波场转USDT需要什么")
    assert any("tron" in h.doc_id or "energy" in h.doc_id or "fees" in h.doc_id for h in result.hits[:3])


async def test_english_question_is_answered_in_english_mode(retriever: HybridRetriever, llm: FakeOllama) -> None:
    _, result = await _collect(answerer(retriever, llm), "My USDT transfer has been pending since yesterday")
    assert result.lang == "en"
    prompt = llm.requests[-1]["messages"][-1]["content"]
    assert prompt.startswith("[Sources]") and "[Question]" in prompt
