"""kefu eval's run modes, calibrate, compare and the LLM judge, on the real index and models."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from eval.answers import ItemOutcome, apply_threshold, calibration_error, summarise
from eval.calibrate import fit
from eval.compare import comparable, compare, flatten, is_gated, load_metrics, regressions
from eval.dataset import EvalItem, load_dataset
from eval.judge import LLMJudge, parse_verdict
from eval.run import EvalConfig, ci_sample, run_eval
from ingest.index import open_index
from kefu import cli
from kefu.errors import BadInputError
from kefu.generators.ollama import OllamaGenerator
from kefu.settings import Settings
from service.confidence import FEATURES, Calibration, calibration_for
from tests.conftest import REPO
from tests.fakes.ollama_server import FakeOllama, ScriptedModel

HARBOR_SET = REPO / "eval" / "datasets" / "harbor.jsonl"
BASELINE = REPO / "eval" / "baselines" / "harbor-ci"


def _item(i: int, expected: str = "answer", reason: str | None = None) -> EvalItem:
    return EvalItem(id=f"t{i}", question=f"q{i}", lang="zh", expected=expected, gold=("a.md",), facts=("x",),
                    category="c", reason=reason)  # fmt: skip


def _outcome(i: int, conf: float, accurate: bool, **kw: Any) -> ItemOutcome:
    fields: dict[str, Any] = {
        "item": _item(i),
        "action": "answer",
        "reason": "grounded",
        "mode": "generated",
        "confidence": conf,
        "judged_text": "x [1]" if accurate else "y [1]",
        "cited_docs": [["a.md"]],
        "facts_found": [accurate],
        "first_token_ms": 100.0,
        "total_ms": 200.0,
        "prompt_tokens": 300,
        "completion_tokens": 20,
        "evidence": {"grounded": 1.0, "cited": 1.0},
    }
    fields.update(kw)
    return ItemOutcome(**fields)


# --- answers: threshold, calibration error -----------------------------------------------------


def test_apply_threshold_turns_low_confidence_answers_into_handoffs_with_drafts() -> None:
    outcomes = [_outcome(1, 0.9, True), _outcome(2, 0.3, False), _outcome(3, 0.3, True, mode="extractive")]
    decided = apply_threshold(outcomes, 0.5)
    assert [o.action for o in decided] == ["answer", "handoff", "handoff"]
    assert [o.reason for o in decided] == ["grounded", "low_confidence", "llm_unavailable"]
    assert decided[1].judged_text == outcomes[1].judged_text  # the agent's draft is still judged
    # A cited answer no source sentence supports is a draft whatever its score.
    unsupported = _outcome(4, 0.99, False, evidence={"grounded": 0.0, "cited": 1.0})
    assert apply_threshold([unsupported], 0.0)[0].reason == "low_confidence"
    summary = summarise(outcomes, threshold=0.5)
    assert summary["answers"]["answered"] == pytest.approx(1 / 3, abs=1e-3)
    assert summary["answers"]["accuracy_of_answered"] == 1.0
    # The sweep does not depend on the threshold.
    assert summary["selective"] == summarise(outcomes)["selective"]


def test_a_scam_warning_stands_whatever_the_threshold_and_is_not_in_the_sweep() -> None:
    warning = _outcome(1, 0.95, False, mode="warning", reason="fraud_warning", judged_text="骗子会冒充客服。")
    answers = [_outcome(2, 0.9, True), _outcome(3, 0.4, False)]
    # The answerer shows the warning whatever the score: so does the eval's re-decision.
    assert apply_threshold([replace(warning, confidence=0.1)], 0.5)[0].action == "answer"
    # Its score promises nothing of the threshold's: the sweep reads the scored answers alone.
    assert summarise([warning, *answers])["selective"] == summarise(answers)["selective"]


def test_a_set_without_must_handoff_items_has_no_handoff_recall_rather_than_a_recall_of_zero() -> None:
    answered, handed = _outcome(1, 0.9, True), _outcome(2, 0.1, False, action="handoff", reason="low_confidence")
    h = summarise([answered, handed])["handoff"]
    # Nothing to recall: not 0 (which reads as "every must-handoff item was answered").
    assert h["n"] == 0 and h["recall"] is None and h["handed_off"] is None and h["f1"] is None
    assert h["precision"] == 0.0  # the one handoff was of an answer item
    must = _outcome(3, 0.9, False, item=_item(3, "handoff", "stolen_funds"), action="handoff", reason="stolen_funds")
    h = summarise([answered, handed, must])["handoff"]
    assert (h["n"], h["handed_off"], h["recall"], h["precision"]) == (1, 1.0, 1.0, 0.5)
    assert h["by_reason"]["stolen_funds"]["recall"] == 1.0


def test_calibration_error_is_zero_when_confidence_matches_accuracy_and_large_when_not() -> None:
    matched = [_outcome(i, 0.75, i % 4 != 0) for i in range(40)]  # 75% accurate at 0.75
    assert calibration_error(matched)["ece"] == pytest.approx(0.0, abs=1e-9)
    over = [_outcome(i, 0.95, i % 2 == 0) for i in range(40)]  # 50% accurate at 0.95
    result = calibration_error(over)
    assert result["ece"] == pytest.approx(0.45, abs=1e-6)
    assert [b["n"] for b in result["bins"]][-1] == 40


# --- calibrate ---------------------------------------------------------------------------------


def _rows(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """Answers whose accuracy follows 'grounded' and 'top_dense'; the run's confidence is noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        ev = {f: rng.random() for f in FEATURES}
        good = ev["grounded"] * 0.7 + ev["top_dense"] * 0.3 + rng.gauss(0, 0.08) > 0.55
        rows.append({"id": f"r{i}", "expected": "answer", "reason": "grounded", "judged_text": "t",
                     "accurate": good, "confidence": rng.random(), "evidence": ev})  # fmt: skip
    rows.append({"id": "rule", "expected": "answer", "reason": "human_requested", "judged_text": "", "accurate": False})
    return rows


