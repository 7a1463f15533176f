"""Hybrid search over the demo corpus, built once for the module (real embedder, FAISS, BM25)."""

from __future__ import annotations

import logging

import bm25s
import pytest

from kefu.errors import BadInputError
from kefu.redaction import detect_secrets
from kefu.text import normalise, tokens
from service.retriever import HybridRetriever, SearchFilters, _bm25_scores, snippet

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("query", "gold"),
    [
        ("转账一直在打包中好几个小时了", "help/zh/transfers/pending-transfer.md"),
        ("忘记钱包密码了 助记词还在", "help/zh/wallet/forgot-password.md"),
        ("How do I revoke a token approval?", "help/en/approvals/revoke-approval.md"),
        # English questions reach Chinese-only articles through the glossary and e5.
        ("what is a nonce and why are my later transactions stuck", "help/zh/transfers/nonce.md"),
        ("充值到交易所忘记填memo了", "help/zh/transfers/memo-tag.md"),
    ],
)
def test_finds_the_right_article_in_the_top_three(retriever: HybridRetriever, query: str, gold: str) -> None:
    hits = retriever.search(query, k=3).hits
    assert gold in [p for h in hits for p in h.paths], [h.doc_id for h in hits]


def test_hits_carry_the_evidence_for_confidence(retriever: HybridRetriever) -> None:
    result = retriever.search("波场转USDT提示能量不足", k=5)
    top = result.hits[0]
    assert top.dense_score is not None and 0 < top.dense_score <= 1
    assert top.sparse_score is not None and top.sparse_score > 0
    assert top.dense_rank is not None and top.sparse_rank is not None
    assert top.passage and top.snippet and len(top.snippet) <= 162
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    assert set(result.timings_ms) >= {"embed", "dense", "sparse", "total"}


def test_filters_restrict_language_kind_and_category(retriever: HybridRetriever) -> None:
    en = retriever.search("转账打包中", k=5, filters=SearchFilters(lang="en")).hits
    assert en and all(h.lang == "en" for h in en)
    tickets = retriever.search("助记词泄露", k=5, filters=SearchFilters(kind="ticket")).hits
    assert tickets and all(h.kind == "ticket" and h.doc_id.startswith("tickets/") for h in tickets)
    fees = retriever.search("手续费", k=5, filters=SearchFilters(category="fees")).hits
    assert fees and all(h.category == "fees" for h in fees)


def test_links_to_a_page_do_not_draw_its_question_elsewhere(retriever: HybridRetriever) -> None:
    # Three other articles link to the pending-transfer article by its title.
    hits = retriever.search("转账一直显示打包中怎么办", k=3, filters=SearchFilters(kind="article")).hits
    assert hits[0].doc_id == "help/zh/transfers/pending-transfer.md", [h.doc_id for h in hits]


def test_character_pairs_are_a_second_sparse_ranking(retriever: HybridRetriever) -> None:
    vocab = retriever.index.bigram_sparse.vocab_dict
    # The pair index holds the word tokens and the pairs across word boundaries.
    assert "交易所" in vocab and "以太" in vocab and "易所" in vocab
    assert "易所" not in retriever.index.sparse.vocab_dict
    query = "交易所提u选了bsc 钱包以太坊那边啥也没有"
    without = HybridRetriever(retriever.index, retriever.embedder, glossary=retriever.glossary, bigram_weight=0.0)
    with_pairs, plain = retriever.search(query, k=10).hits, without.search(query, k=10).hits
    # The pair ranking adds its share to the documents it finds.
    assert with_pairs[0].score > plain[0].score
    # An English question gets no pairs where English articles are searched: its only
    # Chinese is the glossary's, and the pairs would pull Chinese articles above them.
    english = "How do I revoke a token approval?"
    scores = [h.score for h in retriever.search(english, k=5).hits]
    assert scores == [h.score for h in without.search(english, k=5).hits]
    # Among Chinese articles only (as over a Chinese help centre) the glossary's pairs count.
    zh = SearchFilters(lang="zh")
    paired, unpaired = retriever.search(english, k=5, filters=zh).hits, without.search(english, k=5, filters=zh).hits
    assert all(h.lang == "zh" for h in paired)
    assert [h.score for h in paired] != [h.score for h in unpaired]


def test_score_fusion_keeps_how_far_apart_the_scores_are(retriever: HybridRetriever) -> None:
    assert retriever.fusion == "score" and retriever.score_spread == 10.0
    cosines = {1: 0.90, 2: 0.88, 3: 0.75}  # 0.02 below the best counts 0.8, 0.15 below nothing
    bm25 = {2: 12.0, 3: 3.0}  # a share of the best
    fused = retriever._fuse([(cosines, 1.0, False), (bm25, 0.5, True), ({}, 1.0, True)])
    assert fused == pytest.approx({1: 1.0, 2: 0.8 + 0.5, 3: 0.0 + 0.5 * 0.25})
    # Reciprocal ranks see only the order: documents 1 and 2 would tie on the first ranking's
    # neighbouring ranks however far apart their cosines were.
    rrf = HybridRetriever(retriever.index, retriever.embedder, fusion="rrf", check_embedder=False)
    by_rank = rrf._fuse([(cosines, 1.0, False), (bm25, 0.5, True)])
    assert by_rank == pytest.approx({1: 1 / 21, 2: 1 / 22 + 0.5 / 21, 3: 1 / 23 + 0.5 / 22})


