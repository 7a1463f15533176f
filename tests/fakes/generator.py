"""An LLM with the :class:`kefu.generators.Generator` protocol that streams a scripted reply in
this process (no server), and the helper that reads an answer's stream: for fast tests of the
answer path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from kefu.generators.base import ChatMessage, Chunk, GenerationOptions, GeneratorHealth
from service.answerer import Answerer, AnswerResult


@dataclass
class FakeGenerator:
    """Streams ``reply`` piece by piece (``delay`` seconds before each); records each prompt.

    With ``fail`` set, raises it after the reply's pieces instead of finishing, as a backend
    that goes down mid-answer does."""

    reply: list[str]
    delay: float = 0.0
    name: str = "fake:model"
    fail: Exception | None = None
    prompts: list[list[ChatMessage]] = field(default_factory=list)
    #: Pieces handed out, and whether the caller closed the stream before its end.
    served: int = 0
    closed_early: bool = False

    async def warm_up(self) -> None:
        pass

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None
    ) -> AsyncIterator[Chunk]:  # fmt: skip
        self.prompts.append(list(messages))
        finished = False
        try:
            for piece in self.reply:
                await asyncio.sleep(self.delay)
                self.served += 1
                yield Chunk(piece)
            if self.fail is not None:
                raise self.fail
            finished = True
            yield Chunk("", done=True, finish_reason="stop")
        finally:
            self.closed_early = not finished

    def health(self) -> GeneratorHealth:
        return GeneratorHealth()

    async def close(self) -> None:
        pass


async def collect(answerer: Answerer, question: str, **kw: object) -> tuple[str, AnswerResult]:
    """The text an answer streamed, and its final result."""
    text, final = "", None
    async for event in answerer.stream(question, **kw):  # type: ignore[arg-type]
        if event.type == "token":
            text += event.text
        else:
            final = event.result
    assert final is not None
    return text, final
