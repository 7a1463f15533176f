"""The widget and the console as people use them, in a real headless Chromium.

A wallet user asks in the widget on /demo and gets a streamed, cited answer; asks for a
human; writes again; an agent signs in to /console, sees the handoff with that later
message, claims it, edits kefu's suggested reply and sends it; the widget shows the
agent's reply; after the handoff is resolved the bot answers again, and a reload keeps
the whole thread. The console also runs as a Chatwoot Dashboard App, under a page that
plays Chatwoot's parent frame.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from service.analytics_html import REASONS, TEXTS
from service.keys import create_key
from service.store.models import Handoff as HandoffRow
from tests.browser.conftest import Served

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WEB = Path(__file__).resolve().parents[2] / "service" / "web"
#: Answered by quoting help/zh/transfers/pending-transfer.md (no LLM involved).
QUOTED = "我的转账一直在打包中怎么办？"
LATER = "订单号 8841，已经等了两个小时"
EDIT = "\n如还有问题，请随时联系我们。"


def widget_page(browser: Any, served: Served, locale: str = "zh-CN") -> Page:
    context = browser.new_context(locale=locale, viewport={"width": 1100, "height": 760})
    page: Page = context.new_page()
    page.goto(f"{served.url}/demo?key={served.keys['app']}")
    return page


def ask_in_widget(page: Page, question: str) -> None:
    chat = page.frame_locator("#kefu-frame")
    chat.get_by_role("textbox").fill(question)
    chat.get_by_role("textbox").press("Enter")


def test_a_user_and_an_agent_talk_through_the_widget_and_the_console(browser: Any, served: Served, shots: Path) -> None:
    page = widget_page(browser, served)
    launcher = page.get_by_role("button", name="打开在线客服")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    expect(page.get_by_role("button", name="关闭在线客服")).to_have_attribute("aria-expanded", "true")
    chat = page.frame_locator("#kefu-frame")
    expect(chat.get_by_role("log")).to_be_visible()

    # A streamed, cited answer, with votes.
    with page.expect_response(lambda r: r.url.endswith("/v1/ask")) as asked:
        ask_in_widget(page, QUOTED)
    assert asked.value.headers["content-type"].startswith("text/event-stream")
    answer = chat.locator(".msg.assistant").last
    link = answer.locator(".text a").first
    expect(link).to_have_attribute("href", re.compile(r"^https://help\.harborwallet\.example/"))
    expect(answer.locator(".sources li")).not_to_have_count(0)
    body = _final(asked.value.text())
    assert body["action"] == "answer" and body["mode"] == "quoted"
    assert answer.locator(".text").inner_text() == body["answer"]
    answer.get_by_role("button", name="有帮助").click()
    expect(answer.get_by_role("button", name="有帮助")).to_have_attribute("aria-pressed", "true")
    assert [f.kind for f in served.store.list_feedback(body["answer_id"])] == ["helpful"]

    # A human, and a message while waiting for one.
    ask_in_widget(page, "我要转人工")
    expect(chat.get_by_role("status")).to_contain_text("已转人工客服")
    ask_in_widget(page, LATER)
    expect(chat.locator(".msg.notice").last).to_contain_text("已转给人工客服")
    page.screenshot(path=str(shots / "widget-handoff.png"))
    conversation = body["conversation_id"]
    [handoff] = [h for h in served.store.list_handoffs(status="open").items if h.conversation_id == conversation]

    # The agent: sign in, the queue, the conversation, kefu's suggestion.
    agent = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900}).new_page()
    agent.goto(f"{served.url}/console")
    agent.get_by_label("客服 API key").fill(served.keys["agent"])
    agent.get_by_role("button", name="登录").click()
    item = agent.locator(f'#queue li[data-id="{handoff.id}"]')
    expect(item).to_contain_text("要求人工")
    expect(item.locator(".badge.new")).to_have_text("1")
    item.click()
    expect(agent.locator("#messages")).to_contain_text(LATER)
    expect(agent.locator("#d-meta")).to_contain_text("优先级: 普通")
    expect(agent.locator("#s-meta")).not_to_be_empty(timeout=60_000)
    suggested = agent.locator("#reply").input_value()
    assert suggested.strip()
    expect(agent.locator("#similar li")).not_to_have_count(0)
    agent.get_by_role("button", name="认领").click()
    expect(agent.locator("#d-meta")).to_contain_text("agent-browser")
    agent.get_by_role("tab", name="我的").click()
    expect(agent.locator(f'#queue li[data-id="{handoff.id}"]')).to_contain_text("处理中")
    agent.locator("#reply").fill(suggested + EDIT)
    agent.screenshot(path=str(shots / "console.png"))
    agent.get_by_role("button", name="发送并结束").click()
    expect(agent.locator("#s-status")).to_contain_text("已发送并结束")

    # The user sees the agent's reply, then the bot answers again.
    reply = chat.locator(".msg.agent").last
    expect(reply).to_contain_text(EDIT.strip(), timeout=10_000)
    expect(reply.locator(".who")).to_contain_text("agent-browser")
    expect(chat.locator(".msg.user", has_text=LATER)).to_have_count(1)
    expect(chat.get_by_role("status")).to_contain_text("之后由助手回答")
    page.screenshot(path=str(shots / "widget-agent-reply.png"))
    resolved = served.store.get_handoff(handoff.id)
    assert resolved.status == "resolved" and resolved.final_reply == (suggested + EDIT).strip()
    kinds = {f.kind: f for a in _suggestions(served, conversation) for f in served.store.list_feedback(a)}
    assert "edited" in kinds and kinds["edited"].final_text == (suggested + EDIT).strip()
    ask_in_widget(page, "转账手续费是多少？")
    expect(chat.locator(".msg.assistant")).to_have_count(3)
    # The votes come when the whole answer has arrived: on a loaded CI machine that took over 5 s once.
    expect(chat.locator(".msg.assistant").last.locator(".votes button")).to_have_count(2, timeout=15_000)
    page.screenshot(path=str(shots / "widget.png"))

    # A reload keeps the open panel and the whole thread.
    page.reload()
    chat = page.frame_locator("#kefu-frame")
    expect(chat.locator(".msg")).to_have_count(8)
    expect(chat.locator(".msg.agent")).to_contain_text(EDIT.strip())
    assert [m.role for m in served.store.messages(conversation)] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "agent",
        "user",
        "assistant",
    ]
    page.context.close()
    agent.context.close()


def _final(sse: str) -> dict[str, Any]:
    """The body of a streamed answer's final event."""
    block = sse.replace("\r\n", "\n").split("event: final\n", 1)[1].split("\n\n", 1)[0]
    return json.loads("\n".join(line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")))


def _suggestions(served: Served, conversation_id: str) -> list[str]:
    """The suggestions the console asked for (each in a conversation of channel agent)."""
    from sqlalchemy import select

    from service.store.models import Answer

    with served.store.engine.connect() as db:
        return list(db.scalars(select(Answer.id).where(Answer.mode == "suggest")))


def test_the_widget_works_from_the_keyboard_and_in_english(browser: Any, served: Served) -> None:
    page = widget_page(browser, served, locale="en-US")
    launcher = page.get_by_role("button", name="Open support chat")
    for _ in range(6):  # past the page's own links: the launcher comes last
        page.keyboard.press("Tab")
        if launcher.evaluate("b => b === document.activeElement"):
            break
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")
    chat = page.frame_locator("#kefu-frame")
    expect(chat.get_by_role("textbox", name="Your question")).to_be_focused()
    page.keyboard.type(QUOTED)
    page.keyboard.press("Enter")
    expect(chat.locator(".msg.assistant .text a").first).to_be_visible()
    assert chat.get_by_role("log").get_attribute("aria-live") == "polite"
    chat.get_by_role("button", name="切换到中文").click()
    expect(chat.get_by_role("heading")).to_have_text("在线客服")
    page.keyboard.press("Escape")
    expect(page.locator("#kefu-frame")).to_be_hidden()
    expect(page.get_by_role("button", name="Open support chat")).to_be_focused()
    page.context.close()


@contextmanager
def serving(html: str) -> Iterator[str]:
    """``html`` on a loopback port of its own; yields the server's URL."""
    body = html.encode("utf-8")

    class Page(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


CHATWOOT_PARENT = """<!doctype html><html><body>
<h1>Chatwoot (test parent)</h1>
<iframe id="dashboard-app--frame-0-0" src="{console}" style="width:900px;height:800px"></iframe>
<script>
// What Chatwoot's DashboardApp/Frame.vue does: on the iframe's load and on each
// 'chatwoot-dashboard-app:fetch-info' it posts JSON.stringify({{event: 'appContext', data}}).
var context = {context};
var frame = document.getElementById("dashboard-app--frame-0-0");
window.requests = 0;
function send() {{ frame.contentWindow.postMessage(JSON.stringify({{event: "appContext", data: context}}), "*"); }}
frame.addEventListener("load", send);
window.onmessage = function (e) {{
  if (typeof e.data !== "string" || e.data !== "chatwoot-dashboard-app:fetch-info") return;
  window.requests += 1;
  send();
}};
</script></body></html>"""

CHATWOOT_CONTEXT = {
    "conversation": {
        "id": 4127,
        "inbox_id": 3,
        "status": "open",
        "meta": {"sender": {"id": 88, "name": "Li Wei", "email": "li@example.com"}, "channel": "Channel::WebWidget"},
        "messages": [
            {"id": 1, "content": "你好，我的USDT转账一直在打包中", "message_type": 0, "private": False},
            {"id": 2, "content": "Conversation was assigned to Alice", "message_type": 2, "private": False},
            {"id": 3, "content": "请问是哪条链？", "message_type": 1, "private": False},
            {"id": 4, "content": "内部备注：VIP 用户", "message_type": 1, "private": True},
            {"id": 5, "content": "TRC20，转账一直在打包中怎么办？", "message_type": 0, "private": False},
        ],
    },
    "contact": {"id": 88, "name": "Li Wei", "email": "li@example.com"},
    "currentAgent": {"id": 7, "name": "Alice", "email": "alice@example.com"},
}


def test_the_console_runs_as_a_chatwoot_dashboard_app(browser: Any, served: Served, shots: Path) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 860})
    page = context.new_page()
    parent = CHATWOOT_PARENT.format(console=f"{served.url}/console", context=json.dumps(CHATWOOT_CONTEXT))
    suggested: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: suggested.append(json.loads(r.post_data or "{}")) if r.url.endswith("/v1/suggest") else None,
    )
    # Chatwoot's page on an origin of its own (another port); a real server on loopback, since
    # Chromium does not let a page of no known address frame a loopback one.
    with serving(parent) as chatwoot:
        page.goto(chatwoot + "/app/accounts/1/conversations/4127")
        _check_chatwoot_mode(page, served, suggested, shots)
    context.close()


