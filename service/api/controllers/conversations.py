"""``/v1/conversations/{id}/messages`` (the user's side of a conversation) and ``/v1/me``."""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from service.api import assistant
from service.api.auth import ANY_ROLE, keyed
from service.api.openapi import AUTH_ERRORS, error_responses
from service.api.runtime import Caller, Runtime
from service.api.schemas import Caller as CallerView
from service.api.schemas import ConversationMessages


@get(
    "/v1/conversations/{conversation_id:str}/messages",
    **keyed(*ANY_ROLE),
    tags=["assistant"],
    summary="The messages of a conversation (long-poll with `wait`)",
    description=(
        "The conversation's messages after message id `after`, oldest first: the user's, the "
        "assistant's answers (with citations and `answer_id`) and the replies of a human agent "
        "(role `agent`), its newest handoff (`open`/`claimed`: a human has it) and the user's "
        "rating (`csat`, null until rated: the widget shows it after a reload). With `wait` "
        "(seconds, at most 30) and nothing new yet, the call waits and answers as soon as a "
        "message arrives or the handoff changes (claimed, resolved), or with none when the time "
        "is up: the chat widget polls this way for the agent's replies and the console for the "
        "conversation it shows. A key with role app reads only a conversation it started, for the "
        "`user_id` it started it with (any other looks missing: 404). Roles: app, agent, admin."
    ),
    responses=error_responses(*AUTH_ERRORS, 404),
)
async def conversation_messages(
    *,
    conversation_id: FromPath[str],
    runtime: NamedDependency[Runtime],
    caller: NamedDependency[Caller],
    user_id: Annotated[
        str | None, QueryParameter(max_length=128, description="The user the conversation belongs to.")
    ] = None,
    after: Annotated[int, QueryParameter(ge=0, description="Only messages with a greater id.")] = 0,
    wait: Annotated[float, QueryParameter(ge=0, le=30, description="Seconds to wait for a new message.")] = 0,
) -> ConversationMessages:
    return await assistant.conversation_messages(
        runtime, caller, conversation_id, user_id=user_id, after=after, wait=wait
    )


@get(
    "/v1/me",
    **keyed(*ANY_ROLE),
    tags=["operations"],
    summary="Who the key is",
    description="The calling key's role and name (the console shows it and lists what it claimed).",
    responses=error_responses(*AUTH_ERRORS),
)
async def me(runtime: NamedDependency[Runtime], caller: NamedDependency[Caller]) -> CallerView:
    return CallerView(role=caller.role, label=caller.label, open_access=runtime.open_access)
