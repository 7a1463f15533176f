"""What the endpoints do, between the HTTP layer and the core: a controller calls one
function here, which calls the answerer and the store (off the event loop) and returns
the response body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import msgspec

from kefu.errors import ForbiddenError, InvalidFieldError, KefuError
from kefu.text import detect_language, visible
from kefu.vocab import HISTORY_TURNS, MAX_QUESTION_CHARS, PRIORITIES, Lang, Mode, Priority
from service.api import schemas
from service.api.errors import error_body, status_for
from service.api.logs import redact
from service.deadline import answer_within
from service.retriever import SearchFilters
from service.store import HandoffRecord, HandoffRequest, MessageRecord, Owner, SavedAnswer

if TYPE_CHECKING:
    from service.answerer import AnswerEvent, AnswerResult
    from service.api.runtime import Caller, Runtime

log = logging.getLogger("kefu.api")

AGENT_ACTIONS = ("sent_as_is", "edited", "discarded")
#: What the user is told when their message went to the human who has the conversation.
RELAYED = {
    "zh": "你的消息已转给人工客服，客服回复后会显示在这里。",
    "en": "Your message went to the support agent handling this conversation; their reply will appear here.",
}
#: Longest a long-poll for new messages waits (seconds).
MAX_WAIT = 30.0


def check_question(question: str, runtime: Runtime, field: str = "question") -> None:
    limit = min(runtime.settings.max_question_chars, MAX_QUESTION_CHARS)
    if not visible(question):
        raise InvalidFieldError(f"{field}: must not be empty (or only spaces and invisible characters)", field=field)
    if len(question) > limit:
        raise InvalidFieldError(f"{field}: longer than {limit} characters", field=field)


# --- ask --------------------------------------------------------------------------------


def owner_of(caller: Caller, user_id: str | None = None) -> Owner:
    """What a caller may see: its own key's conversations (for ``user_id``); staff, all."""
    return Owner(api_key_id=caller.key_id, user_id=user_id, staff=caller.role in ("agent", "admin"))


async def history_for(runtime: Runtime, caller: Caller, request: schemas.AskRequest) -> list[tuple[str, str]]:
    """The stored conversation before this question (404 if it is not the caller's).

    The question is checked first, so a bad one is 422 whatever the conversation."""
    check_question(request.question, runtime)
    if request.details and caller.role == "app":
        # They name the handoff rules a conversation matched and the agent's draft.
        raise ForbiddenError("details: only agent and admin keys may ask for details; this key's role is app")
    if request.conversation_id is None:
        return []
    conversation_id = request.conversation_id
    owner = owner_of(caller, request.user_id)
    messages = await runtime.in_store(
        lambda store: store.conversation_history(
            conversation_id, turns=HISTORY_TURNS, user_id=request.user_id, owner=owner
        )
    )
    # The assistant answers here only when no human has the conversation: an agent's
    # message means a handoff was resolved, and what came before it (a request for a
    # person, a theft) was the agent's to deal with, not a reason to hand off again.
    last_agent = max((i for i, m in enumerate(messages) if m.role == "agent"), default=-1)
    return [(m.role, m.text) for m in messages[last_agent + 1 :]]


async def relay_to_agent(runtime: Runtime, caller: Caller, request: schemas.AskRequest) -> schemas.AskResponse | None:
    """While a human has the conversation the assistant does not answer: the message is
    added to the handoff for the agent, and the user is told so. ``None`` otherwise."""
    conversation_id = request.conversation_id
    if conversation_id is None:
        return None
    relayed = await runtime.in_store(
        lambda store: store.add_user_message(
            conversation_id, request.question, user_id=request.user_id, owner=owner_of(caller, request.user_id)
        )
    )
    if relayed is None:
        return None
    runtime.conversation_changed(conversation_id)
    lang = _lang(request.lang or detect_language(request.question))
    return schemas.AskResponse(
        answer=RELAYED[lang],
        citations=[],
        confidence=0.0,
        action="handoff",
        reason="handed_off",
        mode="handoff",
        lang=lang,
        conversation_id=conversation_id,
        answer_id=None,
        handoff=_handoff_ref(relayed.handoff),
    )


async def relayed_messages(response: schemas.AskResponse) -> AsyncIterator[dict[str, Any]]:
    """A relayed message as the streamed answer's events: its notice, then ``final``."""
    yield {"event": "token", "data": _json({"text": response.answer})}
    yield {"event": "final", "data": msgspec.json.encode(response).decode()}


