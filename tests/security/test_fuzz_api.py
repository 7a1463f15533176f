"""A small run of bench/fuzz_api.py: schemathesis against ``kefu serve`` on loopback, from the
API's own OpenAPI document, must find no 5xx and no response that breaks the schema. The
figures of a full run (1,000+ requests) are in docs/security.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kefu.settings import Settings
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_generated_requests_find_no_server_error(tmp_path: Path, harbor_data_dir: Path, settings: Settings) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(settings.models_dir)
    (data / "indexes").symlink_to(harbor_data_dir / "indexes")
    result = subprocess.run(
        # The two acceptance checks judge business rules the schema cannot say (feedback
        # "edited" needs final_text, a ticket needs a customer message, a body over
        # KEFU_MAX_BODY_BYTES is 413): docs/security.md lists what they report.
        [
            sys.executable,
            str(REPO / "bench" / "fuzz_api.py"),
            "--max-examples",
            "4",
            "--",
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection",
        ],
        env={**os.environ, "KEFU_DATA_DIR": str(data)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    assert "No issues found" in out or "passed" in out, out[-3000:]
