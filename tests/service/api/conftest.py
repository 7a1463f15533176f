"""The API under test: real embedder, the real demo index, a real SQLite file, and the LLM
scripted through a local server that speaks Ollama's API (so answers are deterministic).

One app (and one test client) per module where tests only add rows; tests that change
the app's state build their own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar import Litestar
from litestar.testing import TestClient

from kefu.generators.ollama import OllamaGenerator
from kefu.settings import Settings
from service.api import create_app
from service.api.runtime import Runtime
from service.keys import create_key
from service.store import RetryPolicy, Store
from tests.fakes.http import LocalServer, QuietHandler
from tests.fakes.ollama_server import FakeOllama, ScriptedModel

MODEL = "qwen2.5:3b-instruct"
SLOW_MODEL = "slow"
#: Cites [1] and repeats words of the top source (help/zh/transfers/pending-transfer.md),
#: so grounding passes and the answer is "grounded".
GROUNDED_TOKENS = ["转账", "打包中", "通常", "是", "矿工费", "太低", "[1]", "。"]
GROUNDED_QUESTION = "我的转账一直在打包中怎么办？"
GROUNDED_SOURCE = "help/zh/transfers/pending-transfer.md"
STOLEN_QUESTION = "Someone stole all my USDT, my wallet was drained an hour ago!"


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeOllama]:
    server = FakeOllama(
        {
            MODEL: ScriptedModel(tokens=GROUNDED_TOKENS),
            # 8 tokens x 0.25 s: a generation holds the LLM for about 2 s.
            SLOW_MODEL: ScriptedModel(tokens=GROUNDED_TOKENS, delay=0.25),
        }
    ).start()
    yield server
    server.stop()


def api_settings(data_dir: Path, db: Path | str, **changes: Any) -> Settings:
    """Settings for an app under test. Answers are generated (by the fake Ollama) unless a
    test asks for the default ``quote`` style: most API tests are about streaming the LLM.
    ``db`` is a SQLite file or a database URL."""
    changes.setdefault("answer_style", "generate")
    return Settings.from_env({}).with_overrides(
        data_dir=data_dir,
        database_url=db if isinstance(db, str) else f"sqlite:///{db}",
        llm_backend="ollama",
        **changes,
    )


def build_app(
    settings: Settings,
    llm: FakeOllama | str,
    embedder: Any,
    *,
    store: Store | None = None,
    model: str = MODEL,
    **options: Any,
) -> Litestar:
    host = llm.url if isinstance(llm, FakeOllama) else llm
    generator = OllamaGenerator(host, model, timeout=10, connect_timeout=1)
    return create_app(settings, store=store, embedder=embedder, generator=generator, **options)


def runtime_of(app: Litestar) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


@dataclass
class Api:
    """A running app, its store, and one API key per role."""

    client: TestClient[Litestar]
    store: Store
    keys: dict[str, str]
    app: Litestar

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.app)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def ask(api: Api, question: str = GROUNDED_QUESTION, role: str = "app", **body: Any) -> Any:
    """POST /v1/ask with ``role``'s key."""
    return api.client.post("/v1/ask", json={"question": question, **body}, headers=api.auth(role))


def error_of(response: Any) -> dict[str, Any]:
    """The error of a response, which must be the API's one error shape."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}, body
    return dict(body["error"])


#: Webhook retries within a test's patience: the first call fails, the next one 0.1 s later.
QUICK_RETRY = RetryPolicy(base=timedelta(milliseconds=100), cap=timedelta(seconds=1), lease=timedelta(seconds=5))


@contextmanager
def running(app: Litestar, store: Store) -> Iterator[Api]:
    """The app started (its lifespan run) with a key per role; stopped, and its store closed, after."""
    client, keys = start_api(app, store)
    try:
        yield Api(client=client, store=store, keys=keys, app=app)
    finally:
        client.__exit__(None, None, None)
        store.close()


@contextmanager
def on_loopback(app: Litestar, patience: float) -> Iterator[int]:
    """``app`` served by uvicorn on a free port of 127.0.0.1 (its lifespan run), from a thread,
    while the block runs; yields the port once it listens, failing after ``patience`` seconds."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="kefu-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + patience
        while not server.started:
            assert thread.is_alive(), "the API did not start"
            assert time.monotonic() < deadline, f"the API did not start within {patience:.0f} s"
            time.sleep(0.05)
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def start_api(app: Litestar, store: Store) -> tuple[TestClient[Litestar], dict[str, str]]:
    client = TestClient(app)
    client.__enter__()  # runs the lifespan (migrates the store)
    keys = {role: create_key(store, role, f"{role}-test")[0] for role in ("app", "agent", "admin")}  # type: ignore[arg-type]
    return client, keys


