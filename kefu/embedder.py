"""Text embeddings through sentence-transformers, with e5's query/passage prompts."""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

import numpy as np

from kefu.errors import BackendUnavailableError, BadInputError, NotReadyError

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Prompt names looked up in a model's ``prompts`` for each side, in order of preference.
QUERY_PROMPT_NAMES = ("query",)
PASSAGE_PROMPT_NAMES = ("passage", "document", "corpus")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (one row per text).

    An index built with ``kefu ingest --adapt`` carries an adapter for its model:
    :meth:`adapted` puts one on top, :attr:`base` is the model without it.
    """

    model_id: str
    #: The index adapter this embedder applies, or None.
    adapter: Path | None

    @property
    def dim(self) -> int: ...

    @property
    def base(self) -> Embedder:
        """The model without an adapter (itself, if it has none)."""
        ...

    def warm_up(self) -> None:
        """Load the model now rather than at the first text."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    def adapted(self, adapter: Path) -> Embedder:
        """This model with the adapter file ``adapter`` on top, loaded when first used.

        Raises :class:`~kefu.errors.BadInputError` where the model cannot take one.
        """
        ...


class QueryEmbedderWrapper(ABC):
    """Base of an :class:`Embedder` that changes only how ``inner`` embeds queries (batched,
    cached): model id, adapter, dimension, warm-up and passages are ``inner``'s.

    ``base`` is the wrapper of the model without an adapter (``None``: this one). A subclass
    says in :meth:`_wrapping` how it wraps another model, such as the adapted one.
    """

    def __init__(self, inner: Embedder, *, base: Self | None = None) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.adapter: Path | None = inner.adapter
        self._base = base

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def base(self) -> Self:
        """The model without an adapter (itself, if it has none)."""
        return self._base if self._base is not None else self

    def warm_up(self) -> None:
        self.inner.warm_up()

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self.inner.embed_passages(texts)

    def adapted(self, adapter: Path) -> Self:
        """The base model with ``adapter``, wrapped the same way but on its own (its vectors differ)."""
        return self._wrapping(self.base.inner.adapted(adapter))

    @abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    @abstractmethod
    def _wrapping(self, inner: Embedder) -> Self:
        """``inner`` wrapped with this wrapper's options, sharing its :attr:`base`."""


