"""Load test of the HTTP API on loopback: search throughput, and /v1/ask past the LLM's capacity.

Starts ``kefu serve`` as a subprocess on 127.0.0.1 (a free port, a throw-away database with
one admin key, no rate limit), waits until it is ready, then:

1. search: ``--clients`` (8) concurrent clients send /v1/search for ``--search-seconds``;
   reports throughput, p50/p95/p99 latency and any non-200;
2. ask: ``--ask-clients`` (12) clients send /v1/ask at the same moment, more than the one
   generation plus KEFU_LLM_QUEUE (4) waiting the LLM serves; reports how many got 200 and
   how many 503 (with how fast the 503s came back), that every request got an answer within
   ``--ask-timeout`` (none stuck, none lost), then lets each refused client retry after its
   Retry-After (at most ``--retries`` times) and reports how many were answered in the end.

``--llm fake`` (default) answers from a local fake Ollama server (tests/fakes) whose model
takes about ``--fake-seconds`` per answer; ``--llm embedded`` uses the configured llama.cpp
model (the real thing: slower, and answers may time out into fallbacks). Bounded: every
phase has a time limit, and only 127.0.0.1 is ever contacted.

Usage: python bench/load_api.py [--llm fake|embedded] [--clients 8] [--search-seconds 15]
       [--questions harbor|all] [--ask-clients 12] [--queue 4] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eval.dataset import load_dataset  # noqa: E402
from eval.metrics import percentile  # noqa: E402

HOST = "127.0.0.1"
FAKE_MODEL = "bench-model"
#: Cites [1] with words of the usual top source, so answers count as grounded.
FAKE_TOKENS = ["转账", "打包中", "通常", "是", "矿工费", "太低", "[1]", "。"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def serve_main(port: int) -> None:
    """The server subprocess: ``kefu serve`` with settings from the environment."""
    from kefu.settings import Settings
    from service.api.serve import serve

    serve(Settings.from_env(), host=HOST, port=port)


def start_server(args: argparse.Namespace, workdir: Path, env_extra: dict[str, str]) -> tuple[Any, str, str]:
    from kefu.settings import Settings
    from service.keys import create_key
    from service.store import Store

    db = f"sqlite:///{workdir / 'bench.db'}"
    with Store(db) as store:
        store.migrate()
        key, _ = create_key(store, "admin", "load-test")
    port = free_port()
    env = {
        **os.environ,
        "KEFU_DATABASE_URL": db,
        "KEFU_RATE_LIMIT": "0",
        "KEFU_LLM_QUEUE": str(args.queue),
        "KEFU_LOG_LEVEL": "WARNING",
        **env_extra,
    }
    if not Path(env.get("KEFU_DATA_DIR", "var")).is_absolute():
        env["KEFU_DATA_DIR"] = str(REPO / Settings.from_env().data_dir)
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
    )
    return process, f"http://{HOST}:{port}", key


async def wait_ready(base: str, process: Any, limit: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}; see its log")
            try:
                response = await client.get("/ready")
                if response.status_code == 200:
                    return dict(response.json())
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit(f"the server was not ready within {limit:.0f} s")


async def search_phase(base: str, key: str, queries: list[str], clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    stop = time.monotonic() + seconds

    async def client_loop(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30, headers={"Authorization": f"Bearer {key}"}) as c:
            i = n
            while time.monotonic() < stop:
                body = {"query": queries[i % len(queries)], "k": 5}
                start = time.perf_counter()
                response = await c.post("/v1/search", json=body)
                latencies.append((time.perf_counter() - start) * 1000)
                statuses[response.status_code] += 1
                i += clients

    start = time.perf_counter()
    await asyncio.gather(*(client_loop(n) for n in range(clients)))
    wall = time.perf_counter() - start
    return {
        "clients": clients,
        "requests": len(latencies),
        "seconds": round(wall, 2),
        "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "statuses": dict(statuses),
    }


async def ask_phase(
    base: str, key: str, questions: list[str], *, clients: int, timeout: float, retries: int
) -> dict[str, Any]:
    first: list[dict[str, Any]] = []
    final: list[dict[str, Any]] = []

    async def one(c: httpx.AsyncClient, n: int) -> None:
        attempts = 0
        while True:
            start = time.perf_counter()
            try:
                response = await c.post("/v1/ask", json={"question": questions[n % len(questions)]})
                outcome: dict[str, Any] = {
                    "status": response.status_code,
                    "seconds": time.perf_counter() - start,
                    "retry_after": response.headers.get("Retry-After"),
                    "reason": response.json().get("reason") if response.status_code == 200 else None,
                }
            except httpx.TimeoutException:
                outcome = {"status": "stuck", "seconds": time.perf_counter() - start}
            except httpx.TransportError as exc:
                outcome = {"status": f"lost ({type(exc).__name__})", "seconds": time.perf_counter() - start}
            if attempts == 0:
                first.append(outcome)
            if outcome["status"] != 503 or attempts >= retries:
                final.append({**outcome, "attempts": attempts + 1})
                return
            attempts += 1
            await asyncio.sleep(float(outcome["retry_after"] or 1))

    limits = httpx.Limits(max_connections=clients + 4)
    headers = {"Authorization": f"Bearer {key}"}
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=timeout, headers=headers, limits=limits) as c:
        await asyncio.gather(*(one(c, n) for n in range(clients)))
    wall = time.perf_counter() - start

    def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        by_status = Counter(str(r["status"]) for r in rows)
        ok = [r["seconds"] for r in rows if r["status"] == 200]
        busy = [r["seconds"] for r in rows if r["status"] == 503]
        return {
            "statuses": dict(by_status),
            "answered_seconds_max": round(max(ok), 2) if ok else None,
            "refused_seconds_max": round(max(busy), 3) if busy else None,
            "reasons": dict(Counter(r.get("reason") for r in rows if r["status"] == 200)),
        }

    first_wave = summary(first)
    first_wave["retry_after"] = sorted({int(r["retry_after"]) for r in first if r.get("retry_after")})
    return {
        "clients": clients,
        "first_wave": first_wave,
        "with_retries": {**summary(final), "max_attempts": max(r["attempts"] for r in final)},
        "all_finished": len(final) == clients
        and not any(str(r["status"]).startswith(("stuck", "lost")) for r in final),
        "seconds": round(wall, 2),
    }


async def scrape(base: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        text = (await c.get("/metrics")).text
    wanted = ("kefu_llm_busy_rejections_total", "kefu_llm_queue_waiting", "kefu_llm_generation_seconds_count")
    out: dict[str, float] = {}
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted:
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    items = load_dataset(REPO / "eval" / "datasets" / "harbor.jsonl")
    queries = [item.question for item in items]
    if args.questions == "all":
        # Every eval set's questions (892 distinct): a run of fewer requests repeats none, so
        # a server that remembers questions' vectors gains nothing from it.
        queries = [
            item.question
            for path in sorted((REPO / "eval" / "datasets").glob("*.jsonl"))
            for item in load_dataset(path)
        ]
    answerable = [item.question for item in items if item.expected == "answer"]
    env: dict[str, str] = {}
    fake = None
    if args.llm == "fake":
        from tests.fakes.ollama_server import FakeOllama, ScriptedModel

        delay = args.fake_seconds / len(FAKE_TOKENS)
        fake = FakeOllama({FAKE_MODEL: ScriptedModel(tokens=FAKE_TOKENS, delay=delay)}).start()
        assert fake.server is not None
        # The client closing its connection is not worth a traceback in the report.
        fake.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        env = {"KEFU_LLM_BACKEND": "ollama", "KEFU_OLLAMA_HOST": fake.url, "KEFU_OLLAMA_MODEL": FAKE_MODEL}
    else:
        env = {"KEFU_LLM_BACKEND": "llamacpp"}
    with tempfile.TemporaryDirectory(prefix="kefu-load-") as tmp:
        process, base, key = start_server(args, Path(tmp), env)
        try:
            t = time.perf_counter()
            ready = await wait_ready(base, process, args.start_timeout)
            report: dict[str, Any] = {
                "llm": ready["llm"],
                "index": f"{ready['index']} {ready['index_version']}",
                "llm_queue": args.queue,
                "startup_seconds": round(time.perf_counter() - t, 1),
            }
            report["search"] = await search_phase(base, key, queries, args.clients, args.search_seconds)
            report["search"]["questions"] = args.questions
            report["search"]["distinct_questions"] = len(set(queries))
            report["search"]["repeated"] = report["search"]["requests"] > len(set(queries))
            report["ask"] = await ask_phase(
                base, key, answerable, clients=args.ask_clients, timeout=args.ask_timeout, retries=args.retries
            )
            report["metrics"] = await scrape(base)
            report["server_alive"] = process.poll() is None
            return report
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            if fake is not None:
                fake.stop()


def print_report(r: dict[str, Any]) -> None:
    s, a = r["search"], r["ask"]
    print(f"server: llm {r['llm']}, index {r['index']}, LLM queue {r['llm_queue']}, ready in {r['startup_seconds']} s")
    print(
        f"/v1/search, {s['clients']} clients, {s['seconds']} s: {s['requests']} requests, "
        f"{s['throughput_rps']} req/s, p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms, "
        f"statuses {s['statuses']}; questions: {s['questions']} ({s['distinct_questions']} distinct, "
        f"{'some asked again' if s['repeated'] else 'none asked twice'})"
    )
    f, w = a["first_wave"], a["with_retries"]
    print(f"/v1/ask, {a['clients']} clients at once:")
    print(
        f"  first try: {f['statuses']}; 503s back within {f['refused_seconds_max']} s "
        f"(Retry-After {f['retry_after']}); slowest 200 {f['answered_seconds_max']} s; reasons {f['reasons']}"
    )
    print(f"  retrying after Retry-After (up to {w['max_attempts']} tries): {w['statuses']}; reasons {w['reasons']}")
    print(f"  every request finished: {a['all_finished']} (none stuck or lost), in {a['seconds']} s")
    print(f"metrics: {r['metrics']}; server still up: {r['server_alive']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--llm", choices=("fake", "embedded"), default="fake")
    parser.add_argument("--fake-seconds", type=float, default=2.0, help="seconds the fake model takes per answer")
    parser.add_argument("--clients", type=int, default=8, help="concurrent search clients")
    parser.add_argument("--search-seconds", type=float, default=15.0)
    parser.add_argument(
        "--questions",
        choices=("harbor", "all"),
        default="harbor",
        help="search questions: harbor's 120, cycled (repeats, as a help desk hears them), or every eval "
        "set's 892 distinct ones (no repeats in a run of fewer requests)",
    )
    parser.add_argument("--ask-clients", type=int, default=12, help="clients asking at the same moment")
    parser.add_argument("--queue", type=int, default=4, help="KEFU_LLM_QUEUE for the server")
    parser.add_argument("--ask-timeout", type=float, default=120.0, help="a request slower than this is stuck")
    parser.add_argument("--retries", type=int, default=5, help="retries of a 503 after its Retry-After")
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.serve:
        serve_main(args.serve)
        return
    for name in ("clients", "ask_clients"):
        if not 1 <= getattr(args, name) <= 64:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 64")
    args.search_seconds = min(args.search_seconds, 120.0)
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_report(report)


if __name__ == "__main__":
    main()
