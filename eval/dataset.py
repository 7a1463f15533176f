"""Eval datasets: JSONL, one item a line; gold documents named by path from the corpus root."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.jsonl import read_objects
from kefu.errors import BadInputError

EXPECTED = ("answer", "handoff")


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    lang: str
    expected: str
    gold: tuple[str, ...]
    facts: tuple[str, ...] = ()
    category: str = ""
    reason: str | None = None
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def row_fields(self) -> dict[str, Any]:
        """What names the item at the start of each per-item results row."""
        return {"id": self.id, "question": self.question, "lang": self.lang, "category": self.category}


def load_dataset(path: Path) -> list[EvalItem]:
    """Read and validate a dataset; a bad line is an error naming the file, line and field."""
    items: list[EvalItem] = []
    seen: set[str] = set()
    for where, raw in read_objects(path):
        item = _item(raw, where)
        if item.id in seen:
            raise BadInputError(f"{where}: id {item.id!r} appears twice")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise BadInputError(f"{path}: the dataset has no items")
    return items


_KNOWN = {"id", "question", "lang", "expected", "gold", "facts", "category", "reason", "note"}


def _item(raw: dict[str, Any], where: str) -> EvalItem:
    """One line's object as an item; a bad one is an error naming ``where`` (file:line) and the field."""
    for name in ("id", "question", "lang", "expected"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise BadInputError(f"{where}: field '{name}' is missing or not a non-empty string")
    if raw["expected"] not in EXPECTED:
        raise BadInputError(f"{where}: field 'expected' must be one of {EXPECTED}")
    gold = raw.get("gold", [])
    if not isinstance(gold, list) or not all(isinstance(g, str) for g in gold):
        raise BadInputError(f"{where}: field 'gold' must be a list of document paths")
    if raw["expected"] == "answer" and not gold:
        raise BadInputError(f"{where}: an 'answer' item needs at least one gold document")
    facts = raw.get("facts", [])
    if not isinstance(facts, list) or not all(isinstance(f, str) for f in facts):
        raise BadInputError(f"{where}: field 'facts' must be a list of strings")
    return EvalItem(
        id=raw["id"],
        question=raw["question"],
        lang=raw["lang"],
        expected=raw["expected"],
        gold=tuple(g.lstrip("./") for g in gold),
        facts=tuple(facts),
        category=str(raw.get("category") or ""),
        reason=raw.get("reason"),
        note=str(raw.get("note") or ""),
        extra={k: v for k, v in raw.items() if k not in _KNOWN},
    )
