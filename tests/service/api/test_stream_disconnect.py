"""A streamed answer whose client disconnects mid-stream is still finished and saved.

The app runs under uvicorn on loopback (Litestar's test client cannot hang up half-way):
the client reads the first sentence of a slow two-sentence answer and closes the
connection while the LLM is still writing the second. Fast: a small index built with the
fake embedder, and the LLM a local server speaking Ollama's API.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from ingest.pipeline import run_ingest
from tests.fakes.embedder import FakeEmbedder
from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.service.api.conftest import api_settings, build_app, sse_events

# uvicorn on loopback: a real client that really hangs up.
pytestmark = pytest.mark.integration

HELP = Path(__file__).resolve().parents[3] / "corpora" / "harbor" / "help" / "zh"
QUESTION = "我的转账一直在打包中怎么办？"
#: Two sentences, each streamed when it ends: about 1 s each.
TOKENS = [
    "转账", "一直", "打包中", "，", "通常", "是", "矿工费", "设置", "太低", "[1]", "。",
    "可以", "在", "交易", "详情", "里", "加速", "[1]", "。",
]  # fmt: skip
STREAM = {"Accept": "text/event-stream"}


@dataclass
class Server:
    url: str
    db: Path
    llm: FakeOllama

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as connection:
            return list(connection.execute(query))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    corpus = tmp_path / "corpus"
    for part in ("transfers", "fees"):
        shutil.copytree(HELP / part, corpus / part)
    data = tmp_path / "data"
    run_ingest([corpus], data_dir=data, index_name="harbor", embedder=FakeEmbedder())
    llm = FakeOllama({"m": ScriptedModel(tokens=TOKENS, delay=0.1)}).start()
    settings = api_settings(data, tmp_path / "kefu.db", rate_limit=0)
    app = build_app(settings, llm, FakeEmbedder(), model="m", open_access=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not uv.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield Server(f"http://127.0.0.1:{port}", tmp_path / "kefu.db", llm)
    finally:
        uv.should_exit = True
        thread.join(timeout=60)
        sock.close()
        llm.stop()


def test_an_answer_is_saved_when_its_client_disconnects_mid_stream(server: Server) -> None:
    # The whole stream once, for the answer the client would have had.
    whole = httpx.post(f"{server.url}/v1/ask", json={"question": QUESTION}, headers=STREAM, timeout=30)
    events = sse_events(whole.text)
    assert [name for name, _ in events][:2] == ["token", "token"] and events[-1][0] == "final"
    final = events[-1][1]
    assert server.rows("SELECT count(*) FROM answers") == [(1,)]

    # Again, hanging up after the first sentence.
    started = time.monotonic()
    with httpx.stream("POST", f"{server.url}/v1/ask", json={"question": QUESTION}, headers=STREAM, timeout=30) as r:
        assert r.status_code == 200
        first = next(line for line in r.iter_lines() if line.startswith("data:"))
    left_after = time.monotonic() - started
    assert json.loads(first.removeprefix("data:"))["text"] == events[0][1]["text"]
    # The client left before the answer was done: nothing was saved yet.
    assert server.rows("SELECT count(*) FROM answers") == [(1,)], "saved before the client left"

    deadline = time.monotonic() + 20
    while server.rows("SELECT count(*) FROM answers") != [(2,)]:
        assert time.monotonic() < deadline, "the answer was never saved"
        time.sleep(0.1)
    saved_after = time.monotonic() - started
    print(f"client left after {left_after:.2f} s; the answer was saved after {saved_after:.2f} s")
    answer, action, reason, conversation = server.rows(
        "SELECT answer, action, reason, conversation_id FROM answers ORDER BY created_at DESC LIMIT 1"
    )[0]
    assert (answer, action, reason) == (final["answer"], final["action"], final["reason"])
    assert conversation != final["conversation_id"]
    messages = server.rows(f"SELECT role, text FROM messages WHERE conversation_id = '{conversation}' ORDER BY id")
    assert messages == [("user", QUESTION), ("assistant", final["answer"])]
    if final["action"] == "handoff":  # and the agents have it, as they have the first
        assert server.rows(f"SELECT count(*) FROM handoffs WHERE conversation_id = '{conversation}'") == [(1,)]
    # The LLM wrote the whole answer both times.
    assert len(server.llm.requests) == 2
