"""``kefu ingest``: sources -> redacted documents -> chunks -> vectors + BM25 -> a new index version.

Incremental: each document has a content hash; chunks and vectors of unchanged documents
are carried over from the current version, so only new or changed documents are embedded,
and a run that finds nothing changed writes nothing. Atomic: the new version is built
beside the current one and switched in by one rename (see ``ingest.index``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.adapt import ADAPTER_FILE, AdaptConfig, train_adapter, training_pairs
from ingest.chunking import CHUNKER_VERSION, ChunkerConfig, chunk_document, embed_text
from ingest.documents import Problem, SourceDocument
from ingest.index import (
    FORMAT_VERSION,
    PROBE_TEXT,
    ChunkRecord,
    DocumentRecord,
    IndexLayout,
    IndexVersion,
    Manifest,
    dense_index_for,
    manifest_dict,
    write_jsonl,
)
from kefu.errors import BadInputError, NotReadyError
from kefu.redaction import Redactor
from kefu.text import TOKENS_VERSION, char_bigrams, detect_language, normalise, tokens

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kefu.embedder import Embedder

Progress = Callable[[str, int, int], None]


@dataclass
class IngestReport:
    index: str
    version: str | None
    changed: bool
    documents: dict[str, int]
    chunks: int
    embedded_chunks: int
    redactions: dict[str, int]
    problems: list[str]
    sources: list[dict[str, Any]]
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)
    #: The embedder adapter of the version: "trained", "kept" or None (see ``--adapt``).
    adapter: str | None = None
    adapter_info: dict[str, Any] | None = None
    #: How much of the help content the adapter has not seen: {"articles": now,
    #: "new_or_changed": not trained on}; None without an adapter, or for one trained
    #: before kefu recorded what it was trained on.
    adapter_outdated: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def document_hash(doc: SourceDocument) -> str:
    """Content hash: what a reader sees (title, text, fields shown in citations) and, when it
    links to other pages, their names, which change what search matches it by."""
    payload: dict[str, Any] = {
        "kind": doc.kind,
        "title": doc.title,
        "lang": doc.lang,
        "category": doc.category,
        "url": doc.url,
        "sections": [[list(s.heading_path), s.text] for s in doc.sections],
        "meta": doc.meta,
    }
    if doc.link_texts:  # absent otherwise, so a page without such links keeps its hash
        payload["link_texts"] = list(doc.link_texts)
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


_TITLE_NOISE = re.compile(r"[\W_]+")


def _content_key(doc: SourceDocument) -> str:
    """Exact-duplicate key: same kind, title and text, wherever the copy lives.

    Titles are compared without case, spaces and punctuation: help centres keep copies of a
    page whose titles differ by no more than that ("什么是 部分签名的比特币交易（PSBT）" beside
    "什么是部分签名的比特币交易（PSBT）", ".杀毒软件误报" beside "杀毒软件误报").
    """
    title = _TITLE_NOISE.sub("", normalise(doc.title).lower())
    blob = json.dumps([doc.kind, title, [s.text for s in doc.sections]], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def searchable(text: str, link_texts: Sequence[str]) -> str:
    """What search matches a chunk by: its text less the names of other pages it links to.

    "见转账一直显示“打包中”怎么办？" in a deposit article names the pending-transfer article;
    left in, it drew that very question to the deposit article. Passages shown keep them.
    """
    for link in link_texts:  # longest first, so a name inside a longer one goes with it
        text = text.replace(link, " ")
    return text


def sparse_tokens(title: str, embed_text: str) -> list[str]:
    # The title counts twice: users' words meet titles more often than body text.
    return tokens(title) + tokens(embed_text)


def _search_views(doc: SourceDocument, heading_path: Sequence[str], text: str) -> tuple[str, list[str], list[str]]:
    """What a chunk is matched by: the text to embed, its BM25 tokens and its character pairs."""
    seen = searchable(embed_text(doc.title, heading_path, text), doc.link_texts)
    return seen, sparse_tokens(doc.title, seen), char_bigrams(seen)


def read_all(
    sources: Sequence[Path], fmt: str | None, redactor: Redactor, official_domains: Sequence[str] | None = None
) -> tuple[list[SourceDocument], list[Problem], list[dict[str, Any]]]:
    """Read every source; a missing or unreadable one is a problem, not the end. Sentences
    of articles that would fail the output check are left out, each a problem
    (:mod:`ingest.screen`; links are judged only with ``official_domains``)."""
    from ingest.screen import foreign_domains_note, screen_documents
    from ingest.sources import read_source

    documents: list[SourceDocument] = []
    problems: list[Problem] = []
    summary: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for source in sources:
        if not source.exists():
            problems.append(Problem(str(source), None, "no such file or folder"))
            continue
        read = read_source(source, fmt=fmt, redact=redactor, official_domains=official_domains)
        problems.extend(read.problems)
        foreign: Counter[str] = Counter()
        problems.extend(screen_documents(read.documents, source, official_domains, foreign))
        notes = list(read.notes)
        if foreign:
            notes.append(foreign_domains_note(foreign))
        # A GitBook section's index page ("BSC钱包") or a page of images alone: nothing in it
        # can answer a question, and its title alone would outrank the pages under it.
        blank = [doc.path for doc in read.documents if _blank(doc)]
        if blank:
            notes.append(f"left out {len(blank)} page(s) with no text besides the title: " + _some(blank))
        left_out = set(blank)
        kept = 0
        for doc in read.documents:
            if doc.path in left_out:
                continue
            if doc.path in seen:
                problems.append(
                    Problem(
                        doc.source_file or doc.path,
                        None,
                        f"{doc.path} is also in {seen[doc.path]}; kept the first",
                    )
                )
                continue
            seen[doc.path] = str(source)
            documents.append(doc)
            kept += 1
        summary.append({"path": str(source), "format": read.format, "documents": kept, "notes": notes})
    return documents, problems, summary


def _blank(doc: SourceDocument) -> bool:
    """An article with no text besides its title (tickets always have their messages)."""
    return doc.kind == "article" and not any(section.text.strip() for section in doc.sections)


def _some(paths: Sequence[str], shown: int = 3) -> str:
    return ", ".join(paths[:shown]) + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


@dataclass
class _Input:
    """What the sources hold: documents, exact duplicates grouped, content hashes by path."""

    docs: list[SourceDocument]
    problems: list[Problem]
    summary: list[dict[str, Any]]
    #: Exact duplicates become one record that remembers every path.
    groups: list[list[SourceDocument]]
    hashes: dict[str, str]

    @property
    def unique(self) -> list[SourceDocument]:
        return [group[0] for group in self.groups]


@dataclass
class _Reuse:
    """What of the previous version the new one can take over."""

    previous: IndexVersion | None
    #: Same chunker and embedder model: chunks and vectors carry over.
    same_config: bool
    #: Same tokeniser: stored BM25 tokens carry over.
    same_tokens: bool
    #: Same grouping of paths into copies of one page.
    same_groups: bool
    #: The previous version's adapter file, if it had one.
    adapter: Path | None
    #: No adapter is trained, and none is dropped.
    same_adapter: bool

    def nothing_changed(self, hashes: dict[str, str]) -> bool:
        return bool(
            self.previous
            and self.same_config
            and self.same_tokens
            and self.same_groups
            and self.same_adapter
            and self.previous.manifest.source_hashes == hashes
        )


@dataclass
class _Chunks:
    """The new version's chunk table as it is built; a vector of None is still to be embedded."""

    records: list[DocumentRecord] = field(default_factory=list)
    rows: list[ChunkRecord] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)
    pairs: list[list[str]] = field(default_factory=list)
    vectors: list[NDArray[np.float16] | None] = field(default_factory=list)
    #: (row, text to embed) of each new chunk.
    to_embed: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Embedding:
    """How the new version is embedded: with which embedder, adapter and whether old vectors carry over."""

    probe: NDArray[np.float32]
    use: Embedder
    reuse_vectors: bool
    adapter_info: dict[str, Any] | None = None


