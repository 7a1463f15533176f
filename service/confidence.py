"""A confidence score in [0, 1] for each answer, and thresholds that turn it into a decision.

The score is a logistic function of evidence from retrieval (how well the best document
matched, whether the dense and sparse searches agree on it, its margin over the next one)
and from the answer (are its sentences supported by the passages it cites, does it cite at
all, how much of what the question names does it hold). ``kefu eval calibrate`` fits the
weights and picks the threshold on a dataset and writes them to a calibration file the service
reads; until one exists the defaults below are used: fitted to answers a reviewer judged good
or not on two tp-cn hold-out sets, the score is about the chance an answer is judged good.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kefu.errors import BadInputError

if TYPE_CHECKING:
    from kefu.embedder import Embedder
    from service.retriever import DocumentHit

FEATURES = (
    "top_dense",
    "agreement",
    "margin",
    "title_match",
    "grounded",
    "cited",
    "copy_rate",
    "cites_top",
    "cross_lingual",
    "evidence_match",
    "word_overlap",
)

#: Features that depend on the generated answer (the rest come from retrieval).
ANSWER_FEATURES = ("grounded", "cited", "copy_rate", "cites_top", "word_overlap")


@dataclass(frozen=True)
class Evidence:
    """What the confidence score is computed from (kept with each answer for eval)."""

    top_dense: float = 0.0
    agreement: float = 0.0
    margin: float = 0.0
    title_match: float = 0.0
    grounded: float = 0.0
    cited: float = 0.0
    #: Share of the answer's character bigrams found in the passages it cites.
    copy_rate: float = 0.0
    #: 1.0 when the answer cites the best-ranked source.
    cites_top: float = 0.0
    #: 1.0 when the question's language differs from the best source's.
    cross_lingual: float = 0.0
    #: How close the best source sentence comes to the question (cosine, rescaled to 0..1).
    evidence_match: float = 0.0
    #: Share of the question's words, weighted by their rarity, that the answer holds
    #: (:func:`service.grounding.word_overlap`).
    word_overlap: float = 0.0

    def vector(self) -> list[float]:
        return [getattr(self, name) for name in FEATURES]


def evidence_match(cosine: float) -> float:
    """The best sentence's cosine to the question, rescaled: e5 puts unrelated sentences
    near 0.80 and a sentence that answers the question above 0.90."""
    return round(min(1.0, max(0.0, (cosine - 0.80) / 0.14)), 4)


def top_dense(cosine: float) -> float:
    """The top passage's cosine to the question, rescaled: plain e5 puts it between ~0.7
    (unrelated) and ~0.92 (a close paraphrase)."""
    return min(1.0, max(0.0, (cosine - 0.72) / 0.18))


def plain_cosine(embedder: Embedder, query: str, hit: DocumentHit) -> float:
    """The cosine of ``query`` and ``hit``'s passage (with its title and headings, as indexed)
    by ``embedder``: for an adapted index, the plain model's, on the scale :func:`top_dense`
    and the calibration expect."""
    from ingest.chunking import embed_text

    q = embedder.embed_queries([query])[0]
    p = embedder.embed_passages([embed_text(hit.title, hit.heading_path, hit.passage)])[0]
    return float(q @ p)


def retrieval_evidence(
    hits: list[DocumentHit], lang: str | None = None, top_cosine: float | None = None
) -> dict[str, float]:
    """The retrieval half of the evidence.

    ``top_cosine``: the top passage's plain-model cosine (:func:`plain_cosine`), for an
    adapted index whose own cosines are on another scale; else the hit's dense score.
    """
    if not hits:
        return {"top_dense": 0.0, "agreement": 0.0, "margin": 0.0, "title_match": 0.0, "cross_lingual": 0.0}
    top = hits[0]
    dense = top_dense(top_cosine if top_cosine is not None else (top.dense_score or 0.7))
    if top.dense_rank == 1 and top.sparse_rank == 1:
        agreement = 1.0
    elif (top.dense_rank or 99) <= 3 and (top.sparse_rank or 99) <= 3:
        agreement = 0.5
    else:
        agreement = 0.0
    margin = 0.0 if len(hits) < 2 or top.score <= 0 else (top.score - hits[1].score) / top.score
    title_match = 1.0 if top.title_rank == 1 else 0.0
    cross = 1.0 if lang and top.lang and lang != top.lang else 0.0
    return {
        "top_dense": dense,
        "agreement": agreement,
        "margin": margin,
        "title_match": title_match,
        "cross_lingual": cross,
    }


@dataclass
class Calibration:
    """Weights of the logistic score and the handoff threshold."""

    weights: dict[str, float] = field(
        default_factory=lambda: {
            "top_dense": 1.43,
            "agreement": 0.9,
            "margin": 1.08,
            "title_match": 0.27,
            "grounded": 1.97,
            "cited": 0.9,
            "word_overlap": 3.52,
        }
    )
    bias: float = -6.09
    #: Answer when confidence >= threshold, else hand off with reason "low_confidence".
    threshold: float = 0.22
    source: str = "default (fitted to reviewed tp-cn answers, docs/answers.md; `kefu eval calibrate` fits yours)"
    fitted: dict[str, object] = field(default_factory=dict)

    def score(self, evidence: Evidence) -> float:
        z = self.bias + sum(
            self.weights.get(name, 0.0) * value for name, value in zip(FEATURES, evidence.vector(), strict=True)
        )
        return 1.0 / (1.0 + math.exp(-z))

    def answers(self, evidence: Evidence, confidence: float) -> bool:
        """Whether an answer may stand on its own; if not, it goes to an agent as a draft.

        It must clear the threshold, cite a source, and have at least one sentence the
        cited sources support (``grounded`` above 0): a cited answer that no source backs
        is not grounded, whatever the retrieval evidence adds to its score.
        """
        return confidence >= self.threshold and evidence.cited > 0.0 and evidence.grounded > 0.0

    def best_case(self, retrieval: dict[str, float]) -> float:
        """The highest score any answer could reach on this retrieval evidence."""
        answer_side = {name: (1.0 if self.weights.get(name, 0.0) > 0 else 0.0) for name in ANSWER_FEATURES}
        return self.score(Evidence(**retrieval, **answer_side))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            cal = cls(**raw)
        except (OSError, ValueError, TypeError) as exc:
            raise BadInputError(f"calibration file {path} is unusable: {exc}") from exc
        unknown = set(cal.weights) - set(FEATURES)
        if unknown:
            raise BadInputError(f"calibration file {path}: unknown features {sorted(unknown)}")
        if not 0.0 <= cal.threshold <= 1.0:
            raise BadInputError(f"calibration file {path}: threshold must be within 0..1")
        return cal


def calibration_for(data_dir: Path, explicit: Path | None = None) -> Calibration:
    """The calibration in use: an explicit file, else ``<data dir>/calibration.json``, else defaults."""
    path = explicit or data_dir / "calibration.json"
    if path.is_file():
        return Calibration.load(path)
    if explicit:
        raise BadInputError(f"calibration file {explicit} does not exist")
    return Calibration()
