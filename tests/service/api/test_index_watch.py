"""Servers sharing an index folder serve the version any of them (or ``kefu ingest``)
publishes: each watches the index's ``current`` pointer and swaps the new version in,
without refusing a request meanwhile. Fast: a small index built with the fake embedder."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ingest.index import IndexLayout
from ingest.pipeline import run_ingest
from tests.fakes.embedder import FakeEmbedder
from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.service.api.conftest import api_settings, build_app

HELP = Path(__file__).resolve().parents[3] / "corpora" / "harbor" / "help" / "zh"
WATCH_SECONDS = 0.2
#: How long a replica may take to serve a published version: a few polls and the load.
PICKUP_SECONDS = 5.0
NEW_ARTICLE = """---
title: 什么是 Zephyrine 保险库？
lang: zh
category: security
---
# 什么是 Zephyrine 保险库？

Zephyrine 保险库是带时间锁的子账户：转入的资产要等 48 小时才能转出，手机丢了也来得及处理。
"""
NEW_QUERY = {"query": "Zephyrine 保险库 时间锁", "k": 3}
NEW_SOURCE = "security/zephyrine-vault.md"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOllama]:
    server = FakeOllama({"m": ScriptedModel(tokens=["好", "。"])}).start()
    yield server
    server.stop()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for part in ("fees", "security"):
        shutil.copytree(HELP / part, root / part)
    return root


def client_for(data: Path, db: Path, corpus: Path, llm: FakeOllama) -> TestClient[Any]:
    settings = api_settings(
        data, db, corpus_dir=corpus, rate_limit=0, index_watch_seconds=WATCH_SECONDS, answer_style="quote"
    )
    return TestClient(build_app(settings, llm, FakeEmbedder(), model="m", open_access=True))


def served_version(client: TestClient[Any]) -> str | None:
    body = client.get("/ready").json()
    # Not ready, the 503's detail says what is served (nothing, at first).
    version: str | None = body["index_version"] if "index_version" in body else body["error"]["detail"]["index_version"]
    return version


def wait_for_version(client: TestClient[Any], version: str) -> float:
    """Seconds until ``client`` serves ``version`` (fails after PICKUP_SECONDS)."""
    start = time.monotonic()
    while served_version(client) != version:
        assert time.monotonic() - start < PICKUP_SECONDS, f"still serving {served_version(client)}, not {version}"
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_reindex_on_one_server_is_served_by_the_other_within_seconds(
    tmp_path: Path, corpus: Path, llm: FakeOllama
) -> None:
    data = tmp_path / "data"
    run_ingest([corpus], data_dir=data, index_name="harbor", embedder=FakeEmbedder())
    (corpus / "security" / "zephyrine-vault.md").write_text(NEW_ARTICLE, encoding="utf-8")
    with (
        client_for(data, tmp_path / "a.db", corpus, llm) as a,
        client_for(data, tmp_path / "b.db", corpus, llm) as b,
        ThreadPoolExecutor(1) as pool,
    ):
        before = served_version(b)
        assert before is not None and served_version(a) == before
        assert NEW_SOURCE not in [h["source"] for h in b.post("/v1/search", json=NEW_QUERY).json()["hits"]]

        reindex = pool.submit(a.post, "/v1/admin/reindex")
        statuses, versions = [], set()
        # b is searched all along: before, during and after the swap, none refused.
        deadline = time.monotonic() + 60
        while not reindex.done() or served_version(b) == before:
            assert time.monotonic() < deadline, "b never served the new version"
            response = b.post("/v1/search", json=NEW_QUERY)
            statuses.append(response.status_code)
            versions.add(response.json()["index_version"])
        report = reindex.result().json()
        print(f"b answered {len(statuses)} searches while a reindexed and b swapped the new version in")
        assert report["swapped"] and report["previous_version"] == before and report["documents"]["new"] == 1

        assert set(statuses) == {200} and versions <= {before, report["version"]}
        assert served_version(b) == report["version"] == served_version(a)
        hits = b.post("/v1/search", json=NEW_QUERY).json()["hits"]
        assert hits[0]["source"] == NEW_SOURCE
        assert 'kefu_index_watch_total{outcome="swapped"} 1.0' in b.get("/metrics").text
        # a swapped it in itself (its watch had nothing left to do).
        assert "kefu_index_watch_total{" not in a.get("/metrics").text


def test_a_version_kefu_ingest_publishes_is_served_and_a_server_without_an_index_becomes_ready(
    tmp_path: Path, corpus: Path, llm: FakeOllama
) -> None:
    data = tmp_path / "data"
    with client_for(data, tmp_path / "a.db", corpus, llm) as a:
        ready = a.get("/ready")
        assert ready.status_code == 503 and "index" in ready.json()["error"]["detail"]["missing"]
        report = run_ingest([corpus], data_dir=data, index_name="harbor", embedder=FakeEmbedder())
        took = wait_for_version(a, str(report.version))
        print(f"a version published by kefu ingest served after {took:.2f} s (polling every {WATCH_SECONDS} s)")
        assert a.get("/ready").status_code == 200
        assert a.post("/v1/search", json={"query": "矿工费", "k": 1}).json()["hits"]


def test_a_version_that_cannot_be_served_is_skipped_and_the_old_one_keeps_serving(
    tmp_path: Path, corpus: Path, llm: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    first = run_ingest([corpus], data_dir=data, index_name="harbor", embedder=FakeEmbedder())
    with client_for(data, tmp_path / "a.db", corpus, llm) as a, caplog.at_level(logging.WARNING, "kefu.api"):
        # Built with another embedder: this server's cannot search it.
        other = run_ingest(
            [corpus], data_dir=data, index_name="harbor", embedder=FakeEmbedder(dim=64, model_id="another-model")
        )
        assert IndexLayout(data, "harbor").current_name() == other.version != first.version
        deadline = time.monotonic() + PICKUP_SECONDS
        while 'kefu_index_watch_total{outcome="failed"} 1.0' not in a.get("/metrics").text:
            assert time.monotonic() < deadline, "the watch never tried the new version"
            time.sleep(0.05)
        time.sleep(5 * WATCH_SECONDS)  # later polls do not try (and log) it again
        assert 'kefu_index_watch_total{outcome="failed"} 1.0' in a.get("/metrics").text
        assert served_version(a) == first.version and a.get("/ready").status_code == 200
        assert a.post("/v1/search", json={"query": "矿工费", "k": 1}).status_code == 200
        [warning] = [r.getMessage() for r in caplog.records if "cannot be served" in r.getMessage()]
        assert f"version {other.version}" in warning and f"still serving {first.version}" in warning
        assert "another-model" in warning
        # The next version it can serve is served.
        again = run_ingest([corpus], data_dir=data, index_name="harbor", embedder=FakeEmbedder())
        wait_for_version(a, str(again.version))


def test_a_reindex_while_another_server_ingests_is_refused_and_changes_nothing(
    tmp_path: Path, corpus: Path, llm: FakeOllama
) -> None:
    data = tmp_path / "data"
    first = run_ingest([corpus], data_dir=data, index_name="harbor", embedder=FakeEmbedder())
    (corpus / "security" / "zephyrine-vault.md").write_text(NEW_ARTICLE, encoding="utf-8")
    with client_for(data, tmp_path / "a.db", corpus, llm) as a:
        with IndexLayout(data, "harbor").lock():  # what an ingest in another process holds
            refused = a.post("/v1/admin/reindex")
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["message"] == "another ingest into index 'harbor' is running"
            assert served_version(a) == first.version == IndexLayout(data, "harbor").current_name()
        assert a.post("/v1/admin/reindex").json()["documents"]["new"] == 1


def test_a_damaged_version_is_skipped_and_the_watch_goes_on(tmp_path: Path, corpus: Path, llm: FakeOllama) -> None:
    data = tmp_path / "data"
    first = run_ingest([corpus], data_dir=data, index_name="harbor", embedder=FakeEmbedder())
    layout = IndexLayout(data, "harbor")
    with client_for(data, tmp_path / "a.db", corpus, llm) as a:
        # A copy of the version with its FAISS file damaged, switched in as an ingest would.
        damaged = layout.versions / f"{first.version}-damaged"
        shutil.copytree(layout.versions / str(first.version), damaged)
        (damaged / "dense.faiss").write_bytes(b"not a FAISS index")
        link = layout.root / ".current-test"
        link.symlink_to(Path("versions") / damaged.name)
        link.replace(layout.current)
        deadline = time.monotonic() + PICKUP_SECONDS
        while 'kefu_index_watch_total{outcome="failed"} 1.0' not in a.get("/metrics").text:
            assert time.monotonic() < deadline, "the watch never tried the damaged version"
            time.sleep(0.05)
        assert served_version(a) == first.version
        assert a.post("/v1/search", json={"query": "矿工费", "k": 1}).status_code == 200
        # The watch is still there for the next version.
        (corpus / "security" / "zephyrine-vault.md").write_text(NEW_ARTICLE, encoding="utf-8")
        again = run_ingest([corpus], data_dir=data, index_name="harbor", embedder=FakeEmbedder())
        wait_for_version(a, str(again.version))
