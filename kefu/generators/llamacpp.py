"""The embedded LLM: llama.cpp on a GGUF file, in a supervised process of its own.

llama.cpp is native code: a fault in it (a segfault on some CPUs, the OOM killer) ends
the process it runs in. So the model runs in a child process
(:mod:`kefu.generators.llamacpp_worker`) and this side only speaks JSON lines to it.
When the child dies or hangs, the requests it was serving fail with
:class:`~kefu.errors.BackendUnavailableError` (the answerer then falls back to an extract
or a handoff), and the child is started again after a backoff; requests that arrive
meanwhile wait for it within their deadline.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import IO, Any

from kefu.errors import BackendTimeoutError, BackendUnavailableError, NotReadyError
from kefu.generators.base import (
    ChatMessage,
    Chunk,
    GenerationOptions,
    GeneratorHealth,
    Usage,
    checked_stream,
)

log = logging.getLogger("kefu.llm")

_END = object()

#: Seconds a cancelled request may take to stop before its process counts as hung.
CANCEL_GRACE_SECONDS = 5.0
#: First and longest wait before starting a model process that died.
RESTART_BACKOFF = (0.5, 30.0)
#: A process that served this long before dying resets the backoff.
STABLE_SECONDS = 60.0
#: Requests stop waiting for a process that died this many times in a row.
GIVE_UP_WAITING_AFTER = 3


def describe_exit(returncode: int | None) -> str:
    """``killed by SIGSEGV (signal 11)`` or ``exited with status 2``, for messages."""
    if returncode is None:
        return "is still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name} (signal {-returncode})"
    return f"exited with status {returncode}"


def crash_advice(returncode: int | None) -> str:
    """What a person can do about a model process that died this way."""
    if returncode in (-signal.SIGSEGV, -signal.SIGILL):
        return (
            "llama.cpp crashed on this CPU: rebuild it portable with `make clean setup` "
            "(LLAMA_CMAKE_ARGS in the Makefile), or use an Ollama server (KEFU_LLM_BACKEND=ollama)"
        )
    if returncode == -signal.SIGKILL:
        return "it was killed (out of memory?): free memory, or lower KEFU_LLM_CONTEXT"
    return "see the lines above for llama.cpp's own message"


class _Request:
    """One generation's way back to the coroutine that waits for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.ended = threading.Event()

    def put(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def end(self, item: Any = _END) -> None:
        if not self.ended.is_set():
            self.ended.set()
            if item is not _END:
                self.put(item)
            self.put(_END)


class ModelProcess:
    """Starts, watches and restarts the worker process; thread-safe, event-loop free.

    ``command`` runs the worker; the default is this Python with
    :mod:`kefu.generators.llamacpp_worker`.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        start_timeout: float = 120.0,
        backoff: tuple[float, float] = RESTART_BACKOFF,
        on_exit: Callable[[int | None], None] | None = None,
    ) -> None:
        self.command = list(command)
        self.start_timeout = start_timeout
        self.backoff = backoff
        self._on_exit = on_exit or (lambda _code: None)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._requests: dict[int, _Request] = {}
        self._ids = itertools.count(1)
        self._stderr: collections.deque[str] = collections.deque(maxlen=30)
        self._closed = False
        self._restart_timer: threading.Timer | None = None
        self._failures = 0
        self._unready_deaths = 0
        self._ready_at = 0.0
        #: Why the last process ended or failed to start (None while all is well).
        self.problem: str | None = None
        #: A problem no restart fixes (no model file, AMX build): requests fail at once.
        self.fatal: str | None = None
        self.restarts = 0
        #: Processes that ended (crashed, killed or exited) other than by close().
        self.exits = 0
        self.last_returncode: int | None = None
        self.system_info = ""
        #: The worker's ready message: its pid, llama.cpp's system info, use_extra_bufts.
        self.loaded: dict[str, Any] = {}

    # --- state -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    # --- lifecycle ---------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the process unless one is running or a restart is already scheduled."""
        with self._lock:
            if self._closed:
                raise BackendUnavailableError("the embedded model was closed")
            if self._proc is not None or self._restart_timer is not None:
                return
            self._spawn()

    def _spawn(self) -> None:
        # Caller holds self._lock.
        self._ready.clear()
        self.fatal = None
        # Its own session: a Ctrl-C in the terminal reaches the API, which closes it in order.
        proc = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        threading.Thread(target=self._read, args=(proc, proc.stdout), name="kefu-llm-out", daemon=True).start()
        threading.Thread(target=self._drain, args=(proc.stderr,), name="kefu-llm-err", daemon=True).start()
        log.info("embedded model process started (pid %d)", proc.pid)

    def wait_ready(self, timeout: float, *, through_restarts: bool = True) -> None:
        """Block until the process has loaded the model; raise if it cannot within ``timeout``.

        With ``through_restarts=False`` a process that dies while this waits raises at once
        (set-up checks want the first crash, not the restarted process).
        """
        self.ensure_started()
        exits = self.exits
        deadline = time.monotonic() + timeout
        while not self._ready.wait(timeout=min(0.25, max(0.0, deadline - time.monotonic()))):
            if self.fatal is not None:
                raise NotReadyError(self.fatal)
            if self.exits != exits and not through_restarts:
                raise BackendUnavailableError(self.problem or "the embedded model process stopped")
            if self._unready_deaths >= GIVE_UP_WAITING_AFTER:
                # It keeps dying before it is ready: say so now rather than at the deadline.
                raise BackendUnavailableError(f"{self.problem}; it died {self._unready_deaths} times while loading")
            if time.monotonic() >= deadline:
                raise BackendUnavailableError(
                    f"the embedded model process is not ready after {timeout:g} s"
                    + (f" ({self.problem})" if self.problem else "")
                )
            if self._closed:
                raise BackendUnavailableError("the embedded model was closed")

    def close(self) -> None:
        """Stop the process (stdin closed, then SIGKILL after a few seconds); no restart."""
        with self._lock:
            self._closed = True
            if self._restart_timer is not None:
                self._restart_timer.cancel()
                self._restart_timer = None
            proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def kill(self, why: str) -> None:
        """Kill a hung process; the watcher then fails its requests and restarts it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            log.warning("killing the embedded model process (pid %d): %s", proc.pid, why)
            self.problem = why
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    # --- requests ----------------------------------------------------------------------

    def submit(self, payload: dict[str, Any], request: _Request) -> int:
        """Send one generation; its output arrives on ``request``."""
        rid = next(self._ids)
        with self._lock:
            proc = self._proc
            if proc is None or not self._ready.is_set():
                raise BackendUnavailableError(self.problem or "the embedded model process is not running")
            self._requests[rid] = request
        if not self._send(proc, {"op": "generate", "id": rid, **payload}):
            with self._lock:
                self._requests.pop(rid, None)
            raise BackendUnavailableError(self.problem or "the embedded model process stopped reading")
        return rid

    def cancel(self, rid: int, grace: float) -> None:
        """Stop request ``rid``; a process that does not stop it within ``grace`` is killed."""
        with self._lock:
            request = self._requests.get(rid)
            proc = self._proc
        if request is None or request.ended.is_set() or proc is None:
            return
        self._send(proc, {"op": "cancel", "id": rid})

        def check() -> None:
            if not request.ended.is_set() and self._proc is proc:
                self.kill(f"it did not stop a cancelled generation within {grace:g} s (hung?)")

        timer = threading.Timer(grace, check)
        timer.daemon = True
        timer.start()

    def _send(self, proc: subprocess.Popen[str], message: dict[str, Any]) -> bool:
        try:
            with self._write_lock:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(message, ensure_ascii=False) + "\n")
                proc.stdin.flush()
        except (OSError, ValueError):
            return False
        return True

    # --- the watcher threads -------------------------------------------------------------

    def _drain(self, stream: IO[str]) -> None:
        for raw in stream:
            line = raw.rstrip()
            if line:
                self._stderr.append(line)
                log.debug("llama.cpp: %s", line)

    def _read(self, proc: subprocess.Popen[str], stream: IO[str]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self._dispatch(message)
        returncode = proc.wait()
        self._exited(proc, returncode)

    def _dispatch(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if "id" not in message:
            if event == "ready":
                self.loaded = message
                self.system_info = str(message.get("system_info", ""))
                self._ready_at = time.monotonic()
                self._unready_deaths = 0
                self.problem = None
                self._ready.set()
                log.info("embedded model process ready (pid %s)", message.get("pid"))
            elif event == "fatal":
                self.fatal = str(message.get("message"))
            return
        rid = int(message["id"])
        with self._lock:
            request = self._requests.get(rid)
            if event in ("done", "error"):
                self._requests.pop(rid, None)
        if request is None:
            return
        if event == "done":
            prompt, completion = message.get("usage") or (None, None)
            request.put(Chunk(text="", done=True, finish_reason=message.get("finish_reason"),
                              usage=Usage(prompt, completion)))  # fmt: skip
            request.end()
        elif event == "error":
            request.end(BackendUnavailableError(f"llama.cpp generation failed: {message.get('message')}"))
        else:
            request.put(Chunk(text=str(message.get("text", ""))))

    def _exited(self, proc: subprocess.Popen[str], returncode: int) -> None:
        with self._lock:
            if self._proc is not proc:
                return
            self._proc = None
            self._ready.clear()
            orphans, self._requests = self._requests, {}
            self.last_returncode = returncode
            lived = time.monotonic() - self._ready_at if self._ready_at else 0.0
            if not self._ready_at:
                self._unready_deaths += 1
            self._ready_at = 0.0
            closing = self._closed
            if not closing:
                self.exits += 1
                how = describe_exit(returncode)
                self.problem = self.fatal or f"the embedded model process {how}"
                self._failures = 1 if lived >= STABLE_SECONDS else self._failures + 1
                if self.fatal is None:
                    delay = min(self.backoff[1], self.backoff[0] * 2 ** (self._failures - 1))
                    self._restart_timer = threading.Timer(delay, self._restart)
                    self._restart_timer.daemon = True
                    self._restart_timer.start()
        for request in orphans.values():
            request.end(BackendUnavailableError(self.problem or "the embedded model process stopped"))
        if not closing:
            log.error("%s; %s", self.problem, "not restarting" if self.fatal else "restarting it")
            self._on_exit(returncode)

    def _restart(self) -> None:
        with self._lock:
            self._restart_timer = None
            if self._closed or self._proc is not None:
                return
            self.restarts += 1
            try:
                self._spawn()
            except OSError as exc:
                self.problem = f"the embedded model process could not start: {exc}"
                self.fatal = self.problem


def worker_command(model_path: Path, *, threads: int, context: int, seed: int, extra_bufts: bool = True) -> list[str]:
    """The command line of the model process (this Python, so the same packages)."""
    return [
        sys.executable,
        "-m",
        "kefu.generators.llamacpp_worker",
        "--model",
        str(model_path),
        "--threads",
        str(threads),
        "--context",
        str(context),
        "--seed",
        str(seed),
        *([] if extra_bufts else ["--no-extra-bufts"]),
    ]


class LlamaCppGenerator:
    """Streams chat completions from a GGUF model served by a supervised child process.

    The chat template comes from the GGUF's own metadata. The process serves one
    generation at a time, in order; a request whose consumer stops early (deadline, client
    gone) is cancelled, and a process that does not stop it within ``cancel_grace``
    seconds is killed and restarted.
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
        cancel_grace: float = CANCEL_GRACE_SECONDS,
        backoff: tuple[float, float] = RESTART_BACKOFF,
        extra_bufts: bool = True,
    ) -> None:
        if threads <= 0 or context <= 0 or max_tokens <= 0:
            raise ValueError("threads, context and max_tokens must be above 0")
        self.model_path = Path(model_path)
        self.name = f"llamacpp:{self.model_path.name}"
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout = timeout
        self.cancel_grace = cancel_grace
        self.process = ModelProcess(
            worker_command(self.model_path, threads=threads, context=context, seed=seed, extra_bufts=extra_bufts),
            backoff=backoff,
        )

    def health(self) -> GeneratorHealth:
        p = self.process
        detail = None if p.ready else (p.fatal or p.problem or "the embedded model process is starting")
        if detail and not p.fatal and p.problem:
            detail += f"; restarting it (restarts so far: {p.restarts})"
        return GeneratorHealth(ready=p.ready, detail=detail, restarts=p.restarts)

    async def warm_up(self, *, timeout: float | None = None, through_restarts: bool = True) -> None:
        """Start the model process and wait until it has loaded the model.

        With ``through_restarts=False`` a process that dies while loading raises at once."""
        self._check_model_file()
        wait = timeout if timeout is not None else max(self.timeout, 120.0)
        await asyncio.to_thread(self.process.wait_ready, wait, through_restarts=through_restarts)

    def crash_explained(self, during: str) -> BackendUnavailableError | None:
        """If the model process died, an error naming how, what to do, and llama.cpp's last
        words; None when it did not (a timeout, a refused request)."""
        code = self.process.last_returncode
        if code is None:
            return None
        tail = self.process.stderr_tail()
        return BackendUnavailableError(
            f"the embedded model process {describe_exit(code)} {during}; {crash_advice(code)}"
            + (f"\nllama.cpp said:\n{tail}" if tail else "")
        )

    def _check_model_file(self) -> None:
        if not self.model_path.is_file():
            raise NotReadyError(f"no GGUF model at {self.model_path}; run `kefu setup-models` (or set KEFU_GGUF_PATH)")

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> AsyncIterator[Chunk]:
        return checked_stream(
            self._stream, messages, options, self.timeout, f"the embedded model {self.model_path.name}"
        )

    async def _stream(self, messages: Sequence[ChatMessage], opts: GenerationOptions) -> AsyncIterator[Chunk]:
        self._check_model_file()
        if not self.process.ready:
            # A process that is (re)starting: wait for it within this request's deadline.
            await asyncio.to_thread(self.process.wait_ready, self.timeout)
        request = _Request(asyncio.get_running_loop())
        payload = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": opts.max_tokens or self.max_tokens,
            "temperature": self.temperature if opts.temperature is None else opts.temperature,
            "stop": list(opts.stop),
        }
        rid = self.process.submit(payload, request)
        try:
            while True:
                item = await request.queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not request.ended.is_set():
                self.process.cancel(rid, self.cancel_grace)

    async def close(self) -> None:
        """Stop the model process."""
        await asyncio.to_thread(self.process.close)


async def smoke_test(generator: LlamaCppGenerator, timeout: float = 180.0) -> str:
    """Generate a few tokens in the model process; raise with the exit named if it dies.

    ``kefu setup-models`` runs this, so a CPU on which llama.cpp crashes is found at set-up
    with a message, not at the first user's question.
    """
    messages = [ChatMessage("user", "Reply with one word: ok")]
    try:
        await generator.warm_up(timeout=timeout, through_restarts=False)
        parts = [c.text async for c in generator.stream(messages, GenerationOptions(max_tokens=4))]
    except (BackendUnavailableError, BackendTimeoutError) as exc:
        explained = generator.crash_explained("while generating a test answer")
        if explained is not None:
            raise explained from exc
        raise
    return "".join(parts)