def answer_events(
    runtime: Runtime, request: schemas.AskRequest, history: list[tuple[str, str]], *, streaming: bool
) -> AsyncIterator[AnswerEvent]:
    """The answer's events from the answerer being served now (history_for checked the question),
    the last of them within the answer deadline; ``streaming``: the client reads the text events."""
    answerer = runtime.current_answerer()
    return answer_within(answerer, request.question, history, lang=request.lang, mode="answer", streaming=streaming)


async def final_result(events: AsyncIterator[AnswerEvent]) -> AnswerResult:
    async for event in events:
        if event.type == "final" and event.result is not None:
            return event.result
    raise KefuError("the answerer ended without a result")


async def save_answer(
    runtime: Runtime, caller: Caller, request: schemas.AskRequest, result: AnswerResult
) -> schemas.AskResponse:
    saved = await _save(
        runtime,
        result,
        mode="answer",
        conversation_id=request.conversation_id,
        channel=request.channel,
        user_id=request.user_id,
        open_handoff=True,
        owner=owner_of(caller, request.user_id),
    )
    handoff = saved.handoff
    return schemas.AskResponse(
        answer=result.answer,
        citations=_citations(result),
        **_decision(result, saved),
        handoff=_handoff_ref(handoff) if handoff else None,
        details=_details(result) if request.details else msgspec.UNSET,
    )


def _details(result: AnswerResult) -> schemas.AnswerDetails:
    """What the decision rests on, for callers that ask (eval, debugging)."""
    paths_of = {h.doc_id: list(h.paths) for h in result.hits}
    return schemas.AnswerDetails(
        documents=[
            schemas.view(schemas.RetrievedDocument, h, rank=rank, source=h.doc_id, paths=list(h.paths))
            for rank, h in enumerate(result.hits, start=1)
        ],
        sources=[
            schemas.AnswerSource(
                n=s.n, source=s.doc_id, paths=paths_of.get(s.doc_id, [s.doc_id]), title=s.title, url=s.url, kind=s.kind
            )
            for s in result.sources
        ],
        rules=list(result.rules),
        evidence={name: float(value) for name, value in _wire(result)["evidence"].items()},
        draft=result.handoff.suggested_reply if result.action == "handoff" and result.handoff else None,
        usage=schemas.TokenUsage(
            prompt_tokens=result.usage.get("prompt_tokens"), completion_tokens=result.usage.get("completion_tokens")
        ),
    )


class StreamedAnswer:
    """An answer streamed as server-sent events, generated and saved by a task of its own.

    A client that disconnects mid-stream cancels only the reading of the events (Litestar
    stops the response), never the answer: it is finished and saved to the conversation as
    if the client had stayed, so the next message, on any replica, sees it. The events pass
    through an unbounded queue: an answer is a few sentences, and nobody may be reading.
    """

    def __init__(
        self,
        runtime: Runtime,
        events: AsyncIterator[AnswerEvent],
        finish: Callable[[AnswerResult], Awaitable[schemas.AskResponse]],
    ) -> None:
        self._queue: asyncio.Queue[tuple[str, Any] | Exception] = asyncio.Queue()
        self._first: tuple[str, Any] | None = None
        runtime.detach(self._produce(events, finish), name="kefu-streamed-answer")

    async def _produce(
        self, events: AsyncIterator[AnswerEvent], finish: Callable[[AnswerResult], Awaitable[schemas.AskResponse]]
    ) -> None:
        put = self._queue.put_nowait
        sent = False
        try:
            async for event in events:
                if event.type == "token" and event.text:
                    put(("token", event.text))
                    sent = True
                elif event.result is not None:
                    put(("final", await finish(event.result)))
                    return
            raise _EndedWithoutResult("the answer ended without a result")
        except Exception as exc:
            if sent:  # before the first event the response carries the error, and it is logged then
                if isinstance(exc, KefuError) and not isinstance(exc, _EndedWithoutResult):
                    log.warning("streamed answer failed (%d): %s", status_for(exc), exc)
                else:
                    log.exception("streamed answer failed")
            put(exc)
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    async def first(self) -> None:
        """Wait for the first event; an error before it is raised (the response then has the
        error's own status code, not a 200 stream with an error in it)."""
        item = await self._queue.get()
        if isinstance(item, Exception):
            raise item
        self._first = item

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """``token`` events with ``{"text"}``, then one ``final`` event with the body the
        non-streamed call returns, or one ``error`` event with the error body if something
        failed after the stream began."""
        item: tuple[str, Any] | Exception | None = self._first
        while True:
            if item is None:
                item = await self._queue.get()
            if isinstance(item, Exception):
                yield {"event": "error", "data": _json(_stream_error(item))}
                return
            kind, value = item
            if kind == "final":
                yield {"event": "final", "data": msgspec.json.encode(value).decode()}
                return
            yield {"event": "token", "data": _json({"text": value})}
            item = None


