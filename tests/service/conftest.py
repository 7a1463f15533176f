"""Fixtures the service tests share: one searcher over the demo index for the whole run, and
an empty database on each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.index import open_index
from kefu.embedder import SentenceTransformerEmbedder
from service.glossary import Glossary
from service.retriever import HybridRetriever
from tests.service.databases import BACKENDS, Database, make_database


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
