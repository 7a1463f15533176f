"""Per request: the request id (X-Request-ID, echoed or made), one access log line, and
the request count and latency metrics. Never logs a body. Also the check that a JSON body
is not nested deeper than any request needs (before it is decoded)."""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any, Final

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware

from kefu.errors import BadInputError
from service.api.logs import request_id_from, request_id_var

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ASGIApp, BeforeMessageSendHookHandler, Message, Receive, Scope, Send

    from service.api.metrics import Metrics

log = logging.getLogger("kefu.access")

REQUEST_ID_STATE = "kefu_request_id"
STARTED_STATE = "kefu_started"


def request_id_of(scope: Scope) -> str:
    """The request's id, made once per request and kept in its scope state."""
    state = scope.setdefault("state", {})
    request_id = state.get(REQUEST_ID_STATE)
    if not request_id:
        raw = dict(scope.get("headers") or []).get(b"x-request-id")
        request_id = request_id_from(raw.decode("latin-1") if raw else None)
        state[REQUEST_ID_STATE] = request_id
    return str(request_id)


class RequestMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = request_id_of(scope)
        scope.setdefault("state", {})[STARTED_STATE] = True
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableScopeHeaders.from_message(message)
                if "x-request-id" not in headers:
                    headers["X-Request-ID"] = request_id
            await send(message)

        try:
            await next_app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            route = scope.get("path_template") or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(seconds)
            log.info(
                "%s %s %d %.1f ms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "request_id": request_id,
                    "fields": {
                        "method": method,
                        "route": route,
                        "status": status,
                        "ms": round(seconds * 1000, 1),
                    },
                },
            )
            request_id_var.reset(token)


def before_send(metrics: Metrics) -> BeforeMessageSendHookHandler:
    """A hook for every response, also those of no route (404/405), which the
    middleware above never sees: they get a request id and a count too."""

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
            return
        headers = MutableScopeHeaders.from_message(message)
        if "x-request-id" not in headers:
            headers["X-Request-ID"] = request_id_of(scope)
        if scope.get("method") == "OPTIONS" and "allow" in headers:
            _allow_every_method(headers, scope)
        if not scope.get("state", {}).get(STARTED_STATE):
            metrics.requests.labels("unmatched", scope.get("method", ""), str(message["status"])).inc()

    return hook


_PARAM_TYPE = re.compile(r":[a-z]+\}")


def _allow_every_method(headers: MutableScopeHeaders, scope: Scope) -> None:
    # Litestar's OPTIONS answer lists only the first handler's methods when a path has several
    # (GET and POST on /v1/curated): list every method of the path.
    template = scope.get("path_template")
    for route in scope["app"].routes:
        if _PARAM_TYPE.sub("}", route.path) == template:
            headers["Allow"] = ", ".join(sorted(route.methods))
            return


#: Deepest nesting of arrays and objects a request body may have; kefu's deepest is 3
#: (``{"conversation": [{...}]}``). A body nested 1,000 deep would exhaust the decoder's stack.
MAX_JSON_DEPTH: Final = 16
_JSON_SPECIAL = re.compile(rb'[\[\]{}"\\]')


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in ``body`` (brackets inside strings skipped), in
    one linear pass over its brackets, quotes and backslashes."""
    depth = deepest = 0
    in_string = False
    escaped = -1  # the position a backslash escapes
    for m in _JSON_SPECIAL.finditer(body):
        at, char = m.start(), m.group()
        if at == escaped:
            continue
        if in_string:
            if char == b"\\":
                escaped = at + 1
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


async def refuse_deep_json(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: 400 for a body nested deeper than :data:`MAX_JSON_DEPTH`."""
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        if body and json_depth(body) > MAX_JSON_DEPTH:
            raise BadInputError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