def run_ingest(
    sources: Sequence[Path],
    *,
    data_dir: Path,
    index_name: str,
    embedder: Embedder,
    fmt: str | None = None,
    strict: bool = False,
    chunker: ChunkerConfig | None = None,
    progress: Progress | None = None,
    redactor: Redactor | None = None,
    adapt: bool | None = None,
    adapt_config: AdaptConfig | None = None,
    official_domains: Sequence[str] | None = None,
) -> IngestReport:
    """Ingest ``sources`` into index ``index_name``; returns what changed.

    With ``strict``, any problem in the input fails the run before anything is written:
    also an article sentence that asks for a secret, promises a recovery or (with
    ``official_domains``) links to another domain, which is otherwise left out and reported.
    ``adapt``: True trains a new embedder adapter on the content and embeds everything with
    it (:mod:`ingest.adapt`); False builds without one; None keeps the index's adapter, if
    it has one, for the new or changed documents.
    """
    start = time.perf_counter()
    if adapt:
        _adapted(embedder, Path(ADAPTER_FILE))  # refuses, before any work, an embedder that cannot take one
    stages: dict[str, float] = {}
    chunker = chunker or ChunkerConfig()
    redactor = redactor or Redactor()
    layout = IndexLayout(data_dir, index_name)
    with layout.lock():
        current = layout.current_version()
        # Holding the lock, nothing else builds: leftovers of a killed run can go.
        layout.prune(keep={current.name} if current else set())
        t = time.perf_counter()
        found = _read_input(sources, fmt, redactor, official_domains, strict=strict)
        stages["read"] = time.perf_counter() - t
        reuse = _judge_reuse(_open_previous(current, found.problems), found, chunker, embedder.model_id, adapt)
        counts = _diff(reuse.previous, found.hashes)
        counts["duplicates"] = len(found.docs) - len(found.groups)
        run = _Run(index_name, redactor, found, counts, start, stages)
        if reuse.nothing_changed(found.hashes):
            assert reuse.previous is not None
            kept = reuse.previous.manifest.embedder.get("adapter")
            return run.report(reuse.previous.manifest.version, changed=False, chunks=len(reuse.previous.chunks),
                              embedded=0, adapter="kept" if reuse.adapter else None, adapter_info=kept,
                              records=reuse.previous.documents)  # fmt: skip
        with _build_folder(layout) as build:
            version, chunks, plan = _build_version(
                build, layout, run, reuse, embedder, chunker=chunker, adapt=adapt, adapt_config=adapt_config,
                progress=progress,
            )  # fmt: skip
        trained_or_kept = ("trained" if adapt else "kept") if plan.adapter_info else None
        return run.report(version, changed=True, chunks=len(chunks.rows), embedded=len(chunks.to_embed),
                          adapter=trained_or_kept, adapter_info=plan.adapter_info, records=chunks.records)  # fmt: skip


