"""Fixtures the service tests share: one searcher over the demo index for the whole run, an
empty database on each backend, and a store on it (with and without a webhook)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.index import open_index
from kefu.embedder import SentenceTransformerEmbedder
from service.glossary import Glossary
from service.retriever import HybridRetriever
from service.store import Store
from tests.service.databases import BACKENDS, WEBHOOK, Clock, Database, make_database, make_store


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def retriever(harbor_data_dir: Path, embedder: SentenceTransformerEmbedder) -> HybridRetriever:
    """The demo index with the real embedder and glossary (read-only, so shared)."""
    return HybridRetriever(open_index(harbor_data_dir, "harbor"), embedder, glossary=Glossary.load())


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """An empty database, once on a SQLite file and once on PostgreSQL."""
    return make_database(request, request.param, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db: Database, clock: Clock) -> Iterator[Store]:
    s = make_store(db, clock)
    yield s
    s.close()


@pytest.fixture
def hooked(db: Database, clock: Clock) -> Iterator[Store]:
    """A store with a webhook configured: every new handoff writes an outbox row."""
    s = make_store(db, clock, webhook_url=WEBHOOK)
    yield s
    s.close()
