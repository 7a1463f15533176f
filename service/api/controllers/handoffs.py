"""The handoff queue: ``/v1/handoffs``."""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from kefu.vocab import HandoffStatus, Priority
from service.api.assistant import agent_message, handoff_detail, handoff_view
from service.api.auth import AGENTS, require
from service.api.openapi import AUTH_ERRORS, SECURITY, error_responses
from service.api.runtime import Caller, Runtime
from service.api.schemas import (
    AgentMessageRequest,
    ConversationMessage,
    Handoff,
    HandoffDetail,
    HandoffPage,
    ResolveRequest,
)

#: Largest offset a page may start at (a database integer; no queue is longer).
MAX_OFFSET = 1_000_000_000


class HandoffController(Controller):
    path = "/v1/handoffs"
    guards = [require(*AGENTS)]  # noqa: RUF012 - Litestar's own attribute
    security = SECURITY
    tags = ["handoffs"]  # noqa: RUF012

    @get(
        "/",
        summary="List handoffs",
        description=(
            "A page of the queue, filtered by status and priority (each may be repeated: "
            "`?status=open&status=claimed`). `order=priority` (the default) lists the most urgent "
            "first and, within a priority, the longest waiting first; `order=newest`, newest first. "
            "Roles: agent, admin."
        ),
        responses=error_responses(*AUTH_ERRORS),
    )
    async def list_handoffs(
        self,
        *,
        runtime: NamedDependency[Runtime],
        status: Annotated[list[HandoffStatus] | None, QueryParameter(description="Only these statuses.")] = None,
        priority: Annotated[list[Priority] | None, QueryParameter(description="Only these priorities.")] = None,
        order: Annotated[
            str, QueryParameter(pattern="^(priority|newest)$", description="Queue order or newest first.")
        ] = "priority",
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Page size.")] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="Handoffs to skip.")] = 0,
    ) -> HandoffPage:
        page = await runtime.in_store(
            lambda store: store.list_handoffs(
                status=status or None,
                priority=priority or None,
                order="newest" if order == "newest" else "priority",
                limit=limit,
                offset=offset,
            )
        )
        return HandoffPage(
            items=[handoff_view(h) for h in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    @get(
        "/{handoff_id:str}",
        summary="A handoff and its conversation",
        description=(
            "The handoff with every message of its conversation, oldest first: the user's, the "
            "assistant's (with citations) and the agents'. Roles: agent, admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 404),
    )
    async def get_handoff(self, handoff_id: FromPath[str], runtime: NamedDependency[Runtime]) -> HandoffDetail:
        return await handoff_detail(runtime, handoff_id)

    @post(
        "/{handoff_id:str}/messages",
        status_code=201,
        summary="Reply to the user without resolving",
        description=(
            "Send the user a message and keep the handoff open for more: the widget shows it, "
            "`GET /v1/conversations/{id}/messages` returns it (role `agent`), and the webhook gets "
            "`message.created`. An open handoff is claimed by the caller on the way; a resolved one "
            "answers 409. Roles: agent, admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 404, 409),
    )
    async def reply(
        self,
        handoff_id: FromPath[str],
        data: JSONBody[AgentMessageRequest],
        runtime: NamedDependency[Runtime],
        caller: NamedDependency[Caller],
    ) -> ConversationMessage:
        return await agent_message(runtime, caller, handoff_id, data.text)

    @post(
        "/{handoff_id:str}/claim",
        status_code=200,
        summary="Claim a handoff",
        description=(
            "Take an open handoff: it becomes `claimed` by the calling key's name (webhook: "
            "`handoff.claimed`). A handoff that is already claimed or resolved answers 409. "
            "Roles: agent, admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 404, 409),
    )
    async def claim(
        self, handoff_id: FromPath[str], runtime: NamedDependency[Runtime], caller: NamedDependency[Caller]
    ) -> Handoff:
        record = await runtime.in_store(lambda store: store.claim_handoff(handoff_id, agent=caller.label))
        runtime.conversation_changed(record.conversation_id)
        return handoff_view(record)

    @post(
        "/{handoff_id:str}/resolve",
        status_code=200,
        summary="Resolve a handoff with the reply sent",
        description=(
            "Close an open or claimed handoff with the agent's final reply, which joins the "
            "conversation (role `agent`); the assistant answers the conversation again afterwards. "
            "The webhook gets `message.created` and `handoff.resolved`. A resolved handoff answers "
            "409. Roles: agent, admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 404, 409),
    )
    async def resolve(
        self,
        handoff_id: FromPath[str],
        data: JSONBody[ResolveRequest],
        runtime: NamedDependency[Runtime],
        caller: NamedDependency[Caller],
    ) -> Handoff:
        record = await runtime.in_store(
            lambda store: store.resolve_handoff(handoff_id, final_reply=data.final_reply, agent=caller.label)
        )
        runtime.conversation_changed(record.conversation_id)
        return handoff_view(record)
