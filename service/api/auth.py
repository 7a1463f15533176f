"""Who may call what: a guard per endpoint naming the roles it accepts.

The guard reads ``Authorization: Bearer KEY``, checks the key against the store (hashed,
see :mod:`service.keys`) and its role, applies the key's rate limit, and leaves the
:class:`~service.api.runtime.Caller` in the request state for the handler.
"""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

from typing import Any, TypedDict

from litestar.connection import ASGIConnection, Request
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from service.api.openapi import SECURITY
from service.api.runtime import Caller, Runtime
from service.store import Role

#: Every role (``admin`` may do anything; keys.verify_key accepts it everywhere).
ANY_ROLE: tuple[Role, ...] = ("app", "agent", "admin")
AGENTS: tuple[Role, ...] = ("agent", "admin")
ADMINS: tuple[Role, ...] = ("admin",)

CALLER_STATE = "kefu_caller"


def runtime_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


def require(*roles: Role) -> Guard:
    """A guard admitting API keys with one of ``roles`` (and admin keys)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        runtime = runtime_of(connection)
        client = connection.client.host if connection.client else "unknown"
        caller = await runtime.authenticate(
            connection.headers.get("authorization"),
            roles,
            client,
            origin=connection.headers.get("origin"),
            own_origin=f"{connection.url.scheme}://{connection.headers.get('host', '')}",
        )
        connection.state[CALLER_STATE] = caller

    return guard


class KeyedRoute(TypedDict):
    """The options :func:`keyed` gives a route handler's decorator."""

    guards: list[Guard]
    security: list[dict[str, list[str]]]


def keyed(*roles: Role) -> KeyedRoute:
    """The options of a route that takes an API key with one of ``roles``: the guard that
    checks the key and the bearer scheme the OpenAPI document names for it.

    Spread into the decorator (``@get(path, **keyed(*AGENTS), ...)``) so the two never part.
    A controller whose routes all take the same roles sets both on the class instead (its
    guard then also answers OPTIONS)."""
    return {"guards": [require(*roles)], "security": SECURITY}


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller: Caller = request.state[CALLER_STATE]
    return caller


def provide_runtime(request: Request[Any, Any, Any]) -> Runtime:
    return runtime_of(request)
