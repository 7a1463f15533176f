"""The e5 folder's model run by ONNX Runtime instead of torch (``KEFU_EMBED_RUNTIME``).

``kefu setup-models`` exports the folder's transformer to ``onnx/model.onnx`` and quantises
it to ``onnx/model_qint8.onnx``. :class:`OnnxEmbedder` tokenizes with the folder's own fast
tokenizer, runs the file and pools the way the folder's sentence-transformers pipeline does
(mean over the attention mask, then L2 normalisation; prompts from its configuration), so
an index built with one runtime is searched with another.

:func:`embedder_for_runtime` picks the runtime and falls back to torch, with a log line,
where the file or onnxruntime is missing.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from kefu.embedder import (
    PASSAGE_PROMPT_NAMES,
    QUERY_PROMPT_NAMES,
    Embedder,
    SentenceTransformerEmbedder,
)
from kefu.errors import BackendUnavailableError, NotReadyError
from kefu.settings import EmbedRuntime

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger("kefu.embedder")

#: Where setup puts the files, inside the model folder (sentence-transformers' own layout).
ONNX_DIR = "onnx"
ONNX_FILES: dict[str, str] = {"onnx": "model.onnx", "onnx-int8": "model_qint8.onnx"}
#: Written by setup beside the files: which ones were checked against torch on this CPU.
ONNX_MARKER = "kefu-onnx.json"


class InferenceSession(Protocol):
    """What :class:`OnnxEmbedder` needs of ``onnxruntime.InferenceSession``."""

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> list[Any]: ...


def onnx_file(folder: Path, runtime: EmbedRuntime) -> Path:
    """The ONNX file of ``runtime`` inside a model folder (it may not exist). ``openvino``
    compiles the fp32 file."""
    return folder / ONNX_DIR / ONNX_FILES["onnx" if runtime == "openvino" else runtime]


class OnnxEmbedder:
    """A sentence-transformers folder's model run from an ONNX file with ONNX Runtime.

    ``threads`` is ONNX Runtime's intra-op thread count (one model call uses that many
    cores). Calls from several threads run at once: ``run`` releases the GIL. On the
    ``openvino`` runtime it is the number of model calls that run at once, one core each
    (:class:`OpenVinoSession`); a call with many passages spreads its batches over them.
    """

    def __init__(
        self,
        model: str,
        onnx_path: Path,
        *,
        batch_size: int = 32,
        max_seq_length: int = 512,
        threads: int | None = None,
        runtime: EmbedRuntime = "onnx",
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be above 0")
        if threads is not None and threads <= 0:
            raise ValueError("threads must be above 0")
        self.model_id = model
        self.folder = Path(model).expanduser()
        self.onnx_path = Path(onnx_path)
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.runtime = runtime
        #: An ONNX file carries no adapter: an adapted index is searched through torch (:meth:`adapted`).
        self.adapter: Path | None = None
        self._lock = threading.Lock()
        self._session: InferenceSession | None = None
        self._tokenizer: Any = None
        self._dim = 0
        self._query_prompt = ""
        self._passage_prompt = ""

    @property
    def dim(self) -> int:
        self._load()
        return self._dim

    @property
    def base(self) -> OnnxEmbedder:
        return self

    def warm_up(self) -> None:
        self._load()

    def adapted(self, adapter: Path) -> Embedder:
        """The model with an index's adapter, through torch: an adapter holds torch weights."""
        log.info("index adapter %s: its questions are embedded with torch (an ONNX file has no adapter)", adapter)
        return SentenceTransformerEmbedder(self.model_id, batch_size=self.batch_size).adapted(adapter)

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors for search queries (with the folder's query prompt, if it has one)."""
        self._load()
        return self._encode([self._query_prompt + t for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors for passages to be searched (with the passage prompt, if any)."""
        self._load()
        return self._encode([self._passage_prompt + t for t in texts])

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            config = read_pipeline_config(self.folder)
            self._dim = config["dim"]
            self._query_prompt, self._passage_prompt = config["query_prompt"], config["passage_prompt"]
            self._tokenizer = load_tokenizer(self.folder, min(self.max_seq_length, config["max_seq_length"]))
            self._session = self._open_session()

    def _open_session(self) -> InferenceSession:
        if not self.onnx_path.is_file():
            raise NotReadyError(f"no ONNX model at {self.onnx_path}; run `kefu setup-models`")
        if self.runtime == "openvino":
            return OpenVinoSession(self.onnx_path, streams=self.threads)
        # onnxruntime is a native library needed only by this runtime: import on first use.
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads that spin keep a core busy between calls, a core the API's other
        # requests (BM25, JSON) need on a small box.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            session: InferenceSession = ort.InferenceSession(
                str(self.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
            raise BackendUnavailableError(f"cannot load the ONNX model {self.onnx_path}: {exc}") from exc
        return session

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        # Longest first, as sentence-transformers does: a batch pads to its longest text only.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        batches = [order[start : start + self.batch_size] for start in range(0, len(texts), self.batch_size)]
        streams = getattr(self._session, "streams", 1)
        if streams > 1 and len(batches) > 1:
            with ThreadPoolExecutor(min(streams, len(batches)), thread_name_prefix="kefu-embed") as pool:
                done = pool.map(lambda rows: self._run([texts[i] for i in rows]), batches)
                for rows, vectors in zip(batches, done, strict=True):
                    out[rows] = vectors
            return out
        for rows in batches:
            out[rows] = self._run([texts[i] for i in rows])
        return out

    def _run(self, texts: list[str]) -> NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        assert self._session is not None
        (hidden,) = self._session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})
        return mean_pool_normalised(np.asarray(hidden, dtype=np.float32), mask)


class OpenVinoSession:
    """The ONNX file compiled by OpenVINO for the CPU, behind ONNX Runtime's ``run``.

    OpenVINO picks the precision: bf16 on CPUs with AMX or AVX512-BF16 (their matrix units),
    fp32 elsewhere. ``streams`` calls run at once, each on one core with an inference request
    of its own; a call waits for a free one. Under concurrent searches this beats one call
    on every core at a time (docs/benchmarks.md). ``run`` releases the GIL while the model runs.
    """

    def __init__(self, path: Path, *, streams: int) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise BackendUnavailableError("KEFU_EMBED_RUNTIME=openvino needs the openvino package") from exc
        try:
            self._compiled = ov.Core().compile_model(
                str(path), "CPU", {"INFERENCE_NUM_THREADS": streams, "NUM_STREAMS": streams}
            )
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise BackendUnavailableError(f"OpenVINO cannot compile the ONNX model {path}: {exc}") from exc
        self.streams = streams
        self.precision = str(self._compiled.get_property("INFERENCE_PRECISION_HINT"))
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(streams):
            self._free.put(self._compiled.create_infer_request())
        log.info("OpenVINO embedder: %s, %d call(s) at once", self.precision, streams)

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> list[Any]:
        request = self._free.get()
        try:
            # The outputs are copied out of the request's buffers (share_outputs=False) before
            # another call may reuse it.
            results = request.infer(input_feed, share_outputs=False)
        finally:
            self._free.put(request)
        names = output_names or [o.get_any_name() for o in self._compiled.outputs]
        return [results[self._compiled.output(name)] for name in names]


def mean_pool_normalised(hidden: NDArray[np.float32], mask: NDArray[np.int64]) -> NDArray[np.float32]:
    """sentence-transformers' mean pooling over unmasked tokens, then its L2 normalisation."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.ascontiguousarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


def read_pipeline_config(folder: Path) -> dict[str, Any]:
    """The parts of a sentence-transformers folder's configuration the ONNX path reproduces.

    Raises :class:`~kefu.errors.NotReadyError` for a pipeline it does not reproduce (a
    pooling other than mean, a module other than transformer, pooling and normalise).
    """
    try:
        modules = json.loads((folder / "modules.json").read_text())
        st_config = json.loads((folder / "config_sentence_transformers.json").read_text())
    except (OSError, ValueError) as exc:
        raise NotReadyError(f"no sentence-transformers configuration in {folder}: {exc}") from exc
    kinds = [str(m.get("type", "")).rpartition(".")[2] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
        raise NotReadyError(
            f"{folder / 'modules.json'}: the ONNX runtime reproduces Transformer, Pooling, Normalize only"
        )
    pooling_dir = folder / modules[1].get("path", "1_Pooling")
    try:
        pooling = json.loads((pooling_dir / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise NotReadyError(f"no pooling configuration in {pooling_dir}: {exc}") from exc
    mean = pooling.get("pooling_mode") == "mean" or pooling.get("pooling_mode_mean_tokens") is True
    if not mean or pooling.get("include_prompt") is False:
        raise NotReadyError(f"{pooling_dir / 'config.json'}: the ONNX runtime reproduces mean pooling only")
    try:
        bert = json.loads((folder / "sentence_bert_config.json").read_text())
    except (OSError, ValueError):
        bert = {}
    prompts = st_config.get("prompts") or {}
    dim = pooling.get("embedding_dimension") or pooling.get("word_embedding_dimension")
    return {
        "dim": int(dim),
        "max_seq_length": int(bert.get("max_seq_length") or 512),
        "query_prompt": next((prompts[n] for n in QUERY_PROMPT_NAMES if prompts.get(n)), ""),
        "passage_prompt": next((prompts[n] for n in PASSAGE_PROMPT_NAMES if prompts.get(n)), ""),
    }


def load_tokenizer(folder: Path, max_length: int) -> Any:
    """The folder's fast tokenizer, truncating and padding as sentence-transformers does."""
    # As the torch path does: tokenizers' thread pool warns in a process that forks after using it.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise NotReadyError(f"no fast tokenizer ({path.name}) in {folder}")
    tokenizer = Tokenizer.from_file(str(path))
    config = (
        json.loads((folder / "tokenizer_config.json").read_text())
        if (folder / "tokenizer_config.json").is_file()
        else {}
    )
    pad_token = config.get("pad_token") or "<pad>"
    pad_id = tokenizer.token_to_id(pad_token)
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token=pad_token)
    return tokenizer


def embedder_for_runtime(
    model: str,
    runtime: EmbedRuntime,
    *,
    batch_size: int = 32,
    threads: int | None = None,
) -> Embedder:
    """The embedder of ``runtime`` for a model folder; torch where the ONNX file cannot be used.

    An int8 file that setup found too far from torch on this CPU is not used either: the
    fp32 file is, where it passed.
    """
    torch_embedder = SentenceTransformerEmbedder(model, batch_size=batch_size)
    if runtime == "torch":
        return torch_embedder
    folder = Path(model).expanduser()
    chosen: EmbedRuntime = runtime
    checked = _read_marker(folder)
    if runtime == "onnx-int8" and _failed_at_setup(checked, runtime, "the int8 file's", "the fp32 ONNX file"):
        chosen = "onnx"
    if runtime == "openvino" and not _installed("openvino"):
        log.warning("KEFU_EMBED_RUNTIME=openvino but openvino is not installed; using ONNX Runtime (fp32)")
        chosen = "onnx"
    elif runtime == "openvino" and _failed_at_setup(checked, runtime, "OpenVINO's", "ONNX Runtime (fp32)"):
        chosen = "onnx"
    path = onnx_file(folder, chosen)
    if not path.is_file():
        log.warning(
            "KEFU_EMBED_RUNTIME=%s but there is no %s; embedding with torch (slower). "
            "Run `kefu setup-models` to make it",
            runtime,
            path,
        )
        return torch_embedder
    if chosen != "openvino" and not _installed("onnxruntime"):
        log.warning("KEFU_EMBED_RUNTIME=%s but onnxruntime is not installed; embedding with torch (slower)", runtime)
        return torch_embedder
    return OnnxEmbedder(model, path, batch_size=batch_size, threads=threads, runtime=chosen)


def _failed_at_setup(checked: dict[str, Any], runtime: EmbedRuntime, whose: str, instead: str) -> bool:
    """Whether setup found ``runtime``'s vectors too far from torch's on this CPU; logs the fallback."""
    check = checked.get(runtime, {})
    if check.get("ok") is not False:
        return False
    log.warning(
        "KEFU_EMBED_RUNTIME=%s: %s vectors were too far from torch's on this CPU at setup (%s); using %s",
        runtime,
        whose,
        check.get("min_cosine"),
        instead,
    )
    return True


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # an import hook that refuses the module counts as its absence
        return False


def _read_marker(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / ONNX_DIR / ONNX_MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