@contextmanager
def _build_folder(layout: IndexLayout) -> Iterator[Path]:
    """A folder of its own for the new version: a failure or a kill leaves the current
    version untouched, and the next ingest clears what a kill left."""
    build = layout.new_build_dir()
    try:
        yield build
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def _build_version(
    build: Path,
    layout: IndexLayout,
    run: _Run,
    reuse: _Reuse,
    embedder: Embedder,
    *,
    chunker: ChunkerConfig,
    adapt: bool | None,
    adapt_config: AdaptConfig | None,
    progress: Progress | None,
) -> tuple[str, _Chunks, _Embedding]:
    """Chunk, (train an adapter,) embed and write the new version in ``build``, then publish it."""
    stages, found = run.stages, run.found
    t = time.perf_counter()
    plan = _plan_embedding(build, embedder, reuse, adapt)
    chunks = _chunk_all(found, reuse, chunker, reuse_vectors=plan.reuse_vectors)
    stages["chunk"] = time.perf_counter() - t
    if adapt:
        t = time.perf_counter()
        _train_adapter(build, embedder, plan, chunks, config=adapt_config or AdaptConfig(), progress=progress)
        stages["adapt"] = time.perf_counter() - t
    t = time.perf_counter()
    _embed_chunks(plan.use, chunks, progress)
    titles = _title_vectors(plan.use, chunks.records, reuse.previous if plan.reuse_vectors else None)
    stages["embed"] = time.perf_counter() - t
    t = time.perf_counter()
    version = _write_version(
        build, layout=layout, index_name=run.index_name, chunks=chunks, title_matrix16=titles,
        model_id=embedder.model_id, plan=plan, chunker=chunker, summary=found.summary, hashes=found.hashes,
        redactions=dict(run.redactor.totals), build_seconds=time.perf_counter() - run.start,
    )  # fmt: skip
    stages["write"] = time.perf_counter() - t
    return version, chunks, plan


