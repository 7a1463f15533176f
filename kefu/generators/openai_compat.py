"""Generation through an OpenAI-compatible server with the official ``openai`` client.

vLLM, llama.cpp's ``llama-server``, LM Studio and TGI all serve ``/v1/chat/completions``
(streamed as server-sent events) and ``/v1/models``; so does OpenAI itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Unpack, cast

import openai

from kefu.errors import BackendTimeoutError, BackendUnavailableError, ModelNotFoundError
from kefu.generators.base import ChatMessage, Chunk, GenerationOptions, Usage, checked_stream
from kefu.generators.server import ServerGenerator, ServerLimits

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

#: What the client sends as the key when none is configured: local servers ignore it,
#: but the client refuses to start without one.
NO_KEY = "none"


class OpenAICompatibleGenerator(ServerGenerator):
    """Streams chat completions from ``<base_url>/chat/completions``.

    ``base_url`` includes the API's path prefix, usually ``/v1`` (``http://host:8000/v1``).
    """

    backend = "openai"
    server = "the OpenAI-compatible server"
    remedy = "is it running? Set KEFU_OPENAI_BASE_URL"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        **limits: Unpack[ServerLimits],
    ) -> None:
        super().__init__(base_url.rstrip("/"), model, **limits)
        # No retries inside the client: a failing host is for the caller (or the host pool)
        # to fail over from, not to be hammered again. read= bounds the wait for each event.
        self._client = openai.AsyncOpenAI(
            base_url=self.host,
            api_key=api_key or NO_KEY,
            timeout=openai.Timeout(self.timeout, connect=self.connect_timeout),
            max_retries=0,
        )

    async def warm_up(self) -> None:
        """Check that the server answers and serves the model (``/models``)."""
        try:
            page = await self._client.models.list()
        except openai.APIError as exc:
            raise self._failed(exc) from exc
        names = {m.id for m in page.data}
        if self.model not in names:
            raise ModelNotFoundError(
                f"the server at {self.host} does not serve the model {self.model!r} "
                f"(it serves: {', '.join(sorted(names)) or 'none'}); set KEFU_OPENAI_MODEL to one of them"
            )

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> AsyncIterator[Chunk]:
        return checked_stream(self._stream, messages, options, self.timeout, f"model {self.model!r} at {self.host}")

    async def _stream(self, messages: Sequence[ChatMessage], opts: GenerationOptions) -> AsyncIterator[Chunk]:
        chat = cast("list[ChatCompletionMessageParam]", [{"role": m.role, "content": m.content} for m in messages])
        finish: str | None = None
        try:
            stream = await self._client.chat.completions.create(
                model=self.model,
                messages=chat,
                max_tokens=opts.max_tokens or self.max_tokens,
                temperature=self.temperature if opts.temperature is None else opts.temperature,
                stream=True,
                # The token counts come in one last event with no choices.
                stream_options={"include_usage": True},
                stop=list(opts.stop) if opts.stop else openai.omit,
            )
            try:
                async for event in stream:
                    if event.usage is not None and not event.choices:
                        yield Chunk(
                            text="",
                            done=True,
                            finish_reason=finish,
                            usage=Usage(event.usage.prompt_tokens, event.usage.completion_tokens),
                        )
                        return
                    for choice in event.choices[:1]:
                        text = choice.delta.content or "" if choice.delta else ""
                        if text:
                            yield Chunk(text=text)
                        if choice.finish_reason:
                            finish = choice.finish_reason
            finally:
                await stream.close()
        except openai.NotFoundError as exc:
            raise ModelNotFoundError(f"the server at {self.host} has no model {self.model!r}: {exc.message}") from exc
        except openai.APITimeoutError as exc:
            raise BackendTimeoutError(f"the server at {self.host} did not answer within {self.timeout:g} s") from exc
        except openai.APIError as exc:
            raise self._failed(exc) from exc
        if finish is None:
            raise BackendUnavailableError(f"the server at {self.host} closed the stream before it was done")
        # A server that sends no usage event (some ignore stream_options) ends here.
        yield Chunk(text="", done=True, finish_reason=finish, usage=Usage())

    def _failed(self, exc: openai.APIError) -> BackendUnavailableError:
        if isinstance(exc, openai.APIConnectionError):
            return self._unavailable(exc)
        if isinstance(exc, openai.APIStatusError):
            return BackendUnavailableError(f"the server at {self.host} answered {exc.status_code}: {exc.message}")
        # An error event in the middle of the stream.
        return BackendUnavailableError(f"the server at {self.host} failed mid-answer: {exc.message}")
