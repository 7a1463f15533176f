"""Generation through an Ollama server with the official ``ollama`` client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Unpack

import httpx
import ollama

from kefu.errors import BackendTimeoutError, BackendUnavailableError, ModelNotFoundError
from kefu.generators.base import ChatMessage, Chunk, GenerationOptions, Usage, checked_stream
from kefu.generators.server import ServerGenerator, ServerLimits


class OllamaGenerator(ServerGenerator):
    """Streams chat completions from ``/api/chat`` of an Ollama server."""

    backend = "ollama"
    server = "Ollama"
    remedy = "is `ollama serve` running there? Set OLLAMA_HOST"

    def __init__(
        self,
        host: str,
        model: str,
        *,
        context: int = 4096,
        keep_alive: str | None = None,
        **limits: Unpack[ServerLimits],
    ) -> None:
        super().__init__(host, model, **limits)
        self.context = context
        self.keep_alive = keep_alive
        # read= bounds the wait for each streamed line; with_deadline bounds the whole answer.
        self._client = ollama.AsyncClient(
            host=host,
            timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
        )

    async def warm_up(self) -> None:
        """Check that the server answers and has the model (``/api/tags``)."""
        try:
            listing = await self._client.list()
        except (ConnectionError, httpx.TransportError) as exc:
            raise self._unavailable(exc) from exc
        except ollama.ResponseError as exc:
            raise BackendUnavailableError(f"Ollama at {self.host} answered {exc.status_code}: {exc.error}") from exc
        names = {m.model for m in listing.models if m.model}
        wanted = {self.model, f"{self.model}:latest"}
        if not names & wanted:
            raise ModelNotFoundError(
                f"Ollama at {self.host} does not have the model {self.model!r} "
                f"(it has: {', '.join(sorted(names)) or 'none'}); run: ollama pull {self.model}"
            )

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> AsyncIterator[Chunk]:
        return checked_stream(
            self._stream, messages, options, self.timeout, f"Ollama model {self.model!r} at {self.host}"
        )

    async def _stream(self, messages: Sequence[ChatMessage], opts: GenerationOptions) -> AsyncIterator[Chunk]:
        request_options: dict[str, Any] = {
            "num_predict": opts.max_tokens or self.max_tokens,
            "temperature": self.temperature if opts.temperature is None else opts.temperature,
            "num_ctx": self.context,
        }
        if opts.stop:
            request_options["stop"] = list(opts.stop)
        try:
            responses = await self._client.chat(
                model=self.model,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                stream=True,
                options=request_options,
                keep_alive=self.keep_alive,
            )
            async for part in responses:
                text = (part.message.content or "") if part.message else ""
                if part.done:
                    yield Chunk(
                        text=text,
                        done=True,
                        finish_reason=part.done_reason,
                        usage=Usage(part.prompt_eval_count, part.eval_count),
                    )
                    return
                if text:
                    yield Chunk(text=text)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise ModelNotFoundError(
                    f"Ollama at {self.host} has no model {self.model!r}: {exc.error} (run: ollama pull {self.model})"
                ) from exc
            raise BackendUnavailableError(f"Ollama at {self.host} failed ({exc.status_code}): {exc.error}") from exc
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(f"Ollama at {self.host} did not answer within {self.timeout:g} s") from exc
        except (ConnectionError, httpx.TransportError) as exc:
            raise self._unavailable(exc) from exc
        raise BackendUnavailableError(f"Ollama at {self.host} closed the stream before it was done")