class _EndedWithoutResult(KefuError):
    code = "internal_error"


def _stream_error(exc: Exception) -> dict[str, Any]:
    """The body of the ``error`` event for a failure after the stream began."""
    if isinstance(exc, KefuError):
        return error_body(exc.code, str(exc))
    return error_body("internal_error", "internal error")


# --- suggest ----------------------------------------------------------------------------


async def suggest(runtime: Runtime, caller: Caller, request: schemas.SuggestRequest) -> schemas.SuggestResponse:
    question, history = _ticket_turns(request, runtime)
    answerer = runtime.current_answerer()
    result = await final_result(
        answer_within(answerer, question, history, lang=request.lang, mode="suggest", streaming=False)
    )
    # A suggestion goes to an agent, who is already a human: it opens no handoff.
    saved = await _save(
        runtime,
        result,
        mode="suggest",
        conversation_id=request.conversation_id,
        channel="agent",
        user_id=None,
        open_handoff=False,
        owner=owner_of(caller),
    )
    reply = (result.handoff.suggested_reply if result.handoff else result.answer) or ""
    return schemas.SuggestResponse(
        reply=reply,
        citations=_citations(result) or _draft_citations(result, reply),
        similar_tickets=[_similar(hit) for hit in result.similar_tickets],
        category=result.category,
        priority=_priority(result.priority),
        sentiment=result.sentiment,
        **_decision(result, saved),
    )


def _decision(result: AnswerResult, saved: SavedAnswer) -> dict[str, Any]:
    """What an answer and a suggestion both report: the decision, and where it was stored."""
    return {
        "confidence": result.confidence,
        "action": result.action,
        "reason": result.reason,
        "mode": result.mode,
        "lang": _lang(result.lang),
        "conversation_id": saved.conversation.id,
        "answer_id": saved.answer.id,
    }


def _ticket_turns(request: schemas.SuggestRequest, runtime: Runtime) -> tuple[str, list[tuple[str, str]]]:
    """The customer's last message as the question; the subject and earlier turns as history."""
    turns = [("user" if m.role == "user" else "assistant", m.text) for m in request.conversation]
    last = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=None)
    if last is None:
        raise InvalidFieldError("conversation: needs at least one message from the user", field="conversation")
    question = turns[last][1].strip()
    # A long customer email: its start states the problem.
    question = question[: min(runtime.settings.max_question_chars, MAX_QUESTION_CHARS)]
    check_question(question, runtime, field=f"conversation[{last}].text")
    history = turns[:last]
    if request.subject.strip():
        history.insert(0, ("user", request.subject.strip()))
    return question, history


def _similar(hit: Any) -> schemas.SimilarTicket:
    meta = hit.meta or {}
    resolution = meta.get("resolution")
    return schemas.SimilarTicket(
        id=hit.doc_id,
        subject=str(meta.get("subject") or hit.title),
        resolution=str(resolution) if resolution else None,
        similarity=round(float(hit.dense_score if hit.dense_score is not None else hit.score), 4),
        url=hit.url,
    )


# --- search -----------------------------------------------------------------------------


async def search(runtime: Runtime, request: schemas.SearchRequest) -> schemas.SearchResponse:
    check_question(request.query, runtime, field="query")
    retriever = runtime.current_answerer().retriever
    filters = SearchFilters(lang=request.lang, kind=request.kind, category=request.category)
    result = await anyio.to_thread.run_sync(lambda: retriever.search(request.query, k=request.k, filters=filters))
    return schemas.SearchResponse(
        query=redact(result.query),
        lang=result.lang,
        expansion=result.expansion,
        index=retriever.index.manifest.name,
        index_version=retriever.index.manifest.version,
        hits=[schemas.view(schemas.SearchHit, h, rank=i, source=h.doc_id) for i, h in enumerate(result.hits, start=1)],
        took_ms=round(result.timings_ms.get("total", 0.0), 2),
    )


