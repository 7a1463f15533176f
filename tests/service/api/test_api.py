"""Every endpoint, role and error path of the HTTP API, through Litestar's test client.

One app for the module and each database backend (a real SQLite file, then a real
PostgreSQL server): the real embedder and demo index, the LLM scripted through a fake
Ollama, a webhook that fails each delivery once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kefu.errors import BackendUnavailableError
from service.api.logs import JsonFormatter
from service.api.ratelimit import RateLimiter, SharedRateLimiter
from service.confidence import Calibration
from service.keys import create_key
from service.store import Store
from tests.fakes.ollama_server import FakeOllama
from tests.phrases import SEED
from tests.service.api.conftest import (
    GROUNDED_QUESTION,
    GROUNDED_SOURCE,
    STOLEN_QUESTION,
    Api,
    WebhookSink,
    api_settings,
    ask,
    build_app,
    error_of,
    sse_events,
    start_api,
    webhook_api,
)
from tests.service.databases import BACKENDS, make_database

pytestmark = pytest.mark.slow

ORIGIN = "https://desk.example"
TICKET = {
    "subject": "转账没到",
    "conversation": [
        {"role": "user", "text": "USDT 转去交易所，一个多小时了交易所还是0"},
        {"role": "agent", "text": "您好，请问是哪条链？"},
        {"role": "user", "text": "TRC20，转到交易所一直不到账"},
    ],
}


@pytest.fixture(scope="module", params=BACKENDS)
def api(request, tmp_path_factory, harbor_data_dir, embedder, llm_server, sink) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("api")
    # Without a rate limit: it is tested on its own with a limiter of its own.
    with webhook_api(
        harbor_data_dir,
        make_database(request, request.param, tmp).url,
        llm_server,
        embedder,
        sink,
        max_question_chars=500,
        max_body_bytes=16_384,
        cors_origins=(ORIGIN,),
    ) as api:
        yield api


# --- operations ----------------------------------------------------------------------------


def test_health_and_ready_need_no_key(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}
    ready = api.client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["index"] == "harbor" and body["index_version"]
    assert body["llm"].startswith("ollama:") and body["open_access"] is False


def test_openapi_documents_every_endpoint_with_its_errors(api: Api) -> None:
    schema = api.client.get("/schema/openapi.json").json()
    paths = schema["paths"]
    for path, method in [
        ("/v1/ask", "post"),
        ("/v1/suggest", "post"),
        ("/v1/search", "post"),
        ("/v1/feedback", "post"),
        ("/v1/handoffs", "get"),
        ("/v1/handoffs/{handoff_id}/claim", "post"),
        ("/v1/handoffs/{handoff_id}/resolve", "post"),
        ("/v1/handoffs/{handoff_id}", "get"),
        ("/v1/handoffs/{handoff_id}/messages", "post"),
        ("/v1/conversations/{conversation_id}/messages", "get"),
        ("/v1/me", "get"),
        ("/v1/admin/reindex", "post"),
        ("/v1/analytics", "get"),
        ("/v1/analytics/html", "get"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
    ]:
        assert method in paths[path], path
        assert paths[path][method]["description"]
    ask_doc = paths["/v1/ask"]["post"]
    assert "text/event-stream" in ask_doc["description"]
    assert ask_doc["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("AskResponse")
    assert ask_doc["responses"]["503"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert ask_doc["security"] == [{"BearerAuth": []}]
    assert schema["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    assert "security" not in paths["/health"]["get"]


# --- ask ---------------------------------------------------------------------------------------


def test_ask_answers_with_citations_and_stores_the_answer(api: Api) -> None:
    response = ask(api)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "answer", "citations", "confidence", "action", "reason", "mode", "lang",
        "conversation_id", "answer_id", "handoff",
    }  # fmt: skip
    assert body["action"] == "answer" and body["reason"] == "grounded" and body["handoff"] is None
    assert "[1]" in body["answer"] and body["lang"] == "zh"
    assert [c["n"] for c in body["citations"]] == [1]
    citation = body["citations"][0]
    assert citation["source"] == GROUNDED_SOURCE and citation["title"] and citation["url"] and citation["snippet"]
    assert 0.45 <= body["confidence"] <= 1
    stored = api.store.get_answer(body["answer_id"])
    assert stored.conversation_id == body["conversation_id"] and stored.answer == body["answer"]
    assert stored.citations[0]["source"] == GROUNDED_SOURCE and stored.mode == "answer"


def test_a_streamed_answer_matches_the_non_streamed_one(api: Api) -> None:
    plain = ask(api).json()
    response = api.client.post(
        "/v1/ask", json={"question": GROUNDED_QUESTION}, headers={**api.auth("app"), "Accept": "text/event-stream"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "final" and names.count("final") == 1 and set(names[:-1]) == {"token"}
    final = events[-1][1]
    assert "".join(data["text"] for name, data in events[:-1]).strip() == final["answer"]
    for key in ("answer", "citations", "confidence", "action", "reason", "mode", "lang", "handoff"):
        assert final[key] == plain[key], key
    assert set(final) == set(plain)
    # The final event is a stored answer like any other.
    assert api.store.get_answer(final["answer_id"]).answer == final["answer"]


def test_a_streamed_handoff_ends_with_the_handoff(api: Api) -> None:
    response = api.client.post(
        "/v1/ask", json={"question": STOLEN_QUESTION}, headers={**api.auth("app"), "Accept": "text/event-stream"}
    )
    events = sse_events(response.text)
    final = events[-1][1]
    assert events[-1][0] == "final" and final["action"] == "handoff" and final["reason"] == "stolen_funds"
    assert final["handoff"]["priority"] == "urgent" and final["handoff"]["status"] == "open"
    assert "".join(d["text"] for n, d in events if n == "token").strip() == final["answer"]


def test_an_answer_that_scores_low_once_written_is_told_as_the_client_received_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only how much of the question the answer holds counts: the model's "转账打包中通常是矿工费太低"
    # holds little of a question about a hash the explorer cannot find, so it is written, then handed off.
    answerer = api.runtime.current_answerer()
    monkeypatch.setattr(answerer, "calibration", Calibration(weights={"word_overlap": 10.0}, bias=-9.9, threshold=0.5))
    question = "转账一直打包中，交易哈希在区块浏览器上查不到，怎么回事？"
    streamed = api.client.post(
        "/v1/ask", json={"question": question}, headers={**api.auth("app"), "Accept": "text/event-stream"}
    )
    events = sse_events(streamed.text)
    final = events[-1][1]
    assert final["action"] == "handoff" and final["reason"] == "low_confidence"
    shown = "".join(d["text"] for n, d in events if n == "token")
    # The streaming client read the answer, then that it may fall short.
    assert "矿工费" in shown and final["answer"] in shown and final["answer"].startswith("以上内容可能没有完全回答")
    # A client that reads only the final body never saw an answer: it is told of the handoff.
    plain = ask(api, question).json()
    assert plain["action"] == "handoff" and plain["reason"] == "low_confidence"
    assert plain["answer"].startswith("这个问题我没有在帮助中心找到可靠的答案")


def test_a_failure_after_the_stream_began_ends_it_with_an_error_event(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    sse = {**api.auth("app"), "Accept": "text/event-stream"}
    # Before the stream begins, an error keeps its status and shape.
    missing = api.client.post("/v1/ask", json={"question": GROUNDED_QUESTION, "conversation_id": "nope"}, headers=sse)
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"

    def database_down(**_: Any) -> Any:
        raise BackendUnavailableError("the database cannot serve the request: disk I/O error")

    monkeypatch.setattr(api.store, "save_answer", database_down)
    response = api.client.post("/v1/ask", json={"question": GROUNDED_QUESTION}, headers=sse)
    assert response.status_code == 200
    events = sse_events(response.text)
    assert events[0][0] == "token" and [name for name, _ in events].count("final") == 0
    name, body = events[-1]
    assert name == "error" and body["error"]["code"] == "backend_unavailable" and body["error"]["detail"] is None


def test_a_follow_up_is_searched_with_the_conversation(api: Api, llm_server: FakeOllama) -> None:
    first = ask(api, user_id="u-1").json()
    follow = ask(api, "那手续费呢？", conversation_id=first["conversation_id"], user_id="u-1")
    assert follow.status_code == 200, follow.text
    assert follow.json()["conversation_id"] == first["conversation_id"]
    prompt = llm_server.requests[-1]["messages"][-1]["content"]
    assert "打包中" in prompt and "手续费" in prompt  # the earlier question came along
    history = api.store.conversation_history(first["conversation_id"])
    assert [m.role for m in history] == ["user", "assistant", "user", "assistant"]


def test_a_conversation_that_is_unknown_or_someone_elses_is_not_found(api: Api) -> None:
    mine = ask(api, user_id="owner").json()
    for body in (
        {"conversation_id": "no-such-conversation"},
        {"conversation_id": mine["conversation_id"], "user_id": "somebody-else"},
    ):
        response = ask(api, **body)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_a_handoff_is_stored_queued_and_sent_to_the_webhook_with_a_retry(api: Api, sink: WebhookSink) -> None:
    body = ask(api, STOLEN_QUESTION).json()
    assert body["action"] == "handoff" and body["reason"] == "stolen_funds" and body["citations"] == []
    handoff = body["handoff"]
    assert handoff["priority"] == "urgent" and handoff["status"] == "open"
    stored = api.store.get_handoff(handoff["id"])
    assert stored.answer_id == body["answer_id"] and stored.payload["suggested_reply"]
    # The webhook answers 500 to the first call and 204 to the retry.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and api.store.deliveries_for(handoff["id"])[0].status != "delivered":
        time.sleep(0.05)
    delivery = api.store.deliveries_for(handoff["id"])[0]
    assert delivery.status == "delivered" and delivery.attempts == 2
    calls = sink.for_handoff(handoff["id"])
    assert [c["status"] for c in calls] == [500, 204]
    sent = calls[-1]["body"]
    assert sent["event"] == "handoff.created" and sent["handoff"]["priority"] == "urgent"
    assert "conversation" not in sent["handoff"]


def test_agents_claim_and_resolve_handoffs(api: Api) -> None:
    handoff_id = ask(api, STOLEN_QUESTION).json()["handoff"]["id"]
    claim = api.client.post(f"/v1/handoffs/{handoff_id}/claim", headers=api.auth("agent"))
    assert claim.status_code == 200
    assert claim.json()["status"] == "claimed" and claim.json()["claimed_by"] == "agent-test"
    again = api.client.post(f"/v1/handoffs/{handoff_id}/claim", headers=api.auth("admin"))
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"
    reply = "已为您标记风险地址，请尽快转移剩余资产。"
    resolved = api.client.post(
        f"/v1/handoffs/{handoff_id}/resolve", json={"final_reply": reply}, headers=api.auth("agent")
    )
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved" and resolved.json()["final_reply"] == reply
    twice = api.client.post(
        f"/v1/handoffs/{handoff_id}/resolve", json={"final_reply": reply}, headers=api.auth("agent")
    )
    assert twice.status_code == 409
    empty = api.client.post(f"/v1/handoffs/{handoff_id}/resolve", json={"final_reply": ""}, headers=api.auth("agent"))
    assert empty.status_code == 422 and error_of(empty)["detail"]["field"] == "final_reply"
    for path in ("claim", "resolve"):
        missing = api.client.post(f"/v1/handoffs/nope/{path}", json={"final_reply": "x"}, headers=api.auth("agent"))
        assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_the_handoff_queue_filters_and_pages(api: Api) -> None:
    for _ in range(3):
        ask(api, STOLEN_QUESTION)
    page = api.client.get("/v1/handoffs", params={"status": "open", "limit": 2}, headers=api.auth("agent")).json()
    assert len(page["items"]) == 2 and page["total"] >= 3 and page["limit"] == 2 and page["offset"] == 0
    assert all(h["status"] == "open" for h in page["items"])
    item = page["items"][0]
    assert item["conversation"][-1]["role"] == "user" and item["suggested_reply"] and item["summary"]
    rest = api.client.get(
        "/v1/handoffs", params={"status": "open", "limit": 2, "offset": 2}, headers=api.auth("agent")
    ).json()
    assert {h["id"] for h in rest["items"]}.isdisjoint(h["id"] for h in page["items"])
    several = api.client.get(
        "/v1/handoffs?status=open&status=claimed&priority=urgent&order=newest", headers=api.auth("admin")
    ).json()
    assert several["items"] and all(h["priority"] == "urgent" for h in several["items"])
    none = api.client.get("/v1/handoffs", params={"priority": "low"}, headers=api.auth("agent")).json()
    assert none == {"items": [], "total": 0, "limit": 50, "offset": 0}
    bad = api.client.get("/v1/handoffs", params={"status": "lost"}, headers=api.auth("agent"))
    assert bad.status_code == 422 and error_of(bad)["code"] == "validation_error"
    too_long = api.client.get("/v1/handoffs", params={"limit": 500}, headers=api.auth("agent"))
    assert too_long.status_code == 422


# --- suggest, search, feedback ------------------------------------------------------------------


def test_suggest_gives_a_reply_similar_tickets_and_triage(api: Api) -> None:
    response = api.client.post("/v1/suggest", json=TICKET, headers=api.auth("agent"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"] and body["action"] in ("answer", "handoff") and body["reason"]
    assert body["priority"] in ("urgent", "high", "normal", "low") and body["sentiment"] and body["category"]
    assert 0 <= body["confidence"] <= 1 and body["answer_id"] and body["conversation_id"]
    tickets = body["similar_tickets"]
    assert 1 <= len(tickets) <= 3
    for ticket in tickets:
        assert ticket["id"].startswith("tickets/") and ticket["subject"] and ticket["resolution"]
        assert 0 < ticket["similarity"] <= 1
    assert api.store.get_answer(body["answer_id"]).mode == "suggest"


@pytest.mark.parametrize(
    ("ticket", "field"),
    [
        ({"subject": "x", "conversation": []}, "conversation"),
        ({"conversation": [{"role": "agent", "text": "您好"}]}, "conversation"),
        ({"conversation": [{"role": "boss", "text": "hi"}]}, "conversation[0].role"),
        ({"conversation": [{"role": "user"}]}, "conversation[0].text"),
    ],
)
def test_suggest_rejects_tickets_without_a_customer_message(api: Api, ticket: dict[str, Any], field: str) -> None:
    response = api.client.post("/v1/suggest", json=ticket, headers=api.auth("agent"))
    assert response.status_code == 422
    assert error_of(response)["detail"]["field"] == field


def test_search_ranks_documents_and_filters(api: Api) -> None:
    body = api.client.post("/v1/search", json={"query": "转账 打包中", "k": 3}, headers=api.auth("agent")).json()
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3]
    assert body["hits"][0]["source"] == GROUNDED_SOURCE and body["hits"][0]["snippet"]
    assert body["index"] == "harbor" and body["index_version"] and body["took_ms"] >= 0
    english = api.client.post(
        "/v1/search", json={"query": "pending transfer", "lang": "en"}, headers=api.auth("agent")
    ).json()
    assert english["hits"] and all(h["lang"] == "en" for h in english["hits"])
    tickets = api.client.post(
        "/v1/search", json={"query": "转账没到", "kind": "ticket", "k": 4}, headers=api.auth("admin")
    ).json()
    assert len(tickets["hits"]) == 4 and all(h["kind"] == "ticket" for h in tickets["hits"])
    fees = api.client.post("/v1/search", json={"query": "矿工费", "category": "fees"}, headers=api.auth("agent")).json()
    assert fees["hits"] and all(h["category"] == "fees" for h in fees["hits"])
    for bad, field in [
        ({"query": "x", "k": 0}, "k"),
        ({"query": ""}, "query"),
        ({"query": "x", "kind": "faq"}, "kind"),
    ]:
        response = api.client.post("/v1/search", json=bad, headers=api.auth("agent"))
        assert response.status_code == 422 and error_of(response)["detail"]["field"] == field


def test_feedback_on_answers_and_suggestions(api: Api) -> None:
    answer_id = ask(api).json()["answer_id"]
    suggestion = api.client.post("/v1/suggest", json=TICKET, headers=api.auth("agent")).json()

    def feedback(role: str, **body: Any) -> Any:
        return api.client.post("/v1/feedback", json=body, headers=api.auth(role))

    voted = feedback("app", answer_id=answer_id, kind="helpful", comment="thanks")
    assert voted.status_code == 201
    assert voted.json()["kind"] == "helpful" and voted.json()["answer_id"] == answer_id
    assert api.store.list_feedback(answer_id)[0].api_key_id is not None
    # Agents' actions on a suggestion: an app key finds no such answer (it is not in one of
    # its own conversations); "edited" needs the text sent.
    refused = feedback("app", answer_id=suggestion["answer_id"], kind="helpful")
    assert refused.status_code == 404 and error_of(refused)["code"] == "not_found"
    no_text = feedback("agent", answer_id=suggestion["answer_id"], kind="edited")
    assert no_text.status_code == 422 and error_of(no_text)["detail"]["field"] == "final_text"
    sent = "您好，TRC20 转账已成功上链，请联系交易所查询入账。"
    edited = feedback("agent", answer_id=suggestion["answer_id"], kind="edited", final_text=sent)
    assert edited.status_code == 201
    history = api.store.conversation_history(suggestion["conversation_id"])
    assert history[-1].role == "assistant" and history[-1].text == sent
    not_a_suggestion = feedback("agent", answer_id=answer_id, kind="sent_as_is")
    assert not_a_suggestion.status_code == 422 and error_of(not_a_suggestion)["detail"]["field"] == "kind"
    stray_text = feedback("agent", answer_id=suggestion["answer_id"], kind="discarded", final_text="x")
    assert stray_text.status_code == 422
    unknown = feedback("agent", answer_id="no-such-answer", kind="helpful")
    assert unknown.status_code == 404
    bad_kind = feedback("agent", answer_id=answer_id, kind="love")
    assert bad_kind.status_code == 422 and error_of(bad_kind)["detail"]["field"] == "kind"


# --- auth ----------------------------------------------------------------------------------------

ROLE_CASES = [
    ("POST", "/v1/ask", {"question": GROUNDED_QUESTION}, {"app": 200, "agent": 200, "admin": 200}),
    ("POST", "/v1/suggest", TICKET, {"app": 403, "agent": 200, "admin": 200}),
    ("POST", "/v1/search", {"query": "助记词"}, {"app": 403, "agent": 200, "admin": 200}),
    ("GET", "/v1/handoffs", None, {"app": 403, "agent": 200, "admin": 200}),
    ("POST", "/v1/handoffs/none/claim", None, {"app": 403, "agent": 404, "admin": 404}),
    ("POST", "/v1/handoffs/none/resolve", {"final_reply": "x"}, {"app": 403, "agent": 404, "admin": 404}),
    ("GET", "/v1/handoffs/none", None, {"app": 403, "agent": 404, "admin": 404}),
    ("POST", "/v1/handoffs/none/messages", {"text": "x"}, {"app": 403, "agent": 404, "admin": 404}),
    ("GET", "/v1/conversations/none/messages", None, {"app": 404, "agent": 404, "admin": 404}),
    ("GET", "/v1/me", None, {"app": 200, "agent": 200, "admin": 200}),
    # Admin runs of reindex are tested on a copy of the index (test_api_lifecycle).
    ("POST", "/v1/admin/reindex", None, {"app": 403, "agent": 403}),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), ROLE_CASES, ids=[c[1] for c in ROLE_CASES])
def test_each_endpoint_checks_its_role(api: Api, method: str, path: str, body: Any, expected: dict[str, int]) -> None:
    for role, status in expected.items():
        response = api.client.request(method, path, json=body, headers=api.auth(role))
        assert response.status_code == status, (role, response.text)
        if status == 403:
            assert error_of(response)["code"] == "forbidden"
            assert role in error_of(response)["message"]
        anonymous = api.client.request(method, path, json=body)
        assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "unauthorized"


def test_unknown_malformed_and_revoked_keys_are_refused(api: Api) -> None:
    key, record = create_key(api.store, "agent", "soon-revoked")
    assert api.client.get("/v1/handoffs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    api.store.revoke_api_key(record.id)
    for header in (f"Bearer {key}", "Bearer kefu_agent_not-a-real-key", "Basic dXNlcjpwYXNz", key, ""):
        response = api.client.get("/v1/handoffs", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert error_of(response)["code"] == "unauthorized"


def test_open_access_serves_callers_without_a_key_but_checks_keys_it_is_given(api: Api) -> None:
    api.runtime.open_access = True
    try:
        assert api.client.get("/v1/handoffs").status_code == 200
        assert api.client.post("/v1/search", json={"query": "助记词"}).status_code == 200
        bad = api.client.get("/v1/handoffs", headers={"Authorization": "Bearer kefu_admin_wrong"})
        assert bad.status_code == 401
        assert api.client.get("/v1/handoffs", headers=api.auth("app")).status_code == 403
    finally:
        api.runtime.open_access = False
    assert api.client.get("/v1/handoffs").status_code == 401


def test_each_key_has_a_rate_limit(api: Api) -> None:
    limiter = api.runtime.limiter
    # On PostgreSQL the buckets are in the database, shared by replicas.
    shared = not api.store.url.startswith("sqlite")
    api.runtime.limiter = SharedRateLimiter(api.store, 6, 2) if shared else RateLimiter(per_minute=6, burst=2)
    try:
        statuses = [api.client.get("/v1/handoffs", headers=api.auth("agent")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = api.client.get("/v1/handoffs", headers=api.auth("agent"))
        assert limited.status_code == 429 and error_of(limited)["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 10
        # Another key has its own bucket.
        assert api.client.get("/v1/handoffs", headers=api.auth("admin")).status_code == 200
    finally:
        api.runtime.limiter = limiter


# --- limits and errors ---------------------------------------------------------------------------


def test_request_limits(api: Api) -> None:
    big = api.client.post(
        "/v1/ask",
        content=json.dumps({"question": "x" * 20_000}).encode(),
        headers={**api.auth("app"), "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and error_of(big)["code"] == "too_large"
    # Within the body limit but over KEFU_MAX_QUESTION_CHARS (500 here).
    long = ask(api, "转账" * 300)
    assert long.status_code == 422
    assert error_of(long)["detail"] == {"field": "question"} and "500" in error_of(long)["message"]
    blank = ask(api, "   ")
    assert blank.status_code == 422 and error_of(blank)["detail"]["field"] == "question"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "question"),
        ({"question": 5}, "question"),
        ({"question": ""}, "question"),
        ({"question": "hi", "lang": "fr"}, "lang"),
        ({"question": "hi", "channel": "Bad Channel!"}, "channel"),
        ({"question": "hi", "user_id": ""}, "user_id"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = api.client.post("/v1/ask", json=body, headers=api.auth("app"))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_error" and error["detail"]["field"] == field and field in error["message"]


def test_malformed_requests_and_unknown_routes_have_the_error_shape(api: Api) -> None:
    broken = api.client.post(
        "/v1/ask", content=b"{not json", headers={**api.auth("app"), "Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and error_of(broken)["code"] == "bad_request"
    not_object = api.client.post("/v1/ask", json=["a list"], headers=api.auth("app"))
    assert not_object.status_code == 422
    missing = api.client.get("/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert missing.headers["X-Request-ID"]
    wrong_method = api.client.get("/v1/ask", headers=api.auth("app"))
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == "method_not_allowed"


def test_an_unexpected_error_is_a_500_without_a_stack_trace(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"boom in /secret/path/store.py with {SEED}")

    monkeypatch.setattr(api.store, "list_handoffs", explode)
    with caplog.at_level(logging.ERROR, logger="kefu.api"):
        response = api.client.get("/v1/handoffs", headers={**api.auth("agent"), "X-Request-ID": "req-500"})
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error" and error["detail"] == {"request_id": "req-500"}
    for leak in ("Traceback", "boom", "/secret/path", "RuntimeError", SEED.split()[0] + " " + SEED.split()[1]):
        assert leak not in response.text
    # The traceback is in the server's log, with the secret redacted.
    lines = [JsonFormatter().format(r) for r in caplog.records]
    logged = [json.loads(line) for line in lines if "unhandled error" in line]
    assert logged and "RuntimeError" in logged[0]["exc"] and logged[0]["request_id"] == "req-500"
    assert SEED not in "\n".join(lines)


# --- logs, request ids, redaction ------------------------------------------------------------


def test_request_ids_are_echoed_or_made(api: Api) -> None:
    mine = api.client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["X-Request-ID"] == "abc-123"
    made = api.client.get("/health", headers={"X-Request-ID": "bad id with spaces\n"})
    assert made.headers["X-Request-ID"] != "bad id with spaces" and len(made.headers["X-Request-ID"]) == 32
    assert ask(api, STOLEN_QUESTION).headers["X-Request-ID"]


def test_secrets_never_reach_the_store_or_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    question = f"我的助记词是 {SEED} 帮我看看钱包"
    with caplog.at_level(logging.DEBUG):
        response = api.client.post(
            "/v1/ask", json={"question": question}, headers={**api.auth("app"), "X-Request-ID": "req-seed"}
        )
    body = response.json()
    assert body["action"] == "handoff" and body["reason"] == "secret_shared"
    stored = api.store.get_answer(body["answer_id"])
    assert SEED not in stored.question and SEED.split()[3] not in stored.question
    handoff = api.store.get_handoff(body["handoff"]["id"])
    assert SEED not in json.dumps(handoff.payload, ensure_ascii=False)
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert SEED not in "\n".join(lines)
    access = [json.loads(line) for line in lines if '"kefu.access"' in line]
    assert access and access[-1]["request_id"] == "req-seed" and access[-1]["route"] == "/v1/ask"
    assert access[-1]["status"] == 200 and "question" not in access[-1]


def test_json_log_lines_carry_the_request_id_and_redact() -> None:
    record = logging.LogRecord("kefu.api", logging.WARNING, __file__, 1, "seed: %s", (SEED,), None)
    record.request_id = "rid-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "rid-1" and line["level"] == "WARNING" and SEED not in line["msg"]


# --- metrics and CORS ------------------------------------------------------------------------------


def test_metrics_count_requests_answers_handoffs_llm_time_and_the_index(api: Api) -> None:
    ask(api)
    ask(api, STOLEN_QUESTION)
    # The handoff's webhook is delivered in the background, on its second try (the sink
    # fails the first): wait for it rather than race it.
    delivered = 'kefu_webhook_deliveries_total{outcome="delivered"}'
    end = time.monotonic() + 15
    while delivered not in (text := api.client.get("/metrics").text) and time.monotonic() < end:
        time.sleep(0.05)
    version = api.client.get("/ready").json()["index_version"]
    assert 'kefu_http_requests_total{method="POST",route="/v1/ask",status="200"}' in text
    assert 'kefu_http_request_duration_seconds_count{method="POST",route="/v1/ask"}' in text
    assert 'kefu_answers_total{action="answer",mode="answer",reason="grounded"}' in text
    assert 'kefu_handoffs_total{priority="urgent",reason="stolen_funds"}' in text
    assert 'kefu_llm_generation_seconds_count{backend="ollama"}' in text
    assert f'kefu_index_info{{name="harbor",version="{version}"}} 1.0' in text
    assert "kefu_index_documents 295.0" in text
    rate = next(line for line in text.splitlines() if line.startswith("kefu_handoff_rate "))
    assert 0 < float(rate.split()[1]) < 1
    assert delivered in text
    assert "kefu_llm_queue_waiting 0.0" in text
    assert "_created" not in text


def test_cors_allows_the_configured_origins_only(api: Api) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = api.client.options("/v1/ask", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    other = api.client.options("/v1/ask", headers={"Origin": "https://evil.example", **preflight})
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"
    simple = api.client.get("/health", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Request-ID" in simple.headers["access-control-expose-headers"]


# --- the default answer style --------------------------------------------------------------------


def test_the_default_style_quotes_the_help_center_streams_it_and_stores_it(
    tmp_path_factory,
    harbor_data_dir,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    settings = api_settings(harbor_data_dir, tmp_path_factory.mktemp("quote") / "kefu.db", answer_style="quote")
    llm = FakeOllama({}).start()
    store = Store.from_settings(settings)
    client, keys = start_api(build_app(settings, llm, embedder, store=store), store)
    try:
        response = client.post(
            "/v1/ask",
            json={"question": GROUNDED_QUESTION},
            headers={"Authorization": f"Bearer {keys['app']}", "Accept": "text/event-stream"},
        )
        assert response.status_code == 200, response.text
        events = sse_events(response.text)
        final = events[-1][1]
        assert final["action"] == "answer" and final["mode"] == "quoted" and final["reason"] == "grounded"
        assert "".join(data["text"] for name, data in events[:-1]).strip() == final["answer"]
        assert GROUNDED_SOURCE in [c["source"] for c in final["citations"]]
        for c in final["citations"]:
            assert f"[{c['n']}]" in final["answer"]
        # The sentences came from the index: the LLM was never asked.
        assert llm.requests == []
        stored = store.get_answer(final["answer_id"])
        assert stored.answer == final["answer"]
        assert [c["source"] for c in stored.citations] == [c["source"] for c in final["citations"]]
    finally:
        client.__exit__(None, None, None)
        store.close()
        llm.stop()
