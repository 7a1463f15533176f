"""``/v1/ask``, ``/v1/suggest``, ``/v1/search`` and ``/v1/feedback``."""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

from functools import partial
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody
from litestar.response import ServerSentEvent

from service.api import assistant
from service.api.auth import AGENTS, ANY_ROLE, keyed
from service.api.openapi import AUTH_ERRORS, error_responses
from service.api.runtime import Caller, Runtime
from service.api.schemas import (
    AskRequest,
    AskResponse,
    FeedbackRequest,
    FeedbackResponse,
    SearchRequest,
    SearchResponse,
    SuggestRequest,
    SuggestResponse,
)

ASK_DESCRIPTION = """\
Answers an end user's question from the help center, with `[n]` citations, or hands the
conversation to a human (`action: handoff`, with the handoff opened in the queue). Secrets
in the question are redacted before anything is stored. Pass the `conversation_id` of an
earlier answer to ask a follow-up: a conversation belongs to the app key that started it and
to its `user_id`, and any other key or user gets 404 (agent and admin keys see every one).
With `details: true` (agent and admin keys; an app key gets 403) the body also carries `details`:
the documents found and the numbered sources (with every corpus path of each), the
matched handoff rules, the confidence evidence, a handoff's draft reply for the agent and
token usage (for evaluating a deployment).

With `Accept: text/event-stream` the answer streams as server-sent events: `event: token`
events whose data is `{"text": "..."}` (answer text as each sentence is ready), then one
`event: final` whose data is exactly the JSON body the non-streamed call returns. An
error after the stream began arrives as one `event: error` with the error body. A client
that disconnects mid-stream loses nothing: the answer is finished and saved to the
conversation all the same (`GET /v1/conversations/{id}/messages` shows it).

While a human has the conversation (its handoff is open or claimed) the assistant does
not answer: the question is added to the handoff for the agent and the response says so
(`action: handoff`, `reason: handed_off`, no `answer_id`); the agent's replies arrive
through `GET /v1/conversations/{id}/messages`. Once the handoff is resolved the assistant
answers again.

Only one answer is generated at a time; a few wait, and when the queue is full the call
answers 503 (`code: busy`) at once, with a Retry-After header. An answer not finished within
`KEFU_ANSWER_DEADLINE` seconds hands the conversation to a human (`reason: timeout`, or the
handoff rule's own reason) instead of keeping the caller waiting.

Roles: app, agent, admin."""


class AssistantController(Controller):
    path = "/v1"

    @post(
        "/ask",
        **keyed(*ANY_ROLE),
        status_code=200,
        tags=["assistant"],
        summary="Answer a question (JSON, or streamed as server-sent events)",
        description=ASK_DESCRIPTION,
        responses={
            200: ResponseSpec(
                data_container=AskResponse,
                description="The answer or the handoff (as JSON; with Accept: text/event-stream, as "
                "`token` events then a `final` event carrying this body).",
                generate_examples=False,
            ),
            **error_responses(*AUTH_ERRORS, 404, 503, 504),
        },
    )
    async def ask(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[AskRequest],
        runtime: NamedDependency[Runtime],
        caller: NamedDependency[Caller],
    ) -> Response[Any]:
        history = await assistant.history_for(runtime, caller, data)
        streamed = "text/event-stream" in request.headers.get("accept", "")
        relayed = await assistant.relay_to_agent(runtime, caller, data)
        if relayed is not None:
            return ServerSentEvent(assistant.relayed_messages(relayed)) if streamed else Response(relayed)
        events = assistant.answer_events(runtime, data, history, streaming=streamed)
        if streamed:
            finish = partial(assistant.save_answer, runtime, caller, data)
            answer = assistant.StreamedAnswer(runtime, events, finish)
            # The first event before the headers: a full queue or a missing index still
            # gets its own status code rather than a 200 stream with an error in it.
            await answer.first()
            return ServerSentEvent(answer.messages())
        result = await assistant.final_result(events)
        return Response(await assistant.save_answer(runtime, caller, data, result))

    @post(
        "/suggest",
        **keyed(*AGENTS),
        status_code=200,
        tags=["agents"],
        summary="Suggest a reply to a ticket",
        description=(
            "For the agent sidebar: a suggested reply to the customer's last message, with citations "
            "(help articles only: a reply never repeats what other customers wrote), the most similar past "
            "resolved tickets, the detected "
            "category, priority and sentiment, and the decision the assistant would make on its own "
            "(`action`, `reason`, `confidence`). The suggestion is stored (give feedback on it with "
            "its `answer_id`) and opens no handoff. Roles: agent, admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 404, 503, 504),
    )
    async def suggest(
        self, data: JSONBody[SuggestRequest], runtime: NamedDependency[Runtime], caller: NamedDependency[Caller]
    ) -> SuggestResponse:
        return await assistant.suggest(runtime, caller, data)

    @post(
        "/search",
        **keyed(*AGENTS),
        status_code=200,
        tags=["agents"],
        summary="Search the help center and past tickets",
        description=(
            "Hybrid search (e5 vectors + BM25, fused) over the served index: the `k` best documents "
            "with a snippet each, filtered by language, kind (article or ticket) and category. "
            "Needs no LLM. Roles: agent, admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 503),
    )
    async def search(self, data: JSONBody[SearchRequest], runtime: NamedDependency[Runtime]) -> SearchResponse:
        return await assistant.search(runtime, data)

    @post(
        "/feedback",
        **keyed(*ANY_ROLE),
        status_code=201,
        tags=["assistant", "agents"],
        summary="Feedback on an answer or a suggestion",
        description=(
            "`helpful` / `not_helpful` on an answer or a suggestion, or what an agent did with a "
            "suggestion: `sent_as_is`, `edited` (with `final_text`, the text sent) or `discarded`. "
            "A sent suggestion joins the conversation. An app key may only give feedback on answers in "
            "its own conversations (others are 404). Roles: app, agent, admin on answers; agent, "
            "admin on suggestions."
        ),
        responses=error_responses(*AUTH_ERRORS, 404),
    )
    async def feedback(
        self, data: JSONBody[FeedbackRequest], runtime: NamedDependency[Runtime], caller: NamedDependency[Caller]
    ) -> FeedbackResponse:
        return await assistant.feedback(runtime, caller, data)
