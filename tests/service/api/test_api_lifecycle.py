"""The service's moving parts, each with an app of its own: the LLM queue, a missing LLM or
index, and reindexing under load.

Concurrent requests come from threads through one TestClient: they all run in the app's
one event loop, as they would under uvicorn. (AsyncTestClient runs each request to the
end before the next starts, so it cannot show a queue.)
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from kefu.generators import ChatMessage, GenerationOptions, GeneratorHealth
from kefu.generators.ollama import OllamaGenerator
from service.keys import create_key
from service.store import Store
from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.fakes.openai_server import FakeOpenAI
from tests.service.api.conftest import (
    GROUNDED_QUESTION,
    GROUNDED_TOKENS,
    MODEL,
    SLOW_MODEL,
    STOLEN_QUESTION,
    api_settings,
    build_app,
    runtime_of,
    sse_events,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
NEW_ARTICLE = """---
title: What is the Zephyrine vault?
lang: en
category: security
url: https://help.harborwallet.example/en/security/zephyrine-vault
---
# What is the Zephyrine vault?

The Zephyrine vault is a time-locked sub-account: funds moved into it can only leave
after a 48-hour delay, which gives you time to react if your phone is stolen.
Open the wallet, tap Zephyrine vault, and choose how much to lock.
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(client: TestClient[Any], path: str, body: Any = None, **headers: str) -> tuple[int, float, Any]:
    start = time.monotonic()
    response = client.post(path, json=body, headers=headers)
    return response.status_code, time.monotonic() - start, response


# --- the LLM queue -------------------------------------------------------------------------------


def test_a_full_llm_queue_answers_503_at_once_and_loses_nothing(
    tmp_path: Path, harbor_data_dir: Path, embedder: Any, llm_server: FakeOllama
) -> None:
    # One generation (about 2 s with the slow model) and one waiting; a third is refused.
    settings = api_settings(harbor_data_dir, tmp_path / "kefu.db", llm_queue=1)
    app = build_app(settings, llm_server, embedder, model=SLOW_MODEL, open_access=True)
    gate = runtime_of(app).gate
    with TestClient(app) as client, ThreadPoolExecutor(4) as pool:
        ask = {"question": GROUNDED_QUESTION}
        running = pool.submit(post, client, "/v1/ask", ask)
        time.sleep(0.6)
        waiting = pool.submit(post, client, "/v1/ask", ask)
        time.sleep(0.6)
        assert gate.busy and gate.waiting == 1

        status, seconds, refused = post(client, "/v1/ask", ask)
        assert status == 503 and seconds < 1.0
        assert refused.json()["error"]["code"] == "busy"
        assert 1 <= int(refused.headers["Retry-After"]) <= 120
        assert refused.json()["error"]["detail"] == {"retry_after": int(refused.headers["Retry-After"])}
        # A stream is refused the same way, before any event is sent.
        status, seconds, streamed = post(client, "/v1/ask", ask, accept="text/event-stream")
        assert status == 503 and seconds < 1.0 and streamed.headers["content-type"].startswith("application/json")
        # A handoff decided by the rules never waits for the LLM, nor does search.
        status, seconds, urgent = post(client, "/v1/ask", {"question": STOLEN_QUESTION})
        assert status == 200 and seconds < 1.5 and urgent.json()["reason"] == "stolen_funds"
        status, seconds, _ = post(client, "/v1/search", {"query": "打包中"})
        assert status == 200 and seconds < 1.5
        assert gate.busy and gate.waiting == 1  # still generating: the 503s did not wait

        for future in (running, waiting):
            status, _, response = future.result(timeout=30)
            assert status == 200 and response.json()["reason"] == "grounded"
        assert gate.waiting == 0 and not gate.busy
        metrics = client.get("/metrics").text
        assert "kefu_llm_busy_rejections_total 2.0" in metrics
        assert 'kefu_http_requests_total{method="POST",route="/v1/ask",status="503"} 2.0' in metrics
        assert 'kefu_http_requests_total{method="POST",route="/v1/ask",status="200"} 3.0' in metrics