def _check_chatwoot_mode(page: Page, served: Served, suggested: list[dict[str, Any]], shots: Path) -> None:
    app = page.frame_locator("#dashboard-app--frame-0-0")
    app.get_by_label("客服 API key").fill(served.keys["agent"])
    app.get_by_role("button", name="登录").click()
    expect(app.locator("#cw-meta")).to_contain_text("#4127")
    expect(app.locator("#cw-meta")).to_contain_text("Li Wei")
    expect(app.locator("#cw-meta")).to_contain_text("Alice")
    expect(app.locator("#s-meta")).not_to_be_empty(timeout=60_000)
    assert app.locator("#reply").input_value().strip()
    expect(app.locator("#citations li a").first).to_have_attribute("href", re.compile("harborwallet"))
    assert page.evaluate("window.requests") >= 1
    # Only what the customer and the agent said, in order: no activity message, no private note.
    assert suggested[-1]["conversation"] == [
        {"role": "user", "text": "你好，我的USDT转账一直在打包中"},
        {"role": "agent", "text": "请问是哪条链？"},
        {"role": "user", "text": "TRC20，转账一直在打包中怎么办？"},
    ]
    expect(app.get_by_role("button", name="复制")).to_be_visible()
    expect(app.locator(".queue")).to_be_hidden()
    page.screenshot(path=str(shots / "console-chatwoot.png"))


