"""deploy/compose.yaml and deploy/Caddyfile agree with the image and the settings they drive.

No Docker engine here, so the deployment cannot run in the tests; what it relies on is
checked instead: every variable it sets is one kefu reads and reads as meant, both replicas
are configured alike and mount the one index volume where the image keeps its data, the
image can reach PostgreSQL, and the proxy sends requests to every replica's port.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kefu.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
#: What compose fills in from the operator's environment, for the test.
OPERATOR = {"POSTGRES_PASSWORD": "s3cret"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == "kefu"}


def interpolated(value: str) -> str:
    """``value`` with compose's ``${VAR:-default}`` / ``${VAR:?message}`` filled in."""

    def fill(m: re.Match[str]) -> str:
        name, op, rest = m.group(1), m.group(2) or "", m.group(3) or ""
        if name in OPERATOR:
            return OPERATOR[name]
        assert op != ":?", f"{name} must be set"
        return rest

    return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", fill, value)


def image_env() -> dict[str, str]:
    """The ENV the Dockerfile's runtime image sets."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    runtime = text[text.index("AS runtime") :]
    block = re.search(r"^ENV (.*?)(?=^\S)", runtime, re.MULTILINE | re.DOTALL)
    assert block is not None
    return dict(re.findall(r"(\w+)=(\S+)", block.group(1)))


def test_two_replicas_configured_alike_behind_the_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kefu = replicas(compose)
    assert sorted(kefu) == ["kefu-a", "kefu-b"]
    assert kefu["kefu-a"] == kefu["kefu-b"]
    assert {"postgres", "ollama", "proxy"} <= set(services)


def test_every_variable_the_replicas_get_is_a_setting_read_as_meant(compose: dict[str, Any]) -> None:
    env = {k: interpolated(str(v)) for k, v in replicas(compose)["kefu-a"]["environment"].items()}
    source = (REPO / "kefu" / "settings.py").read_text(encoding="utf-8")
    unknown = [name for name in env if name != "OLLAMA_HOST" and f'"{name}"' not in source]
    assert unknown == []
    settings = Settings.from_env({**image_env(), **env})
    postgres = compose["services"]["postgres"]["environment"]
    assert settings.database_url == (
        f"postgresql+psycopg://{postgres['POSTGRES_USER']}:{OPERATOR['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert settings.llm_backend == "ollama" and settings.ollama_hosts == ("http://ollama:11434",)
    assert settings.index_watch_seconds > 0 and settings.webhook_url is None and settings.cors_origins == ()
    # Each replica sends Ollama this many generations at once; together, what Ollama runs.
    ollama = compose["services"]["ollama"]["environment"]
    assert int(ollama["OLLAMA_NUM_PARALLEL"]) == settings.llm_parallel * len(replicas(compose))
    # The help center the replicas reindex is mounted where KEFU_CORPUS_DIR says.
    mounts = [interpolated(v).split(":") for v in replicas(compose)["kefu-a"]["volumes"]]
    [(corpus, _, mode)] = [m for m in mounts if m[1] == str(settings.corpus_dir)]
    assert mode == "ro" and (DEPLOY / corpus / "help").is_dir()  # the bundled corpus by default


def test_the_replicas_share_one_index_volume_where_the_image_keeps_its_data(compose: dict[str, Any]) -> None:
    data_dir = image_env()["KEFU_DATA_DIR"]
    for service in replicas(compose).values():
        named = [v for v in service["volumes"] if v.split(":")[1] == data_dir]
        assert named == ["kefu-data:" + data_dir]
    assert "kefu-data" in compose["volumes"]


def test_the_image_has_the_postgresql_driver() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install '.[postgres]'" in dockerfile
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^postgres = \["psycopg\[binary\]', pyproject, re.MULTILINE)


def test_the_proxy_sends_requests_to_every_replica(compose: dict[str, Any]) -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    port = re.search(r'"--port", "(\d+)"', (REPO / "Dockerfile").read_text(encoding="utf-8"))
    assert port is not None
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddyfile)
    assert upstreams is not None
    assert sorted(upstreams.group(1).split()) == [f"{name}:{port.group(1)}" for name in sorted(replicas(compose))]
    # Its health check asks a route the app serves, and server-sent events pass at once.
    health = re.search(r"health_uri (\S+)", caddyfile)
    assert health is not None and health.group(1) == "/health"
    assert re.search(r"flush_interval -1", caddyfile)
    proxy = compose["services"]["proxy"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