def test_a_pool_of_openai_compatible_servers_answers_fails_over_and_queues_per_host(
    tmp_path: Path, harbor_data_dir: Path, embedder: Any
) -> None:
    from service.api import create_app

    # 8 tokens x 0.3 s: each generation holds its server for about 2.4 s.
    servers = [FakeOpenAI({MODEL: ScriptedModel(tokens=GROUNDED_TOKENS, delay=0.3)}).start() for _ in range(2)]
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    settings = api_settings(harbor_data_dir, tmp_path / "kefu.db").with_overrides(
        llm_backend="openai",
        openai_base_urls=(dead, servers[0].url, servers[1].url),
        openai_model=MODEL,
        llm_queue=0,  # no waiting: a third request while both servers generate is refused
        llm_connect_timeout=1.0,
    )
    app = create_app(settings, embedder=embedder, open_access=True)
    ask = {"question": GROUNDED_QUESTION}
    try:
        with TestClient(app) as client, ThreadPoolExecutor(4) as threads:
            ready = client.get("/ready").json()
            assert (ready["status"], ready["llm"]) == ("ready", f"openai:{MODEL}")
            assert [h["healthy"] for h in ready["llm_hosts"]] == [False, True, True]
            assert "cannot reach" in ready["llm_hosts"][0]["problem"]

            running = [threads.submit(post, client, "/v1/ask", ask) for _ in range(2)]
            runtime = runtime_of(app)
            deadline = time.monotonic() + 20
            while [h.running for h in runtime.llm_health().hosts] != [0, 1, 1]:
                assert time.monotonic() < deadline, runtime.llm_health().hosts
                time.sleep(0.05)
            status, seconds, refused = post(client, "/v1/ask", ask)
            assert status == 503 and seconds < 1.5 and refused.json()["error"]["code"] == "busy"
            for future in running:
                status, _, response = future.result(timeout=30)
                assert status == 200 and response.json()["reason"] == "grounded"
            assert [len(s.requests) for s in servers] == [1, 1]

            streamed = client.post("/v1/ask", json=ask, headers={"Accept": "text/event-stream"})
            events = sse_events(streamed.text)
            assert [name for name, _ in events][-1] == "final"
            assert "".join(d["text"] for n, d in events[:-1]).strip() == events[-1][1]["answer"]
            assert events[-1][1]["reason"] == "grounded"
    finally:
        for server in servers:
            server.stop()


# --- parts missing at start ------------------------------------------------------------------------


class SwitchableGenerator:
    """Talks to ``dead`` until switched to ``live`` (an LLM server that comes up late)."""

    def __init__(self, dead: OllamaGenerator, live: OllamaGenerator) -> None:
        self.current, self.live, self.name = dead, live, live.name

    async def warm_up(self) -> None:
        await self.current.warm_up()

    def health(self) -> GeneratorHealth:
        return self.current.health()

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> Any:
        return self.current.stream(messages, options)

    async def close(self) -> None:
        await self.live.close()


def test_an_unreachable_llm_leaves_search_and_answers_working_and_ready_says_so(
    tmp_path: Path, harbor_data_dir: Path, embedder: Any, llm_server: FakeOllama
) -> None:
    from service.api import create_app

    dead = OllamaGenerator(f"http://127.0.0.1:{closed_port()}", MODEL, timeout=5, connect_timeout=1)
    generator = SwitchableGenerator(dead, OllamaGenerator(llm_server.url, MODEL, timeout=10))
    settings = api_settings(harbor_data_dir, tmp_path / "kefu.db")
    app = create_app(settings, embedder=embedder, generator=generator, open_access=True, llm_retry_seconds=0.2)
    with TestClient(app) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        error = ready.json()["error"]
        assert error["code"] == "not_ready" and list(error["detail"]["missing"]) == ["llm"]
        assert "127.0.0.1" in error["detail"]["missing"]["llm"]
        assert client.post("/v1/search", json={"query": "打包中"}).status_code == 200
        answer = client.post("/v1/ask", json={"question": GROUNDED_QUESTION})
        assert answer.status_code == 200
        assert answer.json()["reason"] in ("extractive_fallback", "llm_unavailable")
        assert "kefu_llm_ready 0.0" in client.get("/metrics").text
        # The server comes up: the retry finds it and the app becomes ready.
        generator.current = generator.live
        for _ in range(50):
            if client.get("/ready").status_code == 200:
                break
            time.sleep(0.1)
        assert client.get("/ready").json()["status"] == "ready"
        assert client.post("/v1/ask", json={"question": GROUNDED_QUESTION}).json()["reason"] == "grounded"


