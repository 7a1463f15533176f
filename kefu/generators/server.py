"""What the generators that talk to an LLM server (Ollama, OpenAI-compatible) share."""

from __future__ import annotations

from typing import Any, ClassVar, Final, TypedDict, Unpack

from kefu.errors import BackendUnavailableError
from kefu.generators.base import GeneratorHealth


class ServerLimits(TypedDict, total=False):
    """The limits every server generator takes as keywords; those not given are :data:`DEFAULT_LIMITS`."""

    timeout: float
    connect_timeout: float
    max_tokens: int
    temperature: float


DEFAULT_LIMITS: Final[ServerLimits] = {"timeout": 60.0, "connect_timeout": 5.0, "max_tokens": 384, "temperature": 0.2}


class ServerGenerator:
    """A generator whose model runs in a server at ``host``, reached through ``self._client``.

    A subclass names the server and says how to start it and point kefu at it, for the
    message of an unreachable server, and sets ``_client`` (closed by :meth:`close`).
    """

    #: The generator's name is ``<backend>:<model>``.
    backend: ClassVar[str]
    #: The server, as a message names it ("Ollama").
    server: ClassVar[str]
    #: What to check and which variable points kefu at the server.
    remedy: ClassVar[str]

    def __init__(self, host: str, model: str, **limits: Unpack[ServerLimits]) -> None:
        unknown = limits.keys() - DEFAULT_LIMITS.keys()
        if unknown:
            # Run time takes any keyword here: a misspelt limit must fail, not be ignored.
            raise TypeError(f"{type(self).__name__} takes no keyword arguments {sorted(unknown)}")
        given = DEFAULT_LIMITS | limits
        if not model:
            raise ValueError(f"model must be a non-empty model name of {self.server}")
        if given["timeout"] <= 0 or given["connect_timeout"] <= 0:
            raise ValueError("timeouts must be above 0")
        self.host = host
        self.model = model
        self.name = f"{self.backend}:{model}"
        self.timeout = given["timeout"]
        self.connect_timeout = given["connect_timeout"]
        self.max_tokens = given["max_tokens"]
        self.temperature = given["temperature"]
        self._client: Any = None

    def health(self) -> GeneratorHealth:
        # The server is its own process: its failures show as errors of each request.
        return GeneratorHealth()

    def _unavailable(self, exc: BaseException) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"cannot reach {self.server} at {self.host} ({type(exc).__name__}); {self.remedy}, "
            "or KEFU_LLM_BACKEND=llamacpp for the embedded model"
        )

    async def close(self) -> None:
        await self._client.close()
