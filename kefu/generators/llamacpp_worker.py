"""The embedded model's own process: llama.cpp on a GGUF, spoken to in JSON lines.

``python -m kefu.generators.llamacpp_worker --model FILE`` loads the model, writes one
``{"event": "ready", ...}`` line and then serves requests read from stdin, one at a time:

- ``{"op": "generate", "id": N, "messages": [...], "max_tokens": ..., "temperature": ..., "stop": [...]}``
  answers with ``{"id": N, "text": "..."}`` lines and one ``{"id": N, "event": "done", ...}``
  (or ``{"id": N, "event": "error", "message": ...}``);
- ``{"op": "cancel", "id": N}`` ends request N at its next token (or before it starts).

It lives in a process of its own so that a crash inside llama.cpp (a segfault, the OOM
killer) ends this process and never the API. It imports nothing of kefu's but this file,
so it starts in well under a second besides the model load. Closing stdin ends it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import sys
import threading
from typing import IO, Any


def extra_bufts_allowed(info: str, requested: bool) -> bool:
    """Whether llama.cpp may repack weights into its extra buffer types.

    Those buffer types are how llama.cpp reaches its AMX kernels (which crash on Intel CPUs
    with AMX); they also hold the plain CPU "repack" layouts, which are faster, so they are
    kept where the build has no AMX and turned off where it has.
    """
    return requested and not amx_in_build(info)


def disable_extra_bufts(llama_cpp: Any) -> None:
    """Make every model this process loads use ``use_extra_bufts = false``.

    ``Llama()`` builds its model parameters from ``llama_model_default_params()`` and
    ignores keyword arguments it does not know, so the defaults are where to set it.
    """
    low = llama_cpp.llama_cpp
    fields = {name for name, _ in low.llama_model_params._fields_}
    if "use_extra_bufts" not in fields:
        raise RuntimeError("this llama-cpp-python cannot turn off its extra buffer types (use_extra_bufts)")
    original = low.llama_model_default_params

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    low.llama_model_default_params = defaults


def system_info(llama_cpp: Any) -> str:
    """llama.cpp's own summary of the CPU features it was built with and will use."""
    raw = llama_cpp.llama_print_system_info()
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def amx_in_build(info: str) -> bool:
    """True when llama.cpp's system info says it would run AMX kernels (``AMX_INT8 = 1``)."""
    return re.search(r"\bAMX\w*\s*=\s*1\b", info, re.IGNORECASE) is not None


class _Requests:
    """Requests read from stdin, and which of them were cancelled."""

    def __init__(self) -> None:
        self.pending: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.cancelled: set[int] = set()
        #: stdin closed: the API process is gone, so whatever is generating stops too.
        self.closed = False
        self.lock = threading.Lock()

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("op") == "cancel":
                with self.lock:
                    self.cancelled.add(int(message["id"]))
            elif message.get("op") == "generate":
                self.pending.put(message)
        with self.lock:
            self.closed = True
        self.pending.put(None)

    def is_cancelled(self, request_id: int) -> bool:
        with self.lock:
            return self.closed or request_id in self.cancelled

    def forget(self, request_id: int) -> None:
        with self.lock:
            self.cancelled.discard(request_id)


def _serve(llm: Any, requests: _Requests, send: Any) -> None:
    while True:
        request = requests.pending.get()
        if request is None:
            return
        rid = int(request["id"])
        produced = 0
        finish: str | None = None
        try:
            if requests.is_cancelled(rid):
                send({"id": rid, "event": "done", "finish_reason": "cancelled", "usage": [0, 0]})
                continue
            for part in llm.create_chat_completion(
                messages=request["messages"],
                stream=True,
                max_tokens=request["max_tokens"],
                temperature=request["temperature"],
                stop=request.get("stop") or None,
            ):
                if requests.is_cancelled(rid):
                    finish = "cancelled"
                    break
                choice = part["choices"][0]
                text = choice["delta"].get("content") or ""
                if text:
                    produced += 1
                    send({"id": rid, "text": text})
                finish = choice.get("finish_reason") or finish
            # n_tokens counts what the context evaluated: the prompt and the answer.
            prompt_tokens = max(0, int(llm.n_tokens) - produced)
            send({"id": rid, "event": "done", "finish_reason": finish, "usage": [prompt_tokens, produced]})
        except Exception as exc:  # reported to the waiting request; the process stays up
            send({"id": rid, "event": "error", "message": f"{type(exc).__name__}: {exc}"})
        finally:
            requests.forget(rid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kefu-llamacpp-worker", description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-extra-bufts",
        dest="extra_bufts",
        action="store_false",
        help="never repack weights into llama.cpp's extra buffer types (always off where the build has AMX)",
    )
    args = parser.parse_args(argv)

    # The protocol owns the real stdout; anything native code prints goes to stderr.
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    write_lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False)
        with write_lock:
            out.write(line + "\n")
            out.flush()

    import llama_cpp

    info = system_info(llama_cpp)
    extra_bufts = extra_bufts_allowed(info, args.extra_bufts)
    try:
        if not extra_bufts:
            disable_extra_bufts(llama_cpp)
        llm = llama_cpp.Llama(
            model_path=args.model,
            n_ctx=args.context,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            seed=args.seed,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        send({"event": "fatal", "message": f"llama.cpp could not load {args.model}: {exc}"})
        return 2
    requests = _Requests()
    reader = threading.Thread(target=requests.read, args=(sys.stdin,), name="kefu-worker-stdin", daemon=True)
    reader.start()
    send({
        "event": "ready",
        "pid": os.getpid(),
        "system_info": info,
        # What the loaded model really uses, read back from llama.cpp's own parameters.
        "use_extra_bufts": bool(llm.model_params.use_extra_bufts),
    })  # fmt: skip
    with contextlib.suppress(BrokenPipeError):
        _serve(llm, requests, send)
    return 0


if __name__ == "__main__":
    sys.exit(main())
