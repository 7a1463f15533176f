"""Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis).

Usage: python bench/fuzz_api.py [--max-examples 100] [--seed 17] [--include-reindex] [-- ST_OPTIONS...]

Starts ``kefu serve`` on 127.0.0.1 (as bench/load_api.py does: a throw-away database with
one admin key, no rate limit, the LLM a local fake that speaks Ollama's API, the index of
KEFU_DATA_DIR), then runs ``st run`` against /schema/openapi.json with the admin key:
every operation gets ``--max-examples`` generated requests (valid and invalid ones, and
stateful sequences), checked for 5xx responses (``not_a_server_error``), responses that
do not match the schema and the other default checks. Prints schemathesis's summary and
exits with its status. The reindex endpoint re-ingests the corpus on every call, so it is
left out unless asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from load_api import FAKE_MODEL, FAKE_TOKENS, start_server, wait_ready  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=100, help="generated requests per operation")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--include-reindex", action="store_true")
    parser.add_argument("--start-timeout", type=float, default=300.0)
    parser.add_argument("st_options", nargs=argparse.REMAINDER, help="more options for `st run`, after --")
    args = parser.parse_args()
    args.queue = 4  # what start_server reads

    from tests.fakes.ollama_server import FakeOllama, ScriptedModel

    fake = FakeOllama({FAKE_MODEL: ScriptedModel(tokens=FAKE_TOKENS)}).start()
    assert fake.server is not None
    fake.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    env = {"KEFU_LLM_BACKEND": "ollama", "KEFU_OLLAMA_HOST": fake.url, "KEFU_OLLAMA_MODEL": FAKE_MODEL}
    with tempfile.TemporaryDirectory(prefix="kefu-fuzz-") as tmp:
        process, base, key = start_server(args, Path(tmp), env)
        try:
            t = time.perf_counter()
            asyncio.run(wait_ready(base, process, args.start_timeout))
            print(f"server ready in {time.perf_counter() - t:.1f} s at {base}", flush=True)
            st = Path(sys.executable).with_name("st")
            command = [
                str(st), "run", f"{base}/schema/openapi.json",
                "--header", f"Authorization: Bearer {key}",
                "--max-examples", str(args.max_examples),
                "--seed", str(args.seed),
                "--workers", "1",
                "--request-timeout", "120",
            ]  # fmt: skip
            if not args.include_reindex:
                command += ["--exclude-path", "/v1/admin/reindex"]
            command += [option for option in args.st_options if option != "--"]
            started = time.perf_counter()
            result = subprocess.run(command, env={**os.environ, "NO_COLOR": "1"}, check=False)
            print(f"st run took {time.perf_counter() - started:.0f} s, exit {result.returncode}", flush=True)
            return result.returncode
        finally:
            process.terminate()
            process.wait(timeout=30)
            fake.stop()


if __name__ == "__main__":
    sys.exit(main())