def test_page_weight_requests_and_time_to_first_streamed_text(
    browser: Any, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """The figures of the widget (printed; docs/widget.md has them, with this command)."""
    widget_files = ["widget.js", "widget.html", "widget.css", "widget-app.js"]
    gzipped = sum(len(gzip.compress((WEB / f).read_bytes(), 9)) for f in widget_files)
    raw = sum((WEB / f).stat().st_size for f in widget_files)
    assert gzipped < 12_000, gzipped

    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url.replace(served.url, "")))
    page.goto(f"{served.url}/demo?key={served.keys['app']}", wait_until="networkidle")
    closed = list(requests)
    assert [u.split("?")[0] for u in closed] == ["/demo", "/widget.js"]
    requests.clear()
    page.get_by_role("button", name="打开在线客服").click()
    chat = page.frame_locator("#kefu-frame")
    expect(chat.get_by_role("textbox")).to_be_visible()
    page.wait_for_load_state("networkidle")
    opened = [u.split("?")[0] for u in requests]
    assert opened == ["/widget/frame", "/static/widget.css", "/static/widget-app.js"]

    modes: list[str] = []
    seconds = []
    for i in range(20):
        frame = page.frame(url=re.compile(r"/widget/frame"))
        assert frame is not None
        with page.expect_response(lambda r: r.url.endswith("/v1/ask")) as asked:
            seconds.append(
                frame.evaluate(
                    """(question) => new Promise((resolve, reject) => {
                    setTimeout(() => reject(new Error("no streamed text in 30 s")), 30000);
                    const thread = document.getElementById("thread");
                    const before = thread.querySelectorAll(".msg.assistant").length;
                    const t0 = performance.now();
                    const seen = new MutationObserver(() => {
                      const last = thread.querySelectorAll(".msg.assistant")[before];
                      const text = last && last.querySelector(".text:not(.pending)");
                      if (text && text.textContent) { seen.disconnect(); resolve((performance.now() - t0) / 1000); }
                    });
                    seen.observe(thread, {childList: true, subtree: true, characterData: true, attributes: true});
                    document.getElementById("input").value = question;
                    document.getElementById("form").requestSubmit();
                })""",
                    QUOTED if i % 2 == 0 else "转账手续费是多少？",
                )
            )
        modes.append(_final(asked.value.text())["mode"])
        expect(chat.locator(".msg.assistant .votes")).to_have_count(1, timeout=30_000)
        if i < 19:  # each question in a conversation of its own, as a new user's first one
            frame.evaluate("() => localStorage.clear()")
            page.reload()
            expect(chat.get_by_role("textbox")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert modes == ["quoted"] * 20, modes
    p50 = statistics.median(seconds)
    assert p50 < 5, seconds

    requests.clear()
    page.reload(wait_until="networkidle")
    expect(page.frame_locator("#kefu-frame").locator(".msg.assistant")).to_have_count(1)
    reloaded = [u.split("?")[0] for u in requests]
    with capsys.disabled():
        print(f"\nwidget: {raw} bytes, {gzipped} bytes gzipped ({', '.join(widget_files)})")
        print(f"requests: /demo {len(closed)} ({', '.join(closed)}); opening the chat {len(opened)} more")
        print(f"requests on reload with the chat open and a conversation: {len(reloaded)} ({', '.join(reloaded)})")
        print(f"first streamed text of a quoted answer: p50 {p50:.3f} s, max {max(seconds):.3f} s (n=20)")
    context.close()


def test_the_widget_asks_for_a_rating_once_after_an_answer_and_after_a_resolved_handoff(
    browser: Any, served: Served, shots: Path
) -> None:
    page = widget_page(browser, served)
    page.get_by_role("button", name="打开在线客服").click()
    chat = page.frame_locator("#kefu-frame")
    csat = chat.locator("#csat")
    ask_in_widget(page, QUOTED)
    expect(chat.locator(".msg.assistant").last.locator(".sources li")).not_to_have_count(0)
    expect(csat).to_be_visible()
    expect(csat).to_contain_text("满意")
    csat.get_by_role("button", name="4 分").click()
    expect(csat.get_by_role("button", name="4 分")).to_have_attribute("aria-pressed", "true")
    chat.get_by_role("textbox", name="想说点什么（可不填）").fill("回答很快")
    page.screenshot(path=str(shots / "widget-csat.png"))
    with page.expect_response(lambda r: r.url.endswith("/csat")) as rated:
        csat.get_by_role("button", name="提交评分").click()
    assert rated.value.status == 201, rated.value.text()
    expect(csat).to_contain_text("感谢评分")
    record = served.store.get_csat(rated.value.json()["conversation_id"])
    assert record is not None and (record.score, record.comment, record.handled_by) == (4, "回答很快", "bot")
    # Once per conversation: after a reload (which keeps the panel open) and another answer the
    # rating given shows, and no prompt for another.
    page.reload()
    chat = page.frame_locator("#kefu-frame")
    csat = chat.locator("#csat")
    expect(chat.locator(".msg.assistant")).to_have_count(1)
    expect_rated(csat, 4)
    ask_in_widget(page, "转账手续费是多少？")
    expect(chat.locator(".msg.assistant")).to_have_count(2, timeout=60_000)
    expect(chat.locator(".msg.assistant").last.locator(".votes button")).to_have_count(2, timeout=15_000)
    expect_rated(csat, 4)

    # A conversation a human agent resolved is rated as the agent's.
    other = widget_page(browser, served)
    other.get_by_role("button", name="打开在线客服").click()
    chat = other.frame_locator("#kefu-frame")
    csat = chat.locator("#csat")
    with other.expect_response(lambda r: r.url.endswith("/v1/ask")) as asked:
        ask_in_widget(other, "我要转人工")
    handed = _final(asked.value.text())
    expect(chat.get_by_role("status")).to_contain_text("已转人工客服")
    expect(csat).to_be_hidden()
    handoff = served.store.get_handoff(handed["handoff"]["id"])
    resolved = served.api("POST", f"/v1/handoffs/{handoff.id}/resolve", "agent", json={"final_reply": "已为您处理好。"})
    assert resolved.status_code == 200, resolved.text
    expect(chat.get_by_role("status")).to_contain_text("之后由助手回答", timeout=30_000)
    expect(csat).to_be_visible()
    csat.get_by_role("button", name="5 分").click()
    with other.expect_response(lambda r: r.url.endswith("/csat")) as rated:
        csat.get_by_role("button", name="提交评分").click()
    assert rated.value.status == 201 and rated.value.json()["handled_by"] == "agent"
    assert rated.value.json()["conversation_id"] == handoff.conversation_id


def expect_rated(csat: Any, score: int, thanks: str = "感谢评分") -> None:
    """The rating prompt as it shows a rating given: ``score`` pressed, no button to press again."""
    expect(csat).to_be_visible()
    expect(csat).to_contain_text(thanks)
    expect(csat.locator(f'[data-score="{score}"]')).to_have_attribute("aria-pressed", "true")
    expect(csat.locator('[data-score][aria-pressed="true"]')).to_have_count(1)
    for button in csat.locator("[data-score]").all():
        expect(button).to_be_disabled()
    expect(csat.locator("#csat-more")).to_be_hidden()


def test_a_reload_shows_the_resolved_handoff_and_the_rating_given(browser: Any, served: Served) -> None:
    page, chat, handoff = widget_with_handoff(browser, served)
    rating_calls: list[str] = []
    page.on("request", lambda r: rating_calls.append(r.method) if r.url.endswith("/csat") else None)
    resolved = served.api(
        "POST", f"/v1/handoffs/{handoff['id']}/resolve", "agent", json={"final_reply": "已为您处理好。"}
    )
    assert resolved.status_code == 200, resolved.text
    csat = chat.locator("#csat")
    expect(csat).to_be_visible(timeout=30_000)

    # Reloaded before rating: still resolved, and still asked.
    page.reload()
    chat = page.frame_locator("#kefu-frame")
    csat = chat.locator("#csat")
    expect(chat.locator(".msg.agent")).to_contain_text("已为您处理好")
    expect(chat.get_by_role("status")).to_contain_text("之后由助手回答")
    expect(csat).to_be_visible()
    expect(csat).to_contain_text("满意")
    csat.get_by_role("button", name="2 分").click()
    chat.get_by_role("textbox", name="想说点什么（可不填）").fill("等了有点久")
    with page.expect_response(lambda r: r.url.endswith("/csat")) as rated:
        csat.get_by_role("button", name="提交评分").click()
    assert rated.value.status == 201, rated.value.text()
    expect_rated(csat, 2)

    # Reloaded after rating: resolved, with that rating, in either language, and nothing sent again.
    page.reload()
    chat = page.frame_locator("#kefu-frame")
    csat = chat.locator("#csat")
    expect(chat.get_by_role("status")).to_contain_text("之后由助手回答")
    expect_rated(csat, 2)
    chat.get_by_role("button", name="Switch to English").click()
    expect(chat.get_by_role("status")).to_contain_text("the assistant answers again")
    expect_rated(csat, 2, thanks="Thanks for rating us")
    assert rating_calls == ["POST"], rating_calls
    record = served.store.get_csat(served.store.get_handoff(handoff["id"]).conversation_id)
    assert record is not None and (record.score, record.comment, record.handled_by) == (2, "等了有点久", "agent")
    page.context.close()


def test_admins_review_drafts_and_keep_curated_answers_on_the_learning_page(
    browser: Any, served: Served, shots: Path
) -> None:
    draft = served.store.add_draft(
        question="转账失败了矿工费还扣吗", answer="失败的交易也会消耗矿工费，转出的资产不会扣除。", lang="zh", users=3,
        examples=["转账失败 手续费退吗"], sources={"handoffs": ["browser-h1"]},
    )  # fmt: skip
    junk = served.store.add_draft(question="在吗", answer="在的", lang="zh", users=1)
    # In the browser's language, Chinese here.
    page = browser.new_context(locale="zh-CN", viewport={"width": 1300, "height": 900}).new_page()
    page.goto(f"{served.url}/console/learning")
    page.get_by_label("管理员 API key").fill(served.keys["agent"])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("需要管理员 key。")  # an agent key may not review
    page.get_by_label("管理员 API key").fill(served.keys["admin"])
    page.get_by_role("button", name="登录").click()

    item = page.locator(f'#drafts li[data-id="{draft.id}"]')
    expect(item.get_by_label(f"问题 #{draft.id} · zh · 3 位用户")).to_have_value(draft.question)
    expect(item).to_contain_text("其他问法：转账失败 手续费退吗")
    item.get_by_label("答案").fill("失败的交易会消耗矿工费，资产本身不会扣除，可在浏览器里查看交易状态。")
    page.screenshot(path=str(shots / "learning.png"))
    item.get_by_role("button", name="通过").click()
    expect(page.locator("#drafts-status")).to_contain_text("已通过")
    page.locator(f'#drafts li[data-id="{junk.id}"]').get_by_role("button", name="拒绝").click()
    expect(page.locator("#drafts li")).to_have_count(0)
    expect(page.locator("#drafts-empty")).to_have_text("没有待审核的草稿。")
    approved = served.store.get_draft(draft.id)
    assert approved.status == "approved" and approved.curated_id is not None
    assert served.store.get_draft(junk.id).status == "rejected"
    curated = page.locator(f'#curated li[data-id="{approved.curated_id}"]')
    expect(curated).to_contain_text("资产本身不会扣除")

    # A new curated answer, then disabled.
    page.get_by_label("问题（英文）").fill("How do I contact official support?")
    page.get_by_label("答案（英文）").fill("Use Settings > Help in the app; staff never ask for your phrase.")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator("#curated-status")).to_contain_text("已保存")
    made = [c for c in served.store.list_curated() if c.question_en == "How do I contact official support?"]
    assert len(made) == 1 and made[0].enabled
    entry = page.locator(f'#curated li[data-id="{made[0].id}"]')
    expect(entry.locator(".meta").first).to_have_text(f"#{made[0].id} · 启用 · 命中 0 次")
    entry.get_by_role("button", name="停用").click()
    expect(entry.locator(".meta").first).to_have_text(f"#{made[0].id} · 停用 · 命中 0 次")
    expect(entry.get_by_role("button", name="启用")).to_be_visible()
    assert not served.store.get_curated(made[0].id).enabled
    # An answer the output check refuses is explained where it was typed.
    page.get_by_label("问题（中文）").fill("钱包被盗怎么办")
    page.get_by_label("答案（中文）").fill("请把你的助记词发给客服，我们帮你找回。")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator("#curated-status")).to_contain_text("answer_zh")


