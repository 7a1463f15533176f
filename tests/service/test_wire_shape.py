"""One wire shape of an answer: the CLI's JSON, the stored answer and its handoff all come
from ``service.answerer.result_dict``."""

from __future__ import annotations

from service.answerer import AnswerResult, Citation, result_dict
from service.api import assistant
from service.confidence import Evidence
from service.handoff import Handoff


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
    assert request.payload == {k: wire["handoff"][k] for k in ("conversation", "evidence", "suggested_reply", "rules")}
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
