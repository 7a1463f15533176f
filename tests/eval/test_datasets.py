"""The datasets kefu ships: each loads, and each gold document is a real page of its corpus."""

from __future__ import annotations

import json

import pytest

from eval.dataset import load_dataset
from tests.conftest import REPO, TP_CN

DATASETS = REPO / "eval" / "datasets"
CORPUS_OF = {
    "harbor.jsonl": REPO / "corpora" / "harbor",
    "tp-cn.jsonl": TP_CN,
    "tp-cn-holdout.jsonl": TP_CN,
    "tp-cn-holdout2.jsonl": TP_CN,
    "tp-cn-holdout3.jsonl": TP_CN,
    "tp-cn-holdout4.jsonl": TP_CN,
    "tp-cn-uncovered.jsonl": TP_CN,
}


def test_every_shipped_dataset_is_listed_here() -> None:
    assert sorted(p.name for p in DATASETS.glob("*.jsonl")) == sorted(CORPUS_OF)


@pytest.mark.parametrize("name", sorted(CORPUS_OF))
def test_gold_documents_exist_in_the_corpus(name: str) -> None:
    root = CORPUS_OF[name]
    if not root.is_dir():
        pytest.skip(f"{root} is not on this machine")
    items = load_dataset(DATASETS / name)
    tickets = {f"tickets/{t['id']}" for f in root.glob("tickets/*.jsonl") for t in map(json.loads, f.open())}
    missing = [(i.id, g) for i in items for g in i.gold if not ((root / g).is_file() or g in tickets)]
    assert not missing