def test_the_learning_page_speaks_the_desks_language_and_keeps_it_over_a_reload(browser: Any, served: Served) -> None:
    # A user's wording may hold braces: it is shown as written in either language.
    draft = served.store.add_draft(
        question="提币一直没到账怎么办", answer="请先在区块浏览器里查看这笔交易的状态。", lang="zh", users=2,
        examples=["提现 {n} 小时没到"],
    )  # fmt: skip
    article = "help/zh/transfers/pending-transfer.md"
    curated = {
        "question_zh": "提币多久能到账？",
        "answer_zh": "一般几分钟内到账，网络拥堵时会更久。",
        "articles": [article],
    }
    made = served.api("POST", "/v1/curated", json=curated)
    assert made.status_code == 201, made.text
    curated_id = made.json()["id"]
    #: The page's own words in each language, none of which may show in the other.
    words = {
        "zh": {"heading": "待审核的 FAQ 草稿", "curated": "策展答案", "learn": "立即生成草稿（最近 7 天）",
               "approve": "通过", "save": "保存", "answer": "答案（英文）", "lang": "EN"},
        "en": {"heading": "FAQ drafts to review", "curated": "Curated answers", "learn": "Draft now (last 7 days)",
               "approve": "Approve", "save": "Save", "answer": "Answer (en)", "lang": "中文"},
    }  # fmt: skip
    context = browser.new_context(locale="zh-CN", viewport={"width": 1300, "height": 900})
    page: Page = context.new_page()
    item = page.locator(f'#drafts li[data-id="{draft.id}"]')
    entry = page.locator(f'#curated li[data-id="{curated_id}"]')

    def reads(lang: str) -> None:
        """The page's words in ``lang`` and none of the other language's; the data as written."""
        mine, other = words[lang], words["en" if lang == "zh" else "zh"]
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")
        expect(page.locator("#lang")).to_have_text(mine["lang"])
        for heading in ("heading", "curated"):
            expect(page.get_by_role("heading", name=mine[heading], exact=True)).to_be_visible()
            expect(page.get_by_role("heading", name=other[heading], exact=True)).to_have_count(0)
        for name in ("learn", "save"):
            expect(page.get_by_role("button", name=mine[name], exact=True)).to_be_visible()
            expect(page.get_by_role("button", name=other[name], exact=True)).to_have_count(0)
        expect(page.get_by_label(mine["answer"], exact=True)).to_be_visible()
        expect(item.get_by_role("button", name=mine["approve"], exact=True)).to_be_visible()
        expect(item.get_by_role("button", name=other["approve"], exact=True)).to_have_count(0)
        users = f"问题 #{draft.id} · zh · 2 位用户" if lang == "zh" else f"Question #{draft.id} · zh · users: 2"
        expect(item.get_by_label(users, exact=True)).to_have_value(draft.question)
        expect(item).to_contain_text(("其他问法：" if lang == "zh" else "Also asked: ") + "提现 {n} 小时没到")
        hits = f"#{curated_id} · 启用 · 命中 0 次" if lang == "zh" else f"#{curated_id} · enabled · hits: 0"
        expect(entry.locator(".meta").first).to_have_text(hits)
        expect(entry).to_contain_text(("文章：" if lang == "zh" else "Articles: ") + article)
        expect(entry).to_contain_text("zh: 提币多久能到账？")

    try:
        # Signing in, in the browser's language (zh-CN) at first.
        page.goto(f"{served.url}/console/learning")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        page.get_by_label("管理员 API key").fill(served.keys["agent"])
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("alert")).to_have_text("需要管理员 key。")
        page.locator("#lang").click()  # the message switches with the form
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.get_by_role("alert")).to_have_text("An admin key is needed.")
        page.locator("#lang").click()
        expect(page.get_by_role("alert")).to_have_text("需要管理员 key。")
        page.get_by_label("管理员 API key").fill(served.keys["admin"])
        page.get_by_role("button", name="登录").click()
        reads("zh")
        expect(page).to_have_title("kefu 知识维护")
        errors = console_errors(page)  # signed in (the first /v1/me, with no key, is a 401)

        # Switched to English: what the admin typed and the status stay, in the new words.
        edited = "请先在区块浏览器里查看这笔交易的状态，再联系客服。"
        item.get_by_label("答案", exact=True).fill(edited)
        page.locator("#c-qen").fill("How long does a withdrawal take?")
        entry.get_by_role("button", name="编辑").click()
        expect(page.get_by_role("button", name=f"保存修改 #{curated_id}")).to_be_visible()
        page.locator("#c-clear").click()
        page.locator("#lang").click()
        reads("en")
        expect(page).to_have_title("kefu curated answers & FAQ drafts")
        expect(item.get_by_label("Answer", exact=True)).to_have_value(edited)
        item.get_by_role("button", name="Save edit").click()
        expect(page.locator("#drafts-status")).to_have_text("Saved")
        assert served.store.get_draft(draft.id).answer == edited
        entry.get_by_role("button", name="Edit").click()
        expect(page.get_by_role("button", name=f"Save #{curated_id}")).to_be_visible()
        page.locator("#lang").click()
        expect(page.locator("#drafts-status")).to_have_text("已保存")
        expect(page.get_by_role("button", name=f"保存修改 #{curated_id}")).to_be_visible()
        page.locator("#c-clear").click()
        page.locator("#lang").click()

        # Still English after a reload, and in the console of this tab: one setting for the desk.
        page.reload()
        reads("en")
        page.goto(f"{served.url}/console")
        expect(page.get_by_role("tab", name="Open")).to_be_visible()
        page.goto(f"{served.url}/console/learning")
        reads("en")
        page.locator("#lang").click()
        reads("zh")
        page.reload()
        reads("zh")
        assert errors == [], errors

        # A browser in English opens the page in English.
        english = browser.new_context(locale="en-US").new_page()
        english.goto(f"{served.url}/console/learning")
        expect(english.get_by_label("Admin API key")).to_be_visible()
        expect(english.locator("#lang")).to_have_text("中文")
        english.context.close()
    finally:
        context.close()
        served.api("POST", f"/v1/drafts/{draft.id}/reject")
        served.api("DELETE", f"/v1/curated/{curated_id}")


