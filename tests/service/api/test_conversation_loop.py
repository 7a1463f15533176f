"""The conversation loop through the API: a handoff takes the conversation from the bot,
the user's later messages go to the agent, the agent's replies come back to the user
(also by long-poll), resolving gives the conversation back to the bot, and each step is
announced through the webhook outbox. Plus the pages kefu serves and origin-limited keys.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from service.api.openapi import favicon_url
from service.handoff import SummaryParts, summary_line
from service.keys import create_key
from service.retriever import CONTENDER_SHARE
from service.store.models import Handoff as HandoffRow
from tests.service.api.conftest import (
    GROUNDED_QUESTION,
    Api,
    WebhookSink,
    sse_events,
    webhook_api,
)

pytestmark = pytest.mark.slow

USER = "w-5b1f0c"
HUMAN = "我要转人工"


@pytest.fixture(scope="module")
def api(tmp_path_factory, harbor_data_dir, embedder, llm_server, sink) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("loop")
    with webhook_api(harbor_data_dir, tmp / "kefu.db", llm_server, embedder, sink) as api:
        yield api


def ask(api: Api, question: str, conversation_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"question": question, "user_id": USER, **extra}
    if conversation_id:
        body["conversation_id"] = conversation_id
    response = api.client.post("/v1/ask", json=body, headers=api.auth("app"))
    assert response.status_code == 200, response.text
    return response.json()


def messages(api: Api, conversation_id: str, role: str = "app", **params: Any) -> Any:
    return api.client.get(
        f"/v1/conversations/{conversation_id}/messages", params={"user_id": USER, **params}, headers=api.auth(role)
    )


def handed_off(api: Api) -> tuple[str, str]:
    first = ask(api, HUMAN)
    assert first["action"] == "handoff" and first["reason"] == "human_requested", first
    return first["conversation_id"], first["handoff"]["id"]


def test_while_handed_off_the_bot_is_silent_and_the_users_messages_reach_the_one_handoff(api: Api) -> None:
    conversation, handoff = handed_off(api)
    later = ask(api, "转账一直没到账，订单号 8841", conversation)
    assert later["action"] == "handoff" and later["reason"] == "handed_off" and later["answer_id"] is None
    assert later["handoff"]["id"] == handoff and "人工客服" in later["answer"]
    # Even a question the bot could answer, and one that would open a handoff of its own.
    assert ask(api, GROUNDED_QUESTION, conversation)["handoff"]["id"] == handoff
    assert ask(api, "还是转人工吧", conversation)["handoff"]["id"] == handoff
    streamed = api.client.post(
        "/v1/ask",
        json={"question": "在吗？", "conversation_id": conversation, "user_id": USER},
        headers={**api.auth("app"), "Accept": "text/event-stream"},
    )
    events = sse_events(streamed.text)
    assert [name for name, _ in events] == ["token", "final"]
    assert events[-1][1]["reason"] == "handed_off" and events[0][1]["text"] == events[-1][1]["answer"]
    listed = api.client.get("/v1/handoffs", params={"status": ["open", "claimed"]}, headers=api.auth("agent")).json()
    assert [h["id"] for h in listed["items"] if h["conversation_id"] == conversation] == [handoff]
    detail = api.client.get(f"/v1/handoffs/{handoff}", headers=api.auth("agent")).json()
    said = [(m["role"], m["text"]) for m in detail["messages"]]
    assert said[0] == ("user", HUMAN) and said[1][0] == "assistant"
    assert said[2:] == [
        ("user", "转账一直没到账，订单号 8841"),
        ("user", GROUNDED_QUESTION),
        ("user", "还是转人工吧"),
        ("user", "在吗？"),
    ]
    # The first message opened the handoff; the four after it wait for an agent.
    assert detail["waiting"] == 4 and next(h for h in listed["items"] if h["id"] == handoff)["waiting"] == 4


def test_an_agents_reply_reaches_the_user_and_resolving_gives_the_conversation_back(api: Api) -> None:
    conversation, handoff = handed_off(api)
    ask(api, "我的钱包被盗了吗", conversation)
    reply = api.client.post(
        f"/v1/handoffs/{handoff}/messages", json={"text": "您好，我是客服小王，正在查看。"}, headers=api.auth("agent")
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["role"] == "agent" and reply.json()["author"] == "agent-test"
    page = messages(api, conversation).json()
    assert page["handoff"] == {
        "id": handoff,
        "status": "claimed",
        "reason": "human_requested",
        "priority": "normal",
        "category": page["handoff"]["category"],
        "claimed_by": "agent-test",
    }
    assert [m["role"] for m in page["messages"]] == ["user", "assistant", "user", "agent"]
    assert api.client.get(f"/v1/handoffs/{handoff}", headers=api.auth("agent")).json()["waiting"] == 0
    last = page["messages"][-1]["id"]
    final = "已确认您的资产安全，如有疑问请随时联系。"
    resolved = api.client.post(
        f"/v1/handoffs/{handoff}/resolve", json={"final_reply": final}, headers=api.auth("agent")
    )
    assert resolved.status_code == 200
    after = messages(api, conversation, after=last).json()
    assert [(m["role"], m["text"]) for m in after["messages"]] == [("agent", final)]
    assert after["handoff"]["status"] == "resolved"
    # The bot answers again, with citations and an answer to give feedback on.
    again = ask(api, GROUNDED_QUESTION, conversation)
    assert again["action"] == "answer" and again["answer_id"] and again["citations"]
    newest = messages(api, conversation, after=after["messages"][-1]["id"]).json()["messages"]
    assert [m["role"] for m in newest] == ["user", "assistant"]
    assert newest[1]["answer_id"] == again["answer_id"] and newest[1]["citations"][0]["source"]
    too_late = api.client.post(f"/v1/handoffs/{handoff}/messages", json={"text": "x"}, headers=api.auth("agent"))
    assert too_late.status_code == 409


def _poll_while_an_agent(api: Api, act: str, body: dict[str, str] | None = None) -> tuple[str, dict[str, Any], float]:
    """A long-poll of a handed-off conversation's new messages while an agent ``act``s on its
    handoff 0.6 s later: the conversation, the page the poll answers with, and how long it waited."""
    conversation, handoff = handed_off(api)
    last = messages(api, conversation).json()["messages"][-1]["id"]

    def act_soon() -> None:
        time.sleep(0.6)
        api.client.post(f"/v1/handoffs/{handoff}/{act}", json=body, headers=api.auth("agent"))

    thread = threading.Thread(target=act_soon)
    began = time.monotonic()
    thread.start()
    page = messages(api, conversation, after=last, wait=20).json()
    waited = time.monotonic() - began
    thread.join()
    return conversation, page, waited


def test_a_long_poll_answers_as_soon_as_the_agent_replies(api: Api) -> None:
    conversation, page, waited = _poll_while_an_agent(api, "messages", {"text": "马上为您处理"})
    assert [m["text"] for m in page["messages"]] == ["马上为您处理"]
    assert 0.5 < waited < 5, waited
    began = time.monotonic()
    nothing = messages(api, conversation, after=page["messages"][-1]["id"], wait=1).json()
    assert nothing["messages"] == [] and 0.9 < time.monotonic() - began < 4


def test_a_long_poll_answers_as_soon_as_an_agent_claims_the_handoff(api: Api) -> None:
    _, page, waited = _poll_while_an_agent(api, "claim")
    assert page["messages"] == [] and page["handoff"]["status"] == "claimed"
    assert page["handoff"]["claimed_by"] == "agent-test"
    assert 0.5 < waited < 5, waited


def test_only_the_owner_reads_a_conversation(api: Api) -> None:
    conversation, _ = handed_off(api)
    assert messages(api, conversation).status_code == 200
    other = api.client.get(
        f"/v1/conversations/{conversation}/messages", params={"user_id": "someone"}, headers=api.auth("app")
    )
    anonymous_user = api.client.get(f"/v1/conversations/{conversation}/messages", headers=api.auth("app"))
    assert other.status_code == 404 and anonymous_user.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    # Agents read any conversation; nobody reads one without a key.
    assert api.client.get(f"/v1/conversations/{conversation}/messages", headers=api.auth("agent")).status_code == 200
    assert api.client.get(f"/v1/conversations/{conversation}/messages").status_code == 401
    assert messages(api, "no-such-conversation").status_code == 404
    # Nor can another user write into it.
    stranger = api.client.post(
        "/v1/ask",
        json={"question": "在吗", "conversation_id": conversation, "user_id": "someone"},
        headers=api.auth("app"),
    )
    assert stranger.status_code == 404


def test_the_conversation_shows_the_users_rating_once_given(api: Api) -> None:
    conversation, handoff = handed_off(api)
    final = "已为您处理好。"
    resolved = api.client.post(
        f"/v1/handoffs/{handoff}/resolve", json={"final_reply": final}, headers=api.auth("agent")
    )
    assert resolved.status_code == 200, resolved.text
    assert messages(api, conversation).json()["csat"] is None
    url = f"/v1/conversations/{conversation}/csat"
    rated = api.client.post(url, json={"score": 3, "comment": "等了一会儿", "user_id": USER}, headers=api.auth("app"))
    assert rated.status_code == 201, rated.text
    # What a reload reads: the rating as it was answered when given, on every page of messages.
    page = messages(api, conversation).json()
    assert page["csat"] == rated.json() and page["handoff"]["status"] == "resolved"
    last = page["messages"][-1]["id"]
    assert messages(api, conversation, after=last).json()["csat"] == rated.json()
    assert (
        api.client.get(f"/v1/conversations/{conversation}/messages", headers=api.auth("agent")).json()["csat"]
        == rated.json()
    )
    # One rating per conversation: a second is refused and the first one stays.
    again = api.client.post(url, json={"score": 5, "user_id": USER}, headers=api.auth("app"))
    assert again.status_code == 409
    assert messages(api, conversation).json()["csat"] == rated.json()
    other = api.client.get(url.replace("/csat", "/messages"), params={"user_id": "someone"}, headers=api.auth("app"))
    assert other.status_code == 404


def test_a_handoff_carries_the_parts_its_summary_is_written_from(api: Api) -> None:
    answered = ask(api, GROUNDED_QUESTION)
    assert answered["action"] == "answer", answered
    for question, conversation in ((HUMAN, answered["conversation_id"]), ("I want to talk to a human", None)):
        handed = ask(api, question, conversation)
        assert handed["action"] == "handoff", handed
        detail = api.client.get(f"/v1/handoffs/{handed['handoff']['id']}", headers=api.auth("agent")).json()
        parts = detail["summary_parts"]
        assert (parts["reason"], parts["sentiment"]) == (detail["reason"], detail["sentiment"])
        assert parts["question"] == question and parts["turns"] == (2 if conversation else 1)
        evidence = detail["evidence"]
        near = [e["title"] for e in evidence[:3] if e["score"] >= CONTENDER_SHARE * evidence[0]["score"]]
        assert parts["titles"] == near and near
        # The stored summary is those parts in the user's language, the codes as they are.
        assert detail["summary"] == summary_line(SummaryParts(**parts), detail["lang"])
        listed = api.client.get("/v1/handoffs", params={"order": "newest"}, headers=api.auth("agent")).json()
        assert next(h for h in listed["items"] if h["id"] == detail["id"])["summary_parts"] == parts
    assert detail["lang"] == "en"

    # A handoff stored before the parts were kept: its summary alone.
    with api.store.engine.begin() as db:
        payload = dict(db.scalar(select(HandoffRow.payload).where(HandoffRow.id == detail["id"])))
        del payload["summary_parts"]
        db.execute(update(HandoffRow).where(HandoffRow.id == detail["id"]).values(payload=payload))
    old = api.client.get(f"/v1/handoffs/{detail['id']}", headers=api.auth("agent")).json()
    assert old["summary_parts"] is None and old["summary"] == detail["summary"]


def test_each_step_is_announced_to_the_webhook(api: Api, sink: WebhookSink) -> None:
    conversation, handoff = handed_off(api)
    ask(api, "订单号 8841", conversation)
    api.client.post(f"/v1/handoffs/{handoff}/claim", headers=api.auth("agent"))
    api.client.post(f"/v1/handoffs/{handoff}/messages", json={"text": "请稍等"}, headers=api.auth("agent"))
    api.client.post(f"/v1/handoffs/{handoff}/resolve", json={"final_reply": "已处理"}, headers=api.auth("agent"))
    expected = ["handoff.created", "message.created", "handoff.claimed", "message.created", "message.created"]
    expected.append("handoff.resolved")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        deliveries = api.store.deliveries_for(handoff)
        if len(deliveries) == len(expected) and all(d.status == "delivered" for d in deliveries):
            break
        time.sleep(0.05)
    assert [d.event for d in api.store.deliveries_for(handoff)] == expected
    assert all(d.status == "delivered" for d in api.store.deliveries_for(handoff))
    accepted = [c["body"] for c in sink.for_handoff(handoff) if c["status"] == 204]
    assert sorted(b["event"] for b in accepted) == sorted(expected)
    sent = {b["message"]["text"]: b for b in accepted if b["event"] == "message.created"}
    assert set(sent) == {"订单号 8841", "请稍等", "已处理"}
    assert sent["订单号 8841"]["message"]["role"] == "user" and sent["请稍等"]["message"]["author"] == "agent-test"
    resolved = next(b for b in accepted if b["event"] == "handoff.resolved")
    assert resolved["handoff"]["status"] == "resolved" and "resolved" in resolved["text"]


def test_a_key_limited_to_origins_is_refused_elsewhere_and_its_chat_framed_only_there(api: Api) -> None:
    key, _ = create_key(api.store, "app", "shop", allowed_origins=["https://wallet.example"])
    body = {"question": GROUNDED_QUESTION}
    auth = {"Authorization": f"Bearer {key}"}
    assert (
        api.client.post("/v1/ask", json=body, headers={**auth, "Origin": "https://wallet.example"}).status_code == 200
    )
    assert api.client.post("/v1/ask", json=body, headers=auth).status_code == 200  # a server, no Origin
    elsewhere = api.client.post("/v1/ask", json=body, headers={**auth, "Origin": "https://phish.example"})
    assert elsewhere.status_code == 403 and "https://phish.example" in elsewhere.json()["error"]["message"]
    frame = api.client.get("/widget/frame", params={"key": key})
    assert frame.headers["content-security-policy"] == "frame-ancestors 'self' https://wallet.example"
    anywhere = api.client.get("/widget/frame", params={"key": api.keys["app"]})
    assert anywhere.headers["content-security-policy"] == "frame-ancestors *"
    with pytest.raises(Exception, match="not an origin"):
        create_key(api.store, "app", "bad", allowed_origins=["wallet.example/path"])


def test_the_pages_are_served_with_their_assets(api: Api) -> None:
    assert api.client.get("/", follow_redirects=False).headers["location"] == "/demo"
    for path, kind, marker in [
        ("/console", "text/html", "/static/console.js"),
        ("/demo", "text/html", "/widget.js"),
        ("/widget/frame", "text/html", "/static/widget-app.js"),
        ("/widget.js", "text/javascript", "kefu-launcher"),
        ("/static/console.js", "text/javascript", "chatwoot-dashboard-app:fetch-info"),
        ("/static/widget.css", "text/css", ".thread"),
    ]:
        response = api.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(kind) and marker in response.text, path
    assert "max-age=300" in api.client.get("/static/widget-app.js").headers["cache-control"]
    assert api.client.get("/static/nope.js").status_code == 404
    schema = api.client.get("/schema/openapi.json").json()
    assert "/v1/conversations/{conversation_id}/messages" in schema["paths"] and "/console" not in schema["paths"]

    # The API docs page loads Swagger UI from the app itself, no CDN.
    docs = api.client.get("/schema").text
    assert "/schema/assets/swagger-ui-bundle.js" in docs and "/schema/assets/swagger-ui.css" in docs
    assert "cdn." not in docs and "unpkg" not in docs and "fonts.googleapis" not in docs
    for name, kind in [("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")]:
        response = api.client.get(f"/schema/assets/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind), name
    assert "SwaggerUIBundle" in api.client.get("/schema/assets/swagger-ui-bundle.js").text
    assert api.client.get("/schema/assets/index.html").status_code == 404
    assert api.client.get("/schema/redoc").status_code == 404

    # kefu's icon, inline in each page (no request, no 404 in the console) and at /favicon.ico.
    icon = f'<link rel="icon" href="{favicon_url()}">'
    for path in ("/console", "/console/learning", "/console/report", "/demo", "/schema"):
        assert icon in api.client.get(path).text, path
    served_icon = api.client.get("/favicon.ico")
    assert served_icon.status_code == 200 and served_icon.headers["content-type"].startswith("image/svg+xml")
