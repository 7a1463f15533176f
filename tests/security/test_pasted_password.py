"""A password pasted into the chat is hidden, the user is warned and the conversation goes to
a person as ``secret_shared``, as a seed phrase does; a question about passwords is not a
pasted secret. Through the real app (a real SQLite file), over a fake retriever.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.fakes.retriever import SlowRetriever, article_hit
from tests.phrases import seed_phrase
from tests.service.api.conftest import Served, serve_fake

PASTED = [
    ("zh", "我的钱包密码是 Abc12345，为什么一直提示错误", "Abc12345"),
    ("zh", "交易所密码 Qwer!234 被改了吗", "Qwer!234"),
    ("en", "my password is Sunshine!9 and the app says it is wrong", "Sunshine!9"),
    ("en", "pwd qwerty7788 still fails", "qwerty7788"),
]
MENTIONED = [
    ("zh", "忘记密码怎么办"),
    ("zh", "钱包密码忘了怎么找回"),
    ("en", "how do I reset my password"),
    ("en", "my password is wrong every time, what can I do?"),
]
WARNING = {
    "zh": ("官方客服绝不会索要你的密码", "请尽快修改"),
    "en": ("Official support never asks for your password", "change it now"),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    llm = FakeOllama({"fast": ScriptedModel(tokens=["在设置中修改密码", " [1]", "。"])}).start()
    tmp = tmp_path_factory.mktemp("password")
    try:
        yield from serve_fake(Path(tmp), llm, SlowRetriever(hits=[article_hit()]))
    finally:
        llm.stop()


@pytest.mark.parametrize(("lang", "text", "value"), PASTED)
def test_a_pasted_password_is_hidden_warned_about_and_handed_off(
    served: Served, lang: str, text: str, value: str
) -> None:
    response, _ = served.post("/v1/ask", {"question": text})
    body = response.json()
    assert (body["action"], body["reason"], body["handoff"]["priority"]) == ("handoff", "secret_shared", "urgent")
    assert all(part in body["answer"] for part in WARNING[lang]), body["answer"]
    # A password is not the wallet's keys: nobody is told to move their funds.
    assert "转移资产" not in body["answer"] and "move your funds" not in body["answer"]
    stored = served.rows(f"SELECT a.question, h.payload FROM answers a JOIN handoffs h ON h.answer_id = a.id "
                         f"WHERE a.id = '{body['answer_id']}'")  # fmt: skip
    question, payload = stored[0]
    assert value not in question and "[REDACTED:password]" in question
    draft = json.loads(payload)["suggested_reply"]
    assert ("如果这是钱包或交易所账户的密码" if lang == "zh" else "If it is the password") in draft
    assert value not in json.dumps(json.loads(payload), ensure_ascii=False)


@pytest.mark.parametrize(("lang", "text"), MENTIONED)
def test_a_question_about_passwords_is_not_a_pasted_secret(served: Served, lang: str, text: str) -> None:
    response, _ = served.post("/v1/ask", {"question": text, "lang": lang})
    body = response.json()
    assert body["reason"] != "secret_shared" and WARNING[lang][0] not in body["answer"], body
    assert served.rows(f"SELECT question FROM answers WHERE id = '{body['answer_id']}'") == [(text,)]


def test_a_seed_phrase_with_a_password_gets_the_wallet_warning(served: Served) -> None:
    seed = seed_phrase()
    response, _ = served.post("/v1/ask", {"question": f"my seed is {seed} and my password is Abc12345"})
    body = response.json()
    assert body["reason"] == "secret_shared"
    assert "create a new wallet and move your funds" in body["answer"], body["answer"]
