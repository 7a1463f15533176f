"""The embedder adapter (`kefu ingest --adapt`): trained on the content, used on both sides, kept."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from litestar.testing import TestClient
from rich.console import Console

from ingest.adapt import ADAPTER_FILE, AdaptConfig, train_adapter, training_pairs
from ingest.index import ChunkRecord, DocumentRecord, IndexLayout, open_index
from ingest.pipeline import TRAINED_ON, IngestReport, run_ingest
from kefu.cli import print_ingest_report
from kefu.embedder import SentenceTransformerEmbedder
from kefu.errors import BadInputError, NotReadyError
from kefu.settings import Settings
from service.keys import create_key
from service.retriever import HybridRetriever, SearchFilters
from service.store import Store
from tests.fakes.embedder import FakeEmbedder
from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.service.api.conftest import MODEL, api_settings, build_app

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HELP = REPO / "corpora" / "harbor" / "help" / "zh"
SMALL = AdaptConfig(steps=2, batch_size=8, min_pairs=8)


def _record(n: int, title: str, kind: str = "article") -> DocumentRecord:
    return DocumentRecord(
        doc_id=f"d{n}.md",
        paths=[f"d{n}.md"],
        kind=kind,
        title=title,
        lang="zh",
        category=None,
        url=None,
        updated=None,
        hash=str(n),
        chunk_start=n,
        chunk_count=1,
        meta={},
    )


def test_pairs_come_from_titles_headings_and_sentences_of_articles_only() -> None:
    body = "转账一直显示打包中。通常是矿工费设得太低。可以在详情页加速这笔交易。加速需要再付一次矿工费。"
    records = [_record(0, "转账打包中怎么办"), _record(1, "T-1 卡住了", kind="ticket")]
    chunks = [
        ChunkRecord(0, ["转账打包中怎么办", "原因"], body),
        ChunkRecord(1, [], "用户说转账卡住了，客服让他加速。这个问题已经解决了，谢谢。"),
    ]
    pairs = training_pairs(records, chunks, cloze_per_chunk=2, seed=1)
    assert {p.doc for p in pairs} == {0}  # the ticket gives none
    title, *cloze = pairs
    assert (title.query, title.passage) == ("转账打包中怎么办 原因", body)
    assert len(cloze) == 2
    for pair in cloze:
        # The sentence is the question; the passage it came from is searched without it.
        assert pair.query in body and pair.query not in pair.passage
        assert pair.passage.startswith("转账打包中怎么办\n原因\n")
    assert training_pairs(records, chunks, cloze_per_chunk=2, seed=1) == pairs  # seeded


def test_too_little_text_is_refused_before_training(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    pairs = training_pairs(
        [_record(0, "标题")],
        [ChunkRecord(0, [], "一段足够长的正文，说明转账为什么会卡在打包中，以及矿工费设得太低时该怎么加速这笔交易。")],
    )
    with pytest.raises(BadInputError, match=r"give 1 training pairs, at least 64"):
        train_adapter(embedder.model_id, pairs, tmp_path / ADAPTER_FILE)
    assert not (tmp_path / ADAPTER_FILE).exists()


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> tuple[Path, Path]:
    """A few demo articles ingested with a (two-step) adapter: (data dir, source folder)."""
    root = tmp_path_factory.mktemp("adapt")
    src = root / "help"
    for part in ("fees", "security", "approvals"):
        shutil.copytree(HELP / part, src / part)
    report = run_ingest(
        [src], data_dir=root / "data", index_name="t", embedder=embedder, adapt=True, adapt_config=SMALL
    )
    assert report.changed and report.adapter == "trained"
    return root / "data", src


def _copy(adapted: tuple[Path, Path], into: Path) -> tuple[Path, Path]:
    """A copy of the adapted index and its source folder, for a test that changes them."""
    data0, src0 = adapted
    data, src = into / "data", into / "help"
    shutil.copytree(data0 / "indexes", data / "indexes", symlinks=True)
    shutil.copytree(src0, src)
    return data, src


def test_an_adapted_index_embeds_questions_and_passages_with_its_adapter(
    adapted: tuple[Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    data, _ = adapted
    index = open_index(data, "t")
    info = index.manifest.embedder["adapter"]
    assert index.adapter_path == index.path / ADAPTER_FILE
    assert info["config"]["steps"] == 2 and info["pairs"] >= SMALL.min_pairs
    assert info["sha256"] == hashlib.sha256(index.adapter_path.read_bytes()).hexdigest()
    # Readable by whoever can read the rest of the index (a service user, say).
    assert index.adapter_path.stat().st_mode & 0o777 == (index.path / "documents.jsonl").stat().st_mode & 0o777
    retriever = HybridRetriever(index, embedder)
    tuned = retriever.embedder
    assert isinstance(tuned, SentenceTransformerEmbedder) and tuned.adapter == index.adapter_path
    assert tuned.base is embedder
    # Training moved the model: the same question lands elsewhere.
    question = "转账一直打包中怎么办"
    assert float(tuned.embed_queries([question])[0] @ embedder.embed_queries([question])[0]) < 0.9999
    # The stored vectors are the adapted model's, so questions and passages meet in one space.
    titles = np.load(index.path / "titles.f16.npy").astype(np.float32)
    title = index.documents[0].title
    assert float(titles[0] @ tuned.embed_passages([title])[0]) > 0.999
    assert float(titles[0] @ embedder.embed_passages([title])[0]) < 0.9999
    # The frozen table is shared with the base model, not loaded twice.
    mine = tuned._load()[0].auto_model.embeddings.word_embeddings
    assert mine is embedder._load()[0].auto_model.embeddings.word_embeddings
    assert retriever.search("矿工费太高了", k=3).hits


def test_later_ingests_keep_the_adapter_and_no_adapt_drops_it(
    adapted: tuple[Path, Path], embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    data, src = _copy(adapted, tmp_path)
    first = open_index(data, "t")
    sha = first.manifest.embedder["adapter"]["sha256"]

    same = run_ingest([src], data_dir=data, index_name="t", embedder=embedder)
    assert not same.changed and same.adapter == "kept" and same.embedded_chunks == 0
    articles = len(first.documents)
    assert same.adapter_outdated == {"articles": articles, "new_or_changed": 0}
    # What it was trained on is in the manifest, for later ingests, not in the report.
    assert len(first.manifest.embedder["adapter"][TRAINED_ON]) == articles
    assert same.adapter_info is not None and TRAINED_ON not in same.adapter_info

    page = next(src.rglob("*.md"))
    page.write_text(page.read_text(encoding="utf-8") + "\n\n新增一段：加速交易需要再付一次矿工费。\n", encoding="utf-8")
    changed = run_ingest([src], data_dir=data, index_name="t", embedder=embedder)
    assert changed.changed and changed.adapter == "kept"
    assert 0 < changed.embedded_chunks < changed.chunks  # only the changed page
    assert changed.adapter_outdated == {"articles": articles, "new_or_changed": 1}
    assert f"1 of {articles} articles are new or changed since it was trained\n" in _printed(changed)
    assert "--adapt` retrains" not in _printed(changed)
    kept = open_index(data, "t")
    assert kept.manifest.embedder["adapter"]["sha256"] == sha
    assert kept.adapter_path is not None and kept.adapter_path.read_bytes() == first.adapter_path.read_bytes()
    # The changed page was embedded with the adapter, like the rest.
    tuned = HybridRetriever(kept, embedder).embedder
    row = next(d for d, r in enumerate(kept.documents) if r.paths == [page.relative_to(src).as_posix()])
    titles = np.load(kept.path / "titles.f16.npy").astype(np.float32)
    assert float(titles[row] @ tuned.embed_passages([kept.documents[row].title])[0]) > 0.999

    plain = run_ingest([src], data_dir=data, index_name="t", embedder=embedder, adapt=False)
    assert plain.changed and plain.adapter is None and plain.embedded_chunks == plain.chunks
    assert plain.adapter_outdated is None and "adapter" not in _printed(plain)
    index = open_index(data, "t")
    assert index.adapter_path is None and "adapter" not in index.manifest.embedder
    assert HybridRetriever(index, embedder).embedder is embedder


def _printed(report: IngestReport) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_ingest_report(report, Console(file=io.StringIO()))
    return out.getvalue()


def test_reindex_keeps_the_adapter_and_says_how_much_it_has_not_seen(
    adapted: tuple[Path, Path], embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    data, src = _copy(adapted, tmp_path)
    articles = len(open_index(data, "t").documents)
    pages = sorted(src.rglob("*.md"))[: articles // 2 + 1]  # over half: time to retrain
    for page in pages:
        page.write_text(page.read_text(encoding="utf-8") + "\n\n补充：手续费以链上实际消耗为准。\n", encoding="utf-8")
    settings = api_settings(data, tmp_path / "kefu.db", corpus_dir=src, index_name="t")
    store = Store.from_settings(settings)
    llm = FakeOllama({MODEL: ScriptedModel(tokens=["好"])}).start()
    try:
        with TestClient(build_app(settings, llm, embedder, store=store)) as client:
            admin = {"Authorization": f"Bearer {create_key(store, 'admin', 'ops')[0]}"}
            report = client.post("/v1/admin/reindex", headers=admin).json()
    finally:
        llm.stop()
        store.close()
    assert report["swapped"] and report["documents"]["changed"] == len(pages)
    assert report["adapter"] == "kept"
    assert report["adapter_outdated"] == {
        "articles": articles,
        "new_or_changed": len(pages),
        "retrain_suggested": True,
    }
    served = open_index(data, "t")
    assert served.adapter_path is not None and served.manifest.embedder["adapter"][TRAINED_ON]
    # `kefu ingest` says the same, and that it is time to retrain.
    again = run_ingest([src], data_dir=data, index_name="t", embedder=embedder)
    assert not again.changed and again.adapter_outdated == {"articles": articles, "new_or_changed": len(pages)}
    assert (
        f"{len(pages)} of {articles} articles are new or changed since it was trained; "
        "`kefu ingest --adapt` retrains it on them" in _printed(again)
    )


def test_a_damaged_adapter_is_named_at_warm_up(
    adapted: tuple[Path, Path], embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    data, _ = _copy(adapted, tmp_path)
    index = open_index(data, "t")
    assert index.adapter_path is not None
    index.adapter_path.write_bytes(b"not a safetensors file")
    retriever = HybridRetriever(index, embedder)  # reads tables only
    with pytest.raises(NotReadyError, match=r"embedder adapter .*adapter\.safetensors is unreadable"):
        retriever.warm_up()


def test_cli_refuses_adapting_too_little_text_and_changes_nothing(
    tmp_path: Path, settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    src = tmp_path / "help"
    (src / "fees").mkdir(parents=True)
    shutil.copy(HELP / "fees" / "gas-fee-basics.md", src / "fees")  # one page: a handful of pairs
    first = run_ingest([src], data_dir=tmp_path / "data", index_name="t", embedder=embedder)
    assert first.adapter is None
    env = {**os.environ, "KEFU_DATA_DIR": str(tmp_path / "data"), "KEFU_EMBEDDING_MODEL": embedder.model_id}

    def kefu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kefu.cli", *args], env=env, capture_output=True, text=True, check=False
        )

    before = IndexLayout(tmp_path / "data", "t").current_version()
    bad = kefu("ingest", str(src), "--index", "t", "--adapt")
    assert bad.returncode != 0
    assert "--adapt: the help articles give" in bad.stderr and "at least 64 are needed" in bad.stderr
    assert IndexLayout(tmp_path / "data", "t").current_version() == before
    steps = kefu("ingest", "--adapt-steps", "0")
    assert steps.returncode == 2 and "--adapt-steps: must be a whole number above 0, not '0'" in steps.stderr


def test_an_embedder_that_cannot_take_an_adapter_is_refused_before_any_work(tmp_path: Path) -> None:
    class Plain(FakeEmbedder):
        def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
            raise AssertionError("nothing may be embedded")

    with pytest.raises(BadInputError, match="--adapt: Plain cannot take an adapter"):
        run_ingest([HELP / "fees"], data_dir=tmp_path, index_name="t", embedder=Plain(), adapt=True)
    assert not (tmp_path / "indexes").exists()


def test_the_retrieval_eval_says_which_adapter_it_searched_with(
    adapted: tuple[Path, Path], embedder: SentenceTransformerEmbedder, settings: Settings, tmp_path: Path
) -> None:
    from eval.run import EvalConfig, run_eval

    data, _ = adapted
    index = open_index(data, "t")
    gold = next(r for r in index.documents if "gas" in r.doc_id)
    dataset = tmp_path / "d.jsonl"
    item = {"id": "a1", "question": "矿工费是什么", "lang": "zh", "expected": "answer", "gold": gold.paths}
    dataset.write_text(json.dumps({**item, "facts": [], "category": "fees", "note": ""}) + "\n", encoding="utf-8")
    metrics, _, _ = run_eval(
        settings.with_overrides(data_dir=data),
        EvalConfig(dataset=dataset, index="t", out=tmp_path / "out"),
        embedder=embedder,
    )
    sha = index.manifest.embedder["adapter"]["sha256"]
    assert metrics["config"]["embedder_adapter"] == sha[:12]
    assert f"embedder adapter `{sha[:12]}`" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_answers_over_an_adapted_index_score_with_the_plain_models_cosines(
    adapted: tuple[Path, Path], embedder: SentenceTransformerEmbedder
) -> None:
    from kefu.generators.ollama import OllamaGenerator
    from service.answerer import Answerer
    from service.confidence import plain_cosine, top_dense

    data, _ = adapted
    retriever = HybridRetriever(open_index(data, "t"), embedder)
    assert retriever.embedder is not embedder
    # Quoting needs no LLM: the generator is never called (nothing listens on port 9).
    answerer = Answerer(retriever, OllamaGenerator("http://127.0.0.1:9", "none", timeout=1), style="quote")
    assert retriever.plain_embedder is embedder
    question = "矿工费是什么"
    search = retriever.search(question, k=5, filters=SearchFilters(kind="article"))
    result = await answerer.answer(question)
    cosine = plain_cosine(embedder, " ".join([search.query, *search.expansion]), search.hits[0])
    assert "plain_cosine" in result.timings_ms
    assert result.evidence.top_dense == pytest.approx(top_dense(cosine), abs=1e-6)
    # The plain model's cosine, not the adapted one the search ranked by.
    assert abs(cosine - (search.hits[0].dense_score or 0.0)) > 1e-3
    assert result.evidence.evidence_match > 0
