"""The answer deadline bounds the whole answer through the real app: a search or a
sentence selection that takes longer than ``KEFU_ANSWER_DEADLINE`` still gets the user a
handoff in time, and the abandoned work, when it finishes, writes nothing.

Fast: a retriever and an embedder that sleep (tests/fakes/retriever.py), a real SQLite
file, the LLM a local fake Ollama.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.fakes.retriever import SlowEmbedder, SlowRetriever, article_hit
from tests.service.api.conftest import Served, serve_fake, sse_events

pytestmark = pytest.mark.integration

DEADLINE = 1.0
#: What the reply may take beyond the deadline: storing it, the HTTP round trip.
MARGIN = 1.5  # a loaded CI machine is slow to schedule; SLOW stays well above the bound
#: How long the fakes would take if nobody stopped waiting for them.
SLOW = 6.0


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOllama]:
    server = FakeOllama({"fast": ScriptedModel(tokens=["转账打包中通常是矿工费太低", " [1]", "。"])}).start()
    yield server
    server.stop()


@pytest.fixture
def slow_search(tmp_path: Path, llm: FakeOllama) -> Iterator[Served]:
    yield from serve_fake(tmp_path, llm, SlowRetriever(delay=SLOW, hits=[article_hit()]), DEADLINE, style="quote")


def wait_until(check: Any, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, "the abandoned work did not finish"
        time.sleep(0.02)


def test_a_slow_search_is_cut_at_the_deadline_and_handed_to_a_human(slow_search: Served) -> None:
    response, took = slow_search.post("/v1/ask", {"question": "我的转账一直在打包中怎么办？"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert took < DEADLINE + MARGIN, took
    assert (body["action"], body["reason"], body["mode"]) == ("handoff", "timeout", "handoff")
    assert body["answer"] == "这个问题我没能及时答完，已为你转接人工客服，请稍候。"
    assert body["handoff"]["status"] == "open" and body["handoff"]["priority"] == "normal"
    # The search nobody waits for any more finishes, and changes nothing.
    slow_search.retriever.release.set()
    wait_until(lambda: slow_search.retriever.finished == 1)
    time.sleep(0.2)
    assert slow_search.rows("SELECT reason, action FROM answers") == [("timeout", "handoff")]
    assert slow_search.rows("SELECT reason, status FROM handoffs") == [("timeout", "open")]


def test_a_theft_is_handed_off_as_a_theft_when_search_is_slow(slow_search: Served) -> None:
    question = "Someone stole all my USDT, my wallet was drained an hour ago!"
    response, took = slow_search.post("/v1/ask", {"question": question})
    body = response.json()
    assert took < DEADLINE + MARGIN, took
    assert (body["reason"], body["handoff"]["priority"]) == ("stolen_funds", "urgent"), body
    assert "never give anyone your recovery phrase" in body["answer"]


def test_a_streamed_answer_ends_in_time_with_its_final_event(slow_search: Served) -> None:
    response, took = slow_search.post(
        "/v1/ask", {"question": "How do I speed up a pending transfer?"}, accept="text/event-stream"
    )
    assert response.status_code == 200 and took < DEADLINE + MARGIN, (response.status_code, took)
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["token", "final"], events
    assert events[0][1]["text"] == "I couldn't finish answering this in time, so I've passed you to a human agent."
    assert events[1][1]["reason"] == "timeout" and events[1][1]["answer_id"]


def test_a_suggestion_is_bounded_too(slow_search: Served) -> None:
    body = {"conversation": [{"role": "user", "text": "转账一直在打包中"}]}
    response, took = slow_search.post("/v1/suggest", body, role="agent")
    assert response.status_code == 200 and took < DEADLINE + MARGIN, (response.text, took)
    assert response.json()["reason"] == "timeout"
    assert slow_search.rows("SELECT count(*) FROM handoffs") == [(0,)]  # a suggestion opens none


def test_a_slow_sentence_selection_is_bounded(tmp_path: Path, llm: FakeOllama) -> None:
    # Search is quick; embedding the source sentences to pick the answer is what hangs.
    retriever = SlowRetriever(hits=[article_hit()], embedder=SlowEmbedder(delay=SLOW))
    for served in serve_fake(tmp_path, llm, retriever, DEADLINE, style="quote"):
        response, took = served.post("/v1/ask", {"question": "转账一直在打包中怎么办"})
        assert took < DEADLINE + MARGIN, took
        assert response.json()["reason"] == "timeout"
        assert retriever.finished == 1 and retriever.embedder.calls_done == 0


def test_an_answer_within_the_deadline_is_untouched(tmp_path: Path, llm: FakeOllama) -> None:
    for served in serve_fake(tmp_path, llm, SlowRetriever(delay=0.3), DEADLINE):
        response, took = served.post("/v1/ask", {"question": "转账一直在打包中怎么办"})
        body = response.json()
        assert (body["action"], body["reason"]) == ("handoff", "no_sources"), body
        assert 0.3 <= took < DEADLINE, took