# --- feedback ---------------------------------------------------------------------------


async def feedback(runtime: Runtime, caller: Caller, request: schemas.FeedbackRequest) -> schemas.FeedbackResponse:
    """Feedback on answers is open to every role; on suggestions, to agents and admins."""
    owner = owner_of(caller)
    answer = await runtime.in_store(lambda store: store.get_answer(request.answer_id, owner=owner))
    if answer.mode == "suggest" and caller.role == "app":
        raise ForbiddenError("a key with role 'app' may not give feedback on an agent's suggestion")
    if request.kind in AGENT_ACTIONS and answer.mode != "suggest":
        raise InvalidFieldError(
            f"kind: {request.kind!r} is what an agent did with a suggestion; this is an answer "
            "(use helpful or not_helpful)",
            field="kind",
        )
    if request.kind == "edited" and not (request.final_text and request.final_text.strip()):
        raise InvalidFieldError("final_text: 'edited' needs the text the agent sent", field="final_text")
    if request.kind != "edited" and request.final_text is not None:
        raise InvalidFieldError("final_text: only 'edited' takes a final_text", field="final_text")
    record = await runtime.in_store(
        lambda store: store.record_feedback(
            request.answer_id,
            request.kind,
            final_text=request.final_text,
            comment=request.comment,
            api_key_id=caller.key_id,
            owner=owner,
        )
    )
    return schemas.FeedbackResponse(
        id=record.id, answer_id=record.answer_id, kind=record.kind, created_at=record.created_at
    )


# --- conversations ----------------------------------------------------------------------


async def conversation_messages(
    runtime: Runtime, caller: Caller, conversation_id: str, *, user_id: str | None, after: int, wait: float
) -> schemas.ConversationMessages:
    """The conversation's messages after ``after``; with ``wait``, a long-poll that
    answers as soon as there is one (or the handoff changes), at the latest after ``wait``
    seconds with none.

    An ``app`` key reads only a conversation it started, for the ``user_id`` it started
    it with (any other looks missing, 404); agent and admin keys read any."""
    owner = owner_of(caller, user_id)
    wait = min(max(wait, 0.0), MAX_WAIT)
    deadline = anyio.current_time() + wait
    first: list[tuple[str, str, str | None] | None] = []
    while True:
        # The rating after the messages: those check the owner (a stranger gets 404 first).
        messages, handoff, csat = await runtime.in_store(
            lambda store: (
                store.messages(conversation_id, after=after, owner=owner),
                store.latest_handoff(conversation_id),
                store.get_csat(conversation_id),
            )
        )
        # A change of the handoff (an agent claims it, resolves it) ends the wait too, so the
        # user learns at once that a person has the conversation.
        state = (handoff.id, handoff.status, handoff.claimed_by) if handoff else None
        if not first:
            first.append(state)
        changed = state != first[0]
        left = deadline - anyio.current_time()
        if messages or changed or left <= 0:
            break
        # Woken at once by this process; the short slice also sees other processes' writes.
        if await runtime.wait_for_change(conversation_id, min(left, 2.0)):
            continue
    return schemas.ConversationMessages(
        conversation_id=conversation_id,
        messages=[_message_view(m) for m in messages],
        handoff=_handoff_ref(handoff) if handoff else None,
        csat=schemas.view(schemas.Csat, csat) if csat else None,
    )


async def agent_message(runtime: Runtime, caller: Caller, handoff_id: str, text: str) -> schemas.ConversationMessage:
    sent = await runtime.in_store(lambda store: store.reply_to_handoff(handoff_id, text, agent=caller.label))
    runtime.conversation_changed(sent.handoff.conversation_id)
    return _message_view(sent.message)


async def handoff_detail(runtime: Runtime, handoff_id: str) -> schemas.HandoffDetail:
    record = await runtime.in_store(lambda store: store.get_handoff(handoff_id))
    messages = await runtime.in_store(lambda store: store.messages(record.conversation_id))
    return schemas.view(schemas.HandoffDetail, handoff_view(record), messages=[_message_view(m) for m in messages])


def _message_view(message: MessageRecord) -> schemas.ConversationMessage:
    return schemas.view(
        schemas.ConversationMessage,
        message,
        citations=[
            schemas.Citation(
                n=int(c.get("n", 0)),
                source=str(c.get("source", "")),
                title=str(c.get("title", "")),
                url=c.get("url"),
                snippet=str(c.get("snippet", "")),
                kind=str(c.get("kind") or "article"),
            )
            for c in message.citations
            if isinstance(c, dict)
        ],
    )