@dataclass
class _Run:
    """One ingest's bookkeeping, for its report."""

    index_name: str
    redactor: Redactor
    found: _Input
    counts: dict[str, int]
    start: float
    stages: dict[str, float]

    def report(
        self,
        version: str | None,
        *,
        changed: bool,
        chunks: int,
        embedded: int,
        adapter: str | None,
        adapter_info: dict[str, Any] | None,
        records: list[DocumentRecord],
    ) -> IngestReport:
        return IngestReport(
            index=self.index_name,
            version=version,
            changed=changed,
            documents=self.counts,
            chunks=chunks,
            embedded_chunks=embedded,
            redactions=dict(self.redactor.totals),
            problems=[str(p) for p in self.found.problems],
            sources=self.found.summary,
            seconds=time.perf_counter() - self.start,
            stages=self.stages,
            adapter=adapter,
            adapter_info=_public(adapter_info),
            adapter_outdated=_outdated(adapter_info, records),
        )


def _read_input(
    sources: Sequence[Path],
    fmt: str | None,
    redactor: Redactor,
    official_domains: Sequence[str] | None,
    *,
    strict: bool,
) -> _Input:
    """Read the sources, refuse bad input under ``strict`` or none at all, group exact duplicates."""
    docs, problems, summary = read_all(sources, fmt, redactor, official_domains)
    if problems and strict:
        raise BadInputError(
            f"--strict: {len(problems)} problem(s) in the input, nothing was changed:\n"
            + "\n".join(f"  {p}" for p in problems)
        )
    if not docs:
        raise BadInputError(
            "nothing to ingest: no documents were read" + ("".join(f"\n  {p}" for p in problems) if problems else "")
        )
    for doc in docs:
        if not doc.lang:
            doc.lang = detect_language(doc.title + "\n" + doc.text()[:600])
    groups: dict[str, list[SourceDocument]] = {}
    for doc in docs:
        groups.setdefault(_content_key(doc), []).append(doc)
    hashes = {doc.path: document_hash(doc) for doc in docs}
    return _Input(docs, problems, summary, list(groups.values()), hashes)


def _open_previous(current: Path | None, problems: list[Problem]) -> IndexVersion | None:
    """The current version, to reuse from; an index from another kefu version (or a damaged
    one) is rebuilt whole, with a problem saying why."""
    if not current:
        return None
    try:
        return IndexVersion(current)
    except NotReadyError as exc:
        problems.append(Problem(str(current), None, f"previous version not reused: {exc}"))
        return None


def _judge_reuse(
    previous: IndexVersion | None, found: _Input, chunker: ChunkerConfig, model_id: str, adapt: bool | None
) -> _Reuse:
    if previous is None:
        return _Reuse(None, False, False, False, None, same_adapter=not adapt)
    manifest = previous.manifest
    same_config = (
        manifest.chunker == {"version": CHUNKER_VERSION, **asdict(chunker)}
        and manifest.embedder.get("model_id") == model_id
    )
    # Which paths are copies of one page: a change in how duplicates are told apart
    # regroups them even when no file changed.
    same_groups = {tuple(sorted(r.paths)) for r in previous.documents} == {
        tuple(sorted(d.path for d in group)) for group in found.groups
    }
    adapter = previous.adapter_path
    return _Reuse(
        previous,
        same_config=same_config,
        same_tokens=manifest.tokens_version == TOKENS_VERSION,
        same_groups=same_groups,
        adapter=adapter,
        same_adapter=not adapt and (adapt is None or adapter is None),
    )


def _plan_embedding(build: Path, embedder: Embedder, reuse: _Reuse, adapt: bool | None) -> _Embedding:
    """Check the embedder against the previous version and carry its adapter over where kept."""
    probe = embedder.embed_passages([PROBE_TEXT])[0]
    same_config = reuse.same_config
    if reuse.previous and same_config:
        try:
            reuse.previous.check_embedder(embedder.model_id, probe)
        except BadInputError:
            same_config = False
    # Vectors carry over only when made by the same model and the same adapter.
    keep_adapter = bool(adapt is None and reuse.adapter and same_config)
    plan = _Embedding(probe, embedder, same_config and not adapt and (keep_adapter or reuse.adapter is None))
    if keep_adapter and reuse.previous and reuse.adapter:
        _link_or_copy(reuse.adapter, build / ADAPTER_FILE)
        plan.adapter_info = reuse.previous.manifest.embedder["adapter"]
        plan.use = _adapted(embedder, build / ADAPTER_FILE)
    return plan