def test_calibrate_fits_weights_that_separate_right_from_wrong_and_picks_a_threshold() -> None:
    result = fit(_rows(300), target=0.9)
    assert result.n == 300  # the rule handoff is not fitted on
    assert result.reached and result.accuracy >= 0.9
    assert 0.1 < result.coverage < 0.9
    w = result.calibration.weights
    assert w["grounded"] > w["top_dense"] > max(abs(w[f]) for f in FEATURES if f not in ("grounded", "top_dense"))
    # The fitted confidence beats the run's noise confidence on the risk-coverage curve.
    assert result.after["aurc"] < result.before["aurc"] - 0.1


def test_calibrate_reports_an_unreachable_target_instead_of_pretending() -> None:
    rows = _rows(200)
    for r in rows[::2]:
        r["accurate"] = not r["accurate"]  # half the labels flipped: nothing reaches 99%
    result = fit(rows, target=0.99)
    assert not result.reached
    assert result.calibration.fitted["reached"] is False


def test_calibrate_names_the_line_of_a_run_without_evidence() -> None:
    rows = _rows(30)
    del rows[4]["evidence"]["copy_rate"]
    with pytest.raises(BadInputError, match=r"answers.jsonl:5: field 'evidence' lacks \['copy_rate'\]"):
        fit(rows)


def test_kefu_eval_calibrate_writes_the_file_the_service_reads(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "answers.jsonl").write_text("\n".join(json.dumps(r) for r in _rows(200)) + "\n")
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["eval", "calibrate", str(run), "--target", "0.85"]) == 0
    out = capsys.readouterr().out
    assert "target accuracy 0.85: reached" in out and "hands off" in out
    loaded = calibration_for(tmp_path / "data")
    assert loaded.source.startswith("fitted by `kefu eval calibrate`")
    assert loaded.threshold == json.loads((tmp_path / "data" / "calibration.json").read_text())["threshold"]
    assert loaded.weights["grounded"] > 0


# --- compare -----------------------------------------------------------------------------------


def _metrics(**changes: float) -> dict[str, Any]:
    m: dict[str, Any] = {
        "config": {"mode": "full", "items": 10, "dataset": "d.jsonl"},
        "retrieval": {"hit@1": 0.7, "hit@5": 0.9, "n": 10, "by_lang": {"en": {"hit@1": 0.5, "n": 3}}},
        "answers": {"accuracy_of_answered": 0.5, "wrongly_handed_off": 0.1},
        "selective": {"aurc": 0.4, "curve": [{"coverage": 1.0}]},
        "calibration": {"ece": 0.1, "threshold": 0.45, "bins": []},
        "answer_latency_ms": {"total_p50": 5000.0},
    }
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        m[section][key] = value
    return m


