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
from collections.abc import Callable, Sequence
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
        read = read_source(source, fmt=fmt, redact=redactor)
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
        _adapter_maker(embedder)  # refuses, before any work, an embedder that cannot take one
    stages: dict[str, float] = {}
    chunker = chunker or ChunkerConfig()
    redactor = redactor or Redactor()
    layout = IndexLayout(data_dir, index_name)
    with layout.lock():
        current = layout.current_version()
        # Holding the lock, nothing else builds: leftovers of a killed run can go.
        layout.prune(keep={current.name} if current else set())
        t = time.perf_counter()
        docs, problems, summary = read_all(sources, fmt, redactor, official_domains)
        stages["read"] = time.perf_counter() - t
        if problems and strict:
            raise BadInputError(
                f"--strict: {len(problems)} problem(s) in the input, nothing was changed:\n"
                + "\n".join(f"  {p}" for p in problems)
            )
        if not docs:
            raise BadInputError(
                "nothing to ingest: no documents were read"
                + ("".join(f"\n  {p}" for p in problems) if problems else "")
            )
        for doc in docs:
            if not doc.lang:
                doc.lang = detect_language(doc.title + "\n" + doc.text()[:600])

        # Exact duplicates become one record that remembers every path.
        groups: dict[str, list[SourceDocument]] = {}
        for doc in docs:
            groups.setdefault(_content_key(doc), []).append(doc)
        unique = [group[0] for group in groups.values()]
        paths_of = {id(group[0]): [d.path for d in group] for group in groups.values()}
        hashes = {doc.path: document_hash(doc) for doc in docs}

        previous_dir = layout.current_version()
        previous = None
        if previous_dir:
            try:
                previous = IndexVersion(previous_dir)
            except NotReadyError as exc:
                # An index from another kefu version (or a damaged one) is rebuilt whole.
                problems.append(Problem(str(previous_dir), None, f"previous version not reused: {exc}"))
        counts = _diff(previous, hashes)
        counts["duplicates"] = len(docs) - len(unique)
        model_id = getattr(embedder, "model_id", type(embedder).__name__)
        same_config = bool(
            previous
            and previous.manifest.chunker == {"version": CHUNKER_VERSION, **asdict(chunker)}
            and previous.manifest.embedder.get("model_id") == model_id
        )
        same_tokens = bool(previous and previous.manifest.tokens_version == TOKENS_VERSION)
        # Which paths are copies of one page: a change in how duplicates are told apart
        # regroups them even when no file changed.
        same_groups = bool(
            previous
            and {tuple(sorted(r.paths)) for r in previous.documents}
            == {tuple(sorted(d.path for d in group)) for group in groups.values()}
        )
        prev_adapter = previous.adapter_path if previous else None
        same_adapter = not adapt and (adapt is None or prev_adapter is None)
        if (
            previous
            and same_config
            and same_tokens
            and same_groups
            and same_adapter
            and previous.manifest.source_hashes == hashes
        ):
            return IngestReport(
                index=index_name,
                version=previous.manifest.version,
                changed=False,
                documents=counts,
                chunks=len(previous.chunks),
                embedded_chunks=0,
                redactions=dict(redactor.totals),
                problems=[str(p) for p in problems],
                sources=summary,
                seconds=time.perf_counter() - start,
                stages=stages,
                adapter="kept" if prev_adapter else None,
                adapter_info=_public(previous.manifest.embedder.get("adapter")),
                adapter_outdated=_outdated(previous.manifest.embedder.get("adapter"), previous.documents),
            )

        # The new version is built in its own folder from here on; a failure or a kill
        # leaves ``current`` untouched, and the next ingest clears the folder.
        build = layout.new_build_dir()
        try:
            t = time.perf_counter()
            probe = embedder.embed_passages([PROBE_TEXT])[0]
            if previous and same_config:
                try:
                    previous.check_embedder(model_id, probe)
                except BadInputError:
                    same_config = False
            # Vectors carry over only when made by the same model and the same adapter.
            keep_adapter = bool(adapt is None and prev_adapter and same_config)
            same_config = same_config and not adapt and (keep_adapter or prev_adapter is None)
            adapter_info: dict[str, Any] | None = None
            use = embedder
            if keep_adapter and previous and prev_adapter:
                _link_or_copy(prev_adapter, build / ADAPTER_FILE)
                adapter_info = previous.manifest.embedder["adapter"]
                use = _adapter_maker(embedder)(build / ADAPTER_FILE)
            reusable = _reusable_chunks(previous) if previous and same_config else {}

            records: list[DocumentRecord] = []
            chunk_rows: list[ChunkRecord] = []
            chunk_tokens: list[list[str]] = []
            chunk_pairs: list[list[str]] = []
            vectors: list[NDArray[np.float16] | None] = []
            to_embed: list[tuple[int, str]] = []
            prev_vectors = previous.vectors() if reusable and previous else None
            for doc in unique:
                doc_hash = hashes[doc.path]
                record = DocumentRecord(
                    doc_id=doc.path,
                    paths=paths_of[id(doc)],
                    kind=doc.kind,
                    title=doc.title,
                    lang=doc.lang or "zh",
                    category=doc.category,
                    url=doc.url,
                    updated=doc.updated,
                    hash=doc_hash,
                    chunk_start=len(chunk_rows),
                    chunk_count=0,
                    meta=doc.meta,
                )
                doc_no = len(records)
                carried = reusable.get(doc_hash)
                if carried is not None and prev_vectors is not None:
                    for row, heading, text, stored_tokens, stored_pairs in carried:
                        chunk_rows.append(ChunkRecord(doc_no, heading, text))
                        if same_tokens and stored_tokens is not None and stored_pairs is not None:
                            toks, prs = stored_tokens, stored_pairs
                        else:  # a tokeniser change, or a version that stored none: new tokens, same vectors
                            _, toks, prs = _search_views(doc, heading, text)
                        chunk_tokens.append(toks)
                        chunk_pairs.append(prs)
                        vectors.append(np.asarray(prev_vectors[row]))
                else:
                    for chunk in chunk_document(doc, chunker):
                        seen, chunk_toks, chunk_prs = _search_views(doc, chunk.heading_path, chunk.text)
                        chunk_rows.append(ChunkRecord(doc_no, list(chunk.heading_path), chunk.text))
                        chunk_tokens.append(chunk_toks)
                        chunk_pairs.append(chunk_prs)
                        vectors.append(None)
                        to_embed.append((len(chunk_rows) - 1, seen))
                record.chunk_count = len(chunk_rows) - record.chunk_start
                records.append(record)
            stages["chunk"] = time.perf_counter() - t

            if adapt:
                t = time.perf_counter()
                config = adapt_config or AdaptConfig()
                pairs = training_pairs(records, chunk_rows, cloze_per_chunk=config.cloze_per_chunk, seed=config.seed)
                adapter_info = train_adapter(model_id, pairs, build / ADAPTER_FILE, config, progress=progress)
                adapter_info[TRAINED_ON] = sorted({r.hash[:16] for r in records if r.kind == "article"})
                # Loaded back from the file: the vectors stored are what every search will compute.
                use = _adapter_maker(embedder)(build / ADAPTER_FILE)
                stages["adapt"] = time.perf_counter() - t

            t = time.perf_counter()
            batch = 64
            for i in range(0, len(to_embed), batch):
                part = to_embed[i : i + batch]
                embedded = use.embed_passages([text for _, text in part])
                for (row, _), vec in zip(part, embedded, strict=True):
                    vectors[row] = vec.astype(np.float16)
                if progress:
                    progress("embedding", min(i + batch, len(to_embed)), len(to_embed))
            # One vector per document title: short FAQ titles state what a page answers.
            prev_titles = _reusable_titles(previous) if previous and same_config else {}
            title_vectors: list[NDArray[np.float16] | None] = [prev_titles.get(r.hash) for r in records]
            missing = [i for i, v in enumerate(title_vectors) if v is None]
            for i in range(0, len(missing), batch):
                rows = missing[i : i + batch]
                for row, vec in zip(rows, use.embed_passages([records[r].title for r in rows]), strict=True):
                    title_vectors[row] = vec.astype(np.float16)
            stages["embed"] = time.perf_counter() - t

            t = time.perf_counter()
            matrix16 = np.stack([v for v in vectors if v is not None]).astype(np.float16)
            matrix = matrix16.astype(np.float32)
            # float16 storage loses a little length; renormalise so inner product stays cosine.
            matrix /= np.linalg.norm(matrix, axis=1, keepdims=True).clip(min=1e-12)
            version = _write_version(
                build,
                layout=layout,
                index_name=index_name,
                records=records,
                chunk_rows=chunk_rows,
                chunk_tokens=chunk_tokens,
                chunk_pairs=chunk_pairs,
                matrix16=matrix16,
                matrix=matrix,
                title_matrix16=np.stack([v for v in title_vectors if v is not None]).astype(np.float16),
                embedder_info={
                    "model_id": model_id,
                    "dim": int(matrix.shape[1]),
                    "probe": probe.tolist(),
                    **({"adapter": adapter_info} if adapter_info else {}),
                },
                chunker=chunker,
                summary=summary,
                hashes=hashes,
                redactions=dict(redactor.totals),
                build_seconds=time.perf_counter() - start,
            )
            stages["write"] = time.perf_counter() - t
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        return IngestReport(
            index=index_name,
            version=version,
            changed=True,
            documents=counts,
            chunks=len(chunk_rows),
            embedded_chunks=len(to_embed),
            redactions=dict(redactor.totals),
            problems=[str(p) for p in problems],
            sources=summary,
            seconds=time.perf_counter() - start,
            stages=stages,
            adapter=("trained" if adapt else "kept") if adapter_info else None,
            adapter_info=_public(adapter_info),
            adapter_outdated=_outdated(adapter_info, records),
        )


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


