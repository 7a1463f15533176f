"""``RemoteAnswerer``: the eval asking a running deployment over HTTP.

The real app runs under uvicorn on a free loopback port (real embedder, the demo index, a
real SQLite file; the LLM scripted through a local server that speaks Ollama's API), and
its answers are compared with the in-process answerer's for the same questions.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eval.answers import _judged, run_item
from eval.dataset import EvalItem
from eval.remote import RemoteAnswerer
from kefu.errors import AuthError, BackendUnavailableError, BusyError, KefuError
from kefu.generators.ollama import OllamaGenerator
from kefu.settings import Settings
from service.answerer import Answerer, AnswerResult, answerer_from_settings
from service.api import create_app
from service.api.runtime import Runtime
from service.keys import create_key
from service.store import Store
from tests.fakes.http import LocalServer, QuietHandler
from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.phrases import SEED
from tests.service.api.conftest import on_loopback

#: Each test talks to a server on loopback; those that ask the deployment load the real embedder.
pytestmark = pytest.mark.integration

MODEL = "qwen2.5:3b-instruct"
#: Cites [1] and repeats words of the top source, so the answer is "grounded".
GROUNDED_TOKENS = ["转账", "打包中", "通常", "是", "矿工费", "太低", "[1]", "。"]
GROUNDED_QUESTION = "我的转账一直在打包中怎么办？"
GROUNDED_SOURCE = "help/zh/transfers/pending-transfer.md"


@dataclass
class Deployment:
    url: str
    key: str
    settings: Settings
    runtime: Runtime
    llm: FakeOllama


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, harbor_data_dir: Path, embedder: Any) -> Iterator[Deployment]:
    llm = FakeOllama({MODEL: ScriptedModel(tokens=GROUNDED_TOKENS, prompt_eval_count=57)}).start()
    settings = Settings.from_env({}).with_overrides(
        data_dir=harbor_data_dir,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('remote') / 'kefu.db'}",
        llm_backend="ollama",
        rate_limit=0,
        answer_style="generate",  # these tests follow the LLM's answer (and its usage) over HTTP
    )
    store = Store.from_settings(settings)
    generator = OllamaGenerator(llm.url, MODEL, timeout=10, connect_timeout=1)
    app = create_app(settings, store=store, embedder=embedder, generator=generator)
    try:
        with on_loopback(app, patience=120) as port:
            key, _ = create_key(store, "agent", "eval-remote")  # details are for agent and admin keys
            yield Deployment(f"http://127.0.0.1:{port}", key, settings, app.state.runtime, llm)
    finally:
        store.close()
        llm.stop()


def in_process(deployment: Deployment) -> Answerer:
    """The answerer the eval runs in-process: the same index and settings, an LLM of its own."""
    generator = OllamaGenerator(deployment.llm.url, MODEL, timeout=10, connect_timeout=1)
    retriever = deployment.runtime.current_answerer().retriever
    return answerer_from_settings(deployment.settings, retriever=retriever, generator=generator)


async def remote_answer(deployment: Deployment, question: str, **kw: Any) -> AnswerResult:
    async with RemoteAnswerer(deployment.url, deployment.key, timeout=30, index="harbor", **kw) as remote:
        return await remote.answer(question)


@pytest.mark.slow
def test_a_remote_answer_is_the_in_process_answer(deployment: Deployment) -> None:
    local = asyncio.run(in_process(deployment).answer(GROUNDED_QUESTION, lang=None))
    remote = asyncio.run(remote_answer(deployment, GROUNDED_QUESTION))
    assert local.action == "answer" and local.reason == "grounded"
    assert (remote.action, remote.reason, remote.mode) == (local.action, local.reason, local.mode)
    assert remote.confidence == pytest.approx(local.confidence, abs=1e-6)
    assert remote.answer == local.answer and remote.rules == local.rules == []
    assert remote.evidence == local.evidence
    # What the eval judges: the text and the cited documents, as corpus paths.
    assert _judged(remote) == _judged(local)
    assert _judged(remote)[1][0][0] == GROUNDED_SOURCE
    assert [h.paths for h in remote.hits] == [h.paths for h in local.hits]
    assert [(s.n, s.doc_id) for s in remote.sources] == [(s.n, s.doc_id) for s in local.sources]
    assert remote.usage == local.usage and remote.usage["prompt_tokens"] == 57
    assert 0 < remote.timings_ms["first_token"] <= remote.timings_ms["total"]


@pytest.mark.slow
def test_a_handoff_comes_back_with_its_reason_and_draft(deployment: Deployment) -> None:
    question = f"我的助记词是 {SEED} 帮我看看"
    local = asyncio.run(in_process(deployment).answer(question, lang=None))
    remote = asyncio.run(remote_answer(deployment, question))
    assert remote.action == "handoff" and remote.reason == "secret_shared" == local.reason
    assert remote.rules == local.rules and "secret_shared" in remote.rules
    assert remote.handoff is not None and local.handoff is not None
    assert remote.handoff.suggested_reply == local.handoff.suggested_reply
    assert remote.handoff.priority == local.handoff.priority == "urgent"
    assert SEED not in remote.question and "first_token" not in remote.timings_ms
    assert _judged(remote) == _judged(local)


@pytest.mark.slow
def test_a_handoffs_draft_keeps_its_sources(deployment: Deployment) -> None:
    # The LLM finds no answer in the sources: the agent gets the best passage, citing it [1], as a draft.
    scripted = deployment.llm.models[MODEL]
    deployment.llm.models[MODEL] = ScriptedModel(tokens=["无法", "根据", "资料", "回答", "。"])
    try:
        local = asyncio.run(in_process(deployment).answer(GROUNDED_QUESTION, lang=None))
        remote = asyncio.run(remote_answer(deployment, GROUNDED_QUESTION))
    finally:
        deployment.llm.models[MODEL] = scripted
    assert local.action == "handoff" and local.reason == "no_answer"
    assert (remote.action, remote.reason, remote.mode) == (local.action, local.reason, local.mode)
    assert remote.confidence == pytest.approx(local.confidence, abs=1e-6)
    assert remote.handoff is not None and "[1]" in remote.handoff.suggested_reply
    text, docs = _judged(remote)
    assert (text, docs) == _judged(local) and docs == [list(remote.hits[0].paths)]
    # The LLM's own words were streamed before the handoff's message: they are the first token.
    assert "first_token" in remote.timings_ms


@pytest.mark.slow
def test_run_item_judges_a_remote_answer(deployment: Deployment) -> None:
    item = EvalItem(
        id="remote-1",
        question=GROUNDED_QUESTION,
        lang="zh",
        expected="answer",
        gold=(GROUNDED_SOURCE,),
        facts=("矿工费",),
    )

    async def run() -> Any:
        async with RemoteAnswerer(deployment.url, deployment.key) as remote:
            return await run_item(remote, item)

    outcome = asyncio.run(run())
    assert outcome.action == "answer" and outcome.reason == "grounded" and outcome.mode == "generated"
    assert outcome.cited_docs and outcome.cited_docs[0][0] == GROUNDED_SOURCE
    assert outcome.gold_cited and outcome.facts_found == [True] and outcome.accurate
    assert outcome.first_token_ms is not None and outcome.total_ms >= outcome.first_token_ms
    assert outcome.prompt_tokens == 57


@pytest.mark.slow
def test_a_wrong_or_missing_api_key_is_a_clear_auth_error(deployment: Deployment) -> None:
    wrong = "kefu_app_" + "x" * 32
    with pytest.raises(AuthError) as refused:
        asyncio.run(remote_answer_with(deployment.url, wrong))
    message = str(refused.value)
    assert "refused the API key" in message and deployment.url in message and wrong not in message
    with pytest.raises(AuthError, match="needs an API key and none was given"):
        asyncio.run(remote_answer_with(deployment.url, None))


async def remote_answer_with(url: str, key: str | None) -> AnswerResult:
    async with RemoteAnswerer(url, key, timeout=10) as remote:
        return await remote.answer(GROUNDED_QUESTION)


def test_nothing_listening_is_unavailable_naming_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(BackendUnavailableError, match=f"cannot reach the kefu API at {url}"):
        asyncio.run(remote_answer_with(url, "kefu_app_secret"))


# --- retries, against a scripted stand-in for the API -------------------------------------------


@dataclass
class Scripted(LocalServer):
    """A local HTTP server answering POST /v1/ask with the given (status, code, headers) in turn."""

    replies: list[tuple[int, str, dict[str, str]]]
    calls: int = 0

    def handler(self) -> type[QuietHandler]:
        script = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, code, headers = script.replies[min(script.calls, len(script.replies) - 1)]
                script.calls += 1
                body = json.dumps({"error": {"code": code, "message": f"scripted {code}", "detail": None}}).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def test_busy_is_retried_as_retry_after_says_then_given_up() -> None:
    with Scripted([(503, "busy", {"Retry-After": "0"})]) as api:
        with pytest.raises(BusyError, match=r"after 3 retries: HTTP 503 \(busy\): scripted busy"):
            asyncio.run(remote_answer_with(api.url, "kefu_app_secret"))
        assert api.calls == 4


def test_another_error_status_names_the_status_and_the_apis_message() -> None:
    replies = [(429, "rate_limited", {"Retry-After": "0"}), (500, "internal_error", {})]
    with Scripted(replies) as api:
        with pytest.raises(KefuError, match=r"HTTP 500 \(internal_error\): scripted internal_error") as failed:
            asyncio.run(remote_answer_with(api.url, "kefu_app_secret"))
        assert api.calls == 2 and "after" not in str(failed.value) and "kefu_app_secret" not in str(failed.value)
