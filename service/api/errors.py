"""kefu errors (and Litestar's own) to HTTP responses, in one place.

Every error response has one shape::

    {"error": {"code": "not_found", "message": "no handoff '...'", "detail": {...} | null}}

kefu's error hierarchy maps to status codes by class (most specific first); Litestar's
HTTP exceptions keep their status and get the same shape, validation errors naming the
field; anything unexpected is a 500 that says only "internal error" and the request id,
while the traceback goes to the (redacted) log.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ExceptionHandlersMap

from kefu.errors import (
    AuthError,
    BackendTimeoutError,
    BackendUnavailableError,
    BadInputError,
    BusyError,
    ConflictError,
    ForbiddenError,
    InvalidFieldError,
    KefuError,
    NotFoundError,
    NotReadyError,
    RateLimitedError,
    TooLargeError,
)
from service.api.logs import redact, request_id_var

log = logging.getLogger("kefu.api")

#: Most specific first: the first class an error is an instance of gives its status.
STATUS_BY_ERROR: tuple[tuple[type[KefuError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidFieldError, 422),
    (TooLargeError, 413),
    (BadInputError, 400),
    (ForbiddenError, 403),
    (AuthError, 401),
    (RateLimitedError, 429),
    (BusyError, 503),
    (NotReadyError, 503),
    (BackendUnavailableError, 503),
    (BackendTimeoutError, 504),
)

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}
_AT_PATH = re.compile(r"at `\$\.?([A-Za-z0-9_.\[\]]*)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")


def status_for(exc: KefuError) -> int:
    return next((status for cls, status in STATUS_BY_ERROR if isinstance(exc, cls)), 500)


#: Longest error message sent back; a quoted value in it is cut much shorter.
MAX_MESSAGE_CHARS = 300
_QUOTED_VALUE = re.compile(r"""(['"`])([^'"`\n]{40})[^'"`\n]+\1""")


_ESCAPED = re.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|([ntr]))")
_CONTROL = {"n": "\n", "t": "\t", "r": "\r"}


def _unescaped(m: re.Match[str]) -> str:
    code = m.group(1) or m.group(2)
    return chr(int(code, 16)) if code else _CONTROL[m.group(3)]


def safe_message(message: str) -> str:
    """An error message fit to send back: secrets redacted (an echoed field can hold a
    seed phrase, which a validator may have written with ``\\n`` or ``\\u200b`` escapes) and long
    echoed values cut ("no conversation '<60 kB>'")."""
    message = _ESCAPED.sub(_unescaped, message)
    message = _QUOTED_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}…{m.group(1)}", redact(message))
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": safe_message(message), "detail": detail}}


def error_response(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        content=error_body(code, message, detail),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def kefu_error_to_response(_: Request[Any, Any, Any], exc: KefuError) -> Response[dict[str, Any]]:
    status = status_for(exc)
    if status >= 500 and status not in (503, 504):
        # A ConfigError or a bare KefuError inside a request: the operator's problem.
        log.error("request failed: %s: %s", type(exc).__name__, exc)
    headers = None
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, BusyError | RateLimitedError) and retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    detail: dict[str, Any] | None = None
    if isinstance(exc, InvalidFieldError) and exc.field:
        detail = {"field": exc.field}
    elif headers:
        detail = {"retry_after": int(headers["Retry-After"])}
    return error_response(status, exc.code, str(exc), detail, headers)


def http_error_to_response(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status >= 500:
        return internal_error_to_response(request, exc)
    if isinstance(exc, ValidationException):
        return _validation_response(exc)
    if isinstance(exc, RequestEntityTooLarge):
        message = "the request body is larger than this server accepts"
    elif isinstance(exc, NotFoundException):
        message = f"no route for {request.method} {request.url.path}"
    elif isinstance(exc, MethodNotAllowedException):
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = exc.detail or "the request was refused"
    # 405 carries the route's methods in Allow (RFC 9110 requires it).
    keep = NotAuthorizedException | TooManyRequestsException | MethodNotAllowedException
    headers = exc.headers if isinstance(exc, keep) else None
    return error_response(status, _CODE_BY_STATUS.get(status, "http_error"), message, None, headers)


def internal_error_to_response(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    request_id = request_id_var.get()
    log.error(
        "unhandled error in %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
        extra={"request_id": request_id},
    )
    return error_response(
        500,
        "internal_error",
        "internal error; quote the request id when you report it",
        {"request_id": request_id},
    )


def _validation_response(exc: ValidationException) -> Response[dict[str, Any]]:
    problems = [p for p in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(p, dict)]
    if not problems and "JSON" in (exc.detail or ""):
        return error_response(400, "bad_request", "the request body is not valid JSON")
    # No body at all: Litestar reports its own parameter, "'data'".
    if any(p.get("key") == "data" and p.get("message") == "'data'" for p in problems):
        message = "body: the request needs a JSON object as its body, and it was empty"
        return error_response(400, "bad_request", message, {"field": "body", "fields": ["body"]})
    # Litestar shortens msgspec's message to its first half; the original names the
    # field by its whole path ("Expected `str` - at `$.data.conversation[0].role`").
    cause = exc.__cause__
    fields = [f for f in [_field_in(str(cause)) if isinstance(cause, msgspec.ValidationError) else None] if f]
    for problem in problems:
        key = str(problem.get("key") or "")
        if problem.get("source") != "body" and key and key != "data" and key not in fields:
            fields.append(key)
    field = fields[0] if fields else None
    reason = str(problems[0].get("message", "")) if problems else ""
    message = f"{field}: {reason}" if field and reason else reason or exc.detail or "the request is not valid"
    return error_response(422, "validation_error", message, {"field": field, "fields": fields})


def _field_in(message: str) -> str | None:
    """The request field a msgspec message names, without the body's own ``data`` prefix."""
    at = _AT_PATH.search(message)
    missing = _MISSING.search(message)
    path = ".".join(m.group(1) for m in (at, missing) if m)
    if path == "data" or path.startswith(("data.", "data[")):
        path = path[len("data") :].lstrip(".")
    return path or None


def exception_handlers() -> ExceptionHandlersMap:
    return {
        KefuError: kefu_error_to_response,
        HTTPException: http_error_to_response,
        InternalServerException: internal_error_to_response,
        Exception: internal_error_to_response,
    }
