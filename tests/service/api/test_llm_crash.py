"""The real app on uvicorn (loopback) with the real embedded model, whose process is
killed with SIGSEGV, then SIGKILL, in the middle of a streamed answer: the stream still
ends with its ``final`` event, ``/ready`` and ``/metrics`` say the model is restarting,
and the next question is answered by the restarted model."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kefu.settings import Settings
from service.api import create_app
from service.api.runtime import Runtime
from tests.service.api.conftest import on_loopback

pytestmark = pytest.mark.slow

#: Reaches the LLM in the generate style (the demo's pending-transfer article answers it).
QUESTION = "我的转账一直在打包中怎么办？请详细说明原因和每一步操作。"
FALLBACK_REASONS = {"extractive_fallback", "llm_unavailable"}


@dataclass
class Served:
    url: str
    runtime: Runtime

    def model_pid(self) -> int | None:
        generator = self.runtime.generator
        assert generator is not None
        return generator.inner.process.pid  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, harbor_data_dir: Path, embedder: Any, settings: Settings
) -> Iterator[Served]:
    gguf = settings.default_gguf_path
    settings = Settings.from_env({}).with_overrides(
        data_dir=harbor_data_dir,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('crash') / 'kefu.db'}",
        llm_backend="llamacpp",
        gguf_path=gguf,
        answer_style="generate",
        rate_limit=0,
        llm_max_tokens=96,
        answer_deadline=300,
        llm_timeout=300,
    )
    app = create_app(settings, embedder=embedder, open_access=True)
    with on_loopback(app, patience=180) as port:
        yield Served(f"http://127.0.0.1:{port}", app.state.runtime)


def _events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    name, data = "message", []
    for line in lines:
        if line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].lstrip())
        elif not line and data:
            yield name, json.loads("\n".join(data))
            name, data = "message", []


def _restarts(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("kefu_llm_restarts "):
            return float(line.split()[1])
    raise AssertionError("no kefu_llm_restarts in /metrics")


def _wait_ready(client: httpx.Client, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/ready").text
        time.sleep(0.2)


@pytest.mark.parametrize(("sig", "restarts"), [(signal.SIGSEGV, 1), (signal.SIGKILL, 2)])
def test_killing_the_model_mid_stream_ends_the_stream_with_a_final_event_and_the_model_comes_back(
    served: Served, sig: signal.Signals, restarts: int
) -> None:
    with httpx.Client(base_url=served.url, timeout=600) as client:
        _wait_ready(client)
        assert _restarts(client) == restarts - 1
        pid = served.model_pid()
        assert pid is not None and pid != os.getpid()
        killed_after_tokens: int | None = None
        events: list[tuple[str, Any]] = []
        with client.stream(
            "POST", "/v1/ask", json={"question": QUESTION}, headers={"Accept": "text/event-stream"}
        ) as response:
            assert response.status_code == 200
            for name, body in _events(response.iter_lines()):
                events.append((name, body))
                if name == "token" and killed_after_tokens is None and served.runtime.gate.busy:
                    killed_after_tokens = len(events)
                    os.kill(pid, sig)
        assert killed_after_tokens is not None, f"the model had finished before the kill: {events}"
        names = [name for name, _ in events]
        assert names[-1] == "final" and names.count("final") == 1, names
        final = events[-1][1]
        assert final["reason"] in FALLBACK_REASONS, final
        assert final["answer"].strip()

        # Meanwhile the service says the model is restarting, and counts it.
        ready = client.get("/ready")
        if ready.status_code == 503:
            assert sig.name in ready.json()["error"]["detail"]["missing"]["llm"]

        # The next question is answered by the restarted model process.
        _wait_ready(client)
        assert _restarts(client) == restarts
        new_pid = served.model_pid()
        assert new_pid not in (None, pid)
        answer = client.post("/v1/ask", json={"question": QUESTION, "details": True})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["reason"] not in FALLBACK_REASONS, body
        assert body["details"]["usage"]["completion_tokens"], body
        assert client.get("/ready").json()["llm_restarts"] == restarts
