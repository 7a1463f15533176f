"""Search over a real index built with the deterministic fake embedder: the retriever's and
the ingest's seams (the Embedder and Retriever protocols) without loading a model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.index import open_index, translation_key
from ingest.pipeline import run_ingest
from kefu.embedder import Embedder
from kefu.errors import BadInputError
from service.glossary import Glossary
from service.retriever import HybridRetriever, Retriever, SearchFilters, in_language
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


@pytest.fixture(scope="module")
def two_language_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    help_center = tmp_path_factory.mktemp("help")
    for name in ("zh/fees/gas-fee-basics.md", "zh/fees/eip1559.md", "en/fees/gas-fee-basics.md",
                 "en/fees/tron-energy-bandwidth.md", "en/wallet/create-wallet.md"):  # fmt: skip
        (help_center / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(HELP.parent / name, help_center / name)
    data = tmp_path_factory.mktemp("two-languages")
    run_ingest([help_center], data_dir=data, index_name="both", embedder=FakeEmbedder())
    return data


def test_an_article_s_translation_is_the_one_at_its_path_in_the_other_language_s_folder(
    two_language_index: Path,
) -> None:
    index = open_index(two_language_index, "both")
    en = index.translation(["zh/fees/gas-fee-basics.md"], "zh", "en")
    assert en is not None and en.paths == ["en/fees/gas-fee-basics.md"] and en.lang == "en"
    zh = index.translation(en.paths, "en", "zh")
    assert zh is not None and zh.paths == ["zh/fees/gas-fee-basics.md"]
    assert index.translation(["zh/fees/eip1559.md"], "zh", "en") is None  # not translated
    assert index.translation(["zh/fees/gas-fee-basics.md"], "zh", "zh") is None
    assert translation_key("hc/zh-CN/articles/42.md", "zh") == "hc/*/articles/42.md"
    assert translation_key("hc/en_us/articles/42.md", "en") == "hc/*/articles/42.md"
    assert translation_key("zhong/a.md", "zh") is None and translation_key("help/a/zh", "zh") is None


def test_an_answer_draws_on_the_translation_of_its_top_article_in_the_question_s_language(
    two_language_index: Path,
) -> None:
    retriever = HybridRetriever(open_index(two_language_index, "both"), FakeEmbedder())
    zh = retriever.search("矿工费是什么", k=10, filters=SearchFilters(kind="article", lang="zh")).hits
    by_path = {h.paths[0]: h for h in zh}
    basics, eip = by_path["zh/fees/gas-fee-basics.md"], by_path["zh/fees/eip1559.md"]
    # An English question: the top article and the next, where translated, give way to the
    # English article with its own best passage.
    hits = in_language(retriever, "what is a gas fee", [basics, eip], "en")
    assert [h.paths[0] for h in hits] == ["en/fees/gas-fee-basics.md", "zh/fees/eip1559.md"]
    index = retriever.index
    english = index.document_by_path["en/fees/gas-fee-basics.md"]
    own_chunks = index.chunks[english.chunk_start : english.chunk_start + english.chunk_count]
    assert hits[0].lang == "en" and hits[0].passage in [c.text for c in own_chunks]
    # The top article untranslated: nothing changes (its rendering would mix two languages).
    assert in_language(retriever, "what is EIP-1559", [eip, basics], "en") == [eip, basics]
    # A question in the articles' own language: nothing to do.
    assert in_language(retriever, "矿工费是什么", [basics, eip], "zh") == [basics, eip]


def test_a_filter_that_keeps_every_page_ranks_as_no_filter(fake_index: Path) -> None:
    # The answerer searches articles only and the eval everything: where every page is an
    # article they must see one ranking, or the eval's hit@k is not what users get. A pool
    # of a few chunks makes the pool's size show in the scores.
    retriever = HybridRetriever(open_index(fake_index, "f"), FakeEmbedder(), glossary=Glossary.load(), candidates=3)
    assert {d.kind for d in retriever.index.documents} == {"article"}
    for query in ("矿工费不足，转账失败怎么办", "有人冒充客服要助记词", "授权了陌生合约怎么办"):
        plain = [(h.doc_id, round(h.score, 5)) for h in retriever.search(query, k=5).hits]
        articles = retriever.search(query, k=5, filters=SearchFilters(kind="article")).hits
        assert [(h.doc_id, round(h.score, 5)) for h in articles] == plain
    # A filter that keeps a part reads as many of that part's chunks as no filter reads in all.
    security = retriever._doc_mask(SearchFilters(category="security"))
    assert security is not None and 0 < security.sum() < len(security)
    chunk_ok = security[retriever.index.chunk_doc]
    assert retriever._pool(chunk_ok) > retriever._pool(None) == 3