def test_the_widget_shows_a_curated_answers_article_as_a_citation_with_its_title_and_link(
    browser: Any, served: Served
) -> None:
    path = "help/zh/transfers/failed-transfer.md"
    question = "转账失败以后，被扣掉的矿工费还能退回来吗？"
    made = served.api(
        "POST", "/v1/curated",
        json={"question_zh": question, "answer_zh": "失败的交易也消耗了矿工费，资产本身不会扣除。", "articles": [path]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    article = served.runtime.answerer.retriever.index.document_by_path[path]
    try:
        page = widget_page(browser, served)
        page.get_by_role("button", name="打开在线客服").click()
        chat = page.frame_locator("#kefu-frame")
        with page.expect_response(lambda r: r.url.endswith("/v1/ask")) as asked:
            ask_in_widget(page, question)
        assert _final(asked.value.text())["mode"] == "curated"
        sources = chat.locator(".msg.assistant").last.locator(".sources")
        link = sources.get_by_role("link", name=article.title)
        expect(link).to_have_attribute("href", article.url or "")
        expect(sources).not_to_contain_text(path)
        page.context.close()
    finally:
        served.api("DELETE", f"/v1/curated/{made.json()['id']}")


def test_agents_read_the_weekly_report_in_the_console(browser: Any, served: Served, shots: Path) -> None:
    for question in (QUOTED, "我要转人工"):
        asked = served.api("POST", "/v1/ask", "app", json={"question": question, "user_id": "report-reader"})
        assert asked.status_code == 200, asked.text
    figures = served.api("GET", "/v1/analytics", "agent")
    assert figures.status_code == 200, figures.text
    week = figures.json()
    assert week["questions"] >= 2 and week["handoffs_by_reason"].get("human_requested", 0) >= 1

    page = browser.new_context(locale="zh-CN", viewport={"width": 1300, "height": 900}).new_page()
    page.goto(f"{served.url}/console/report")
    page.get_by_label(re.compile("API key")).fill(served.keys["app"])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("客服或管理员")  # an app key may not read it
    page.get_by_label(re.compile("API key")).fill(served.keys["agent"])
    page.get_by_role("button", name="登录").click()

    # In the browser's language, Chinese here: the page `kefu report --html --lang zh` writes.
    words = TEXTS["zh"]
    report = page.frame_locator("#report")
    expect(report.get_by_role("heading", name=words["title"])).to_be_visible(timeout=120_000)
    # The figures of GET /v1/analytics for the same data.
    for name, value in ((words["questions"], week["questions"]), (words["handed_off"], week["handed_off"])):
        # A card reads as its name, then its figure (the handed-off card's name starts another's).
        card = report.locator(".card").filter(has_text=re.compile(rf"^{re.escape(name)}\d"))
        expect(card.locator("b")).to_have_text(str(value))
    reasons = report.locator("table").filter(has_text=words["handoff_count"]).first
    expect(reasons.locator("tr").filter(has_text=REASONS["zh"]["human_requested"]).locator("td.n")).to_have_text(
        str(week["handoffs_by_reason"]["human_requested"])
    )
    expect(report.locator("svg#questions-by-day")).to_be_visible()
    assert report.locator("script").count() == 0
    expect(page.get_by_role("status")).to_contain_text("UTC")
    download = page.get_by_role("link", name="下载 HTML")
    expect(download).to_have_attribute("download", re.compile(r"^kefu-report-\d{4}-\d{2}-\d{2}\.html$"))
    with page.expect_download() as saved:
        download.click()
    assert f"<h1>{words['title']}</h1>" in Path(saved.value.path()).read_text(encoding="utf-8")
    page.screenshot(path=str(shots / "report.png"), full_page=True)

    # Another period is another report.
    page.get_by_label("截止（UTC）").fill("2020-01-01T00:00")
    page.get_by_role("button", name="生成").click()
    expect(page.get_by_role("status")).to_contain_text("2020-01-01 00:00 UTC")
    card = report.locator(".card").filter(has_text=re.compile(rf"^{re.escape(words['questions'])}\d"))
    expect(card.locator("b")).to_have_text("0")


def test_the_report_page_speaks_the_desks_language_and_keeps_it_over_a_reload(browser: Any, served: Served) -> None:
    page = console_page(browser, served, served.keys["agent"])
    errors = console_errors(page)
    page.goto(f"{served.url}/console/report")
    report = page.frame_locator("#report")
    headings = ("title", "per_day", "by_reason", "hot", "rising", "gaps")

    def reads(lang: str) -> None:
        """The page and the report in ``lang``, none of the other language's headings."""
        words, other = TEXTS[lang], TEXTS["en" if lang == "zh" else "zh"]
        for key in headings:
            expect(report.get_by_role("heading", name=words[key], exact=True)).to_be_visible(timeout=120_000)
            expect(report.get_by_role("heading", name=other[key], exact=True)).to_have_count(0)
        expect(report.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")
        expect(page.get_by_role("button", name="生成" if lang == "zh" else "Show", exact=True)).to_be_visible()
        expect(page.locator("#lang")).to_have_text("EN" if lang == "zh" else "中文")

    reads("zh")  # the browser's language (zh-CN) at first
    page.locator("#lang").click()
    reads("en")
    expect(page.get_by_label("Until (UTC)")).to_be_visible()
    page.reload()
    reads("en")
    # One setting for the desk's pages: the console in this tab is in English too.
    page.goto(f"{served.url}/console")
    expect(page.get_by_role("tab", name="Open")).to_be_visible()
    page.goto(f"{served.url}/console/report")
    page.locator("#lang").click()
    reads("zh")
    assert errors == [], errors
    page.context.close()


# --- the desk: sign-in everywhere, the queue, suggestions, claims, the widget's status -----------

#: What POST /v1/suggest answers in the tests below that are not about the suggestion itself
#: (no LLM: the machine is small and these tests are about the pages).
FAKE_SUGGESTION = {
    "reply": "您好，我们已收到您的问题，正在核实。",
    "citations": [],
    "similar_tickets": [],
    "category": None,
    "priority": "normal",
    "sentiment": "neutral",
    "confidence": 0.5,
    "action": "handoff",
    "reason": "human_requested",
    "mode": "suggest",
    "lang": "zh",
    "conversation_id": "fake",
    "answer_id": "fake-answer",
}


def handoff_for(served: Served, question: str, user: str) -> dict[str, Any]:
    """A handoff opened by ``question`` from the widget's side (the rules decide: no LLM)."""
    asked = served.api("POST", "/v1/ask", "app", json={"question": question, "user_id": user})
    assert asked.status_code == 200 and asked.json()["action"] == "handoff", asked.text
    return dict(asked.json())


def console_page(browser: Any, served: Served, key: str | None, *, suggest: bool = False) -> Page:
    """/console signed in with ``key`` (as if typed earlier in this tab; None: no key). Unless
    ``suggest``, /v1/suggest answers :data:`FAKE_SUGGESTION` at once."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    if key:
        context.add_init_script(f"sessionStorage.setItem('kefu.agentKey', {json.dumps(key)})")
    page: Page = context.new_page()
    if not suggest:
        page.route("**/v1/suggest", lambda route: route.fulfill(json=FAKE_SUGGESTION))
    page.goto(f"{served.url}/console")
    return page


@contextmanager
def open_access(served: Served) -> Iterator[None]:
    """The server as `kefu serve` runs it on loopback with no key: callers without one are admins."""
    served.runtime.open_access = True
    try:
        yield
    finally:
        served.runtime.open_access = False


def console_errors(page: Page) -> list[str]:
    """What ``page`` logs as errors in the browser's console (a resource that failed to
    load, e.g. a missing /favicon.ico, among them), and its uncaught exceptions."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.location.get('url')}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    return errors


def test_a_server_running_open_lets_the_desk_into_every_page_without_a_key(browser: Any, served: Served) -> None:
    with open_access(served):
        page = browser.new_context(locale="zh-CN", viewport={"width": 1300, "height": 900}).new_page()
        errors = console_errors(page)
        page.goto(f"{served.url}/demo", wait_until="networkidle")
        page.get_by_role("button", name="打开在线客服").click()
        expect(page.frame_locator("#kefu-frame").get_by_role("textbox")).to_be_visible()
        page.goto(f"{served.url}/console", wait_until="networkidle")
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("#who")).to_contain_text("admin")
        page.get_by_role("link", name="周报", exact=True).click()
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("#signin")).to_be_hidden()
        expect(page.frame_locator("#report").get_by_role("heading", name=TEXTS["zh"]["title"])).to_be_visible(
            timeout=120_000
        )
        page.wait_for_load_state("networkidle")
        page.goto(f"{served.url}/console/learning", wait_until="networkidle")
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("#signin")).to_be_hidden()
        expect(page.locator("#drafts-status")).to_be_empty()
        # Every page loads with nothing in the console: no missing favicon, no failed script.
        assert errors == [], errors
        page.context.close()


