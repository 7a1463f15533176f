"""The `kefu` command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kefu.settings import Settings

pytestmark = pytest.mark.integration

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
    exported = settings.default_embedder_dir / "onnx" / "model.onnx"
    files = (gguf, weights, exported)
    before = [f.stat().st_mtime_ns for f in files]
    out = kefu("setup-models", "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    # Nothing is rebuilt; the LLM still generates its test answer in its own process.
    assert [(s["name"], s["status"]) for s in report["steps"]] == [
        ("embedder", "ready"),
        ("onnx", "ready"),
        ("llm", "ready"),
        ("llm-test", "ok"),
    ]
    assert [f.stat().st_mtime_ns for f in files] == before


def test_importing_the_core_loads_no_web_framework_and_no_torch() -> None:
    code = (
        "import sys, kefu.cli, kefu.embedder, kefu.generators, kefu.models.provision, kefu.settings;"
        "bad = [m for m in ('litestar', 'torch', 'sentence_transformers', 'llama_cpp') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.slow
def test_ingest_prints_what_it_left_out(tmp_path: Path, settings: Settings) -> None:
    env = {"KEFU_DATA_DIR": str(tmp_path / "data"), "KEFU_EMBEDDING_MODEL": settings.embedding_model_id}
    src = tmp_path / "src"
    shutil.copytree(REPO / "tests" / "fixtures" / "sources" / "markdown", src)
    (src / "README.md").write_text("# 帮助中心\n\n这个文件夹是测试用的。\n", encoding="utf-8")
    (src / "section.md").write_text("# 钱包管理\n", encoding="utf-8")
    out = kefu("ingest", str(src), "--index", "mini", env=env)
    assert out.returncode == 0, out.stderr
    assert f"note: {src}: README.md at the root describes the folder" in out.stderr
    assert f"note: {src}: left out 1 page(s) with no text besides the title: section.md" in out.stderr
    assert "2 new" in out.stdout


@pytest.mark.slow  # the real embedder, in the `kefu` process
def test_ingest_search_and_retrieval_eval_through_the_cli(tmp_path: Path, settings: Settings) -> None:
    env = {"KEFU_DATA_DIR": str(tmp_path), "KEFU_EMBEDDING_MODEL": settings.embedding_model_id}
    src = REPO / "tests" / "fixtures" / "sources" / "markdown"
    out = kefu("ingest", str(src), "--index", "mini", "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["changed"] and report["documents"]["new"] == 2

    out = kefu("search", "充值忘记填 MEMO", "--index", "mini", "--k", "1", "--json", env=env)
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)["hits"]
    assert hits[0]["path"] == "faq/memo.md" and hits[0]["title"].startswith("充值交易所")

    dataset = tmp_path / "mini.jsonl"
    dataset.write_text(
        json.dumps(
            {
                "id": "m1",
                "question": "交易所充值没填标签",
                "lang": "zh",
                "expected": "answer",
                "gold": ["faq/memo.md"],
                "facts": ["MEMO"],
                "category": "transfers",
            },
            ensure_ascii=False,
        )
        + "\n"
        + json.dumps(
            {
                "id": "m2",
                "question": "why do I need ETH to move USDT",
                "lang": "en",
                "expected": "answer",
                "gold": ["faq/fees.md"],
                "facts": ["ETH"],
                "category": "fees",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    out_dir = tmp_path / "eval"
    out = kefu("eval", "--dataset", str(dataset), "--index", "mini", "--mode", "retrieval",
               "--out", str(out_dir), env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["retrieval"]["hit@1"] == 1.0 and metrics["retrieval"]["n"] == 2
    assert set(metrics["retrieval"]["by_lang"]) == {"zh", "en"}
    assert "| all | 2 |" in (out_dir / "report.md").read_text()


def test_eval_rejects_a_bad_dataset_line_naming_file_and_line(tmp_path: Path) -> None:
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text('{"id": "a", "question": "q", "lang": "zh", "expected": "answer", "gold": ["x.md"]}\n{oops\n')
    out = kefu("eval", "--dataset", str(dataset), "--mode", "retrieval", env={"KEFU_DATA_DIR": str(tmp_path)})
    assert out.returncode == 1
    assert f"{dataset}:2: not valid JSON" in out.stderr


def test_search_without_an_index_says_how_to_build_it(tmp_path: Path) -> None:
    out = kefu("search", "转账", "--index", "absent", env={"KEFU_DATA_DIR": str(tmp_path)})
    assert out.returncode == 1
    assert "kefu ingest --index absent" in out.stderr
