"""Generation in-process with llama.cpp (``llama-cpp-python``) on a GGUF file."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from kefu.errors import BackendUnavailableError, NotReadyError
from kefu.generators.base import (
    ChatMessage,
    Chunk,
    GenerationOptions,
    Usage,
    validate_messages,
    with_deadline,
)

_END = object()


class LlamaCppGenerator:
    """Streams chat completions from a GGUF model loaded in this process.

    The chat template comes from the GGUF's own metadata. One llama.cpp context
    serves one generation at a time, so a lock serialises them; tokens are produced on
    a worker thread and handed to the event loop through a queue.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int = 2,
        context: int = 4096,
        max_tokens: int = 384,
        temperature: float = 0.2,
        timeout: float = 60.0,
        seed: int = 0,
    ) -> None:
        if threads <= 0 or context <= 0 or max_tokens <= 0:
            raise ValueError("threads, context and max_tokens must be above 0")
        self.model_path = Path(model_path)
        self.name = f"llamacpp:{self.model_path.name}"
        self.threads = threads
        self.context = context
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout = timeout
        self.seed = seed
        self._llm: Any = None
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()

    async def warm_up(self) -> None:
        """Load the model (a few seconds; memory-maps the file)."""
        await asyncio.to_thread(self._load)

    def _load(self) -> Any:
        with self._load_lock:
            if self._llm is not None:
                return self._llm
            if not self.model_path.is_file():
                raise NotReadyError(
                    f"no GGUF model at {self.model_path}; run `kefu setup-models` (or set KEFU_GGUF_PATH)"
                )
            # llama_cpp loads a native library: import it only when the model is needed.
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise BackendUnavailableError(
                    "llama-cpp-python is not installed; install the project with its dependencies (make setup)"
                ) from exc
            try:
                self._llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.context,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    seed=self.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise BackendUnavailableError(f"llama.cpp could not load {self.model_path}: {exc}") from exc
            return self._llm

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> AsyncIterator[Chunk]:
        validate_messages(messages)
        return with_deadline(
            self._stream(messages, options or GenerationOptions()),
            self.timeout,
            f"the embedded model {self.model_path.name}",
        )

    async def _stream(self, messages: Sequence[ChatMessage], opts: GenerationOptions) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                llm = self._load()
                with self._lock:
                    if cancelled.is_set():
                        return
                    produced = 0
                    finish: str | None = None
                    for part in llm.create_chat_completion(
                        messages=[{"role": m.role, "content": m.content} for m in messages],
                        stream=True,
                        max_tokens=opts.max_tokens or self.max_tokens,
                        temperature=self.temperature if opts.temperature is None else opts.temperature,
                        stop=list(opts.stop) or None,
                    ):
                        if cancelled.is_set():
                            finish = "cancelled"
                            break
                        choice = part["choices"][0]
                        text = choice["delta"].get("content") or ""
                        if text:
                            produced += 1
                            put(Chunk(text=text))
                        finish = choice.get("finish_reason") or finish
                    # n_tokens counts what the context evaluated: the prompt and the answer.
                    prompt_tokens = max(0, int(llm.n_tokens) - produced)
                    put(Chunk(text="", done=True, finish_reason=finish, usage=Usage(prompt_tokens, produced)))
            except BaseException as exc:  # handed to the awaiting coroutine
                put(exc)
            finally:
                put(_END)

        worker = threading.Thread(target=work, name="kefu-llamacpp", daemon=True)
        worker.start()
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    if isinstance(item, (NotReadyError, BackendUnavailableError)):
                        raise item
                    raise BackendUnavailableError(f"llama.cpp generation failed: {item}") from item
                yield item
        finally:
            # A consumer that stops early (timeout, client gone) frees the context quickly.
            cancelled.set()

    async def close(self) -> None:
        """Free the model once any generation in flight has stopped (it stops at its next
        token once its consumer is gone); freeing it under a running decode would crash."""

        def free() -> None:
            with self._load_lock, self._lock:
                llm, self._llm = self._llm, None
                if llm is not None:
                    llm.close()

        await asyncio.to_thread(free)