def test_compare_gates_overall_metrics_in_the_right_direction() -> None:
    base = _metrics()
    assert not regressions(compare(base, _metrics()))
    worse = regressions(compare(base, _metrics(answers__wrongly_handed_off=0.2, selective__aurc=0.35)))
    assert [c.name for c in worse] == ["answers.wrongly_handed_off"]  # a lower AURC is better, not worse
    assert not regressions(compare(base, _metrics(answer_latency_ms__total_p50=9e9)))  # shown, not gated
    slightly, clearly = _metrics(), _metrics()
    slightly["retrieval"]["hit@1"], clearly["retrieval"]["hit@1"] = 0.69, 0.6
    assert not regressions(compare(base, slightly))  # within the default 0.02
    assert [c.name for c in regressions(compare(base, clearly))] == ["retrieval.hit@1"]
    assert not regressions(compare(base, clearly, per_metric={"retrieval.*": 0.2}))
    sliced = _metrics()
    sliced["retrieval"]["by_lang"]["en"]["hit@1"] = 0.0
    assert not regressions(compare(base, sliced))  # slices are shown, not gated
    assert is_gated("handoff.by_reason.stolen_funds.recall") and not is_gated("retrieval.by_lang.en.hit@1")
    assert "calibration.threshold" not in flatten(base)


def test_compare_fails_when_a_gated_metric_disappears() -> None:
    new = _metrics()
    del new["answers"]["accuracy_of_answered"]
    assert [c.name for c in regressions(compare(_metrics(), new))] == ["answers.accuracy_of_answered"]


def test_compare_refuses_runs_of_different_datasets_or_modes() -> None:
    other = _metrics()
    other["config"] = {"mode": "retrieval", "items": 10, "dataset": "d.jsonl"}
    assert comparable(_metrics(), other) == ["mode differs: 'full' vs 'retrieval'"]


@pytest.mark.slow
def test_a_dense_only_retrieval_regression_makes_compare_fail(
    harbor_data_dir: Path, settings: Settings, embedder: Any, tmp_path: Path, capsys: Any
) -> None:
    s = settings.with_overrides(data_dir=harbor_data_dir)
    for name, fusion in (("base", "score"), ("dense", "dense")):
        run_eval(s, EvalConfig(dataset=HARBOR_SET, index="harbor", fusion=fusion, out=tmp_path / name),
                 embedder=embedder)  # fmt: skip
    assert cli.main(["eval", "compare", str(tmp_path / "base"), str(tmp_path / "base")]) == 0
    capsys.readouterr()
    assert cli.main(["eval", "compare", str(tmp_path / "base"), str(tmp_path / "dense")]) == 1
    out = capsys.readouterr().out
    assert "retrieval.hit@1" in out and "REGRESSED" in out
    # The retrieval part of the stored CI baseline is what the same search gives now.
    baseline = load_metrics(BASELINE)["retrieval"]
    now = load_metrics(tmp_path / "base")["retrieval"]
    assert now["hit@5"] >= baseline["hit@5"] - 0.02 and now["mrr@10"] >= baseline["mrr@10"] - 0.02
    # Across languages: every answer item with a gold document in the other language is also
    # searched among that language's documents only (a slice, not gated).
    lang_of = {p: d.lang for d in open_index(harbor_data_dir, "harbor").documents for p in d.paths}
    expected: Counter[str] = Counter()
    for item in load_dataset(HARBOR_SET):
        other = "en" if item.lang == "zh" else "zh"
        if item.expected == "answer" and any(lang_of.get(g) == other for g in item.gold):
            expected[f"{item.lang}->{other}"] += 1
    crossed = now["cross_lingual"]
    assert {pair: m["n"] for pair, m in crossed.items()} == dict(expected) and len(expected) == 2
    assert all(m["hit@5"] >= 0.8 for m in crossed.values()), crossed
    assert "| across zh->en |" in (tmp_path / "base" / "report.md").read_text(encoding="utf-8")
    assert not is_gated("retrieval.cross_lingual.zh->en.hit@1")


# --- run modes ---------------------------------------------------------------------------------


def test_ci_sample_is_fixed_and_spread_over_the_answer_items() -> None:
    items = [_item(i) for i in range(40)] + [_item(99, "handoff", "stolen_funds")]
    sample = ci_sample(items, 4)
    assert [i.id for i in sample] == ["t0", "t10", "t20", "t30"]
    assert ci_sample(items, 4) == sample and len(ci_sample(items, 100)) == 40
    assert ci_sample(items, 0) == []