def test_an_index_with_older_tokens_is_served_with_a_warning(
    retriever: HybridRetriever, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    built = retriever.index.manifest.tokens_version
    with caplog.at_level(logging.WARNING, logger="service.retriever"):
        HybridRetriever(retriever.index, retriever.embedder, check_embedder=False)
        assert not caplog.records
        monkeypatch.setattr("service.retriever.TOKENS_VERSION", built + 1)
        newer = HybridRetriever(retriever.index, retriever.embedder, check_embedder=False)
    assert "run `kefu ingest` again" in caplog.text and f"version {built}" in caplog.text
    assert newer.search("转账一直在打包中", k=1).hits  # still searchable


def test_an_english_query_is_expanded_with_chinese_terms(retriever: HybridRetriever) -> None:
    result = retriever.search("my transfer has been pending since yesterday", k=3)
    assert result.lang == "en"
    assert "打包中" in result.expansion


def test_a_glossary_concept_counts_once_by_its_best_form() -> None:
    pages = [
        ["extension", "插件", "钱包", "安装"],  # says "extension" in both languages
        ["pulsechain", "插件", "添加"],
        ["转账", "打包中"],
        ["助记词", "备份"],
    ]
    bm25 = bm25s.BM25()
    bm25.index(pages, show_progress=False)
    # "add PulseChain in the extension": the glossary adds 插件钱包 for "extension".
    known = ["pulsechain", "extension", "插件", "钱包"]
    concept = [[["extension"], ["插件", "钱包"]]]
    summed = bm25.get_scores(known)
    assert summed[0] > summed[1]  # summed, the installation page wins on the one idea
    scores = _bm25_scores(bm25, known, concept)
    assert scores[1] > scores[0]
    best_form = max(bm25.get_scores(["extension"])[0], bm25.get_scores(["插件", "钱包"])[0])
    assert scores[0] == pytest.approx(best_form)
    # Without concepts every token counts once.
    assert _bm25_scores(bm25, [*known, "插件"], []) == pytest.approx(summed)


def test_search_scores_each_glossary_idea_once(retriever: HybridRetriever) -> None:
    assert retriever.glossary is not None
    query = "TRON能量不足 转不了USDT"  # the demo's TRON articles say both TRON and 波场
    result = retriever.search(query, k=10, filters=SearchFilters(kind="article"))
    expanded = f"{query} {' '.join(result.expansion)}"
    sparse = retriever.index.sparse
    known = [t for t in tokens(expanded) if t in sparse.vocab_dict]
    forms = retriever.glossary.expand(normalise(query), result.lang).concepts
    assert ["tron", "波场"] in forms
    once = _bm25_scores(sparse, known, [[tokens(f) for f in fs] for fs in forms])
    summed = sparse.get_scores(known)
    row = {d.doc_id: i for i, d in enumerate(retriever.index.documents)}
    differs = 0
    for hit in result.hits:
        if hit.sparse_score is None:
            continue
        chunks = retriever.index.chunk_doc == row[hit.doc_id]
        assert hit.sparse_score == pytest.approx(float(once[chunks].max()), abs=1e-3), hit.doc_id
        differs += float(summed[chunks].max()) > float(once[chunks].max()) + 1e-3
    assert differs  # some page says the idea in both languages and no longer scores it twice


def test_tickets_are_searchable_and_never_show_secrets(retriever: HybridRetriever) -> None:
    question = "I pasted my recovery phrase to a support person on Telegram"
    hits = retriever.search(question, k=10, filters=SearchFilters(kind="ticket")).hits
    ticket_text = " ".join(h.passage for h in hits if h.kind == "ticket")
    assert ticket_text
    leaked = [m.kind for m in detect_secrets(ticket_text) if m.kind in ("seed_phrase", "private_key")]
    assert leaked == []


@pytest.mark.parametrize(("query", "k"), [("", 5), ("   ", 5), ("x" * 2001, 5), ("转账", 0)])
def test_bad_queries_are_refused(retriever: HybridRetriever, query: str, k: int) -> None:
    with pytest.raises(BadInputError):
        retriever.search(query, k=k)


def test_snippet_centres_on_the_query_terms() -> None:
    text = "无关内容。" * 40 + "在交易详情页点击加速即可。" + "其他说明。" * 40
    s = snippet(text, "怎么加速交易", width=60)
    assert "加速" in s and s.startswith("…") and s.endswith("…")


def test_word_rarity_is_bm25s_idf_over_the_passages(retriever: HybridRetriever) -> None:
    chunks = [tokens(c.text) for c in retriever.index.chunks]
    holding = {w: sum(w in c for c in chunks) for w in ("钱包", "转账", "打包")}
    rarity = retriever.word_rarity([*holding, "从没出现过的词"])
    assert all(holding.values())
    # The fewer passages hold a word, the rarer it is; a word none holds is the rarest of all.
    by_count = sorted(holding, key=lambda w: -holding[w])
    assert [rarity[w] for w in by_count] == sorted(rarity[w] for w in by_count)
    assert rarity["从没出现过的词"] > max(rarity[w] for w in holding)
    assert rarity["转账"] > 0
