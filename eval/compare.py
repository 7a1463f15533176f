"""``kefu eval compare BASE_DIR NEW_DIR``: what changed between two runs, and did anything regress.

Every number in both metrics.json files is compared. The *gated* ones (overall retrieval,
answer, handoff, rule, selective-answering and calibration figures) fail the comparison
when they get worse by more than their tolerance; per-language and per-category slices
and latencies are shown but not gated (slices are small, latency depends on the machine).
Tolerances are absolute (0.02 = two points) and come from, in order: ``--tolerance``
(the default for all), a ``tolerances.json`` in BASE_DIR (``{"default": x, "metrics":
{"glob": x}}``, e.g. a wider band for LLM metrics measured on a small sample), then 0.02.
"""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kefu.errors import BadInputError

DEFAULT_TOLERANCE = 0.02
#: Sections whose top-level numbers are gated.
GATED_SECTIONS = ("retrieval", "answers", "handoff", "rules", "selective", "calibration", "judge")
#: Lower is better for these (by last name component).
LOWER_IS_BETTER = {"aurc", "ece", "wrongly_handed_off", "false_positive_rate"}
#: Never compared: counts, settings and bookkeeping.
IGNORED = {"n", "items", "handoff_items", "answer_items", "threshold", "points", "lo", "hi"}


@dataclass(frozen=True)
class Change:
    name: str
    base: float | None
    new: float | None
    gated: bool
    tolerance: float
    lower_is_better: bool

    @property
    def delta(self) -> float | None:
        if self.base is None or self.new is None:
            return None
        return self.new - self.base

    @property
    def worse_by(self) -> float:
        d = self.delta
        if d is None:
            return 0.0
        return d if self.lower_is_better else -d

    @property
    def status(self) -> str:
        if self.base is None:
            return "new"
        if self.new is None:
            return "missing" if self.gated else "gone"
        if self.gated and self.worse_by > self.tolerance + 1e-9:
            return "REGRESSED"
        if abs(self.delta or 0.0) < 1e-9:
            return "same"
        return "worse" if self.worse_by > 0 else "better"


def load_metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json" if run_dir.is_dir() else run_dir
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or "retrieval" not in data:
        raise BadInputError(f"{path}: not a kefu eval metrics.json (no 'retrieval' section)")
    return data


def flatten(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Dotted names of every number, leaving out config, curves, bins and lists."""
    out: dict[str, float | None] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, (bool, list, str)):
            return
        elif isinstance(value, (int, float)):
            out[prefix] = None if isinstance(value, float) and math.isnan(value) else float(value)
        elif value is None:
            out[prefix] = None

    for section, value in metrics.items():
        if section in ("config", "answer_config", "gold_missing_from_index"):
            continue
        walk(section, value)
    return {k: v for k, v in out.items() if k.rsplit(".", 1)[-1] not in IGNORED}


def is_gated(name: str) -> bool:
    parts = name.split(".")
    if parts[0] not in GATED_SECTIONS:
        return False
    slices = ("by_lang", "by_category", "by_mode", "cross_lingual", "handoff_reasons", "accuracy_at_coverage")
    if any(p in slices for p in parts):
        return False
    # Per-reason handoff figures stay gated: each rule is its own promise. Of calibration, only ECE.
    return not (parts[0] == "calibration" and parts[-1] != "ece")


def load_tolerances(base_dir: Path) -> tuple[float | None, dict[str, float]]:
    path = base_dir / "tolerances.json"
    if not base_dir.is_dir() or not path.is_file():
        return None, {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        default = raw.get("default")
        per = {str(k): float(v) for k, v in (raw.get("metrics") or {}).items()}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise BadInputError(f"{path}: unusable tolerances ({exc})") from exc
    return (float(default) if default is not None else None), per


def compare(
    base: dict[str, Any],
    new: dict[str, Any],
    *,
    default_tolerance: float = DEFAULT_TOLERANCE,
    per_metric: dict[str, float] | None = None,
) -> list[Change]:
    per_metric = per_metric or {}
    a, b = flatten(base), flatten(new)
    changes = []
    for name in sorted(set(a) | set(b)):
        tolerance = default_tolerance
        for pattern, value in per_metric.items():
            if fnmatch.fnmatchcase(name, pattern):
                tolerance = value
        lower = name.rsplit(".", 1)[-1] in LOWER_IS_BETTER or "latency" in name or "tokens" in name
        changes.append(Change(name, a.get(name), b.get(name), is_gated(name), tolerance, lower))
    return changes


def comparable(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Reasons the two runs should not be compared (different dataset, mode or sample)."""
    problems = []
    bc, nc = base.get("config", {}), new.get("config", {})
    for key in ("mode", "items", "sample"):
        if bc.get(key) != nc.get(key):
            problems.append(f"{key} differs: {bc.get(key)!r} vs {nc.get(key)!r}")
    if Path(str(bc.get("dataset", ""))).name != Path(str(nc.get("dataset", ""))).name:
        problems.append(f"dataset differs: {bc.get('dataset')!r} vs {nc.get('dataset')!r}")
    return problems


def regressions(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.status in ("REGRESSED", "missing")]


def render(changes: list[Change], *, show_all: bool = False) -> str:
    lines = [f"{'metric':<52} {'base':>9} {'new':>9} {'delta':>8}  status"]
    for c in changes:
        # Ungated figures are noise in a gate's output, except how latency moved.
        if not show_all and not c.gated and ("latency" not in c.name or c.status in ("same", "new", "gone")):
            continue

        def fmt(v: float | None) -> str:
            return "–" if v is None else f"{v:.4g}" if abs(v) >= 100 else f"{v:.3f}"

        delta = "–" if c.delta is None else f"{c.delta:+.3f}"
        mark = f"  (tolerance {c.tolerance:g})" if c.status == "REGRESSED" else ""
        lines.append(f"{c.name:<52} {fmt(c.base):>9} {fmt(c.new):>9} {delta:>8}  {c.status}{mark}")
    return "\n".join(lines)
