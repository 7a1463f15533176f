"""Shared fixtures: no network beyond loopback, real models from the data dir, a fake Ollama,
a real PostgreSQL server; and the markers kept true: a test that loads a model is `slow`, one
that starts a server, a process or a database is `integration`, and every other test runs in
this process alone (what `make test-fast` runs)."""

from __future__ import annotations

import importlib.abc
import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

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


#: Fixtures that load a real model: a test that asks for one must be marked slow.
MODEL_FIXTURES = frozenset({"embedder", "harbor_data_dir", "retriever"})
#: Fixtures that start a server or a database: a test that asks for one must be marked
#: integration (or slow).
OUTSIDE_FIXTURES = frozenset({"postgres", "db", "fake_ollama"})
#: Libraries that only a model needs; a test not marked slow may not import them.
MODEL_LIBRARIES = frozenset(
    {"torch", "sentence_transformers", "transformers", "llama_cpp", "onnx", "onnxruntime", "openvino"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a run where a test's fixtures say more than its markers: `make test-fast` would
    otherwise load a model or start a server."""
    wrong = []
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        slow = item.get_closest_marker("slow") is not None
        if names & MODEL_FIXTURES and not slow:
            wrong.append(f"{item.nodeid} loads a model ({', '.join(sorted(names & MODEL_FIXTURES))}): mark it slow")
        elif names & OUTSIDE_FIXTURES and not (slow or item.get_closest_marker("integration")):
            needs = ", ".join(sorted(names & OUTSIDE_FIXTURES))
            wrong.append(f"{item.nodeid} starts a server or a database ({needs}): mark it integration")
    if wrong:
        raise pytest.UsageError("tests whose markers do not say what they need:\n" + "\n".join(wrong))


class _RefuseModelLibraries(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> None:
        if fullname.partition(".")[0] in MODEL_LIBRARIES:
            raise ImportError(f"a test not marked slow may not load a model ({fullname} imported)")


@pytest.fixture(autouse=True)
def _in_process_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A test marked neither slow nor integration binds no socket (no server), starts no
    process and imports no model library: such tests are what `make test-fast` runs."""
    if request.node.get_closest_marker("slow") or request.node.get_closest_marker("integration"):
        yield
        return

    def refuse(what: str) -> object:
        def refused(*args: object, **kwargs: object) -> None:
            raise RuntimeError(f"a test not marked integration may not {what}")

        return refused

    monkeypatch.setattr(socket.socket, "bind", refuse("bind a socket (start a server)"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a process"))
    finder = _RefuseModelLibraries()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


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
