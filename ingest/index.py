"""The on-disk index: versions built beside the current one and switched in atomically.

Layout under ``<data dir>/indexes/<name>/``::

    current -> versions/<id>     a symlink, replaced by one rename to switch versions
    versions/<id>/
        manifest.json            model, dimensions, counts, source hashes, build time
        documents.jsonl          one unique document per line (all its paths)
        chunks.jsonl             one chunk per line (document number, headings, text)
        vectors.f16.npy          chunk vectors (float16), reused by the next ingest
        dense.faiss              the dense index (exact or IVF-SQ8, chosen by size)
        sparse/                  the BM25 index (bm25s) over Chinese-aware tokens
        bigram_sparse/           a second BM25 index over those tokens plus character pairs
        tokens.txt, pairs.txt    each chunk's BM25 tokens and character pairs, reused by the next ingest
        titles.f16.npy           one vector per document title, and over titles:
        titles.faiss, title_sparse/   a dense and a BM25 index

A reader resolves ``current`` once and keeps that version open, so an ingest that
switches versions under it never disturbs a search in flight; a failed or killed ingest
never touches ``current``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kefu.errors import BadInputError, ConflictError, NotReadyError

if TYPE_CHECKING:
    from numpy.typing import NDArray

FORMAT_VERSION = 3
DEFAULT_INDEX = "harbor"
#: Up to this many chunks the dense index is exact (flat inner product); above, IVF + SQ8.
EXACT_LIMIT = 200_000
#: Versions kept besides the current one (a reader may still hold the previous one).
KEEP_VERSIONS = 2
PROBE_TEXT = "query: 转账一直显示打包中 / my transfer is pending"


@dataclass
class DocumentRecord:
    """One unique document in an index version (exact duplicates share a record)."""

    doc_id: str
    paths: list[str]
    kind: str
    title: str
    lang: str
    category: str | None
    url: str | None
    updated: str | None
    hash: str
    chunk_start: int
    chunk_count: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChunkRecord:
    doc: int  # row in documents.jsonl
    heading_path: list[str]
    text: str


@dataclass
class Manifest:
    format_version: int
    name: str
    version: str
    created_at: str
    embedder: dict[str, Any]
    chunker: dict[str, Any]
    counts: dict[str, int]
    sources: list[dict[str, Any]]
    source_hashes: dict[str, str]
    dense: dict[str, Any]
    build_seconds: float = 0.0
    redactions: dict[str, int] = field(default_factory=dict)
    #: kefu.text.TOKENS_VERSION of the BM25 tokens.
    tokens_version: int = 0


def validate_name(name: str) -> str:
    """Index names become folder names: keep them plain."""
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise BadInputError(f"--index {name!r}: use letters, digits, '-', '_' or '.'")
    return name


class IndexLayout:
    """Where an index's files live."""

    def __init__(self, data_dir: Path, name: str) -> None:
        self.name = validate_name(name)
        self.root = data_dir / "indexes" / name
        self.versions = self.root / "versions"
        self.current = self.root / "current"

    def current_version(self) -> Path | None:
        if not self.current.is_symlink() and not self.current.exists():
            return None
        target = self.current.resolve()
        return target if (target / "manifest.json").is_file() else None

    def current_name(self) -> str | None:
        """The name of the version ``current`` points at, or None: one readlink, cheap enough
        for a server to poll for versions another process published."""
        try:
            return self.current.readlink().name
        except OSError:
            return None

    def new_build_dir(self) -> Path:
        self.versions.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.versions / f".building-{stamp}-{os.getpid()}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        return path

    def publish(self, build_dir: Path, version: str) -> Path:
        """Move a finished build into place and point ``current`` at it (one rename)."""
        final = self.versions / version
        build_dir.rename(final)
        link = self.root / f".current-{os.getpid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(Path("versions") / version)
        link.replace(self.current)
        _fsync_dir(self.root)
        self.prune(keep={version})
        return final

    def prune(self, keep: set[str]) -> None:
        """Drop old versions and leftovers of killed builds, keeping the newest few."""
        if not self.versions.is_dir():
            return
        mine = f"-{os.getpid()}"
        for path in self.versions.iterdir():
            if path.name.startswith(".building-") and not path.name.endswith(mine):
                shutil.rmtree(path, ignore_errors=True)
        finished = sorted(
            (p for p in self.versions.iterdir() if not p.name.startswith(".")),
            key=lambda p: p.name,
            reverse=True,
        )
        for old in finished[KEEP_VERSIONS:]:
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One ingest at a time per index (a second one fails fast, changing nothing)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".ingest.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ConflictError(f"another ingest into index {self.name!r} is running") from exc
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dense_index_for(vectors: NDArray[np.float32]) -> tuple[Any, dict[str, Any]]:
    """A FAISS index over ``vectors`` (L2-normalised, so inner product is cosine).

    Exact search up to EXACT_LIMIT chunks; beyond, IVF with 8-bit scalar quantisation:
    1M chunks of 384 dims take ~0.4 GB instead of 1.5 GB and a query scans ~1% of them.
    """
    import faiss

    n, dim = vectors.shape
    index: Any
    if n <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index, {"type": "flat-ip", "n": n, "dim": dim}
    nlist = min(65536, int(4 * math.sqrt(n)))
    index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(n, size=min(n, nlist * 64), replace=False)]
    index.train(sample)
    index.add(vectors)
    nprobe = max(8, nlist // 64)
    index.nprobe = nprobe
    return index, {"type": f"ivf{nlist}-sq8", "n": n, "dim": dim, "nprobe": nprobe}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _read_faiss(path: Path) -> Any:
    import faiss  # a heavy import, for the commands that search

    return faiss.read_index(str(path))


def _read_bm25(path: Path) -> Any:
    import bm25s

    return bm25s.BM25.load(str(path))


def _part(read: Callable[[Path], Any], name: str) -> cached_property[Any]:
    """An index version's attribute: its file or folder ``name``, read with ``read`` on first use."""

    def load(version: IndexVersion) -> Any:
        return read(version.path / name)

    return cached_property(load)


class IndexVersion:
    """One finished index version, loaded for search (read-only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            if raw.get("format_version") != FORMAT_VERSION:
                raise NotReadyError(
                    f"index at {path} has format {raw.get('format_version')}, this kefu reads "
                    f"{FORMAT_VERSION}; re-run `kefu ingest`"
                )
            self.manifest = Manifest(**raw)
            self.documents = [DocumentRecord(**d) for d in read_jsonl(path / "documents.jsonl")]
            self.chunks = [ChunkRecord(**c) for c in read_jsonl(path / "chunks.jsonl")]
        except (OSError, ValueError, TypeError) as exc:
            raise NotReadyError(f"index at {path} is unreadable ({exc}); re-run `kefu ingest`") from exc
        self.chunk_doc = np.fromiter((c.doc for c in self.chunks), dtype=np.int64, count=len(self.chunks))
        #: Every path the index knows (a document's copies each have one) -> its record.
        self.document_by_path = {p: d for d in self.documents for p in d.paths}

    @cached_property
    def _translations(self) -> dict[str, dict[str, DocumentRecord]]:
        out: dict[str, dict[str, DocumentRecord]] = {}
        for d in self.documents:
            if d.kind != "article":
                continue
            for path in d.paths:
                key = translation_key(path, d.lang)
                if key is not None:
                    out.setdefault(key, {}).setdefault(d.lang, d)
        return out

    def translation(self, paths: Sequence[str], lang: str, into: str) -> DocumentRecord | None:
        """The article at one of ``paths`` (written in ``lang``) as translated ``into`` another
        language: the article whose path has the other language's folder in place of its own
        (``help/zh/a.md`` and ``help/en/a.md``), or None."""
        if into == lang:
            return None
        for path in paths:
            key = translation_key(path, lang)
            found = self._translations.get(key, {}).get(into) if key is not None else None
            if found is not None:
                return found
        return None

    # Each part is read on first use: a command that needs only the documents loads no search index.
    @cached_property
    def dense(self) -> Any:
        dense = _read_faiss(self.path / "dense.faiss")
        if "nprobe" in self.manifest.dense:
            dense.nprobe = self.manifest.dense["nprobe"]
        return dense

    sparse = _part(_read_bm25, "sparse")
    bigram_sparse = _part(_read_bm25, "bigram_sparse")
    title_dense = _part(_read_faiss, "titles.faiss")
    title_sparse = _part(_read_bm25, "title_sparse")

    def title_vectors(self) -> NDArray[np.float16]:
        vectors: NDArray[np.float16] = np.load(self.path / "titles.f16.npy", mmap_mode="r")
        return vectors

    def vectors(self) -> NDArray[np.float16]:
        vectors: NDArray[np.float16] = np.load(self.path / "vectors.f16.npy", mmap_mode="r")
        return vectors

    @property
    def adapter_path(self) -> Path | None:
        """The embedder adapter this version was built with (``kefu ingest --adapt``), if any."""
        info = self.manifest.embedder.get("adapter")
        return self.path / info["file"] if info else None

    def check_embedder(self, model_id: str, probe: NDArray[np.float32]) -> None:
        """Refuse an embedder other than the one the index was built with."""
        built = self.manifest.embedder
        stored = np.asarray(built.get("probe", []), dtype=np.float32)
        if stored.shape != probe.shape or float(stored @ probe) < 0.99:
            raise BadInputError(
                f"index {self.manifest.name!r} was built with the embedder {built.get('model_id')!r} "
                f"({built.get('dim')} dims); the configured one is {model_id!r} "
                f"({probe.shape[0]} dims). Re-run `kefu ingest` with this embedder, or configure "
                "the one the index was built with (KEFU_EMBEDDING_MODEL)"
            )


def translation_key(path: str, lang: str) -> str | None:
    """``path`` with its language folder (``zh``, ``en``, ``zh-cn``, ``en_US``...) as ``*``,
    the key an article shares with its translations; None where no folder names ``lang``."""
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        folder = part.lower().replace("_", "-")
        if folder == lang or folder.startswith(f"{lang}-"):
            return "/".join([*parts[:i], "*", *parts[i + 1 :]])
    return None


def open_index(data_dir: Path, name: str) -> IndexVersion:
    """The current version of index ``name``; NotReadyError if there is none yet."""
    layout = IndexLayout(data_dir, name)
    version = layout.current_version()
    if version is None:
        raise NotReadyError(
            f"no index {name!r} under {data_dir / 'indexes'}; build it with `kefu ingest --index {name}`"
        )
    return IndexVersion(version)


def manifest_dict(m: Manifest) -> dict[str, Any]:
    return asdict(m)
