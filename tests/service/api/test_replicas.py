"""Two ``kefu serve`` processes on loopback against one PostgreSQL behave as one service.

Each replica is a real server process (uvicorn) with the real embedder and the demo index;
the LLM is a local server speaking Ollama's API. The test checks what replicas must
share: a conversation continued on the other replica, a handoff claimed by exactly one
agent, each webhook event delivered once although both replicas run the webhook worker,
and one rate limit per key across both.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kefu.settings import Settings
from service.keys import create_key
from service.store import Store
from tests.fakes.ollama_server import FakeOllama
from tests.postgres import ExternalPostgres, LocalPostgres
from tests.service.api.conftest import GROUNDED_QUESTION, MODEL, STOLEN_QUESTION, WebhookSink

pytestmark = pytest.mark.slow

KEFU = Path(sys.executable).parent / "kefu"
#: Handoffs the webhook test makes, alternating replicas.
HANDOFFS = 6
#: Requests a key may make at once (then 6 a minute): more than the other tests make with one key.
BURST = 20


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    server = WebhookSink(fail_first=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(
    postgres: LocalPostgres | ExternalPostgres,
    harbor_data_dir: Path,
    settings: Settings,
    llm_server: FakeOllama,
    sink: WebhookSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[list[Replica], dict[str, str]]]:
    url = postgres.create_database()
    with Store(url) as store:
        store.migrate()
        keys = {
            name: create_key(store, role, name)[0]
            for name, role in [("app", "app"), ("metered", "agent"), ("alice", "agent"), ("bob", "agent")]
        }
    env = {
        **os.environ,
        "KEFU_DATA_DIR": str(harbor_data_dir),
        "KEFU_EMBEDDING_MODEL": str(settings.default_embedder_dir),
        "KEFU_INDEX": "harbor",
        "KEFU_DATABASE_URL": url,
        "KEFU_LLM_BACKEND": "ollama",
        "KEFU_OLLAMA_HOST": llm_server.url,
        "KEFU_OLLAMA_MODEL": MODEL,
        "KEFU_ANSWER_STYLE": "generate",
        "KEFU_WEBHOOK_URL": sink.url,
        "KEFU_RATE_LIMIT": "6",
        "KEFU_RATE_BURST": str(BURST),
        "KEFU_LOG_LEVEL": "WARNING",
    }
    logs = tmp_path_factory.mktemp("replicas")
    replicas = []
    for name in ("a", "b"):
        port = _free_port()
        log = logs / f"{name}.log"
        process = subprocess.Popen(
            [str(KEFU), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        replicas.append(Replica(name, f"http://127.0.0.1:{port}", process, log))
    try:
        deadline = time.monotonic() + 300
        for replica in replicas:
            while True:
                assert replica.process.poll() is None, replica.log.read_text()[-3000:]
                assert time.monotonic() < deadline, replica.log.read_text()[-3000:]
                try:
                    if httpx.get(f"{replica.url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
        yield replicas, keys
    finally:
        for replica in replicas:
            replica.process.send_signal(signal.SIGINT)
        for replica in replicas:
            try:
                replica.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()


def call(replica: Replica, method: str, path: str, key: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method, f"{replica.url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def test_a_conversation_goes_on_whichever_replica_a_request_hits(cluster: Any) -> None:
    (a, b), keys = cluster
    first = call(a, "POST", "/v1/ask", keys["app"], {"question": GROUNDED_QUESTION, "user_id": "u-7"})
    assert first.status_code == 200 and first.json()["reason"] == "grounded"
    conversation = first.json()["conversation_id"]
    follow_up = call(
        b,
        "POST",
        "/v1/ask",
        keys["app"],
        {"question": "那要怎么加速？", "conversation_id": conversation, "user_id": "u-7"},
    )
    assert follow_up.status_code == 200 and follow_up.json()["conversation_id"] == conversation
    # Another user's id does not open it on either replica.
    other = call(
        b, "POST", "/v1/ask", keys["app"], {"question": "hi", "conversation_id": conversation, "user_id": "u-8"}
    )
    assert other.status_code == 404


def test_of_two_agents_on_two_replicas_exactly_one_claims_a_handoff(cluster: Any) -> None:
    (a, b), keys = cluster
    for _ in range(3):
        asked = call(a, "POST", "/v1/ask", keys["app"], {"question": STOLEN_QUESTION})
        handoff = asked.json()["handoff"]["id"]
        with ThreadPoolExecutor(2) as pool:
            claims = list(
                pool.map(
                    lambda rk, h=handoff: call(rk[0], "POST", f"/v1/handoffs/{h}/claim", keys[rk[1]]),
                    [(a, "alice"), (b, "bob")],
                )
            )
        assert sorted(r.status_code for r in claims) == [200, 409]
        winner = next(r for r in claims if r.status_code == 200).json()["claimed_by"]
        for replica in (a, b):
            listed = call(replica, "GET", "/v1/handoffs?status=claimed&limit=200", keys["alice"]).json()["items"]
            assert [h["claimed_by"] for h in listed if h["id"] == handoff] == [winner]


def test_each_webhook_event_is_delivered_once_by_the_two_replicas(cluster: Any, sink: WebhookSink) -> None:
    (a, b), keys = cluster
    made = []
    for n in range(HANDOFFS):
        replica = (a, b)[n % 2]
        made.append(
            call(replica, "POST", "/v1/ask", keys["app"], {"question": STOLEN_QUESTION}).json()["handoff"]["id"]
        )
    deadline = time.monotonic() + 30
    while not set(made) <= {c["body"]["handoff"]["id"] for c in sink.calls}:
        assert time.monotonic() < deadline, f"{len(sink.calls)} calls: {sink.calls[-3:]}"
        time.sleep(0.2)
    time.sleep(5)  # two more polls of each worker: a second delivery would show now
    per_handoff = Counter(c["body"]["handoff"]["id"] for c in sink.calls)
    assert all(per_handoff[h] == 1 for h in made), per_handoff
    assert max(Counter(c["delivery"] for c in sink.calls).values()) == 1


def test_one_rate_limit_per_key_across_the_replicas(cluster: Any) -> None:
    (a, b), keys = cluster
    # Requests spread over both replicas use one burst up.
    statuses = [call((a, b)[n % 2], "GET", "/v1/handoffs", keys["metered"]).status_code for n in range(BURST)]
    assert statuses == [200] * BURST
    for replica in (a, b):
        limited = call(replica, "GET", "/v1/handoffs", keys["metered"])
        assert limited.status_code == 429, replica.name
        assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert call(b, "GET", "/v1/handoffs", keys["alice"]).status_code == 200  # another key, its own bucket