def _chunk_all(found: _Input, reuse: _Reuse, chunker: ChunkerConfig, *, reuse_vectors: bool) -> _Chunks:
    """Every document's chunks: carried over with their vectors where unchanged, else cut anew."""
    reusable = _reusable_chunks(reuse.previous) if reuse.previous and reuse_vectors else {}
    prev_vectors = reuse.previous.vectors() if reusable and reuse.previous else None
    out = _Chunks()
    for group in found.groups:
        doc = group[0]
        doc_hash = found.hashes[doc.path]
        record = DocumentRecord(
            doc_id=doc.path, paths=[d.path for d in group], kind=doc.kind, title=doc.title, lang=doc.lang or "zh",
            category=doc.category, url=doc.url, updated=doc.updated, hash=doc_hash,
            chunk_start=len(out.rows), chunk_count=0, meta=doc.meta,
        )  # fmt: skip
        doc_no = len(out.records)
        carried = reusable.get(doc_hash)
        if carried is not None and prev_vectors is not None:
            _carry_chunks(out, doc, doc_no, carried, prev_vectors, same_tokens=reuse.same_tokens)
        else:
            _cut_chunks(out, doc, doc_no, chunker)
        record.chunk_count = len(out.rows) - record.chunk_start
        out.records.append(record)
    return out


def _carry_chunks(
    out: _Chunks,
    doc: SourceDocument,
    doc_no: int,
    carried: list[_Carried],
    prev_vectors: NDArray[np.float16],
    *,
    same_tokens: bool,
) -> None:
    for row, heading, text, stored_tokens, stored_pairs in carried:
        out.rows.append(ChunkRecord(doc_no, heading, text))
        if same_tokens and stored_tokens is not None and stored_pairs is not None:
            toks, prs = stored_tokens, stored_pairs
        else:  # a tokeniser change, or a version that stored none: new tokens, same vectors
            _, toks, prs = _search_views(doc, heading, text)
        out.tokens.append(toks)
        out.pairs.append(prs)
        out.vectors.append(np.asarray(prev_vectors[row]))


def _cut_chunks(out: _Chunks, doc: SourceDocument, doc_no: int, chunker: ChunkerConfig) -> None:
    for chunk in chunk_document(doc, chunker):
        seen, chunk_toks, chunk_prs = _search_views(doc, chunk.heading_path, chunk.text)
        out.rows.append(ChunkRecord(doc_no, list(chunk.heading_path), chunk.text))
        out.tokens.append(chunk_toks)
        out.pairs.append(chunk_prs)
        out.vectors.append(None)
        out.to_embed.append((len(out.rows) - 1, seen))


def _train_adapter(
    build: Path,
    embedder: Embedder,
    plan: _Embedding,
    chunks: _Chunks,
    *,
    config: AdaptConfig,
    progress: Progress | None,
) -> None:
    """Train a new adapter on the articles' text; the plan then embeds with it."""
    pairs = training_pairs(chunks.records, chunks.rows, cloze_per_chunk=config.cloze_per_chunk, seed=config.seed)
    info = train_adapter(embedder.model_id, pairs, build / ADAPTER_FILE, config, progress=progress)
    info[TRAINED_ON] = sorted({r.hash[:16] for r in chunks.records if r.kind == "article"})
    plan.adapter_info = info
    # Loaded back from the file: the vectors stored are what every search will compute.
    plan.use = _adapted(embedder, build / ADAPTER_FILE)


_EMBED_BATCH = 64


def _embed_chunks(use: Embedder, chunks: _Chunks, progress: Progress | None) -> None:
    todo = chunks.to_embed
    for i in range(0, len(todo), _EMBED_BATCH):
        part = todo[i : i + _EMBED_BATCH]
        embedded = use.embed_passages([text for _, text in part])
        for (row, _), vec in zip(part, embedded, strict=True):
            chunks.vectors[row] = vec.astype(np.float16)
        if progress:
            progress("embedding", min(i + _EMBED_BATCH, len(todo)), len(todo))


