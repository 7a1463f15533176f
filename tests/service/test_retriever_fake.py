"""Search over a real index built with the deterministic fake embedder: the retriever's and
the ingest's seams (the Embedder and Retriever protocols) without loading a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.index import open_index
from ingest.pipeline import run_ingest
from kefu.embedder import Embedder
from kefu.errors import BadInputError
from service.glossary import Glossary
from service.retriever import HybridRetriever, Retriever, SearchFilters
from tests.fakes.embedder import FakeEmbedder

HELP = Path(__file__).resolve().parents[2] / "corpora" / "harbor" / "help" / "zh"


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("fake-data")
    run_ingest([HELP / "fees", HELP / "security"], data_dir=data, index_name="f", embedder=FakeEmbedder())
    return data


def test_the_fake_embedder_has_the_embedder_protocol_and_is_deterministic() -> None:
    a, b = FakeEmbedder(), FakeEmbedder()
    assert isinstance(a, Embedder)
    v = a.embed_queries(["矿工费太高了", "矿工费太高了", "NFT 怎么转出"])
    assert (v == b.embed_passages(["矿工费太高了", "矿工费太高了", "NFT 怎么转出"])).all()
    assert abs(float(v[0] @ v[0]) - 1.0) < 1e-6
    assert float(v[0] @ v[1]) > 0.999 > 0.5 > float(v[0] @ v[2])
    with pytest.raises(BadInputError, match="FakeEmbedder cannot take an adapter"):
        a.adapted(Path("adapter.safetensors"))


def test_search_finds_the_page_that_shares_the_questions_words(fake_index: Path) -> None:
    retriever = HybridRetriever(open_index(fake_index, "f"), FakeEmbedder(), glossary=Glossary.load())
    assert isinstance(retriever, Retriever)
    retriever.warm_up()
    result = retriever.search("矿工费不足，转账失败怎么办", k=3)
    assert result.lang == "zh"
    assert result.hits[0].doc_id == "insufficient-gas.md"  # 有 USDT 却转不出去：矿工费不足
    assert result.hits[0].dense_rank is not None and result.hits[0].sparse_rank is not None
    assert set(result.timings_ms) == {"embed", "dense", "sparse", "fuse", "total"}
    only_security = retriever.search("矿工费", k=5, filters=SearchFilters(category="security"))
    assert only_security.hits and all(h.category == "security" for h in only_security.hits)


def test_an_index_of_another_embedder_is_refused_at_warm_up_and_on_a_first_search(fake_index: Path) -> None:
    other = HybridRetriever(open_index(fake_index, "f"), FakeEmbedder(dim=64, model_id="other"))
    with pytest.raises(BadInputError, match="built with the embedder 'fake-hashed-chars'"):
        other.search("矿工费", k=1)
    with pytest.raises(BadInputError, match="built with the embedder"):
        other.warm_up()


def test_an_unchanged_corpus_embeds_nothing_the_second_time(fake_index: Path) -> None:
    embedder = FakeEmbedder()
    report = run_ingest([HELP / "fees", HELP / "security"], data_dir=fake_index, index_name="f", embedder=embedder)
    assert not report.changed and report.embedded_chunks == 0
    assert embedder.seen == []
