"""The errors kefu raises, one small hierarchy for the whole code base.

    KefuError
    ├── ConfigError             a setting has a bad value (names the variable)
    ├── BadInputError           input from a user or a file is unusable (names where)
    ├── NotReadyError           a model or an index is not there yet (says how to make it)
    │   └── ModelSetupError     producing a model during set-up failed or did not verify
    ├── BackendUnavailableError an external backend (LLM server, database) cannot serve
    │   └── ModelNotFoundError  the backend is up but does not have the model asked for
    └── BackendTimeoutError     an external backend did not answer in time

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

    code = "bad_input"


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
