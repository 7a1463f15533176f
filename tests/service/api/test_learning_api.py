"""Curated answers and satisfaction through the API: the real embedder and demo index, a
real SQLite file, the LLM scripted by a local Ollama stand-in, a local webhook."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.api.conftest import (
    GROUNDED_QUESTION,
    Api,
    WebhookSink,
    webhook_api,
)
from tests.service.test_store import MNEMONIC

pytestmark = pytest.mark.slow

USER = "w-curated-1"
ZH_ANSWER = "在钱包详情页选择“导出私钥”，输入钱包密码后抄在纸上离线保存；私钥不要发给任何人，包括客服。"
EN_ANSWER = "No: once a Bitcoin transaction is broadcast it cannot be cancelled; wait for it to confirm or fail."
#: The conftest's sink accepts every call: a rating must reach it as exactly one call.
WEBHOOK_FAILS_FIRST = False


@pytest.fixture(scope="module")
def api(tmp_path_factory, harbor_data_dir, embedder, llm_server, sink) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("learning") / "kefu.db"
    with webhook_api(harbor_data_dir, db, llm_server, embedder, sink) as served:
        yield served


def ask(api: Api, question: str, **extra: Any) -> dict[str, Any]:
    response = api.client.post(
        "/v1/ask", json={"question": question, "user_id": USER, **extra}, headers=api.auth("app")
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def create(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.client.post("/v1/curated", json=fields, headers=api.auth("admin"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_curated_answer_answers_its_paraphrases_in_both_languages_as_written(api: Api) -> None:
    made = create(
        api,
        question_zh="怎么导出私钥备份？",
        answer_zh=ZH_ANSWER,
        question_en="Can I cancel a Bitcoin transaction that is still unconfirmed?",
        answer_en=EN_ANSWER,
        articles=["help/zh/wallet/backup-mnemonic.md"],
    )
    zh = ask(api, "私钥在哪里导出来备份")
    assert (zh["answer"], zh["mode"], zh["reason"], zh["action"]) == (ZH_ANSWER, "curated", "curated", "answer")
    assert [(c["source"], c["kind"]) for c in zh["citations"]] == [
        (f"curated/{made['id']}", "curated"),
        ("help/zh/wallet/backup-mnemonic.md", "article"),
    ]
    en = ask(api, "is there a way to cancel an unconfirmed btc transaction")
    assert (en["answer"], en["lang"], en["mode"]) == (EN_ANSWER, "en", "curated")
    # Another question goes on to retrieval as before.
    other = ask(api, GROUNDED_QUESTION)
    assert other["mode"] != "curated" and other["answer"] not in (ZH_ANSWER, EN_ANSWER)
    # The conversation keeps the curated answer with its citations, and it counts.
    page = api.client.get(
        f"/v1/conversations/{zh['conversation_id']}/messages", params={"user_id": USER}, headers=api.auth("app")
    ).json()
    assert page["messages"][1]["text"] == ZH_ANSWER and page["messages"][1]["citations"][0]["kind"] == "curated"
    got = api.client.get(f"/v1/curated/{made['id']}", headers=api.auth("agent")).json()
    assert got["hits"] == 2 and got["last_hit_at"] is not None


def test_handoff_rules_win_over_a_curated_answer(api: Api) -> None:
    create(api, question_zh="助记词可以截图保存或者存到微信收藏吗？", answer_zh="不可以，请抄在纸上离线保存。")
    assert ask(api, "助记词能不能截图存手机相册或者发微信收藏")["mode"] == "curated"
    pasted = ask(api, f"助记词能不能截图存手机相册或者发微信收藏 {MNEMONIC}")
    assert (pasted["action"], pasted["reason"]) == ("handoff", "secret_shared")


def test_edits_disabling_and_deleting_are_live_at_the_next_question(api: Api) -> None:
    made = create(api, question_zh="Core链的RPC和Chain ID是多少？", answer_zh="Core 的 Chain ID 是 1116。")
    question = "core链的chain id和rpc地址是什么"
    assert ask(api, question)["answer"] == "Core 的 Chain ID 是 1116。"
    edited = api.client.patch(
        f"/v1/curated/{made['id']}", json={"answer_zh": "Chain ID 1116，RPC 见官网。"}, headers=api.auth("admin")
    )
    assert edited.status_code == 200, edited.text
    assert ask(api, question)["answer"] == "Chain ID 1116，RPC 见官网。"
    api.client.patch(f"/v1/curated/{made['id']}", json={"enabled": False}, headers=api.auth("admin"))
    assert ask(api, question)["mode"] != "curated"
    assert api.client.delete(f"/v1/curated/{made['id']}", headers=api.auth("admin")).status_code == 204
    assert api.client.get(f"/v1/curated/{made['id']}", headers=api.auth("admin")).status_code == 404


def test_an_id_beyond_64_bits_is_invalid_and_the_largest_one_is_no_row(api: Api) -> None:
    # The API fuzzer's case: a draft id past 64 bits reached the database and came back a 500.
    admin = api.auth("admin")
    for huge in (2**63, 177570183459046162432):
        for method, path, body in (
            ("GET", f"/v1/curated/{huge}", None), ("PATCH", f"/v1/curated/{huge}", {"enabled": False}),
            ("DELETE", f"/v1/curated/{huge}", None), ("PATCH", f"/v1/drafts/{huge}", {"answer": "好的"}),
            ("POST", f"/v1/drafts/{huge}/approve", {}), ("POST", f"/v1/drafts/{huge}/reject", None),
        ):  # fmt: skip
            r = api.client.request(method, path, json=body, headers=admin)
            assert r.status_code == 422 and ("curated_id" in r.text or "draft_id" in r.text), (method, path, r.text)
    largest = 2**63 - 1
    assert api.client.get(f"/v1/curated/{largest}", headers=admin).status_code == 404
    assert api.client.post(f"/v1/drafts/{largest}/approve", json={}, headers=admin).status_code == 404


def test_only_admins_change_curated_answers_and_unsafe_answers_are_refused(api: Api) -> None:
    body = {"question_zh": "客服怎么联系", "answer_zh": "请联系官方客服。"}
    assert api.client.post("/v1/curated", json=body, headers=api.auth("agent")).status_code == 403
    assert api.client.post("/v1/curated", json=body, headers=api.auth("app")).status_code == 403
    unsafe = api.client.post(
        "/v1/curated",
        json={"question_zh": "钱包被盗怎么办", "answer_zh": "请把你的助记词发给客服，我们帮你找回。"},
        headers=api.auth("admin"),
    )
    assert unsafe.status_code == 422 and "answer_zh" in unsafe.text
    missing = api.client.post("/v1/curated", json={"question_en": "hi"}, headers=api.auth("admin"))
    assert missing.status_code == 400 and "answer_en" in missing.text


def test_agents_search_curated_answers_by_meaning(api: Api) -> None:
    create(api, question_zh="转账失败了，为什么矿工费不退？", answer_zh="失败的交易也消耗了矿工费，资产本身不会扣除。")
    found = api.client.get("/v1/curated", params={"q": "转账失败 手续费扣了能退吗"}, headers=api.auth("agent"))
    assert found.status_code == 200, found.text
    first = found.json()[0]
    assert first["question_zh"] == "转账失败了，为什么矿工费不退？" and 0 < first["score"] <= 1
    assert isinstance(first["matches"], bool)
    assert api.client.get("/v1/curated", params={"q": "x"}, headers=api.auth("app")).status_code == 403


def test_curated_answers_survive_a_restart(tmp_path: Path, harbor_data_dir, embedder, llm_server, sink) -> None:  # type: ignore[no-untyped-def]
    with webhook_api(harbor_data_dir, tmp_path / "kefu.db", llm_server, embedder, sink) as first:
        create(first, question_zh="怎么导出私钥备份？", answer_zh=ZH_ANSWER)
    with webhook_api(harbor_data_dir, tmp_path / "kefu.db", llm_server, embedder, sink) as again:
        assert ask(again, "私钥在哪里导出来备份")["answer"] == ZH_ANSWER


def test_a_conversation_is_rated_once_by_its_user_and_the_rating_reaches_the_webhook(
    api: Api, sink: WebhookSink
) -> None:
    answered = ask(api, GROUNDED_QUESTION)
    conversation = answered["conversation_id"]
    url = f"/v1/conversations/{conversation}/csat"
    other_user = api.client.post(url, json={"score": 5, "user_id": "someone-else"}, headers=api.auth("app"))
    assert other_user.status_code == 404
    bad = api.client.post(url, json={"score": 6, "user_id": USER}, headers=api.auth("app"))
    assert bad.status_code in (400, 422)
    rated = api.client.post(url, json={"score": 4, "comment": "挺快的", "user_id": USER}, headers=api.auth("app"))
    assert rated.status_code == 201, rated.text
    assert rated.json()["handled_by"] == "bot" and rated.json()["score"] == 4
    again = api.client.post(url, json={"score": 1, "user_id": USER}, headers=api.auth("app"))
    assert again.status_code == 409
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        calls = [c for c in sink.calls if c["body"]["event"] == "csat.submitted"]
        if any(c["body"]["csat"]["conversation_id"] == conversation for c in calls):
            break
        time.sleep(0.05)
    [call] = [c for c in sink.calls if (c["body"].get("csat") or {}).get("conversation_id") == conversation]
    assert call["body"]["handoff"] is None and call["body"]["csat"]["score"] == 4 and "4/5" in call["body"]["text"]


def test_a_rating_after_a_resolved_handoff_is_the_agents(api: Api) -> None:
    handed = ask(api, "我要转人工")
    assert handed["action"] == "handoff"
    resolved = api.client.post(
        f"/v1/handoffs/{handed['handoff']['id']}/resolve",
        json={"final_reply": "已为您处理好。"},
        headers=api.auth("agent"),
    )
    assert resolved.status_code == 200, resolved.text
    rated = api.client.post(
        f"/v1/conversations/{handed['conversation_id']}/csat",
        json={"score": 5, "user_id": USER},
        headers=api.auth("app"),
    )
    assert rated.status_code == 201 and rated.json()["handled_by"] == "agent"