def _handoff_ref(handoff: HandoffRecord) -> schemas.HandoffRef:
    return schemas.view(schemas.HandoffRef, handoff)


# --- handoffs ---------------------------------------------------------------------------


def handoff_view(record: HandoffRecord) -> schemas.Handoff:
    payload = record.payload or {}
    parts = payload.get("summary_parts")  # absent from handoffs stored before it was kept
    return schemas.view(
        schemas.Handoff,
        record,
        conversation=list(payload.get("conversation") or []),
        evidence=list(payload.get("evidence") or []),
        suggested_reply=payload.get("suggested_reply"),
        summary_parts=msgspec.convert(parts, schemas.HandoffSummaryParts) if parts else None,
    )


# --- storing answers --------------------------------------------------------------------


async def _save(
    runtime: Runtime,
    result: AnswerResult,
    *,
    mode: Mode,
    conversation_id: str | None,
    channel: str,
    user_id: str | None,
    open_handoff: bool,
    owner: Owner,
) -> SavedAnswer:
    """Store the (redacted) question, the answer and its handoff in one transaction."""
    wire = _wire(result)
    handoff = _handoff_request(wire) if open_handoff else None
    saved = await runtime.in_store(
        lambda store: store.save_answer(
            question=result.question,
            answer=result.answer,
            confidence=min(1.0, max(0.0, result.confidence)),
            action=result.action,
            mode=mode,
            conversation_id=conversation_id,
            channel=channel,
            user_id=user_id,
            lang=result.lang,
            citations=[{k: c[k] for k in STORED_CITATION} for c in wire["citations"]],
            reason=result.reason,
            model=result.model or None,
            latency_ms=int(result.timings_ms.get("total", 0.0)),
            prompt_tokens=result.usage.get("prompt_tokens"),
            completion_tokens=result.usage.get("completion_tokens"),
            handoff=handoff,
            owner=owner,
        )
    )
    runtime.metrics.answers.labels(mode, result.action, result.reason).inc()
    if saved.handoff is not None and saved.handoff.answer_id == saved.answer.id:  # opened now
        runtime.metrics.handoffs.labels(saved.handoff.reason, saved.handoff.priority).inc()
    runtime.conversation_changed(saved.conversation.id)
    return saved


def _wire(result: AnswerResult) -> dict[str, Any]:
    """The result's one JSON shape (``service.answerer.result_dict``), which the store and the
    details are taken from."""
    from service.answerer import result_dict

    return result_dict(result)


#: What the store keeps of a citation (what the API and the console show of it).
STORED_CITATION = ("n", "source", "title", "url", "snippet", "kind")
#: What the store keeps of a handoff beside its own columns, for the agent.
HANDOFF_PAYLOAD = ("conversation", "evidence", "suggested_reply", "rules", "summary_parts")


def _handoff_request(wire: dict[str, Any]) -> HandoffRequest | None:
    info = wire["handoff"]
    if wire["action"] != "handoff" or info is None:
        return None
    return HandoffRequest(
        reason=info["reason"],
        priority=_priority(info["priority"]),
        category=(info["category"] or None) and str(info["category"])[:64],
        lang=info["lang"],
        sentiment=(info["sentiment"] or None) and str(info["sentiment"])[:32],
        summary=info["summary"],
        payload={k: info[k] for k in HANDOFF_PAYLOAD},
    )


def _citations(result: AnswerResult) -> list[schemas.Citation]:
    return [
        schemas.Citation(n=c.n, source=c.source, title=c.title, url=c.url, snippet=c.snippet, kind=c.kind)
        for c in result.citations
    ]


def _draft_citations(result: AnswerResult, reply: str) -> list[schemas.Citation]:
    """The sources a handoff's draft cites by its ``[n]`` markers (a handoff has no citations of its own)."""
    return [
        schemas.Citation(n=s.n, source=s.doc_id, title=s.title, url=s.url, snippet=s.snippet)
        for s in result.sources
        if f"[{s.n}]" in reply
    ]


def _priority(value: str) -> Priority:
    return next((p for p in PRIORITIES if p == value), "normal")


def _lang(value: str) -> Lang:
    return "en" if value == "en" else "zh"


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
