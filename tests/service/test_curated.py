"""A curated answer's articles, end to end without a model: the API and `kefu curated` check
each link against the served index (a real index of demo articles built with the fake
embedder), and a matched answer cites them as any answer cites an article, with the title
and URL the index has, in the user's language where the help center has a translation."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ingest.index import IndexVersion, open_index
from ingest.pipeline import run_ingest
from kefu.cli import main
from kefu.settings import Settings
from service.api import create_app
from service.store import Store
from tests.fakes.embedder import FakeEmbedder
from tests.fakes.generator import FakeGenerator

pytestmark = pytest.mark.integration  # a SQLite file, an index on disk, the app in-process

HARBOR = Path(__file__).resolve().parents[2] / "corpora" / "harbor"
#: Pending transfers: in both languages. Failed transfers: Chinese only.
PENDING_ZH = "help/zh/transfers/pending-transfer.md"
PENDING_EN = "help/en/transfers/pending-transfer.md"
FAILED_ZH = "help/zh/transfers/failed-transfer.md"
ARTICLES = (PENDING_ZH, PENDING_EN, FAILED_ZH)
QUESTION_ZH = "转账失败了，为什么矿工费不退？"
QUESTION_EN = "Why is the fee of a failed transfer not refunded?"
ANSWER_ZH = "失败的交易也消耗了矿工费，资产本身不会扣除。"
ANSWER_EN = "A failed transaction still used the network fee; the tokens themselves stay in the wallet."


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose index "harbor" holds three demo articles and one past ticket."""
    src = tmp_path_factory.mktemp("help-center")
    for path in ARTICLES:
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(HARBOR / path, src / path)
    (src / "tickets").mkdir()
    first_ticket = (HARBOR / "tickets" / "2025-2026-a.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (src / "tickets" / "t.jsonl").write_text(first_ticket + "\n", encoding="utf-8")
    data = tmp_path_factory.mktemp("data")
    run_ingest([src], data_dir=data, index_name="harbor", embedder=FakeEmbedder())
    return data


@pytest.fixture(scope="module")
def index(data_dir: Path) -> IndexVersion:
    return open_index(data_dir, "harbor")


def settings_for(data_dir: Path, db: Path) -> Settings:
    return Settings.from_env({}).with_overrides(
        data_dir=data_dir, database_url=f"sqlite:///{db}", index_name="harbor", rate_limit=0, answer_style="quote"
    )


def open_app(data_dir: Path, tmp_path: Path) -> tuple[Any, Store]:
    """The app on ``data_dir``'s index, in this process, open to callers without a key (as admins)."""
    store = Store(f"sqlite:///{tmp_path / 'kefu.db'}")
    app = create_app(
        settings_for(data_dir, tmp_path / "kefu.db"), store=store, embedder=FakeEmbedder(),
        generator=FakeGenerator(["好。"]), open_access=True,
    )  # fmt: skip
    return app, store


@pytest.fixture
def served(data_dir: Path, tmp_path: Path) -> Iterator[tuple[TestClient[Any], Store]]:
    app, store = open_app(data_dir, tmp_path)
    with TestClient(app) as client:
        yield client, store
    store.close()


def ask(client: TestClient[Any], question: str) -> dict[str, Any]:
    response = client.post("/v1/ask", json={"question": question, "user_id": "u-curated"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def cited(index: IndexVersion, path: str) -> dict[str, Any]:
    """What a citation of the article at ``path`` shows: the index's title and URL."""
    document = index.document_by_path[path]
    assert document.url and document.title != path
    return {"source": document.doc_id, "title": document.title, "url": document.url, "kind": "article"}


def shown(citation: dict[str, Any]) -> dict[str, Any]:
    return {k: citation[k] for k in ("source", "title", "url", "kind")}


def test_a_curated_answers_articles_are_cited_with_their_titles_and_urls(
    served: tuple[TestClient[Any], Store], index: IndexVersion
) -> None:
    client, _ = served
    failed_url = index.document_by_path[FAILED_ZH].url
    made = client.post(
        "/v1/curated",
        json={"question_zh": QUESTION_ZH, "answer_zh": ANSWER_ZH, "question_en": QUESTION_EN,
              "answer_en": ANSWER_EN, "articles": [PENDING_ZH, failed_url]},
    )  # fmt: skip
    assert made.status_code == 201, made.text

    zh = ask(client, QUESTION_ZH)
    assert (zh["mode"], zh["answer"]) == ("curated", ANSWER_ZH)
    assert zh["citations"][0]["kind"] == "curated"
    # Numbered after the curated answer, each as the index has it (a URL given finds its article).
    assert [c["n"] for c in zh["citations"]] == [1, 2, 3]
    assert [shown(c) for c in zh["citations"][1:]] == [cited(index, PENDING_ZH), cited(index, FAILED_ZH)]
    assert all(c["snippet"] for c in zh["citations"][1:])

    # Asked in English: the English translation where the help center has one.
    en = ask(client, QUESTION_EN)
    assert (en["mode"], en["answer"]) == ("curated", ANSWER_EN)
    assert [shown(c) for c in en["citations"][1:]] == [cited(index, PENDING_EN), cited(index, FAILED_ZH)]

    # The conversation keeps them as shown.
    page = client.get(f"/v1/conversations/{zh['conversation_id']}/messages", params={"user_id": "u-curated"})
    assert page.json()["messages"][1]["citations"] == zh["citations"]


def test_an_article_the_served_index_does_not_have_is_refused_naming_the_entry(
    served: tuple[TestClient[Any], Store], index: IndexVersion
) -> None:
    client, store = served
    typo = FAILED_ZH.replace("failed-transfer", "failed-transfers")
    body = {"question_zh": QUESTION_ZH, "answer_zh": ANSWER_ZH, "articles": [PENDING_ZH, typo]}
    refused = client.post("/v1/curated", json=body)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert f"articles[1]: {typo!r}" in error["message"] and f"did you mean {FAILED_ZH!r}" in error["message"]
    assert error["detail"]["field"] == "articles"
    assert store.list_curated() == []

    made = client.post("/v1/curated", json={**body, "articles": [PENDING_ZH]})
    assert made.status_code == 201, made.text
    curated_id = made.json()["id"]
    # A past ticket is in the index, but customers' words are never cited to users.
    ticket = next(d.doc_id for d in index.documents if d.kind == "ticket")
    edited = client.patch(f"/v1/curated/{curated_id}", json={"articles": [ticket]})
    assert edited.status_code == 422 and f"articles[0]: {ticket!r} is a past ticket" in edited.text
    assert client.patch(f"/v1/curated/{curated_id}", json={"articles": ["nothing/like/it"]}).status_code == 422
    assert store.get_curated(curated_id).articles == (PENDING_ZH,)

    # Approving a draft checks the articles it is given the same way.
    draft = store.add_draft(question=QUESTION_ZH, answer=ANSWER_ZH, lang="zh", users=2)
    approving = client.post(f"/v1/drafts/{draft.id}/approve", json={"articles": [typo]})
    assert approving.status_code == 422 and "articles[0]" in approving.text
    assert store.get_draft(draft.id).status == "pending"


def test_a_link_the_index_no_longer_has_is_left_out_never_shown_as_a_path(
    served: tuple[TestClient[Any], Store], index: IndexVersion
) -> None:
    client, store = served
    # Stored before links were checked, or its article removed from the help center since.
    store.add_curated(question_zh=QUESTION_ZH, answer_zh=ANSWER_ZH, articles=["help/zh/gone.md", FAILED_ZH])
    answer = ask(client, QUESTION_ZH)
    assert answer["mode"] == "curated"
    assert [shown(c) for c in answer["citations"][1:]] == [cited(index, FAILED_ZH)]
    assert [c["n"] for c in answer["citations"]] == [1, 2]


def test_without_an_index_articles_cannot_be_checked_and_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "data"
    empty.mkdir()
    app, store = open_app(empty, tmp_path)
    with TestClient(app) as client:
        body = {"question_zh": QUESTION_ZH, "answer_zh": ANSWER_ZH, "articles": [FAILED_ZH]}
        refused = client.post("/v1/curated", json=body)
        assert refused.status_code == 503, refused.text
        assert f"articles[0]: {FAILED_ZH!r} cannot be checked" in refused.json()["error"]["message"]
        assert client.post("/v1/curated", json={**body, "articles": []}).status_code == 201
    store.close()


def test_kefu_curated_checks_its_articles_against_the_index(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEFU_DATA_DIR", str(data_dir))
    monkeypatch.setenv("KEFU_DATABASE_URL", f"sqlite:///{tmp_path / 'kefu.db'}")
    monkeypatch.delenv("KEFU_INDEX", raising=False)
    add = ["curated", "add", "--question-zh", QUESTION_ZH, "--answer-zh", ANSWER_ZH]
    typo = "help/zh/transfer/failed-transfer.md"
    assert main([*add, "--article", PENDING_ZH, "--article", typo]) == 1
    err = capsys.readouterr().err
    assert f"articles[1]: {typo!r} is no article of index 'harbor'" in err and FAILED_ZH in err
    assert main([*add, "--article", FAILED_ZH, "--json"]) == 0
    assert '"articles": [' in capsys.readouterr().out
    assert main(["curated", "edit", "1", "--article", typo]) == 1
    assert "articles[0]" in capsys.readouterr().err

    # Another index name, which this data dir does not have: nothing to check against.
    assert main([*add, "--article", FAILED_ZH, "--index", "missing"]) == 1
    err = capsys.readouterr().err
    assert f"articles[0]: {FAILED_ZH!r} cannot be checked: no index 'missing'" in err
    assert main([*add, "--index", "missing"]) == 0  # no articles, nothing to check
