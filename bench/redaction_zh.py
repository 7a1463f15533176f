"""How well redaction tells a Chinese seed phrase written without separators from prose.

Usage: python bench/redaction_zh.py [--phrases N] [--seed S] [--json]

Misses: of N random 12- and 24-character phrases (seeded), pasted as "我的助记词是<phrase>谢谢",
those not redacted. False positives: seed phrases found in the help articles of the demo
corpus and of ../shared/corpora/tp-cn (if present), which hold none (the demo's tickets do:
their planted secrets are tested in tests/test_redaction.py).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from mnemonic import Mnemonic

from kefu.redaction import Redactor, detect_secrets

REPO = Path(__file__).resolve().parent.parent


def _corpus_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in (REPO / "corpora" / "harbor" / "help").rglob("*.md")]
    tp_cn = REPO.parent / "shared" / "corpora" / "tp-cn"
    texts += [p.read_text(encoding="utf-8") for p in tp_cn.rglob("*.md")]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phrases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    zh = Mnemonic("chinese_simplified")
    redactor = Redactor()
    out: dict[str, object] = {}
    for bits in (128, 256):
        phrases = [zh.to_mnemonic(rnd.randbytes(bits // 8)).replace(" ", "") for _ in range(args.phrases)]
        missed = [p for p in phrases if "[REDACTED:seed_phrase]" not in redactor.redact(f"我的助记词是{p}谢谢").text]
        out[f"missed_{bits * 3 // 32}_chars"] = f"{len(missed)}/{len(phrases)}"
    texts = _corpus_texts()
    t = time.perf_counter()
    found = [t[m.start : m.end] for t in texts for m in detect_secrets(t) if m.kind == "seed_phrase"]
    out["corpus_texts"] = len(texts)
    out["corpus_chars"] = sum(len(t) for t in texts)
    out["false_positives"] = found
    out["corpus_seconds"] = round(time.perf_counter() - t, 2)
    print(json.dumps(out, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