@pytest.mark.slow
def test_ci_mode_runs_rules_on_everything_and_the_llm_on_the_sample(
    harbor_data_dir: Path, settings: Settings, embedder: Any, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    s = settings.with_overrides(data_dir=harbor_data_dir)
    generator = OllamaGenerator(fake_ollama.url, "qwen2.5:3b-instruct", timeout=10, connect_timeout=1)
    out = tmp_path / "ci"
    metrics, retrieval, outcomes = run_eval(
        s, EvalConfig(dataset=HARBOR_SET, index="harbor", mode="ci", sample=3, out=out),
        embedder=embedder, generator=generator,
    )  # fmt: skip
    handoff_items = sum(1 for line in HARBOR_SET.read_text().splitlines() if '"handoff"' in line)
    assert metrics["rules"]["handoff_items"] == handoff_items and metrics["rules"]["answer_items"] == 85
    assert metrics["rules"]["caught"] >= 0.9
    assert metrics["answers"]["n"] == 3 and len(retrieval) == 85
    assert len(outcomes) == 3 + handoff_items
    assert metrics["config"]["llm"].endswith("qwen2.5:3b-instruct") and metrics["config"]["sample"] == 3
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    shown = [r for r in rows if r["mode"] in ("quoted", "generated")]
    assert shown and all(set(FEATURES) <= set(r["evidence"]) for r in shown)
    assert all(r["ranked"] for r in shown)
    html = (out / "report.html").read_text()
    assert "<svg" in html and "kefu eval report" in html
    assert json.loads((out / "metrics.json").read_text())["calibration"]["n"] == len(
        [r for r in rows if r["expected"] == "answer" and r["judged_text"]]
    )


# --- judge -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("YES", True),
        ("no.", False),
        ("是", True),
        ("否，答案不对", False),
        ("Yes, it is correct", True),
        ("maybe", None),
    ],
)
def test_parse_verdict(text: str, verdict: bool | None) -> None:
    assert parse_verdict(text) is verdict


@pytest.mark.integration  # a fake Ollama on loopback
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_llm_judge_asks_the_configured_llm_and_reads_its_verdict(anyio_backend: str) -> None:
    server = FakeOllama({"judge": ScriptedModel(tokens=["YES"]), "mute": ScriptedModel(tokens=["hmm"])}).start()
    try:
        item = _item(1)
        yes = LLMJudge(OllamaGenerator(server.url, "judge", timeout=5, connect_timeout=1))
        assert await yes(item, "答案 [1]") is True
        assert await yes(item, "   ") is None  # nothing to judge
        mute = LLMJudge(OllamaGenerator(server.url, "mute", timeout=5, connect_timeout=1))
        assert await mute(item, "答案") is None and mute.unparsed == 1
        prompt = server.requests[-1]["messages"][-1]["content"]
        assert "Reference facts: x" in prompt and "Assistant's answer: 答案" in prompt
    finally:
        server.stop()


def test_calibration_file_from_calibrate_round_trips(tmp_path: Path) -> None:
    result = fit(_rows(120), target=0.8)
    result.calibration.save(tmp_path / "c.json")
    loaded = Calibration.load(tmp_path / "c.json")
    assert loaded.weights == result.calibration.weights and loaded.threshold == result.calibration.threshold


# --- the CI gate -------------------------------------------------------------------------------


@pytest.mark.slow
def test_ci_eval_on_the_demo_corpus_does_not_regress_from_the_stored_baseline(
    harbor_data_dir: Path, settings: Settings, embedder: Any, tmp_path: Path, capsys: Any
) -> None:
    """The build's regression gate: `kefu eval --mode ci` compared with eval/baselines/harbor-ci.

    Retrieval and the rules run on every demo item, the embedded LLM on the fixed sample. The
    deadline is raised so a slow CI machine changes latency, never the answers judged.
    """
    from kefu.generators import generator_from_settings

    generator = generator_from_settings(settings)
    s = settings.with_overrides(data_dir=harbor_data_dir, answer_deadline=300.0)
    run_eval(s, EvalConfig(dataset=HARBOR_SET, index="harbor", mode="ci", sample=8, out=tmp_path / "ci"),
             embedder=embedder, generator=generator)  # fmt: skip
    code = cli.main(["eval", "compare", str(BASELINE), str(tmp_path / "ci")])
    report = capsys.readouterr().out
    print(report)
    assert code == 0, report
