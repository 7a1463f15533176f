"""Adapt the embedder to one help centre (``kefu ingest --adapt``).

A short contrastive fine-tune of the embedder on pairs the help centre's own text gives,
with no labels and no other model:

- a page's title (and the heading a passage sits under) with the passage's text;
- a sentence taken out of a passage with the rest of that passage (the "inverse cloze
  task" of Lee et al., 2019).

The loss is the usual in-batch one (each query against every passage of the batch, the
right one to win), with passages of the same page not counted as wrong answers. The
word-embedding table (most of e5-small's weights) stays frozen, so an adapter stores the
encoder's weights only (87 MB for e5-small) and shares the table with the base model in memory.

The adapter belongs to one index version: the passages are embedded with it, and every
search of that index embeds the question with it (:meth:`HybridRetriever`). An incremental
ingest keeps the index's adapter; ``--adapt`` trains a new one and embeds everything again.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kefu.errors import BadInputError

if TYPE_CHECKING:
    from ingest.index import ChunkRecord, DocumentRecord

#: The adapter's file in an index version folder.
ADAPTER_FILE = "adapter.safetensors"
#: Parameters left as the base model has them (shared in memory, not stored).
FROZEN = ("word_embeddings",)
#: The share of the articles new or changed since the adapter was trained from which
#: ``kefu ingest`` suggests training it again. An adapter trained on half of tp-cn searched
#: the whole of it as well as one trained on all of it (docs/search.md has the figures).
RETRAIN_SHARE = 0.5


def retrain_due(outdated: dict[str, int]) -> bool:
    """Whether enough of the articles are new to the adapter (an ingest report's
    ``adapter_outdated``) that ``kefu ingest --adapt`` should train it again."""
    return outdated["new_or_changed"] >= RETRAIN_SHARE * max(outdated["articles"], 1)


@dataclass(frozen=True)
class AdaptConfig:
    """How the adapter is trained (measured on tp-cn with these defaults: docs/search.md)."""

    steps: int = 80
    batch_size: int = 32
    learning_rate: float = 2e-5
    temperature: float = 0.05
    max_seq_length: int = 128
    #: Fewer pairs than this and there is too little text to learn from.
    min_pairs: int = 64
    #: Sentences taken out of one passage as questions for it.
    cloze_per_chunk: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_seq_length", "min_pairs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be above 0")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (the other passages are the wrong answers)")


@dataclass(frozen=True)
class TrainingPair:
    query: str
    passage: str
    doc: int  # row in documents.jsonl: passages of the same page are not negatives


def training_pairs(
    records: Sequence[DocumentRecord], chunks: Sequence[ChunkRecord], *, cloze_per_chunk: int = 2, seed: int = 0
) -> list[TrainingPair]:
    """Pairs of (question-like text, passage) from help articles (tickets are left out).

    The text is the index's own, so already redacted.
    """
    from ingest.chunking import embed_text
    from kefu.text import split_sentences

    rng = random.Random(seed)
    pairs: list[TrainingPair] = []
    for chunk in chunks:
        record = records[chunk.doc]
        if record.kind != "article":
            continue
        body = chunk.text.strip()
        if len(body) < 30:
            continue
        headings = [h for h in chunk.heading_path if h and h != record.title]
        title = record.title + (" " + headings[-1] if headings else "")
        # The title is left out of the passage here, so that the pair is about what it says.
        pairs.append(TrainingPair(title, body, chunk.doc))
        sentences = [s for s in split_sentences(body) if 8 <= len(s) <= 120]
        if len(sentences) < 3:
            continue
        for sentence in rng.sample(sentences, min(cloze_per_chunk, len(sentences) - 1)):
            rest = body.replace(sentence, " ")
            pairs.append(TrainingPair(sentence, embed_text(record.title, chunk.heading_path, rest), chunk.doc))
    return pairs


def train_adapter(
    model_id: str,
    pairs: Sequence[TrainingPair],
    out: Path,
    config: AdaptConfig | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune the sentence-transformers model ``model_id`` on ``pairs``; write the adapter to ``out``.

    Returns what the manifest records about it.
    """
    import torch

    from kefu.embedder import load_sentence_transformer

    config = config or AdaptConfig()
    if len(pairs) < config.min_pairs:
        raise BadInputError(
            f"--adapt: the help articles give {len(pairs)} training pairs, at least "
            f"{config.min_pairs} are needed; ingest without --adapt"
        )
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    model = load_sentence_transformer(model_id)
    model.max_seq_length = config.max_seq_length
    optimiser = torch.optim.AdamW(_trainable(model), lr=config.learning_rate)
    batches = _batches(pairs, config, rng)
    losses = _train(model, optimiser, batches, config, progress)
    digest = _save_adapter(model, model_id, out)
    first, last = losses[: max(1, len(losses) // 10)], losses[-max(1, len(losses) // 10) :]
    return {
        "file": out.name,
        "sha256": digest,
        "pairs": len(pairs),
        "config": asdict(config),
        "loss_first": round(sum(first) / len(first), 4),
        "loss_last": round(sum(last) / len(last), 4),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _trainable(model: Any) -> list[Any]:
    """The parameters the adapter trains (all but the FROZEN ones), the others frozen."""
    trainable = []
    for name, param in model.named_parameters():
        param.requires_grad = not any(f in name for f in FROZEN)
        if param.requires_grad:
            trainable.append(param)
    return trainable


def _batches(pairs: Sequence[TrainingPair], config: AdaptConfig, rng: random.Random) -> list[list[TrainingPair]]:
    """``config.steps`` batches: the pairs shuffled, over again as often as the steps need."""
    order: list[TrainingPair] = []
    batches: list[list[TrainingPair]] = []
    while len(batches) < config.steps:
        if len(order) < config.batch_size:
            order = list(pairs)
            rng.shuffle(order)
        batches.append(order[: config.batch_size])
        order = order[config.batch_size :]
    return batches


def _train(
    model: Any,
    optimiser: Any,
    batches: list[list[TrainingPair]],
    config: AdaptConfig,
    progress: Callable[[str, int, int], None] | None,
) -> list[float]:
    """Contrastive steps over the batches (other pages' passages are the negatives); the losses."""
    import torch

    prompts = getattr(model, "prompts", {}) or {}
    query_prefix, passage_prefix = prompts.get("query", ""), prompts.get("passage", "")
    tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6

    def encode(texts: list[str]) -> Any:
        features = tokenize(texts)
        return model(features)["sentence_embedding"]

    model.train()
    losses: list[float] = []
    for step, batch in enumerate(batches, start=1):
        queries = encode([query_prefix + p.query for p in batch])
        passages = encode([passage_prefix + p.passage for p in batch])
        logits = queries @ passages.T / config.temperature
        docs = torch.tensor([p.doc for p in batch])
        same_page = (docs[:, None] == docs[None, :]) & ~torch.eye(len(batch), dtype=torch.bool)
        logits = logits.masked_fill(same_page, float("-inf"))
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        losses.append(float(loss.detach()))
        if progress:
            progress("adapting the embedder", step, len(batches))
    model.eval()
    return losses


def _save_adapter(model: Any, model_id: str, out: Path) -> str:
    """Write the trained weights to ``out``; their SHA-256."""
    from safetensors.torch import save_file

    state = {
        name: param.detach().contiguous()
        for name, param in model.named_parameters()
        if not any(f in name for f in FROZEN)
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"base": model_id})
    # safetensors writes the file owner-only; the index's other files follow the umask.
    mask = os.umask(0o022)
    os.umask(mask)
    out.chmod(0o666 & ~mask)
    return hashlib.sha256(out.read_bytes()).hexdigest()