@dataclass
class WebhookSink(LocalServer):
    """A local webhook that fails the first call of each delivery, then accepts it
    (with ``fail_first=False``, accepts every call)."""

    prefix = "/hooks/kefu"
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail_first: bool = True

    def handler(self) -> type[QuietHandler]:
        sink = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                # Keyed by handoff too: apps on different databases reuse delivery ids.
                subject = (body.get("handoff") or {}).get("id") or (body.get("csat") or {}).get("conversation_id")
                delivery = (self.headers.get("X-Kefu-Delivery"), subject)
                first = sink.fail_first and not any(c["delivery"] == delivery for c in sink.calls)
                sink.calls.append({"delivery": delivery, "body": body, "status": 500 if first else 204})
                self.send_response(500 if first else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def for_handoff(self, handoff_id: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if (c["body"].get("handoff") or {}).get("id") == handoff_id]


@pytest.fixture(scope="module")
def sink(request: pytest.FixtureRequest) -> Iterator[WebhookSink]:
    """A webhook for the module that fails the first call of each delivery, or accepts every
    call in a module that sets ``WEBHOOK_FAILS_FIRST = False``."""
    with WebhookSink(fail_first=getattr(request.module, "WEBHOOK_FAILS_FIRST", True)) as server:
        yield server


@contextmanager
def webhook_api(
    data_dir: Path, db: Path | str, llm: FakeOllama, embedder: Any, sink: WebhookSink, **changes: Any
) -> Iterator[Api]:
    """An app without a rate limit whose webhook posts to ``sink`` within a test's patience (the
    outbox polled every 0.05 s, a failed call retried 0.1 s later); stopped after the block."""
    settings = api_settings(data_dir, db, webhook_url=sink.url, rate_limit=0, **changes)
    store = Store.from_settings(settings, retry=QUICK_RETRY)
    with running(build_app(settings, llm, embedder, store=store, webhook_poll_seconds=0.05), store) as api:
        yield api


def sse_events(text: str) -> list[tuple[str, Any]]:
    """(event, decoded data) for each server-sent event in a response body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].lstrip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


@dataclass
class Served:
    """The app over a fake retriever (tests/fakes/retriever.py): its client, keys and database."""

    client: TestClient[Litestar]
    keys: dict[str, str]
    retriever: Any
    db: Path

    def post(self, path: str, body: dict[str, Any], role: str = "app", **headers: str) -> tuple[Any, float]:
        """The response and the seconds it took (printed: `pytest -rP` shows the figures)."""
        start = time.perf_counter()
        response = self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.keys[role]}", **headers})
        took = time.perf_counter() - start
        print(f"{path} {body} -> {response.status_code} in {took:.3f} s")
        return response, took

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as connection:
            return list(connection.execute(query))


def serve_fake(
    tmp_path: Path, llm: FakeOllama, retriever: Any, deadline: float = 25.0, *, model: str = "fast", **answerer: Any
) -> Iterator[Served]:
    """The real app (real SQLite file, the fake Ollama's ``model``) answering over ``retriever``."""
    from service.answerer import Answerer

    settings = api_settings(tmp_path, tmp_path / "kefu.db", rate_limit=0, answer_deadline=deadline)
    generator = OllamaGenerator(llm.url, model, timeout=10, connect_timeout=1)
    core = Answerer(retriever, generator, deadline=deadline, **answerer)
    store = Store.from_settings(settings)
    client, keys = start_api(create_app(settings, answerer=core, store=store), store)
    try:
        yield Served(client, keys, retriever, tmp_path / "kefu.db")
    finally:
        retriever.release.set()
        retriever.embedder.release.set()
        client.__exit__(None, None, None)
        store.close()
