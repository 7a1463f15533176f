"""The `kefu` command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kefu.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def kefu(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kefu.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def test_help_lists_the_commands() -> None:
    out = kefu("--help")
    assert out.returncode == 0
    for command in ("setup-models", "config", "check"):
        assert command in out.stdout


def test_config_json_reflects_the_environment(tmp_path: Path) -> None:
    out = kefu("config", "--json", env={"KEFU_DATA_DIR": str(tmp_path), "KEFU_LLM_THREADS": "3"})
    assert out.returncode == 0, out.stderr
    values = json.loads(out.stdout)
    assert values["data_dir"] == str(tmp_path)
    assert values["llm_threads"] == "3"


def test_a_bad_setting_is_a_clear_error_not_a_traceback() -> None:
    out = kefu("config", env={"KEFU_LLM_BACKEND": "gpt"})
    assert out.returncode == 1
    assert "KEFU_LLM_BACKEND='gpt' is not valid" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_setup_models_a_second_time_changes_nothing(settings: Settings) -> None:
    env = {"KEFU_DATA_DIR": str(settings.data_dir)}
    gguf = settings.default_gguf_path
    weights = settings.default_embedder_dir / "model.safetensors"
    before = (gguf.stat().st_mtime_ns, weights.stat().st_mtime_ns)
    out = kefu("setup-models", "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [(s["name"], s["status"]) for s in report["steps"]] == [("embedder", "ready"), ("llm", "ready")]
    assert (gguf.stat().st_mtime_ns, weights.stat().st_mtime_ns) == before


def test_importing_the_core_loads_no_web_framework_and_no_torch() -> None:
    code = (
        "import sys, kefu.cli, kefu.embedder, kefu.generators, kefu.models.provision, kefu.settings;"
        "bad = [m for m in ('litestar', 'torch', 'sentence_transformers', 'llama_cpp') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