def cannot_adapt(embedder: Embedder) -> BadInputError:
    """The error of an embedder that cannot take an index's adapter."""
    return BadInputError(f"{type(embedder).__name__} cannot take an adapter; it needs a sentence-transformers embedder")


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use (or by :meth:`warm_up`).

    A model whose configuration carries ``query``/``passage`` prompts (as the e5
    folder from ``kefu setup-models`` does) gets them prepended; other models embed
    the text as is.
    """

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 32,
        device: str = "cpu",
        max_seq_length: int | None = 512,
    ) -> None:
        if not model:
            raise ValueError("model must name a sentence-transformers model or folder")
        if batch_size <= 0:
            raise ValueError("batch_size must be above 0")
        self.model_id = model
        self.batch_size = batch_size
        self.device = device
        self.max_seq_length = max_seq_length
        self._model: Any = None
        self._lock = threading.Lock()
        self._query_prompt: str | None = None
        self._passage_prompt: str | None = None
        #: An index's adapter on top of the model (see :meth:`adapted`), or None.
        self.adapter: Path | None = None
        self._shares_with: SentenceTransformerEmbedder | None = None

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:  # only for models without a fixed dimension
            dim = int(model.encode(["x"], convert_to_numpy=True).shape[1])
        return int(dim)

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            model = load_sentence_transformer(self.model_id)
            if self.adapter is not None:
                _apply_adapter(model, self.adapter, self._shares_with)
            if self.max_seq_length:
                model.max_seq_length = min(self.max_seq_length, model.max_seq_length or self.max_seq_length)
            prompts = getattr(model, "prompts", {}) or {}
            self._query_prompt = next((n for n in QUERY_PROMPT_NAMES if prompts.get(n)), None)
            self._passage_prompt = next((n for n in PASSAGE_PROMPT_NAMES if prompts.get(n)), None)
            self._model = model
            return model

    @property
    def base(self) -> SentenceTransformerEmbedder:
        """The model without an adapter (itself, if it has none)."""
        return self._shares_with if self._shares_with is not None else self

    def adapted(self, adapter: Path) -> SentenceTransformerEmbedder:
        """This model with an index's adapter (``kefu ingest --adapt``) on top.

        The adapted copy shares this one's word-embedding table once both are loaded.
        """
        base = self.base
        copy = SentenceTransformerEmbedder(
            base.model_id, batch_size=base.batch_size, device=base.device, max_seq_length=base.max_seq_length
        )
        copy.adapter = Path(adapter)
        copy._shares_with = base
        return copy

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> NDArray[np.float32]:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors for search queries (with the model's query prompt, if it has one)."""
        self._load()
        return self._encode(texts, self._query_prompt)

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors for passages to be searched (with the passage prompt, if any)."""
        self._load()
        return self._encode(texts, self._passage_prompt)


def load_sentence_transformer(model_id: str, device: str = "cpu") -> Any:
    """A sentence-transformers model from a folder (offline) or a hub name."""
    local = Path(model_id).expanduser()
    looks_like_path = local.is_absolute() or model_id.startswith((".", "~")) or local.exists()
    if looks_like_path and not (local / "modules.json").is_file() and not (local / "config.json").is_file():
        raise NotReadyError(
            f"no sentence-transformers model in {local}; run `kefu setup-models` "
            "(or set KEFU_EMBEDDING_MODEL to a model name or folder)"
        )
    # sentence-transformers pulls in torch and transformers: import on first use only.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        return SentenceTransformer(
            str(local) if looks_like_path else model_id,
            device=device,
            local_files_only=looks_like_path or os.environ.get("HF_HUB_OFFLINE") == "1",
        )
    except OSError as exc:
        raise BackendUnavailableError(f"cannot load the embedding model {model_id!r}: {exc}") from exc


def _apply_adapter(model: Any, adapter: Path, shares_with: SentenceTransformerEmbedder | None) -> None:
    """Load an adapter's weights into ``model``; share the frozen table with ``shares_with``'s model."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(adapter))
    except (OSError, SafetensorError) as exc:
        raise NotReadyError(
            f"the index's embedder adapter {adapter} is unreadable ({exc}); re-run `kefu ingest --adapt`"
        ) from exc
    params = dict(model.named_parameters())
    unknown = sorted(set(state) - set(params))
    wrong = sorted(n for n in set(state) & set(params) if state[n].shape != params[n].shape)
    if unknown or wrong or not state:
        raise NotReadyError(
            f"the embedder adapter {adapter} does not fit this model "
            f"({len(unknown)} unknown and {len(wrong)} misshapen weights); re-run `kefu ingest --adapt`"
        )
    model.load_state_dict(state, strict=False)
    if shares_with is not None:
        base = shares_with._load()
        mine, theirs = dict(model.named_modules()), dict(base.named_modules())
        for name in list(mine):
            if name.endswith("word_embeddings") and name in theirs and not any(k.startswith(name + ".") for k in state):
                parent_name, _, attr = name.rpartition(".")
                setattr(mine[parent_name], attr, theirs[name])


def embedder_from_settings(settings: Any) -> Embedder:
    """The configured embedder on the configured runtime (KEFU_EMBED_RUNTIME), not yet loaded."""
    from kefu.onnx_embedder import embedder_for_runtime

    return embedder_for_runtime(
        settings.embedding_model_id,
        settings.embed_runtime,
        batch_size=settings.embedding_batch_size,
        threads=settings.embed_threads,
    )