def _title_vectors(use: Embedder, records: list[DocumentRecord], previous: IndexVersion | None) -> NDArray[np.float16]:
    """One vector per document title (short FAQ titles state what a page answers), carried
    over from ``previous`` where the document is unchanged."""
    prev_titles = _reusable_titles(previous) if previous else {}
    vectors: list[NDArray[np.float16] | None] = [prev_titles.get(r.hash) for r in records]
    missing = [i for i, v in enumerate(vectors) if v is None]
    for i in range(0, len(missing), _EMBED_BATCH):
        rows = missing[i : i + _EMBED_BATCH]
        for row, vec in zip(rows, use.embed_passages([records[r].title for r in rows]), strict=True):
            vectors[row] = vec.astype(np.float16)
    return np.stack([v for v in vectors if v is not None]).astype(np.float16)


#: In the manifest's adapter entry: the first 16 hex digits of the content hash of each
#: article the adapter was trained on, so that later ingests can say how much is new to it.
TRAINED_ON = "trained_on"


def _public(adapter_info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The adapter entry as reports show it: without the list of hashes it was trained on."""
    return {k: v for k, v in adapter_info.items() if k != TRAINED_ON} if adapter_info else None


def _outdated(adapter_info: dict[str, Any] | None, records: list[DocumentRecord]) -> dict[str, int] | None:
    """How many of the articles now indexed the adapter was not trained on (new or changed)."""
    if not adapter_info or TRAINED_ON not in adapter_info:
        return None
    seen = set(adapter_info[TRAINED_ON])
    articles = [r for r in records if r.kind == "article"]
    return {"articles": len(articles), "new_or_changed": sum(1 for r in articles if r.hash[:16] not in seen)}


def _adapted(embedder: Embedder, adapter: Path) -> Embedder:
    """``embedder`` with the adapter file on top (loaded when first used)."""
    try:
        return embedder.adapted(adapter)
    except BadInputError as exc:
        raise BadInputError(f"--adapt: {exc}") from exc


def _link_or_copy(src: Path, dst: Path) -> None:
    """The previous version's adapter in the new one: a hard link where the file system has them."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _diff(previous: IndexVersion | None, hashes: dict[str, str]) -> dict[str, int]:
    old = previous.manifest.source_hashes if previous else {}
    return {
        "new": sum(1 for p in hashes if p not in old),
        "changed": sum(1 for p, h in hashes.items() if p in old and old[p] != h),
        "unchanged": sum(1 for p, h in hashes.items() if old.get(p) == h),
        "removed": sum(1 for p in old if p not in hashes),
    }


#: A carried chunk: its row in the previous version, headings, text, BM25 tokens and pairs
#: (None where that version stored none).
_Carried = tuple[int, list[str], str, list[str] | None, list[str] | None]


def _reusable_chunks(previous: IndexVersion) -> dict[str, list[_Carried]]:
    """Document hash -> its chunks in the previous version, with the tokens and pairs it stored."""
    token_lines = _stored_words(previous.path / "tokens.txt")
    pair_lines = _stored_words(previous.path / "pairs.txt")  # none before kefu stored pairs
    out: dict[str, list[_Carried]] = {}
    for record in previous.documents:
        out[record.hash] = [
            (
                r,
                previous.chunks[r].heading_path,
                previous.chunks[r].text,
                token_lines[r] if token_lines else None,
                pair_lines[r] if pair_lines else None,
            )
            for r in range(record.chunk_start, record.chunk_start + record.chunk_count)
        ]
    return out


def _stored_words(path: Path) -> list[list[str]] | None:
    """A file of one chunk's space-separated words a line, or None where it was not written."""
    if not path.is_file():
        return None
    return [line.split() for line in path.read_text(encoding="utf-8").split("\n")]


def _reusable_titles(previous: IndexVersion) -> dict[str, NDArray[np.float16]]:
    """Document hash -> its title vector in the previous version."""
    vectors = previous.title_vectors()
    return {record.hash: np.asarray(vectors[i]) for i, record in enumerate(previous.documents)}


def _write_version(
    build: Path,
    *,
    layout: IndexLayout,
    index_name: str,
    chunks: _Chunks,
    title_matrix16: NDArray[np.float16],
    model_id: str,
    plan: _Embedding,
    chunker: ChunkerConfig,
    summary: list[dict[str, Any]],
    hashes: dict[str, str],
    redactions: dict[str, int],
    build_seconds: float,
) -> str:
    """Write the version's files into ``build`` and publish it; returns the version's name."""
    matrix16 = np.stack([v for v in chunks.vectors if v is not None]).astype(np.float16)
    # float16 storage loses a little length; renormalise so inner product stays cosine.
    matrix = _unit_rows(matrix16)
    _write_tables(build, chunks)
    np.save(build / "vectors.f16.npy", matrix16)
    dense_info = _write_search_indexes(build, chunks, matrix, title_matrix16)
    version = _version_name(layout, hashes)
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        name=index_name,
        version=version,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        embedder={
            "model_id": model_id,
            "dim": int(matrix.shape[1]),
            "probe": plan.probe.tolist(),
            **({"adapter": plan.adapter_info} if plan.adapter_info else {}),
        },
        chunker={"version": CHUNKER_VERSION, **asdict(chunker)},
        tokens_version=TOKENS_VERSION,
        counts=_counts(chunks, hashes),
        sources=summary,
        source_hashes=hashes,
        dense=dense_info,
        build_seconds=round(build_seconds, 2),
        redactions=redactions,
    )
    # The manifest is written last: a version without one is never loaded.
    (build / "manifest.json").write_text(
        json.dumps(manifest_dict(manifest), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    layout.publish(build, version)
    return version


def _unit_rows(matrix16: NDArray[np.float16]) -> NDArray[np.float32]:
    matrix = matrix16.astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True).clip(min=1e-12)
    return matrix


def _write_tables(build: Path, chunks: _Chunks) -> None:
    write_jsonl(build / "documents.jsonl", [asdict(r) for r in chunks.records])
    write_jsonl(build / "chunks.jsonl", [asdict(c) for c in chunks.rows])
    (build / "tokens.txt").write_text("\n".join(" ".join(t) for t in chunks.tokens), encoding="utf-8")
    (build / "pairs.txt").write_text("\n".join(" ".join(p) for p in chunks.pairs), encoding="utf-8")


def _write_search_indexes(
    build: Path, chunks: _Chunks, matrix: NDArray[np.float32], title_matrix16: NDArray[np.float16]
) -> dict[str, Any]:
    """FAISS over chunks and titles, BM25 over chunks' words, words and pairs, and titles."""
    import faiss

    dense, dense_info = dense_index_for(matrix)
    faiss.write_index(dense, str(build / "dense.faiss"))
    _write_bm25(build / "sparse", chunks.tokens)
    # The same tokens plus Chinese character pairs: meets a question where jieba cut the
    # user's words ("撸毛", "充了币") differently from the article's.
    _write_bm25(build / "bigram_sparse", [t + p for t, p in zip(chunks.tokens, chunks.pairs, strict=True)])
    np.save(build / "titles.f16.npy", title_matrix16)
    title_dense, _ = dense_index_for(_unit_rows(title_matrix16))
    faiss.write_index(title_dense, str(build / "titles.faiss"))
    _write_bm25(build / "title_sparse", [tokens(r.title) for r in chunks.records])
    return dense_info


def _write_bm25(path: Path, corpus: list[list[str]]) -> None:
    import bm25s

    bm25 = bm25s.BM25(k1=1.2, b=0.75)
    bm25.index([words or ["\u2205"] for words in corpus], show_progress=False)  # an empty row still counts
    bm25.save(str(path))


def _version_name(layout: IndexLayout, hashes: dict[str, str]) -> str:
    """The build time and the content's hash, unique among the index's versions."""
    version = (
        time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        + "-"
        + hashlib.sha256("".join(sorted(hashes.values())).encode()).hexdigest()[:8]
    )
    if (layout.versions / version).exists():
        version += f"-{time.time_ns() % 1_000_000:06d}"
    return version


def _counts(chunks: _Chunks, hashes: dict[str, str]) -> dict[str, int]:
    return {
        "documents": len(hashes),
        "unique_documents": len(chunks.records),
        "articles": sum(1 for r in chunks.records if r.kind == "article"),
        "tickets": sum(1 for r in chunks.records if r.kind == "ticket"),
        "chunks": len(chunks.rows),
    }
