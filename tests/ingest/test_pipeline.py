"""Ingest end to end with the real embedder, FAISS and BM25: incremental, atomic, redacted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest import pipeline
from ingest.documents import Section, SourceDocument
from ingest.index import IndexLayout, open_index
from ingest.pipeline import document_hash, run_ingest, searchable
from kefu.embedder import SentenceTransformerEmbedder
from kefu.errors import BadInputError, NotReadyError
from kefu.redaction import detect_secrets
from service.retriever import HybridRetriever
from tests.fakes.embedder import FakeEmbedder

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "sources"
HARBOR = REPO / "corpora" / "harbor"


def _files_digest(version: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in version.rglob("*") if p.is_file()}


@pytest.fixture
def harbor(harbor_data_dir: Path) -> Path:
    """The demo corpus, ingested once per session (shared: tests here only read it)."""
    return harbor_data_dir


def test_demo_corpus_is_indexed_with_its_secrets_redacted(harbor: Path) -> None:
    index = open_index(harbor, "harbor")
    m = index.manifest
    assert m.counts["articles"] == 70 and m.counts["tickets"] == 225
    assert m.embedder["dim"] == 384 and m.dense["type"] == "flat-ip"
    assert m.redactions["seed_phrase"] >= 11 and m.redactions["private_key"] >= 4
    assert m.redactions["email"] >= 5 and m.redactions["phone"] >= 7
    # Every secret in the raw tickets is gone from everything the index stored.
    stored = "\n".join(
        (index.path / name).read_text(encoding="utf-8")
        for name in (
            "documents.jsonl",
            "chunks.jsonl",
            "tokens.txt",
            "pairs.txt",
            "manifest.json",
            "sparse/vocab.index.json",
            "bigram_sparse/vocab.index.json",
            "title_sparse/vocab.index.json",
        )
    ).lower()
    # The tickets the corpus README lists as carrying a pasted seed phrase or key.
    planted = {"T-1021", "T-1071", "T-1117", "T-1132", "T-1179", "T-1101", "T-1106", "T-1151",
               "T-1202", "T-1039", "T-1170", "T-1064", "T-1088", "T-1139", "T-1209"}  # fmt: skip
    raw_secrets = []
    for line in (HARBOR / "tickets").glob("*.jsonl"):
        for row in line.read_text(encoding="utf-8").splitlines():
            ticket = json.loads(row)
            if ticket["id"] not in planted:
                continue
            for message in ticket["messages"]:
                text = message["text"]
                raw_secrets += [
                    text[m.start : m.end] for m in detect_secrets(text) if m.kind in ("seed_phrase", "private_key")
                ]
    assert len(raw_secrets) >= len(planted)
    for secret in raw_secrets:
        words = secret.lower().split()
        probe = " ".join(words[1:5]) if len(words) > 4 else secret.lower()[-20:]
        assert probe not in stored
    assert "[redacted:seed_phrase]" in stored


def test_a_ticket_is_searchable_as_problem_and_resolution(harbor: Path, embedder: SentenceTransformerEmbedder) -> None:
    index = open_index(harbor, "harbor")
    ticket = next(d for d in index.documents if d.doc_id == "tickets/T-1006")
    chunks = index.chunks[ticket.chunk_start : ticket.chunk_start + ticket.chunk_count]
    text = "\n".join(c.text for c in chunks)
    assert ticket.meta["resolution"][:10] in text
    assert ticket.title in "\n".join([ticket.title, text])
    hits = HybridRetriever(index, embedder).search("ETH 转账打包中两个小时 加速", k=10).hits
    assert "tickets/T-1006" in [h.doc_id for h in hits]


def test_reingest_with_nothing_changed_writes_nothing(
    harbor: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    shutil.copytree(harbor / "indexes", tmp_path / "indexes", symlinks=True)
    harbor = tmp_path
    before = open_index(harbor, "harbor")
    stamp = _files_digest(before.path)
    report = run_ingest([HARBOR], data_dir=harbor, index_name="harbor", embedder=embedder)
    assert not report.changed and report.embedded_chunks == 0
    assert report.documents == {"new": 0, "changed": 0, "unchanged": 295, "removed": 0, "duplicates": 0}
    after = open_index(harbor, "harbor")
    assert after.path == before.path and _files_digest(after.path) == stamp


def test_a_new_tokeniser_rebuilds_the_bm25_indexes_without_embedding_again(
    harbor: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(harbor / "indexes", tmp_path / "indexes", symlinks=True)
    before = open_index(tmp_path, "harbor")
    monkeypatch.setattr(pipeline, "TOKENS_VERSION", before.manifest.tokens_version + 1)
    report = run_ingest([HARBOR], data_dir=tmp_path, index_name="harbor", embedder=embedder)
    assert report.changed and report.embedded_chunks == 0
    after = open_index(tmp_path, "harbor")
    assert after.path != before.path and after.manifest.tokens_version == before.manifest.tokens_version + 1
    # Tokens and pairs made again from the stored chunks are those a build from nothing made.
    for name in ("tokens.txt", "pairs.txt"):
        assert (after.path / name).read_text(encoding="utf-8") == (before.path / name).read_text(encoding="utf-8")
    np.testing.assert_array_equal(np.array(after.vectors()), np.array(before.vectors()))


def test_search_text_leaves_out_the_names_of_linked_pages() -> None:
    text = "交易还在打包中，见转账一直显示打包中怎么办？。"
    assert searchable(text, ("转账一直显示打包中怎么办？", "打包中怎么办")) == "交易还在打包中，见 。"
    assert searchable(text, ()) == text
    # A link that turns into a link to another site (or back) changes what search matches
    # the page by, and so its hash: the next ingest embeds it again.
    page = SourceDocument(path="a.md", kind="article", title="充值", sections=[Section((), text)])
    linked = replace(page, link_texts=("转账一直显示打包中怎么办？",))
    assert document_hash(linked) != document_hash(page)


def _copy_fixtures(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "markdown", src)
    shutil.copy(FIXTURES / "markdown-plain" / "backup.md", src / "backup.md")
    return src


def _ingested(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> tuple[Path, Path]:
    """The fixtures copied to ``src`` and ingested into index "t" of the data dir ``data``."""
    src = _copy_fixtures(tmp_path)
    data = tmp_path / "data"
    run_ingest([src], data_dir=data, index_name="t", embedder=embedder)
    return src, data


def test_incremental_ingest_embeds_only_changes_and_prunes_removed(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    src = _copy_fixtures(tmp_path)
    data = tmp_path / "data"
    first = run_ingest([src], data_dir=data, index_name="t", embedder=embedder)
    assert first.documents["new"] == 3 and first.embedded_chunks == first.chunks
    old = open_index(data, "t")
    old_vectors = np.array(old.vectors())

    memo = src / "faq" / "memo.md"
    memo.write_text(memo.read_text(encoding="utf-8").replace("XRP、EOS", "XRP、EOS、TON"), encoding="utf-8")
    (src / "backup.md").unlink()
    (src / "faq" / "new.md").write_text(
        "# 新文章\n\n如何添加自定义代币：点击资产列表右上角的加号。\n", encoding="utf-8"
    )
    second = run_ingest([src], data_dir=data, index_name="t", embedder=embedder)
    assert second.documents == {"new": 1, "changed": 1, "unchanged": 1, "removed": 1, "duplicates": 0}
    new = open_index(data, "t")
    assert {d.doc_id for d in new.documents} == {"faq/memo.md", "faq/fees.md", "faq/new.md"}
    fees_old = next(d for d in old.documents if d.doc_id == "faq/fees.md")
    fees_new = next(d for d in new.documents if d.doc_id == "faq/fees.md")
    # The unchanged document was not embedded again: its vectors were carried over.
    assert second.embedded_chunks == second.chunks - fees_new.chunk_count
    np.testing.assert_array_equal(
        np.array(new.vectors())[fees_new.chunk_start : fees_new.chunk_start + fees_new.chunk_count],
        old_vectors[fees_old.chunk_start : fees_old.chunk_start + fees_old.chunk_count],
    )
    assert "TON" in "".join(c.text for c in new.chunks)
    # Its BM25 tokens and character pairs are those of the previous version, carried over.
    for name in ("tokens.txt", "pairs.txt"):
        old_lines = (old.path / name).read_text(encoding="utf-8").split("\n")
        new_lines = (new.path / name).read_text(encoding="utf-8").split("\n")
        assert (
            new_lines[fees_new.chunk_start : fees_new.chunk_start + fees_new.chunk_count]
            == old_lines[fees_old.chunk_start : fees_old.chunk_start + fees_old.chunk_count]
        )
        assert any(new_lines)


def test_exact_duplicates_are_indexed_once_with_all_paths(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    src = _copy_fixtures(tmp_path)
    (src / "copy").mkdir()
    shutil.copy(src / "backup.md", src / "copy" / "backup.md")
    report = run_ingest([src], data_dir=tmp_path / "data", index_name="t", embedder=embedder)
    assert report.documents["duplicates"] == 1
    index = open_index(tmp_path / "data", "t")
    dup = next(d for d in index.documents if "backup.md" in d.doc_id)
    assert sorted(dup.paths) == ["backup.md", "copy/backup.md"]
    hit = HybridRetriever(index, embedder).search("助记词 截图 安全吗", k=1).hits[0]
    assert sorted(hit.paths) == ["backup.md", "copy/backup.md"]


def test_a_version_from_before_pairs_were_stored_is_carried_over_not_a_crash(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    src, data = _ingested(tmp_path, embedder)
    old = open_index(data, "t")
    old_pairs = (old.path / "pairs.txt").read_text(encoding="utf-8").split("\n")
    (old.path / "pairs.txt").unlink()  # as kefu wrote versions before it stored the pairs
    memo = src / "faq" / "memo.md"
    memo.write_text(memo.read_text(encoding="utf-8") + "\n补充：TON 也需要标签。\n", encoding="utf-8")
    second = run_ingest([src], data_dir=data, index_name="t", embedder=embedder)
    new = open_index(data, "t")
    memo_new = next(d for d in new.documents if d.doc_id == "faq/memo.md")
    assert second.embedded_chunks == memo_new.chunk_count  # the others' vectors carried over
    # The pairs it could not read were made again from the carried chunks' text.
    pairs = (new.path / "pairs.txt").read_text(encoding="utf-8").split("\n")
    backup_old = next(d for d in old.documents if d.doc_id == "backup.md")
    backup_new = next(d for d in new.documents if d.doc_id == "backup.md")
    carried = pairs[backup_new.chunk_start : backup_new.chunk_start + backup_new.chunk_count]
    assert carried == old_pairs[backup_old.chunk_start : backup_old.chunk_start + backup_old.chunk_count]
    assert all(carried)  # a Chinese article: every chunk has pairs


def test_copies_whose_titles_differ_only_in_spacing_or_punctuation_are_one_document(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    src = _copy_fixtures(tmp_path)
    data = tmp_path / "data"
    text = (src / "backup.md").read_text(encoding="utf-8")
    (src / "backup-1.md").write_text(text.replace("# 如何备份助记词", "# 如何 备份助记词？"), encoding="utf-8")
    (src / "backup-2.md").write_text(text.replace("# 如何备份助记词", "# 如何备份私钥"), encoding="utf-8")
    first = run_ingest([src], data_dir=data, index_name="t", embedder=embedder)
    assert first.documents["duplicates"] == 1
    groups = sorted(sorted(d.paths) for d in open_index(data, "t").documents if "backup" in d.doc_id)
    assert groups == [["backup-1.md", "backup.md"], ["backup-2.md"]]  # another title is another page
    hits = HybridRetriever(open_index(data, "t"), embedder).search("助记词 截图 安全吗", k=3).hits
    assert [sorted(h.paths) for h in hits[:2]].count(["backup-1.md", "backup.md"]) == 1


def test_pages_with_nothing_but_a_title_are_left_out_with_a_note(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    src = _copy_fixtures(tmp_path)
    (src / "section").mkdir()
    (src / "section" / "README.md").write_text("# 钱包管理\n\n![](img.png)\n", encoding="utf-8")
    report = run_ingest([src], data_dir=tmp_path / "data", index_name="t", embedder=embedder, strict=True)
    assert not report.problems  # not a fault in the input: --strict still ingests
    [source] = report.sources
    assert any("left out 1 page(s) with no text besides the title: section/README.md" in n for n in source["notes"])
    paths = {p for d in open_index(tmp_path / "data", "t").documents for p in d.paths}
    assert "section/README.md" not in paths and "backup.md" in paths


def test_bad_input_is_reported_and_strict_changes_nothing(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    src, data = _ingested(tmp_path, embedder)
    before = open_index(data, "t")
    (src / "broken.md").write_bytes("# 标题\n\n乱码".encode("gbk"))
    (src / "tickets.jsonl").write_text('{"id": "A-1", "subject": "x"\n', encoding="utf-8")
    missing = tmp_path / "no-such-folder"
    with pytest.raises(BadInputError, match="--strict") as err:
        run_ingest([src, missing], data_dir=data, index_name="t", embedder=embedder, strict=True)
    assert "broken.md" in str(err.value) and "tickets.jsonl:1" in str(err.value)
    assert "no-such-folder" in str(err.value)
    assert open_index(data, "t").path == before.path
    lenient = run_ingest([src, missing], data_dir=data, index_name="t", embedder=embedder)
    assert any("broken.md" in p for p in lenient.problems)
    assert any("no-such-folder" in p for p in lenient.problems)
    assert lenient.documents["unchanged"] == 3


def test_an_index_from_another_embedder_is_refused(harbor: Path) -> None:
    with pytest.raises(BadInputError, match="built with the embedder"):
        HybridRetriever(open_index(harbor, "harbor"), FakeEmbedder(dim=8, model_id="other-model")).warm_up()


def test_a_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(NotReadyError, match="kefu ingest --index nope"):
        open_index(tmp_path, "nope")


def test_killing_an_ingest_midway_leaves_the_previous_index_serving(
    tmp_path: Path, harbor: Path, embedder: SentenceTransformerEmbedder
) -> None:
    data = tmp_path / "data"
    shutil.copytree(harbor / "indexes", data / "indexes", symlinks=True)
    before = open_index(data, "harbor")
    stamp = _files_digest(before.path)
    corpus = tmp_path / "corpus"
    shutil.copytree(HARBOR, corpus)
    # Change every article so the run has a long embedding phase to be killed in.
    for md in (corpus / "help").rglob("*.md"):
        md.write_text(md.read_text(encoding="utf-8") + "\n\n更新说明：本文已修订。\n", encoding="utf-8")
    env = {**os.environ, "KEFU_DATA_DIR": str(data), "KEFU_EMBEDDING_MODEL": embedder.model_id}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kefu.cli", "ingest", str(corpus), "--index", "harbor"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    layout = IndexLayout(data, "harbor")
    deadline = time.monotonic() + 120
    try:
        while not any(p.name.startswith(".building-") for p in layout.versions.iterdir()):
            assert proc.poll() is None, "the ingest ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The build folder appears after embedding; to kill during embedding too, the
    # folder's presence proves the run was mid-write. Either way: nothing switched.
    after = open_index(data, "harbor")
    assert after.path == before.path and _files_digest(after.path) == stamp
    assert HybridRetriever(after, embedder).search("助记词", k=1).hits
    # The next ingest clears what the killed one left behind.
    run_ingest([HARBOR], data_dir=data, index_name="harbor", embedder=embedder)
    assert not [p for p in layout.versions.iterdir() if p.name.startswith(".building-")]
