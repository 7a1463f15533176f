"""The errors kefu raises, one small hierarchy for the whole code base.

    KefuError
    ├── ConfigError             a setting has a bad value (names the variable)
    ├── BadInputError           input from a user or a file is unusable (names where)
    │   ├── NotFoundError       what the input refers to (an answer, a handoff, a key) does not exist
    │   ├── ConflictError       the input conflicts with stored state (claiming a claimed handoff)
    │   ├── InvalidFieldError   one field of a request fails validation (names the field)
    │   └── TooLargeError       a request is larger than allowed
    ├── AuthError               no API key, or one that is unknown or revoked
    │   └── ForbiddenError      a valid API key whose role may not do this
    ├── NotReadyError           a model or an index is not there yet (says how to make it)
    │   └── ModelSetupError     producing a model during set-up failed or did not verify
    ├── BackendUnavailableError an external backend (LLM server, database) cannot serve
    │   └── ModelNotFoundError  the backend is up but does not have the model asked for
    ├── BackendTimeoutError     an external backend did not answer in time
    ├── BusyError               the LLM's queue is full: try again after ``retry_after`` s
    └── RateLimitedError        an API key made too many requests: try again after ``retry_after`` s

Each boundary with an external thing raises one of these ``from`` the original
exception; the HTTP layer maps them to status codes in one place.
"""

from __future__ import annotations


class KefuError(Exception):
    """Base class of every error kefu raises on purpose."""

    code = "kefu_error"


class ConfigError(KefuError):
    """A setting (environment variable or option) has a value kefu cannot use."""

    code = "config_error"


class BadInputError(KefuError):
    """Input (a request field, a source file, a dataset line) is unusable."""

    code = "bad_request"


class NotFoundError(BadInputError):
    """The thing a request refers to (an answer, a handoff, an API key) does not exist."""

    code = "not_found"


class ConflictError(BadInputError):
    """The request conflicts with what is stored: a handoff already claimed, a duplicate id."""

    code = "conflict"


class InvalidFieldError(BadInputError):
    """One field of a request fails validation; ``field`` names it."""

    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TooLargeError(BadInputError):
    """A request (its body, or one of its fields) is larger than allowed."""

    code = "too_large"


class AuthError(KefuError):
    """The request carries no API key, or one that is unknown or revoked."""

    code = "unauthorized"


class ForbiddenError(AuthError):
    """The API key is valid, but its role may not do what the request asks."""

    code = "forbidden"


class NotReadyError(KefuError):
    """Something needed is not there yet: a model that setup has not produced, an index."""

    code = "not_ready"


class ModelSetupError(NotReadyError):
    """Producing a model during set-up failed, or its result did not verify."""

    code = "model_setup_failed"


class BackendUnavailableError(KefuError):
    """An external backend (an LLM server, a database) cannot serve the request."""

    code = "backend_unavailable"


class ModelNotFoundError(BackendUnavailableError):
    """The backend answers but does not have the model that was asked for."""

    code = "model_not_found"


class BackendTimeoutError(KefuError):
    """An external backend did not answer within its deadline."""

    code = "backend_timeout"


class BusyError(KefuError):
    """The LLM is generating and its queue is full; try again after ``retry_after`` seconds.

    Not a :class:`BackendUnavailableError`: the answerer falls back when the backend is
    down, but a full queue must reach the caller at once (HTTP 503 with Retry-After).
    """

    code = "busy"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(KefuError):
    """An API key has used up its request rate; try again after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_class_for(code: str) -> type[KefuError] | None:
    """The error class whose ``code`` is ``code``: how a client turns an API error back into kefu's."""
    stack: list[type[KefuError]] = [KefuError]
    while stack:
        cls = stack.pop()
        if cls.code == code:
            return cls
        stack.extend(cls.__subclasses__())
    return None


def error_from_reply(code: str, message: str, *, status: int, retry_after: float | None = None) -> KefuError:
    """The kefu error an API error reply stands for, from its ``code`` and HTTP ``status``: the
    class of that code, else one the status implies; a busy or rate-limited reply keeps its
    ``retry_after`` (1 s when it gave none)."""
    if code == "busy":
        return BusyError(message, retry_after=retry_after or 1.0)
    if code == "rate_limited" or status == 429:
        return RateLimitedError(message, retry_after=retry_after or 1.0)
    cls = error_class_for(code)
    if cls is not None and cls not in (BusyError, RateLimitedError):
        return cls(message)
    if status >= 500:
        return BackendUnavailableError(message)
    if status >= 400:
        return BadInputError(message)
    return KefuError(message)
