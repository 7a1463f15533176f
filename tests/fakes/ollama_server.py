"""A local HTTP server that speaks Ollama's API the way a real server does.

It answers ``GET /``, ``GET /api/tags`` and ``POST /api/chat`` (streamed NDJSON with
chunked transfer encoding, or one JSON object with ``"stream": false``), with Ollama's
error bodies (``{"error": "..."}`` and the status codes it uses). Each model's reply is
scripted, so tests know what to expect. It is a real socket server on 127.0.0.1, so
the official ``ollama`` client talks to it over HTTP exactly as it would to Ollama.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http import LocalServer, QuietHandler


@dataclass
class ScriptedModel:
    """What the fake answers for one model name."""

    tokens: list[str]
    prompt_eval_count: int = 42
    #: Seconds to wait before each token (to test deadlines).
    delay: float = 0.0
    #: Send an ``{"error": ...}`` line after this many tokens (Ollama does this mid-stream).
    error_after: int | None = None
    error_message: str = "an error was encountered while running the model: unexpected EOF"
    done_reason: str = "stop"
    size: int = 1_929_912_432
    family: str = "qwen2"


@dataclass
class FakeOllama(LocalServer):
    models: dict[str, ScriptedModel]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def handler(self) -> type[_Handler]:
        fake = self

        class Handler(_Handler):
            state = fake

        return Handler


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Handler(QuietHandler):
    state: FakeOllama
    protocol_version = "HTTP/1.1"

    # -- helpers ---------------------------------------------------------------
    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, obj: dict[str, Any]) -> None:
        line = (json.dumps(obj, ensure_ascii=False) + "\n").encode()
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()

    # -- routes ----------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path == "/":
            self._text(200, "Ollama is running")
        elif self.path == "/api/tags":
            models = []
            for name, m in self.state.models.items():
                models.append(
                    {
                        "name": name,
                        "model": name,
                        "modified_at": "2026-10-02T09:12:44.118437Z",
                        "size": m.size,
                        "digest": f"{abs(hash(name)):064x}"[:64],
                        "details": {
                            "parent_model": "",
                            "format": "gguf",
                            "family": m.family,
                            "families": [m.family],
                            "parameter_size": "3.1B",
                            "quantization_level": "Q4_K_M",
                        },
                    }
                )
            self._json(200, {"models": models})
        else:
            self._text(404, "404 page not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path != "/api/chat":
            self._text(404, "404 page not found")
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"error": "invalid character 'x' looking for beginning of value"})
            return
        self.state.requests.append(body)
        name = body.get("model") or ""
        if not name:
            self._json(400, {"error": "model is required"})
            return
        model = self.state.models.get(name) or self.state.models.get(name.removesuffix(":latest"))
        if model is None:
            self._json(404, {"error": f'model "{name}" not found, try pulling it first'})
            return
        if not isinstance(body.get("messages", []), list):
            self._json(400, {"error": "json: cannot unmarshal string into Go struct field ChatRequest.messages"})
            return
        limit = (body.get("options") or {}).get("num_predict")
        tokens = model.tokens if not limit or limit < 0 else model.tokens[:limit]
        done_reason = model.done_reason if len(tokens) == len(model.tokens) else "length"
        started = time.perf_counter_ns()
        final = {
            "done": True,
            "done_reason": done_reason,
            "total_duration": 0,
            "load_duration": 1_204_311,
            "prompt_eval_count": model.prompt_eval_count,
            "prompt_eval_duration": 81_000_000,
            "eval_count": len(tokens),
            "eval_duration": 0,
        }
        if body.get("stream", True) is False:
            for _ in tokens:
                time.sleep(model.delay)
            if model.error_after is not None:
                self._json(500, {"error": model.error_message})
                return
            final["total_duration"] = time.perf_counter_ns() - started
            self._json(
                200,
                {
                    "model": name,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": "".join(tokens)},
                    **final,
                },
            )
            return

        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for i, token in enumerate(tokens):
                if model.error_after is not None and i == model.error_after:
                    self._chunk({"error": model.error_message})
                    break
                time.sleep(model.delay)
                self._chunk(
                    {
                        "model": name,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": token},
                        "done": False,
                    }
                )
            else:
                final["total_duration"] = time.perf_counter_ns() - started
                self._chunk(
                    {
                        "model": name,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": ""},
                        **final,
                    }
                )
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (a test's deadline); Ollama stops generating then too.
            return