def _adapter_maker(embedder: Embedder) -> Callable[[Path], Embedder]:
    """``embedder.adapted``: the embedder with an adapter file on top (loaded when first used)."""
    make: Callable[[Path], Embedder] | None = getattr(embedder, "adapted", None)
    if make is None:
        raise BadInputError(
            f"--adapt: {type(embedder).__name__} cannot take an adapter; it needs a sentence-transformers embedder"
        )
    return make


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
    records: list[DocumentRecord],
    chunk_rows: list[ChunkRecord],
    chunk_tokens: list[list[str]],
    chunk_pairs: list[list[str]],
    matrix16: NDArray[np.float16],
    matrix: NDArray[np.float32],
    title_matrix16: NDArray[np.float16],
    embedder_info: dict[str, Any],
    chunker: ChunkerConfig,
    summary: list[dict[str, Any]],
    hashes: dict[str, str],
    redactions: dict[str, int],
    build_seconds: float,
) -> str:
    import bm25s
    import faiss

    write_jsonl(build / "documents.jsonl", [asdict(r) for r in records])
    write_jsonl(build / "chunks.jsonl", [asdict(c) for c in chunk_rows])
    (build / "tokens.txt").write_text("\n".join(" ".join(t) for t in chunk_tokens), encoding="utf-8")
    (build / "pairs.txt").write_text("\n".join(" ".join(p) for p in chunk_pairs), encoding="utf-8")
    np.save(build / "vectors.f16.npy", matrix16)
    dense, dense_info = dense_index_for(matrix)
    faiss.write_index(dense, str(build / "dense.faiss"))
    sparse = bm25s.BM25(k1=1.2, b=0.75)
    sparse.index([t or ["\u2205"] for t in chunk_tokens], show_progress=False)
    sparse.save(str(build / "sparse"))
    # The same tokens plus Chinese character pairs: meets a question where jieba cut the
    # user's words ("撸毛", "充了币") differently from the article's.
    bigram_sparse = bm25s.BM25(k1=1.2, b=0.75)
    bigram_sparse.index(
        [(toks + pairs) or ["\u2205"] for toks, pairs in zip(chunk_tokens, chunk_pairs, strict=True)],
        show_progress=False,
    )
    bigram_sparse.save(str(build / "bigram_sparse"))
    np.save(build / "titles.f16.npy", title_matrix16)
    titles = title_matrix16.astype(np.float32)
    titles /= np.linalg.norm(titles, axis=1, keepdims=True).clip(min=1e-12)
    title_dense, _ = dense_index_for(titles)
    faiss.write_index(title_dense, str(build / "titles.faiss"))
    title_sparse = bm25s.BM25(k1=1.2, b=0.75)
    title_sparse.index([tokens(r.title) or ["\u2205"] for r in records], show_progress=False)
    title_sparse.save(str(build / "title_sparse"))
    version = (
        time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        + "-"
        + hashlib.sha256("".join(sorted(hashes.values())).encode()).hexdigest()[:8]
    )
    if (layout.versions / version).exists():
        version += f"-{time.time_ns() % 1_000_000:06d}"
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        name=index_name,
        version=version,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        embedder=embedder_info,
        chunker={"version": CHUNKER_VERSION, **asdict(chunker)},
        tokens_version=TOKENS_VERSION,
        counts={
            "documents": len(hashes),
            "unique_documents": len(records),
            "articles": sum(1 for r in records if r.kind == "article"),
            "tickets": sum(1 for r in records if r.kind == "ticket"),
            "chunks": len(chunk_rows),
        },
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