def test_without_an_index_the_app_starts_but_is_not_ready(
    tmp_path: Path, embedder: Any, llm_server: FakeOllama
) -> None:
    settings = api_settings(tmp_path / "empty", tmp_path / "kefu.db")
    app = build_app(settings, llm_server, embedder, open_access=True)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and "index" in ready.json()["error"]["detail"]["missing"]
        assert "kefu ingest" in ready.json()["error"]["detail"]["missing"]["index"]
        for path, body in [("/v1/search", {"query": "x"}), ("/v1/ask", {"question": "hello?"})]:
            response = client.post(path, json=body)
            assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready"


# --- reindex ---------------------------------------------------------------------------------------


def test_reindex_swaps_the_new_version_in_without_dropping_requests(
    tmp_path: Path, harbor_data_dir: Path, embedder: Any, llm_server: FakeOllama
) -> None:
    data = tmp_path / "data"
    shutil.copytree(harbor_data_dir, data, symlinks=True)
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO / "corpora" / "harbor", corpus)
    (corpus / "help" / "en" / "security" / "zephyrine-vault.md").write_text(NEW_ARTICLE, encoding="utf-8")
    # No rate limit: the loop below searches as fast as it can.
    settings = api_settings(data, tmp_path / "kefu.db", corpus_dir=corpus, rate_limit=0)
    store = Store.from_settings(settings)
    app = build_app(settings, llm_server, embedder, store=store)
    query = {"query": "Zephyrine vault time lock", "k": 3}
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        admin = {"Authorization": f"Bearer {create_key(store, 'admin', 'ops')[0]}"}
        agent = {"Authorization": f"Bearer {create_key(store, 'agent', 'desk')[0]}"}
        before = client.get("/ready").json()["index_version"]
        old = client.post("/v1/search", json=query, headers=agent).json()
        assert "help/en/security/zephyrine-vault.md" not in [h["source"] for h in old["hits"]]

        reindex = pool.submit(client.post, "/v1/admin/reindex", headers=admin)
        statuses: list[int] = []
        versions: set[str] = set()
        second: int | None = None
        while not reindex.done():
            response = client.post("/v1/search", json=query, headers=agent)
            statuses.append(response.status_code)
            versions.add(response.json().get("index_version"))
            if second is None:
                second = client.post("/v1/admin/reindex", headers=admin).status_code
        report = reindex.result().json()

        assert second == 409
        assert len(statuses) >= 3 and set(statuses) == {200}
        assert report["swapped"] and report["changed"] and report["previous_version"] == before
        assert report["version"] != before and report["documents"]["new"] == 1
        assert 0 < report["embedded_chunks"] < 10 and report["problems"] == []
        assert report["adapter"] is None and report["adapter_outdated"] is None  # a plain index
        assert versions <= {before, report["version"]}
        new = client.post("/v1/search", json=query, headers=agent).json()
        assert new["index_version"] == report["version"]
        assert new["hits"][0]["source"] == "help/en/security/zephyrine-vault.md"
        assert client.get("/ready").json()["index_version"] == report["version"]
        metrics = client.get("/metrics").text
        assert f'kefu_index_info{{name="harbor",version="{report["version"]}"}} 1.0' in metrics
        assert "kefu_index_documents 296.0" in metrics
        assert client.post("/v1/ask", json={"question": GROUNDED_QUESTION}, headers=admin).status_code == 200
        again = client.post("/v1/admin/reindex", headers=admin).json()
        assert again["changed"] is False and again["swapped"] is False and again["version"] == report["version"]
    store.close()