def test_the_key_entered_in_the_console_serves_the_report_and_learning_pages(browser: Any, served: Served) -> None:
    page = browser.new_context(locale="zh-CN", viewport={"width": 1300, "height": 900}).new_page()
    page.goto(f"{served.url}/console")
    page.get_by_label("客服 API key").fill(served.keys["admin"])
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#app")).to_be_visible()
    page.get_by_role("link", name="知识维护", exact=True).click()
    expect(page).to_have_url(f"{served.url}/console/learning")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#signin")).to_be_hidden()
    page.goto(f"{served.url}/console/report")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#signin")).to_be_hidden()
    page.context.close()

    # An agent's key serves the report; the console shows no link to the learning page, which
    # says it needs an admin's key.
    agent = console_page(browser, served, served.keys["agent"])
    expect(agent.locator("#app")).to_be_visible()
    expect(agent.get_by_role("link", name="周报", exact=True)).to_be_visible()
    expect(agent.get_by_role("link", name="知识维护", exact=True)).to_be_hidden()
    agent.goto(f"{served.url}/console/learning")
    expect(agent.get_by_role("alert")).to_have_text("需要管理员 key。")
    agent.goto(f"{served.url}/console/report")
    expect(agent.locator("#app")).to_be_visible()
    expect(agent.locator("#signin")).to_be_hidden()
    agent.context.close()


