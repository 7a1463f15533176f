"""``kefu serve`` (the open-demo rule for API keys) and ``kefu keys``, without starting a
server: uvicorn.run is replaced, so no model loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kefu.cli import main
from service.keys import verify_key
from service.store import Store
from tests.service.api.conftest import runtime_of


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    # serve() would install JSON logging on the root logger, hiding records from caplog.
    monkeypatch.setattr("service.api.logs.configure_logging", lambda level="INFO": None)
    return tmp_path


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append({"app": app, **kw}))
    return calls


def test_serve_refuses_another_address_without_keys(
    cli_env: Path, uvicorn_calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 1
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without API keys" in err and "kefu keys create" in err
    assert "Traceback" not in err and uvicorn_calls == []


def test_serve_runs_open_on_loopback_without_keys_and_says_so_loudly(
    cli_env: Path,
    uvicorn_calls: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert main(["serve", "--port", "8123", "--index", "other"]) == 0
    err = capsys.readouterr().err
    assert "WITHOUT AUTHENTICATION" in err and "http://127.0.0.1:8123" in err
    assert any("WITHOUT AUTHENTICATION" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    [call] = uvicorn_calls
    assert call["host"] == "127.0.0.1" and call["port"] == 8123 and call["access_log"] is False
    runtime = runtime_of(call["app"])
    assert runtime.open_access is True and runtime.index_name == "other"


def test_with_a_key_serve_requires_keys_on_any_address(
    cli_env: Path, uvicorn_calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--role", "admin", "--name", "ops"]) == 0
    capsys.readouterr()
    assert main(["serve", "--host", "0.0.0.0"]) == 0
    assert "WITHOUT AUTHENTICATION" not in capsys.readouterr().err
    assert runtime_of(uvicorn_calls[0]["app"]).open_access is False


def test_keys_are_created_shown_once_listed_and_revoked(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "list"]) == 0
    assert "No API keys" in capsys.readouterr().out
    assert main(["keys", "create", "--role", "agent", "--name", "alice"]) == 0
    created = capsys.readouterr().out.strip().splitlines()
    key = created[-1]
    assert key.startswith("kefu_agent_") and "not shown again" in created[0]
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "alice" in listing and "agent" in listing and "active" in listing
    assert key not in listing and key[:19] in listing
    with Store(f"sqlite:///{cli_env / 'kefu.db'}") as store:
        assert verify_key(store, key, ["agent"]).name == "alice"
    assert main(["keys", "revoke", "1"]) == 0
    assert "Revoked agent key 1 (alice)" in capsys.readouterr().out
    assert main(["keys", "revoke", "7"]) == 1
    assert "no API key 7" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["keys", "create", "--role", "root"])
