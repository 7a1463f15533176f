"""A local HTTP server that speaks the OpenAI chat API the way vLLM or llama.cpp's server does.

It answers ``GET /v1/models`` and ``POST /v1/chat/completions``: streamed as server-sent
events (``data: {chunk}`` lines, a last chunk with ``finish_reason``, the usage chunk with
no choices when ``stream_options.include_usage`` is set, then ``data: [DONE]``) over chunked
transfer encoding, or one ``chat.completion`` object with ``"stream": false``. Errors have
OpenAI's body (``{"error": {"message", "type", "param", "code"}}``) and status codes; an
error in mid-stream is an event with an ``error`` object, as vLLM sends it. Replies are
scripted per model (:class:`ScriptedModel`, shared with the Ollama fake). It is a real
socket server on 127.0.0.1, so the official ``openai`` client talks to it over HTTP.

For host pools it counts requests in flight (``peak`` is the most at once) and can be
made to refuse work (``overloaded``: 503, as a full vLLM or llama.cpp server does).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import LocalServer, QuietHandler
from tests.fakes.ollama_server import ScriptedModel

CREATED = 1_764_000_000


@dataclass
class FakeOpenAI(LocalServer):
    """Clients are given the base URL with the ``/v1`` prefix; ``start(port)`` with a stopped
    fake's port brings the same server back."""

    prefix = "/v1"
    models: dict[str, ScriptedModel]
    #: When set, requests without ``Authorization: Bearer <api_key>`` get 401.
    api_key: str | None = None
    #: When true, chat requests get 503 (a server at its limit).
    overloaded: bool = False
    #: When false, ``stream_options`` is ignored and no usage event is sent (as by older servers).
    usage_events: bool = True
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    peak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _connections: set[socket.socket] = field(default_factory=set)

    def handler(self) -> type[_Handler]:
        fake = self

        class Handler(_Handler):
            state = fake

        return Handler

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop listening and drop open (keep-alive) connections, as a server going down does."""
        super().stop()
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _error(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _Handler(QuietHandler):
    state: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.state._lock:
            self.state._connections.add(self.connection)

    def finish(self) -> None:
        with self.state._lock:
            self.state._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def _authorised(self) -> bool:
        if self.state.api_key is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {self.state.api_key}":
            return True
        self._json(
            401,
            _error(
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            ),
        )
        return False

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            if not self._authorised():
                return
            data = [
                {"id": name, "object": "model", "created": CREATED, "owned_by": "kefu-tests"}
                for name in self.state.models
            ]
            self._json(200, {"object": "list", "data": data})
        elif self.path == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, _error(f"Not found: {self.path}", "invalid_request_error"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/chat/completions":
            self._json(404, _error(f"Not found: {self.path}", "invalid_request_error"))
            return
        if not self._authorised():
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._json(400, _error("We could not parse the JSON body of your request.", "invalid_request_error"))
            return
        self.state.requests.append(body)
        self.state.headers.append({k.lower(): v for k, v in self.headers.items()})
        if self.state.overloaded:
            self._json(503, _error("The server is overloaded, try again later.", "server_error", "overloaded"))
            return
        name = body.get("model") or ""
        model = self.state.models.get(name)
        if model is None:
            self._json(
                404,
                _error(f"The model `{name}` does not exist.", "invalid_request_error", "model_not_found", "model"),
            )
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._json(400, _error("'messages' must be a non-empty array", "invalid_request_error", None, "messages"))
            return
        self.state.enter()
        try:
            self._complete(body, name, model)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away; the server stops generating too
        finally:
            self.state.leave()

    def _complete(self, body: dict[str, Any], name: str, model: ScriptedModel) -> None:
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        tokens = model.tokens if not limit else model.tokens[:limit]
        finish = model.done_reason if len(tokens) == len(model.tokens) else "length"
        usage = {
            "prompt_tokens": model.prompt_eval_count,
            "completion_tokens": len(tokens),
            "total_tokens": model.prompt_eval_count + len(tokens),
        }
        ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if not body.get("stream"):
            for _ in tokens:
                time.sleep(model.delay)
            if model.error_after is not None:
                self._json(500, _error(model.error_message, "server_error"))
                return
            message = {"role": "assistant", "content": "".join(tokens)}
            self._json(
                200,
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": CREATED,
                    "model": name,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                    "usage": usage,
                },
            )
            return
        with_usage = self.state.usage_events and bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None) -> str:
            event: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
            }
            if with_usage:
                event["usage"] = None
            return json.dumps(event, ensure_ascii=False)

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._event(chunk({"role": "assistant", "content": ""}, None))
        for i, token in enumerate(tokens):
            if model.error_after is not None and i == model.error_after:
                self._event(json.dumps(_error(model.error_message, "server_error")))
                break
            time.sleep(model.delay)
            self._event(chunk({"content": token}, None))
        else:
            self._event(chunk({}, finish))
            if with_usage:
                self._event(
                    json.dumps(
                        {
                            "id": ident,
                            "object": "chat.completion.chunk",
                            "created": CREATED,
                            "model": name,
                            "choices": [],
                            "usage": usage,
                        }
                    )
                )
            self._event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
