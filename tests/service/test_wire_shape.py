"""One wire shape of an answer: the CLI's JSON, the stored answer and its handoff all come
from ``service.answerer.result_dict``."""

from __future__ import annotations

from dataclasses import asdict as dataclass_dict
from datetime import UTC, datetime
from typing import Any

import msgspec

from service.answerer import AnswerResult, Citation, result_dict
from service.api import assistant
from service.confidence import Evidence
from service.handoff import Handoff, SummaryParts, build_handoff, summary_line
from service.retriever import DocumentHit
from service.store import HandoffRecord


def _result() -> AnswerResult:
    handoff = Handoff(
        reason="low_confidence", summary="用户问转账打包中", category="transfers" * 10, priority="bogus",
        lang="zh", sentiment="negative", conversation=[{"role": "user", "text": "转账一直打包中"}],
        evidence=[{"source": "fqa/pending.md", "score": 0.4}], suggested_reply="请加速 [1]", rules=["r1"],
    )  # fmt: skip
    return AnswerResult(
        question="转账一直打包中", standalone_question="转账一直打包中", lang="zh", answer="转人工",
        citations=[Citation(1, "fqa/pending.md", "打包中", None, "矿工费过低", "article")],
        confidence=0.3, action="handoff", reason="low_confidence", mode="handoff", handoff=handoff,
        evidence=Evidence(),
    )  # fmt: skip


def test_the_stored_handoff_is_the_wire_handoff_with_the_stores_limits() -> None:
    result = _result()
    wire = result_dict(result)
    request = assistant._handoff_request(wire)
    assert request is not None
    assert (request.reason, request.lang, request.summary) == ("low_confidence", "zh", "用户问转账打包中")
    assert request.priority == "normal"  # not a priority the store knows
    assert request.category == ("transfers" * 10)[:64] and request.sentiment == "negative"
    kept = ("conversation", "evidence", "suggested_reply", "rules", "summary_parts")
    assert request.payload == {k: wire["handoff"][k] for k in kept}
    assert request.payload["suggested_reply"] == "请加速 [1]"


def test_an_answer_opens_no_handoff_and_citations_are_stored_with_their_kind() -> None:
    result = _result()
    result.action = "answer"
    assert assistant._handoff_request(result_dict(result)) is None
    stored = [{k: c[k] for k in assistant.STORED_CITATION} for c in result_dict(result)["citations"]]
    # The kind tells a curated answer's citation from an article's when the conversation is read back.
    assert stored == [
        {"n": 1, "source": "fqa/pending.md", "title": "打包中", "url": None, "snippet": "矿工费过低", "kind": "article"}
    ]


def _hit(n: int, score: float | None = None) -> DocumentHit:
    return DocumentHit(
        doc_id=f"help/zh/transfers/{n}.md", paths=[], title=f"转账文章 {n}", kind="article", lang="zh",
        category="transfers", url=None, score=1.0 - 0.05 * n if score is None else score, dense_score=None,
        sparse_score=None, dense_rank=n,
        sparse_rank=None, heading_path=[], passage="", snippet="", chunk=0,
    )  # fmt: skip


def test_a_handoffs_summary_is_its_parts_in_the_users_language_and_both_are_stored() -> None:
    hits = [_hit(n) for n in range(1, 6)]
    history = [("user", "转账一直打包中"), ("assistant", "请加速"), ("user", "加速了也没用")]
    question = "我要转人工" + "，" * 400  # longer than a summary quotes
    for lang in ("zh", "en"):
        info = build_handoff(
            reason="human_requested", question=question, history=history, lang=lang, hits=hits,
            category="transfers", priority="normal", sentiment="negative",
        )  # fmt: skip
        parts = info.summary_parts
        assert parts is not None
        assert (parts.reason, parts.sentiment, parts.turns) == ("human_requested", "negative", 3)
        assert question.startswith(parts.question) and len(parts.question) < len(question)
        assert parts.titles == [h.title for h in hits[:3]]
        assert info.summary == summary_line(parts, lang)
        assert parts.question in info.summary and all(title in info.summary for title in parts.titles)
        # Through the wire into the store's payload, and back out of the API as they went in.
        result = _result()
        result.handoff = info
        request = assistant._handoff_request(result_dict(result))
        assert request is not None and request.payload["summary_parts"] == dataclass_dict(parts)
        view = assistant.handoff_view(_record(request.payload, info.summary))
        assert view.summary_parts is not None and SummaryParts(**msgspec.structs.asdict(view.summary_parts)) == parts
    assert summary_line(parts, "zh") != summary_line(parts, "en")


def test_a_handoff_lists_only_the_articles_search_scores_near_the_top() -> None:
    # The agent reads these as what the question is about; a far lower hit is noise.
    hits = [_hit(1, 3.0), _hit(2, 2.4), _hit(3, 1.5)]
    info = build_handoff(
        reason="low_confidence", question="订单号 8841，已经等了两个小时", history=[], lang="zh", hits=hits,
        category=None, priority="normal", sentiment="neutral",
    )  # fmt: skip
    assert info.summary_parts is not None and info.summary_parts.titles == ["转账文章 1", "转账文章 2"]
    assert "转账文章 3" not in info.summary and "转账文章 3" not in info.suggested_reply
    assert len(info.evidence) == 3  # the agent still sees every hit, with its score


def test_a_handoff_stored_before_its_summary_parts_were_kept_has_none() -> None:
    payload = {"conversation": [{"role": "user", "text": "在吗"}], "evidence": [], "suggested_reply": "您好"}
    view = assistant.handoff_view(_record(payload, "转人工（human_requested）。"))
    assert view.summary_parts is None and view.summary == "转人工（human_requested）。"


def _record(payload: dict[str, Any], summary: str) -> HandoffRecord:
    return HandoffRecord(
        id="h1", conversation_id="c1", answer_id=None, status="open", reason="human_requested", priority="normal",
        category=None, lang="zh", sentiment="negative", summary=summary, payload=payload, claimed_by=None,
        claimed_at=None, resolved_at=None, final_reply=None, created_at=datetime.now(UTC),
    )  # fmt: skip