def test_a_late_suggestion_never_replaces_what_the_agent_typed(browser: Any, served: Served) -> None:
    handoff = handoff_for(served, "我要转人工，转账没到账", "desk-suggest")["handoff"]
    page = console_page(browser, served, served.keys["agent"], suggest=True)
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    page.route("**/v1/suggest", hold)
    page.get_by_role("tab", name="全部").click()
    page.locator(f'#queue li[data-id="{handoff["id"]}"]').click()
    expect(page.locator("#s-status")).to_have_text("正在生成建议…")
    typed = "您好，我是客服小李，正在为您查询这笔转账。"
    page.locator("#reply").fill(typed)
    while not held:
        page.wait_for_timeout(50)
    held[0].fulfill(json=FAKE_SUGGESTION)
    offer = page.locator("#s-offer")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text(FAKE_SUGGESTION["reply"])
    expect(page.locator("#reply")).to_have_value(typed)
    page.get_by_role("button", name="插入建议").click()
    expect(page.locator("#reply")).to_have_value(typed + "\n" + FAKE_SUGGESTION["reply"])
    expect(offer).to_be_hidden()

    # With nothing typed yet, the suggestion fills the box as before.
    other = handoff_for(served, "我要转人工", "desk-suggest-2")["handoff"]
    page.locator(f'#queue li[data-id="{other["id"]}"]').click()
    while len(held) < 2:
        page.wait_for_timeout(50)
    held[1].fulfill(json=FAKE_SUGGESTION)
    expect(page.locator("#reply")).to_have_value(FAKE_SUGGESTION["reply"])
    expect(page.locator("#s-offer")).to_be_hidden()
    page.context.close()


def test_the_queue_shows_the_users_question_and_labels_in_the_consoles_language(browser: Any, served: Served) -> None:
    question = "我的钱包被盗了，USDT全被转走了！"
    asked = handoff_for(served, question, "desk-labels")
    assert (asked["reason"], asked["handoff"]["priority"]) == ("stolen_funds", "urgent"), asked
    # An admin's console: it links to the learning page too (an agent's does not).
    page = console_page(browser, served, served.keys["admin"])
    header = page.locator("header.top")

    def links(report: str, learning: str) -> None:
        """The header's links to the report and learning pages, in the console's language."""
        expect(header.get_by_role("link", name=report, exact=True)).to_have_attribute("href", "/console/report")
        expect(header.get_by_role("link", name=learning, exact=True)).to_have_attribute("href", "/console/learning")
        expect(header.get_by_role("link")).to_have_text([report, learning])

    links("周报", "知识维护")
    item = page.locator(f'#queue li[data-id="{asked["handoff"]["id"]}"]')
    expect(item.locator(".preview")).to_have_text(question)
    expect(item).to_contain_text("紧急")
    expect(item).to_contain_text("资金被盗")
    for code in ("stolen_funds", "urgent", "转人工（"):
        expect(item).not_to_contain_text(code)
    item.click()
    expect(page.locator("#d-title")).to_have_text(question)
    expect(page.locator("#d-meta")).to_contain_text("优先级: 紧急")
    expect(page.locator("#d-meta")).to_contain_text("原因: 资金被盗")
    expect(page.locator("#d-meta")).not_to_contain_text("negative")
    # Each message with its time.
    expect(page.locator("#messages li").first.locator("time")).to_have_text(re.compile(r"\d{2}:\d{2}"))
    page.locator("#lang").click()
    expect(item).to_contain_text("urgent")
    expect(item).to_contain_text("stolen funds")
    expect(page.locator("#d-meta")).to_contain_text("reason: stolen funds")
    links("Weekly report", "Curated answers & drafts")
    # The learning link leads there, and the page keeps the console's language.
    header.get_by_role("link", name="Curated answers & drafts").click()
    expect(page).to_have_url(f"{served.url}/console/learning")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.context.close()


def test_the_handoff_summary_is_written_in_the_consoles_language(browser: Any, served: Served) -> None:
    user = "desk-summary"
    answered = served.api("POST", "/v1/ask", "app", json={"question": QUOTED, "user_id": user}).json()
    # Braces too: the page's templates must not fill what the user wrote.
    zh_question = "我要转人工 {articles}"
    handed = served.api(
        "POST",
        "/v1/ask",
        "app",
        json={"question": zh_question, "user_id": user, "conversation_id": answered["conversation_id"]},
    ).json()
    assert handed["action"] == "handoff" and handed["reason"] == "human_requested", handed
    en_question = "I want to talk to a human"
    english = handoff_for(served, en_question, "desk-summary-en")
    assert english["reason"] == "human_requested", english
    page = console_page(browser, served, served.keys["agent"])
    summary = page.locator("#d-summary")

    # A Chinese user's handoff: in Chinese, then in English, the reason and mood as labels and
    # the question as the user wrote it.
    page.locator(f'#queue li[data-id="{handed["handoff"]["id"]}"]').click()
    expect(summary).to_contain_text("转人工（要求人工）。用户（情绪：")
    expect(summary).to_contain_text(f"问：{zh_question}（共 2 轮）。")
    page.locator("#lang").click()
    expect(summary).to_contain_text("Handoff (asked for a human). The user (")
    expect(summary).to_contain_text(f"asks: {zh_question} (2 user turns so far).")
    for other in ("转人工（", "情绪", "相关资料", "未找到", "human_requested"):
        expect(summary).not_to_contain_text(other)
    titles = served.api("GET", f"/v1/handoffs/{handed['handoff']['id']}", "agent").json()["summary_parts"]["titles"]
    expect(summary).to_contain_text(
        f"Related articles: {'; '.join(titles)}." if titles else "No related article found."
    )

    # An English user's handoff in a Chinese console: Chinese words around the English question.
    page.locator("#lang").click()
    page.locator(f'#queue li[data-id="{english["handoff"]["id"]}"]').click()
    expect(summary).to_contain_text("转人工（要求人工）。用户（情绪：")
    expect(summary).to_contain_text(f"问：{en_question}。")
    for other in ("Handoff (", "asks:", "human_requested"):
        expect(summary).not_to_contain_text(other)
    titles = served.api("GET", f"/v1/handoffs/{english['handoff']['id']}", "agent").json()["summary_parts"]["titles"]
    expect(summary).to_contain_text(f"相关资料：{'、'.join(titles)}。" if titles else "未找到相关资料。")

    # A handoff stored before the parts were kept shows its stored summary, in either language.
    with served.store.engine.begin() as db:
        old_id = english["handoff"]["id"]
        payload = dict(db.scalar(select(HandoffRow.payload).where(HandoffRow.id == old_id)))
        del payload["summary_parts"]
        db.execute(update(HandoffRow).where(HandoffRow.id == old_id).values(payload=payload))
    stored = served.store.get_handoff(old_id).summary
    assert stored
    page.locator(f'#queue li[data-id="{old_id}"]').click()
    expect(summary).to_have_text(stored)
    page.locator("#lang").click()
    expect(summary).to_have_text(stored)
    page.context.close()


