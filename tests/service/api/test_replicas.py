"""Two ``kefu serve`` processes on loopback against one PostgreSQL behave as one service.

Each replica is a real server process (uvicorn) with the real embedder and a copy of the
demo index in one data dir both share (as replicas share an index volume); the LLM is a
local server speaking Ollama's API. The test checks what replicas must share: a
conversation continued on the other replica, a handoff claimed by exactly one agent, each
webhook event delivered once although both replicas run the webhook worker, one rate limit
per key across both, a streamed answer saved although its client hung up, and a reindex on
one replica served by the other within seconds.
"""

from __future__ import annotations

import json
import os
import shutil
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
from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.postgres import ExternalPostgres, LocalPostgres
from tests.service.api.conftest import GROUNDED_QUESTION, GROUNDED_TOKENS, MODEL, STOLEN_QUESTION, WebhookSink
from tests.service.api.test_api_lifecycle import NEW_ARTICLE

pytestmark = pytest.mark.slow

KEFU = Path(sys.executable).parent / "kefu"
#: Handoffs the webhook test makes, alternating replicas.
HANDOFFS = 6
#: Requests a key may make at once (then 6 a minute): more than the other tests make with one key.
BURST = 20
#: Two grounded sentences, streamed a sentence at a time: the second is still being written
#: when a client that read the first hangs up.
TWO_SENTENCES = [*GROUNDED_TOKENS, "可以", "在", "交易", "详情", "里", "点", "加速", "[1]", "。"]
REPO = Path(__file__).resolve().parents[3]
#: The conftest's sink accepts every call: each event must arrive exactly once.
WEBHOOK_FAILS_FIRST = False


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeOllama]:
    server = FakeOllama({MODEL: ScriptedModel(tokens=TWO_SENTENCES, delay=0.1)}).start()
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
            for name, role in [
                ("app", "app"), ("streamer", "app"), ("metered", "agent"), ("alice", "agent"), ("bob", "agent"),
                ("reader", "agent"),
                ("ops", "admin"),
            ]
        }  # fmt: skip
    # One data dir for both, as one index volume: a reindex on one must reach the other.
    shared = tmp_path_factory.mktemp("shared")
    shutil.copytree(harbor_data_dir, shared / "data", symlinks=True)
    shutil.copytree(REPO / "corpora" / "harbor", shared / "corpus")
    env = {
        **os.environ,
        "KEFU_DATA_DIR": str(shared / "data"),
        "KEFU_CORPUS_DIR": str(shared / "corpus"),
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
        replicas.append(Replica(name, f"http://127.0.0.1:{port}", process, log, env))
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


def messages_of(replica: Replica, conversation: str, key: str, user_id: str) -> list[dict[str, Any]]:
    response = call(replica, "GET", f"/v1/conversations/{conversation}/messages?user_id={user_id}", key)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["messages"]
    return items


def test_a_streamed_answer_whose_client_hangs_up_is_saved_and_the_conversation_goes_on(
    cluster: Any, llm_server: FakeOllama
) -> None:
    (a, b), keys = cluster
    # A key of its own: the tests before it spend the "app" key's burst on a fast machine.
    app, user = keys["streamer"], "u-9"
    conversations = [
        call(a, "POST", "/v1/ask", app, {"question": GROUNDED_QUESTION, "user_id": user}).json()["conversation_id"]
        for _ in range(2)
    ]
    follow_up = "那要怎么加速？"
    streamed = {"Authorization": f"Bearer {app}", "Accept": "text/event-stream"}

    # In the second conversation, the whole streamed answer: what the client would have had.
    body = {"question": follow_up, "conversation_id": conversations[1], "user_id": user}
    whole = httpx.post(f"{a.url}/v1/ask", json=body, headers=streamed, timeout=60)
    events = [line for line in whole.text.splitlines() if line.startswith("event:")]
    assert events.count("event: token") >= 2 and events[-1] == "event: final", whole.text
    final = json.loads(whole.text.strip().splitlines()[-1].removeprefix("data:"))
    assert final["action"] == "answer", final

    # In the first, on replica a, the client reads the first sentence and hangs up.
    body = {"question": follow_up, "conversation_id": conversations[0], "user_id": user}
    with httpx.stream("POST", f"{a.url}/v1/ask", json=body, headers=streamed, timeout=60) as response:
        assert response.status_code == 200
        first = next(line for line in response.iter_lines() if line.startswith("data:"))
    assert json.loads(first.removeprefix("data:"))["text"] and len(messages_of(b, conversations[0], app, user)) == 2

    # Replica b sees the answer saved, whole.
    deadline = time.monotonic() + 30
    while len(messages := messages_of(b, conversations[0], app, user)) < 4:
        assert time.monotonic() < deadline, f"the answer was not saved: {messages}"
        time.sleep(0.5)
    assert [(m["role"], m["text"]) for m in messages[2:]] == [("user", follow_up), ("assistant", final["answer"])]
    assert messages[3]["citations"] and messages[3]["answer_id"] != final["answer_id"]

    # The next message, on replica b, follows on from it: a follow-up is searched together
    # with the question saved after the hang-up.
    requests_before = len(llm_server.requests)
    body = {"question": "那手续费呢？", "conversation_id": conversations[0], "user_id": user}
    assert call(b, "POST", "/v1/ask", app, body).status_code == 200
    [prompt] = [r["messages"][-1]["content"] for r in llm_server.requests[requests_before:]]
    assert prompt.endswith(f"【问题】{follow_up} 那手续费呢？"), prompt


def test_a_reindex_on_one_replica_is_served_by_the_other_within_seconds(cluster: Any) -> None:
    (a, b), keys = cluster
    query = {"query": "Zephyrine vault time lock", "k": 3}
    before = httpx.get(f"{b.url}/ready", timeout=10).json()["index_version"]
    corpus = Path(a.env["KEFU_CORPUS_DIR"])
    (corpus / "help" / "en" / "security" / "zephyrine-vault.md").write_text(NEW_ARTICLE, encoding="utf-8")

    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        reindex = pool.submit(call, a, "POST", "/v1/admin/reindex", keys["ops"])
        # Replica b answers searches all along (a few: the key's rate limit allows BURST at once).
        statuses: list[int] = []
        while not reindex.done() and len(statuses) < BURST - 2:
            statuses.append(call(b, "POST", "/v1/search", keys["reader"], query).status_code)
            time.sleep(0.5)
        report = reindex.result().json()
        published = time.monotonic()
    assert report["swapped"] and report["previous_version"] == before and report["documents"]["new"] == 1, report
    while (served := httpx.get(f"{b.url}/ready", timeout=10).json()["index_version"]) != report["version"]:
        assert served == before and time.monotonic() - published < 15, served
        time.sleep(0.1)
    took = time.monotonic() - published
    print(f"reindex on a: {published - started:.1f} s; b served version {report['version']} {took:.1f} s later")
    assert set(statuses) == {200}
    hits = call(b, "POST", "/v1/search", keys["reader"], query).json()
    assert hits["index_version"] == report["version"]
    assert hits["hits"][0]["source"] == "help/en/security/zephyrine-vault.md"
    assert 'kefu_index_watch_total{outcome="swapped"} 1.0' in httpx.get(f"{b.url}/metrics", timeout=10).text
    for replica in (a, b):  # for docs/deploy.md's sizing
        status = Path(f"/proc/{replica.process.pid}/status").read_text()
        memory = {k: int(v.split()[0]) // 1024 for k, v in (line.split(":", 1) for line in status.splitlines())
                  if k in ("VmRSS", "VmHWM")}  # fmt: skip
        print(f"replica {replica.name}: {memory['VmRSS']} MiB resident, at most {memory['VmHWM']} MiB")
