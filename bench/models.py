"""Benchmark the default models on this machine.

- embedder: passages/s on 500 passages from ../shared/corpora/tp-cn (after one warm-up batch);
- LLM: prompt reading and generation speed (tokens/s) on a grounded prompt of ~600 tokens;
  for the embedded model, its process's peak memory and how long a restart takes (the
  process killed with SIGKILL until the restarted one has loaded the model);
- peak memory (max RSS) of each, measured in its own process.

Usage: python bench/models.py [--only embedder|llm] [--json] [--no-extra-bufts]

``--no-extra-bufts`` loads the embedded model with llama.cpp's extra buffer types off (as
kefu does where the build has AMX), to compare their speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TP_CN = REPO.parent / "shared" / "corpora" / "tp-cn"


def tp_cn_passages(n: int) -> list[str]:
    """The first ``n`` paragraphs of 40+ characters from tp-cn, in path order, markup stripped."""
    if not TP_CN.is_dir():
        raise SystemExit(f"tp-cn corpus not found at {TP_CN}")
    out: list[str] = []
    for path in sorted(TP_CN.rglob("*.md")):
        text = path.read_text(encoding="utf-8", errors="replace")
        text = re.sub(r"\{%.*?%\}|<[^>]+>|!\[[^\]]*\]\([^)]*\)", " ", text)
        for raw in re.split(r"\n\s*\n", text):
            para = " ".join(raw.split())
            if len(para) >= 40:
                out.append(para[:600])
                if len(out) == n:
                    return out
    return out


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_embedder() -> dict[str, object]:
    from kefu.embedder import embedder_from_settings
    from kefu.settings import Settings

    passages = tp_cn_passages(500)
    embedder = embedder_from_settings(Settings.from_env())
    t0 = time.perf_counter()
    embedder.warm_up()
    load = time.perf_counter() - t0
    embedder.embed_passages(passages[:32])
    t1 = time.perf_counter()
    embedder.embed_passages(passages)
    elapsed = time.perf_counter() - t1
    queries = [p[:30] for p in passages[:100]]
    t2 = time.perf_counter()
    for q in queries:
        embedder.embed_queries([q])
    per_query = (time.perf_counter() - t2) / len(queries)
    return {
        "model": embedder.model_id,
        "passages": len(passages),
        "mean_chars": round(sum(map(len, passages)) / len(passages)),
        "load_seconds": round(load, 2),
        "passages_per_second": round(len(passages) / elapsed, 1),
        "single_query_ms": round(per_query * 1000, 1),
        "peak_rss_mib": round(peak_rss_mib()),
    }


def bench_llm(extra_bufts: bool = True) -> dict[str, object]:
    from kefu.generators import ChatMessage, GenerationOptions, generate, generator_from_settings
    from kefu.generators.llamacpp import LlamaCppGenerator
    from kefu.settings import Settings

    settings = Settings.from_env()
    pool = tp_cn_passages(60)[20:]

    def prompt(run: int) -> list[ChatMessage]:
        # A different prompt each run: llama.cpp reuses a cached prefix, which would
        # make prompt reading look free.
        passages = pool[run * 6 : run * 6 + 6]
        sources = "\n".join(f"[{i}] {p[:220]}" for i, p in enumerate(passages, start=1))
        return [
            ChatMessage("user", f"资料：\n{sources}\n\n问题：请根据资料总结要点，用 [n] 标注引用。"),
        ]

    async def run() -> dict[str, object]:
        gen = generator_from_settings(settings)
        if not extra_bufts:
            gen = LlamaCppGenerator(settings.gguf_model_path, threads=settings.llm_threads, extra_bufts=False)
        t0 = time.perf_counter()
        await gen.warm_up()
        load = time.perf_counter() - t0
        try:
            await generate(gen, [ChatMessage("user", "你好")], GenerationOptions(max_tokens=4))
            runs = [await generate(gen, prompt(i), GenerationOptions(max_tokens=128)) for i in range(3)]
            model_rss = model_process_peak_rss_mib(gen)
            restart = await restart_seconds(gen)
        finally:
            await gen.close()
        prompt_speed = []
        gen_speed = []
        for r in runs:
            first = r.first_token_seconds or r.total_seconds
            if r.usage.prompt_tokens:
                prompt_speed.append(r.usage.prompt_tokens / first)
            if r.usage.completion_tokens and r.total_seconds > first:
                gen_speed.append((r.usage.completion_tokens - 1) / (r.total_seconds - first))
        best = runs[-1]
        return {
            "backend": gen.name,
            "threads": settings.llm_threads,
            "load_seconds": round(load, 2),
            "prompt_tokens": best.usage.prompt_tokens,
            "completion_tokens": best.usage.completion_tokens,
            "first_token_seconds": round(best.first_token_seconds or 0, 2),
            "total_seconds": round(best.total_seconds, 2),
            "prompt_tokens_per_second": round(sorted(prompt_speed)[len(prompt_speed) // 2], 1),
            "generation_tokens_per_second": round(sorted(gen_speed)[len(gen_speed) // 2], 1),
            "peak_rss_mib": round(peak_rss_mib()),
            "model_process_peak_rss_mib": model_rss,
            "restart_seconds": restart,
        }

    return asyncio.run(run())


async def restart_seconds(generator: object) -> float | None:
    """Kill the embedded model's process; seconds until the restarted one is ready again."""
    import os
    import signal

    from kefu.generators.llamacpp import LlamaCppGenerator

    if not isinstance(generator, LlamaCppGenerator) or generator.process.pid is None:
        return None
    start = time.perf_counter()
    os.kill(generator.process.pid, signal.SIGKILL)
    while generator.health().ready:
        await asyncio.sleep(0.01)
    while not generator.health().ready:
        await asyncio.sleep(0.02)
    return round(time.perf_counter() - start, 2)


def model_process_peak_rss_mib(generator: object) -> int | None:
    """Peak resident memory of the embedded model's own process (None for a server backend)."""
    from kefu.generators.llamacpp import LlamaCppGenerator

    if not isinstance(generator, LlamaCppGenerator) or generator.process.pid is None:
        return None
    status = Path(f"/proc/{generator.process.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return round(kib / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("embedder", "llm"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-extra-bufts", dest="extra_bufts", action="store_false")
    args = parser.parse_args()
    if args.only:
        result = bench_embedder() if args.only == "embedder" else bench_llm(args.extra_bufts)
        print(json.dumps(result, ensure_ascii=False))
        return
    # Each part in its own process, so each peak memory figure is its own.
    results = {}
    for part in ("embedder", "llm"):
        out = subprocess.run(
            [sys.executable, __file__, "--only", part], capture_output=True, text=True, check=True, cwd=REPO
        )
        results[part] = json.loads(out.stdout.strip().splitlines()[-1])
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for part, values in results.items():
            print(part)
            for key, value in values.items():
                print(f"  {key:30} {value}")


if __name__ == "__main__":
    main()
