"""The answer deadline as a hard bound on the whole answer, not only on the LLM.

:meth:`Answerer.stream` bounds the LLM's stream, but retrieval, sentence selection and
grounding run in worker threads with no bound of their own, so a slow search could keep
a user waiting past ``KEFU_ANSWER_DEADLINE``. :func:`answer_within` drives the stream
step by step against one clock; once the deadline passes, the step under way is
cancelled and the user is handed to a human at once (reason ``timeout``, or the reason a
handoff rule gives the question: a theft is still a theft when search is slow).

A cancelled step's thread cannot be stopped and runs to its end, but nothing it returns
is read: the answerer writes nothing itself (the caller stores the one result this
returns), and search and embedding only read the index, so the late work changes no state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from kefu.redaction import Redactor
from kefu.text import detect_language
from service.handoff import build_handoff, user_message
from service.rules import check_rules
from service.triage import detect_category, detect_priority, detect_sentiment

if TYPE_CHECKING:
    from kefu.vocab import Mode
    from service.answerer import Answerer, AnswerEvent, AnswerResult

log = logging.getLogger("kefu.answer")

#: The reason of a handoff made because the answer did not finish in time.
TIMEOUT_REASON = "timeout"


async def answer_within(
    answerer: Answerer,
    question: str,
    history: Sequence[tuple[str, str]] = (),
    *,
    lang: str | None = None,
    mode: Mode = "answer",
    seconds: float | None = None,
    streaming: bool = True,
) -> AsyncIterator[AnswerEvent]:
    """``answerer.stream(...)``'s events, ending with a ``final`` event within ``seconds``
    (the answerer's deadline by default) whatever the answerer is doing then."""
    from service.answerer import AnswerEvent

    limit = answerer.deadline if seconds is None else seconds
    started = time.monotonic()
    events = answerer.stream(question, history, lang=lang, mode=mode, streaming=streaming)
    shown: list[str] = []
    try:
        while True:
            left = limit - (time.monotonic() - started)
            try:
                event = await asyncio.wait_for(anext(events), timeout=max(left, 0.0))
            except StopAsyncIteration:
                return
            except TimeoutError:
                log.warning("the answer overran its %g s deadline: handed to a human", limit)
                result = overdue_result(answerer, question, history, lang=lang, shown="".join(shown).strip())
                result.timings_ms["total"] = (time.monotonic() - started) * 1000
                yield AnswerEvent("token", text=("\n" if shown else "") + result.answer)
                yield AnswerEvent("final", result=result)
                return
            if event.type == "token":
                shown.append(event.text)
            yield event
            if event.type == "final":
                return
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


def overdue_result(
    answerer: Answerer,
    question: str,
    history: Sequence[tuple[str, str]] = (),
    *,
    lang: str | None = None,
    shown: str = "",
) -> AnswerResult:
    """The handoff for a question whose answer did not finish in time: the rules' reason
    if one fires (they need no search), else ``timeout``; what was already shown, if
    anything, goes to the agent as a draft (it passed the output check on its way out)."""
    from service.answerer import AnswerResult

    redactor = Redactor()
    red = redactor.redact(question)
    q = red.text
    turns = [(role, redactor.redact(text).text) for role, text in history]
    lang = lang if lang in ("zh", "en") else detect_language(question)
    reasons = answerer.rule_reasons(question, history)
    sentiment = detect_sentiment(q)
    rule_hits = check_rules(q, [text for role, text in turns if role == "user"])
    priority = detect_priority(rule_hits, sentiment)
    reason = reasons[0] if reasons else TIMEOUT_REASON
    if not reasons and priority == "low":
        priority = "normal"
    category = detect_category(q)
    info = build_handoff(
        reason=reason, question=q, history=turns, lang=lang, hits=[], category=category,
        priority=priority, sentiment=sentiment, draft=shown or None, rules=reasons,
    )  # fmt: skip
    said = [q, *(text for role, text in turns if role == "user")]
    return AnswerResult(
        question=q, standalone_question=q, lang=lang, answer=user_message(reason, lang, said), citations=[],
        confidence=0.0, action="handoff", reason=reason, mode="handoff", handoff=info, category=category,
        priority=priority, sentiment=sentiment, rules=reasons, redactions=dict(red.counts),
    )  # fmt: skip
