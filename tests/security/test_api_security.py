"""What a hostile tester did to the API on loopback, replayed: secrets through every channel,
another customer's words in a suggestion, another key's conversation, a deleted database,
crafted bodies and headers. One app for the module (the real embedder and demo index, a
real SQLite file, the LLM scripted through a fake Ollama); tests that break it build their own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kefu.errors import ConfigError
from service.api.logs import JsonFormatter
from service.keys import KEYS_MARKER, create_key, keys_were_issued, note_keys_issued
from service.store import Store
from tests.conftest import HARBOR
from tests.phrases import seed_phrase
from tests.security.test_redaction_evasions import EVASIONS
from tests.service.api.conftest import (  # noqa: F401 - llm_server is a fixture
    SLOW_MODEL,
    Api,
    api_settings,
    ask,
    build_app,
    error_of,
    llm_server,
    running,
    start_api,
)

pytestmark = pytest.mark.slow

SEED = seed_phrase(48)
HEX = hashlib.sha256(b"not a request id").hexdigest()
TRANSFER_QUESTION = "我的转账一直在打包中怎么办？"


@pytest.fixture(scope="module")
def api(tmp_path_factory, harbor_data_dir, embedder, llm_server) -> Iterator[Api]:  # type: ignore[no-untyped-def]  # noqa: F811
    tmp = tmp_path_factory.mktemp("security")
    settings = api_settings(harbor_data_dir, tmp / "kefu.db", rate_limit=0, answer_style="quote")
    store = Store.from_settings(settings)
    with running(build_app(settings, llm_server, embedder, store=store), store) as api:
        api.keys["app2"] = create_key(store, "app", "second-app")[0]
        yield api


def _rows(db: Path) -> str:
    """Every stored text a user or an agent wrote: questions, user messages, feedback, handoffs."""
    queries = (
        "SELECT text FROM messages WHERE role = 'user'",
        "SELECT question FROM answers",
        "SELECT comment, final_text FROM feedback",
        "SELECT summary, payload FROM handoffs",
    )
    with sqlite3.connect(db) as connection:
        return "\n".join(json.dumps(row, ensure_ascii=False) for q in queries for row in connection.execute(q))


# --- 2. secrets through every channel ----------------------------------------------------------


def test_no_evasion_reaches_the_store_the_logs_or_an_echo(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    db = Path(api.store.url.removeprefix("sqlite:///"))
    echoes = []  # what the API says back about the request (answers quote articles, not the user)
    with caplog.at_level(logging.DEBUG):
        for name, text, _ in EVASIONS:
            answer = ask(api, f"帮我看看：{text}")
            assert answer.status_code == 200, (name, answer.text)
            body = answer.json()
            api.client.post(
                "/v1/feedback",
                json={"answer_id": body["answer_id"], "kind": "not_helpful", "comment": f"还有 {text}"},
                headers=api.auth("app"),
            )
            suggestion = api.client.post(
                "/v1/suggest", json={"conversation": [{"role": "user", "text": text}]}, headers=api.auth("agent")
            )
            assert suggestion.status_code == 200, (name, suggestion.text)
            search = api.client.post("/v1/search", json={"query": text[:500]}, headers=api.auth("agent"))
            echoes.append(search.json()["query"])
            bad = api.client.post("/v1/ask", json={"question": "hi", "lang": text[:200]}, headers=api.auth("app"))
            assert bad.status_code == 422
            echoes.append(error_of(bad)["message"])
    stored = _rows(db)
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for name, _, hidden in EVASIONS:
        for piece in (p for p in hidden if len(p) > 1):  # one Chinese character says nothing alone
            for where, what in (
                ("database", stored),
                ("logs", logged),
                ("echoes", json.dumps(echoes, ensure_ascii=False)),
            ):
                # A word of a phrase only as a word ("arch" is inside "/v1/search").
                needle = re.escape(json.dumps(piece, ensure_ascii=False)[1:-1])
                assert not re.search(rf"(?<![A-Za-z]){needle}(?![A-Za-z])", what), (name, piece, where)


@pytest.mark.parametrize(
    "text",
    [
        "我的助记词是" + "".join(seed_phrase(40, "chinese_simplified").split()),
        "\u200b".join(SEED.split()),
        "+".join(SEED.split()),
        f"my transaction fails, I imported this: {HEX}",
    ],
)
def test_a_pasted_phrase_or_key_hands_off_as_secret_shared(api: Api, text: str) -> None:
    body = ask(api, text).json()
    assert body["action"] == "handoff" and body["reason"] == "secret_shared"


def test_a_pasted_password_hands_off_and_a_question_about_one_is_answered(api: Api) -> None:
    for text in ("钱包密码是 Harbor@2024，为什么提示错误", "my wallet password is Hx7-kk29z and it fails"):
        body = ask(api, text).json()
        assert (body["reason"], body["handoff"]["priority"]) == ("secret_shared", "urgent"), body
    # Questions about a password: the demo help center's article answers the Chinese one (the
    # English one goes to this module's scripted LLM, which writes Chinese: not grounded).
    for text in ("钱包密码忘了怎么办", "I forgot my wallet password, what can I do?"):
        body = ask(api, text).json()
        assert body["reason"] != "secret_shared" and "never asks for" not in body["answer"], body
        assert body["action"] == "answer" or text.isascii(), body


# --- 1 and 3. what a suggestion is made of --------------------------------------------------------


def test_a_suggestion_never_quotes_other_customers(api: Api) -> None:
    customer_sentences: set[str] = set()
    for path in sorted((HARBOR / "tickets").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for message in json.loads(line)["messages"]:
                if message["role"] == "user":
                    customer_sentences |= {s for s in message["text"].replace("？", "。").split("。") if len(s) > 8}
    for text in ("你好", "我想把助记词存在你们这里", "USDT 转去交易所，一个多小时了还没到"):
        body = api.client.post(
            "/v1/suggest", json={"conversation": [{"role": "user", "text": text}]}, headers=api.auth("agent")
        ).json()
        assert all(c["source"].startswith("help/") for c in body["citations"]), body["citations"]
        assert not [s for s in customer_sentences if s in body["reply"]], body["reply"]
        markers = {int(n) for n in re.findall(r"\[(\d+)\]", body["reply"])}
        assert markers <= {c["n"] for c in body["citations"]}, body  # a handoff's draft cites its sources too


# --- 4. conversations belong to their owner --------------------------------------------------------


def test_another_key_or_user_cannot_continue_a_conversation(api: Api) -> None:
    first = ask(api, "被盗了，USDT 全被转走了", user_id="alice").json()
    conversation = first["conversation_id"]
    for role, user in (("app2", None), ("app2", "alice"), ("app", None), ("app", "mallory")):
        other = ask(api, "后来呢？", role=role, conversation_id=conversation, **({"user_id": user} if user else {}))
        assert other.status_code == 404, (role, user)
        assert error_of(other)["code"] == "not_found"
    assert ask(api, "后来呢？", conversation_id=conversation, user_id="alice").status_code == 200
    # staff see every conversation
    assert ask(api, "后来呢？", role="agent", conversation_id=conversation, user_id="alice").status_code == 200


def test_details_are_for_agents_and_admins(api: Api) -> None:
    refused = ask(api, details=True)
    assert refused.status_code == 403 and "details" in error_of(refused)["message"]
    for role in ("agent", "admin"):
        body = ask(api, role=role, details=True).json()
        assert "rules" in body["details"]


def test_feedback_only_on_your_own_answers(api: Api) -> None:
    answer_id = ask(api).json()["answer_id"]
    theirs = api.client.post("/v1/feedback", json={"answer_id": answer_id, "kind": "helpful"}, headers=api.auth("app2"))
    assert theirs.status_code == 404
    mine = api.client.post("/v1/feedback", json={"answer_id": answer_id, "kind": "helpful"}, headers=api.auth("app"))
    assert mine.status_code == 201


# --- 6 and 7. crafted requests ---------------------------------------------------------------------


def test_deep_json_and_huge_integers_are_400_not_500(api: Api) -> None:
    deep = b'{"question": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = api.client.post("/v1/ask", content=deep, headers={**api.auth("app"), "Content-Type": "application/json"})
    assert response.status_code == 400 and "nested" in error_of(response)["message"]
    for offset in ("9223372036854775808", "1" * 400):
        page = api.client.get(f"/v1/handoffs?offset={offset}", headers=api.auth("agent"))
        assert page.status_code in (400, 422), page.text


def test_echoes_are_redacted_and_short(api: Api) -> None:
    search = api.client.post("/v1/search", json={"query": f"导入 {SEED}"}, headers=api.auth("agent")).json()
    assert SEED.split()[4] not in search["query"]
    bad_lang = api.client.post("/v1/ask", json={"question": "hi", "lang": SEED}, headers=api.auth("app"))
    assert bad_lang.status_code == 422 and SEED.split()[4] not in bad_lang.text
    long_id = "x" * 60_000
    missing = api.client.post(f"/v1/handoffs/{long_id}/claim", headers=api.auth("agent"))
    assert missing.status_code == 404 and len(missing.text) < 600
    long_conversation = ask(api, conversation_id="y" * 60_000)
    assert long_conversation.status_code == 422 and len(long_conversation.text) < 600


def test_a_secret_looking_request_id_is_replaced(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        response = api.client.get("/health", headers={"X-Request-ID": HEX})
    assert response.headers["X-Request-ID"] != HEX
    assert HEX not in "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert api.client.get("/health", headers={"X-Request-ID": "req-42"}).headers["X-Request-ID"] == "req-42"


@pytest.mark.parametrize("question", ["\u200b\u200b\u200b", " \u200d\ufeff ", "\u2060"])
def test_an_invisible_question_is_refused(api: Api, question: str) -> None:
    response = ask(api, question)
    assert response.status_code == 422 and error_of(response)["detail"]["field"] == "question"


def test_documented_error_codes_empty_body_and_allow(api: Api) -> None:
    handoff = ask(api, "被盗了，USDT 全被转走了").json()["handoff"]["id"]
    blank = api.client.post(f"/v1/handoffs/{handoff}/resolve", json={"final_reply": "   "}, headers=api.auth("agent"))
    assert blank.status_code == 400 and error_of(blank)["code"] == "bad_request"
    empty = api.client.post("/v1/ask", content=b"", headers={**api.auth("app"), "Content-Type": "application/json"})
    assert empty.status_code == 400
    assert error_of(empty)["detail"]["field"] == "body" and "body" in error_of(empty)["message"]
    wrong = api.client.get("/v1/ask", headers=api.auth("app"))
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"].split(", ")


# --- 5. a database that goes away ------------------------------------------------------------------


def test_a_deleted_database_fails_ready_and_every_write(
    tmp_path: Path,
    harbor_data_dir: Path,
    embedder: Any,
    llm_server: Any,  # noqa: F811
) -> None:
    settings = api_settings(harbor_data_dir, tmp_path / "kefu.db", rate_limit=0, answer_style="quote")
    store = Store.from_settings(settings)
    app = build_app(settings, llm_server, embedder, store=store)
    client, keys = start_api(app, store)
    try:
        headers = {"Authorization": f"Bearer {keys['app']}"}
        answer_id = client.post("/v1/ask", json={"question": TRANSFER_QUESTION}, headers=headers).json()["answer_id"]
        assert client.get("/ready").status_code == 200
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp_path / 'kefu.db'}{suffix}").unlink(missing_ok=True)
        ready = client.get("/ready")
        assert ready.status_code == 503 and "database" in error_of(ready)["detail"]["missing"]
        asked = client.post("/v1/ask", json={"question": TRANSFER_QUESTION}, headers=headers)
        assert asked.status_code in (401, 503), asked.text  # never a 200 for a lost write
        with pytest.raises(Exception, match=r"gone|replaced"):
            store.record_feedback(answer_id, "helpful")
    finally:
        client.__exit__(None, None, None)
        store.close()


def test_no_open_mode_when_the_key_table_vanished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import service.api.logs
    from service.api.serve import serve

    monkeypatch.setattr(service.api.logs, "configure_logging", lambda level: None)
    settings = api_settings(tmp_path, tmp_path / "kefu.db")
    with Store.from_settings(settings) as store:
        store.migrate()
        create_key(store, "admin", "the-only-key")
    note_keys_issued(tmp_path, settings.database_url_resolved)
    (tmp_path / "kefu.db").unlink()  # the database vanishes, and comes back empty
    with pytest.raises(ConfigError, match="no API keys"):
        serve(settings, host="127.0.0.1", port=1)
    assert (tmp_path / KEYS_MARKER).exists()
    # Another database in the same data dir (a throw-away one) may still run open.
    other = settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'demo.db'}")
    assert not keys_were_issued(tmp_path, other.database_url_resolved)


# --- 7. the deadline bounds the whole answer ------------------------------------------------------


def test_the_answer_deadline_is_a_hard_bound(
    tmp_path: Path,
    harbor_data_dir: Path,
    embedder: Any,
    llm_server: Any,  # noqa: F811
) -> None:
    deadline = 1.5
    settings = api_settings(harbor_data_dir, tmp_path / "kefu.db", rate_limit=0, answer_deadline=deadline)
    store = Store.from_settings(settings)
    app = build_app(settings, llm_server, embedder, store=store, model=SLOW_MODEL)
    client, keys = start_api(app, store)
    try:
        start = time.perf_counter()
        body = client.post(
            "/v1/ask", json={"question": "How do I speed up a pending transfer?"},
            headers={"Authorization": f"Bearer {keys['app']}"},
        ).json()  # fmt: skip
        took = time.perf_counter() - start
        # The slow model needs 2 s for its answer; the deadline cuts it, with a fallback (or, if
        # search took most of the time on a busy machine, a handoff at the deadline itself).
        assert body["reason"] in ("extractive_fallback", "llm_unavailable", "low_confidence", "no_answer", "timeout"), (
            body
        )
        assert took < deadline + 1.5, took
    finally:
        client.__exit__(None, None, None)
        store.close()