def test_every_code_the_api_sends_has_a_label_in_both_languages() -> None:
    from kefu.vocab import PRIORITIES, REASONS
    from service.triage import CATEGORIES, SENTIMENTS

    script = (WEB / "console.js").read_text(encoding="utf-8")
    labels = script.split("var LABELS = {", 1)[1].split("\n  };", 1)[0]
    zh, en = labels.split("\n    en: {", 1)
    for table in (zh, en):
        for code in (*REASONS, *PRIORITIES, *SENTIMENTS, *CATEGORIES):
            assert re.search(rf'(^|[{{ ,])"?{re.escape(code)}"?:', table, re.M), code


def test_the_agent_who_loses_a_claim_is_told_who_has_it(browser: Any, served: Served) -> None:
    other_key = create_key(served.store, "agent", "agent-b")[0]
    first = handoff_for(served, "我要转人工", "desk-claim-1")["handoff"]
    tab_a = console_page(browser, served, served.keys["agent"])
    tab_b = console_page(browser, served, other_key)
    for tab in (tab_a, tab_b):
        tab.locator(f'#queue li[data-id="{first["id"]}"]').click()
        expect(tab.get_by_role("button", name="认领")).to_be_visible()
    tab_a.get_by_role("button", name="认领").click()
    expect(tab_a.locator("#d-meta")).to_contain_text("agent-browser 已认领")
    # Tab B sees it taken without doing anything: its Claim button goes.
    expect(tab_b.locator("#d-meta")).to_contain_text("agent-browser 已认领", timeout=8_000)
    expect(tab_b.get_by_role("button", name="认领")).to_be_hidden()

    # B clicks Claim before it has heard (its long-poll held back): told next to the button.
    second = handoff_for(served, "我要转人工", "desk-claim-2")["handoff"]
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    tab_b.route(re.compile(r"/messages\?wait="), hold)
    for tab in (tab_a, tab_b):
        tab.get_by_role("tab", name="待处理").click()
        tab.locator(f'#queue li[data-id="{second["id"]}"]').click()
        expect(tab.get_by_role("button", name="认领")).to_be_visible()
    tab_a.get_by_role("button", name="认领").click()
    expect(tab_a.locator("#d-meta")).to_contain_text("agent-browser 已认领")
    tab_b.get_by_role("button", name="认领").click()
    expect(tab_b.locator("#claim-status")).to_have_text("这个会话已被 agent-browser 认领。")
    expect(tab_b.get_by_role("button", name="认领")).to_be_hidden()
    expect(tab_b.locator("#d-meta")).to_contain_text("agent-browser 已认领")
    expect(tab_b.locator("#s-status")).not_to_contain_text("claimed")
    for route in held:
        route.abort()
    tab_a.context.close()
    tab_b.context.close()


def test_the_console_queue_refreshes_without_taking_the_keyboard_focus(browser: Any, served: Served) -> None:
    for n in range(2):
        handoff_for(served, "我要转人工", f"desk-focus-{n}")
    page = console_page(browser, served, served.keys["agent"])
    expect(page.locator("#queue li")).not_to_have_count(0)
    expect(page.locator("#queue li").nth(1)).to_be_visible()
    page.locator("#queue li").nth(1).focus()
    focused = page.locator("#queue li").nth(1).get_attribute("data-id")
    for _ in range(2):  # two refreshes of the queue (every 5 s)
        with page.expect_response(lambda r: "/v1/handoffs?" in r.url, timeout=15_000):
            pass
        page.wait_for_timeout(200)
        assert page.evaluate("document.activeElement.getAttribute('data-id')") == focused


def widget_with_handoff(browser: Any, served: Served) -> tuple[Page, Any, dict[str, Any]]:
    page = widget_page(browser, served)
    page.get_by_role("button", name="打开在线客服").click()
    chat = page.frame_locator("#kefu-frame")
    with page.expect_response(lambda r: r.url.endswith("/v1/ask")) as asked:
        ask_in_widget(page, "我要转人工")
    expect(chat.get_by_role("status")).to_contain_text("已转人工客服")
    return page, chat, _final(asked.value.text())["handoff"]


def test_the_widget_shows_a_claim_within_seconds(browser: Any, served: Served) -> None:
    page, chat, handoff = widget_with_handoff(browser, served)
    page.wait_for_timeout(1_000)  # the widget's long-poll is waiting
    claimed = served.api("POST", f"/v1/handoffs/{handoff['id']}/claim", "agent")
    assert claimed.status_code == 200, claimed.text
    expect(chat.get_by_role("status")).to_contain_text("agent-browser 正在处理", timeout=5_000)
    page.context.close()


def test_the_agents_final_reply_shows_whole_above_the_rating(browser: Any, served: Served) -> None:
    page, chat, handoff = widget_with_handoff(browser, served)
    final = "\n".join(f"第 {n} 步：请按说明检查转账记录。" for n in range(1, 6)) + "\n已为您处理完毕。"
    resolved = served.api("POST", f"/v1/handoffs/{handoff['id']}/resolve", "agent", json={"final_reply": final})
    assert resolved.status_code == 200, resolved.text
    expect(chat.locator("#csat")).to_be_visible(timeout=30_000)
    expect(chat.locator(".msg.agent").last).to_contain_text("已为您处理完毕")
    frame = page.frame(url=re.compile(r"/widget/frame"))
    assert frame is not None
    box = frame.evaluate(
        """() => {
        const thread = document.getElementById("thread").getBoundingClientRect();
        const reply = [...document.querySelectorAll(".msg.agent")].pop().getBoundingClientRect();
        return {threadTop: thread.top, threadBottom: thread.bottom, top: reply.top, bottom: reply.bottom};
    }"""
    )
    assert box["top"] >= box["threadTop"] - 1 and box["bottom"] <= box["threadBottom"] + 1, box
    page.context.close()


def loopback_only(context: Any) -> list[str]:
    """Refuse every request of ``context`` not to 127.0.0.1, as on a desk with no network;
    the refused URLs are listed."""
    refused: list[str] = []

    def route(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    return refused


def test_the_api_docs_page_works_with_no_network(browser: Any, served: Served, shots: Path) -> None:
    context = browser.new_context(locale="en-US", viewport={"width": 1300, "height": 900})
    refused = loopback_only(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{served.url}/schema")
    expect(page.get_by_text("Answer a question (JSON, or streamed as server-sent events)")).to_be_visible(
        timeout=30_000
    )
    expect(page.locator(".opblock-tag-section", has_text="handoffs")).to_be_visible()
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text("BearerAuth")).to_be_visible()
    page.screenshot(path=str(shots / "schema.png"))
    assert refused == [], refused
    assert errors == [], errors
    context.close()
