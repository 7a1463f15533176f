"""Shared fixtures: no network beyond loopback, real models from the data dir, a fake Ollama,
a real PostgreSQL server."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kefu.settings import Settings
from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.postgres import ExternalPostgres, LocalPostgres, PostgresUnavailable

REPO = Path(__file__).resolve().parent.parent
TP_CN = REPO.parent / "shared" / "corpora" / "tp-cn"

#: An existing server's admin URL to test against instead of a throw-away cluster.
POSTGRES_URL_VARIABLE = "KEFU_TEST_POSTGRES_URL"
#: Set (by `make test`) where PostgreSQL tests must run: no server is then a failure, not a skip.
REQUIRE_POSTGRES_VARIABLE = "KEFU_TEST_REQUIRE_POSTGRES"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test may talk to loopback only: nothing here may reach a model hub."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host = str(address[0])
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise OSError(f"tests may not reach the network ({host})")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings from the environment, with the data dir made absolute (models live there)."""
    s = Settings.from_env()
    data_dir = s.data_dir if s.data_dir.is_absolute() else REPO / s.data_dir
    return s.with_overrides(data_dir=data_dir)


@pytest.fixture(scope="session")
def embedder(settings: Settings):  # type: ignore[no-untyped-def]
    """The real default embedder (built by `make models`), loaded once per session."""
    from kefu.embedder import SentenceTransformerEmbedder

    if not (settings.default_embedder_dir / "modules.json").is_file():
        pytest.fail(f"no embedder at {settings.default_embedder_dir}: run `make models` first")
    e = SentenceTransformerEmbedder(settings.embedding_model_id)
    e.warm_up()
    return e


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    server = FakeOllama(
        models={
            "qwen2.5:3b-instruct": ScriptedModel(
                tokens=["转账", "打包中", "通常", "是", "矿工费", "太低", "[1]", "。"], prompt_eval_count=57
            ),
        }
    ).start()
    try:
        yield server
    finally:
        server.stop()


HARBOR = REPO / "corpora" / "harbor"


@pytest.fixture(scope="session")
def harbor_data_dir(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:  # type: ignore[no-untyped-def]
    """A data dir with the demo corpus ingested into index "harbor", built once per session.

    Read-only for tests: a test that changes an index copies it first.
    """
    from ingest.pipeline import run_ingest

    data = tmp_path_factory.mktemp("harbor-data")
    from kefu.settings import DEFAULT_OFFICIAL_DOMAINS

    # As `kefu ingest` builds it (links judged against the default official domains), so a
    # reindex by the API changes nothing but what a test changes.
    report = run_ingest(
        [HARBOR], data_dir=data, index_name="harbor", embedder=embedder, official_domains=DEFAULT_OFFICIAL_DOMAINS
    )
    assert report.changed and report.documents["new"] == 295
    return data


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres | ExternalPostgres]:
    """A PostgreSQL server for the run: $KEFU_TEST_POSTGRES_URL, or a throw-away local cluster.

    Each test (or module) makes its own database in it with ``create_database()``. Without
    a server this skips, unless $KEFU_TEST_REQUIRE_POSTGRES is set (CI), where it fails.
    """
    external = os.environ.get(POSTGRES_URL_VARIABLE)
    server: LocalPostgres | ExternalPostgres
    try:
        server = ExternalPostgres(external) if external else LocalPostgres().start()
    except PostgresUnavailable as exc:
        if os.environ.get(REQUIRE_POSTGRES_VARIABLE):
            pytest.fail(f"PostgreSQL is required here: {exc}")
        pytest.skip(f"no PostgreSQL: {exc}")
    try:
        yield server
    finally:
        server.stop()
