"""Search questions' vectors kept for a question asked again (kefu/query_cache.py), and the
API's embedder wrapped in the cache by default."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from kefu.query_cache import QueryVectorCache
from kefu.settings import Settings
from service.api.runtime import Runtime
from tests.test_batching import CountingEmbedder


def test_a_question_asked_again_is_not_embedded_again_and_gets_the_same_vector() -> None:
    inner = CountingEmbedder()
    cache = QueryVectorCache(inner, size=8)
    first = cache.embed_queries(["转账一直在打包中"])
    again = cache.embed_queries(["转账一直在打包中"])
    assert inner.calls == [["转账一直在打包中"]]
    assert np.array_equal(first, again) and np.array_equal(first, inner.embed_queries(["转账一直在打包中"]))
    assert (cache.hits, cache.misses) == (1, 1)


def test_only_the_missing_questions_are_embedded_in_order_and_once() -> None:
    inner = CountingEmbedder()
    cache = QueryVectorCache(inner, size=8)
    cache.embed_queries(["gas fee", "seed phrase"])
    out = cache.embed_queries(["seed phrase", "new one", "gas fee", "new one"])
    assert inner.calls == [["gas fee", "seed phrase"], ["new one"]]
    fresh = inner.embed_queries(["seed phrase", "new one", "gas fee", "new one"])
    assert np.array_equal(out, fresh)


def test_the_least_recently_used_question_goes_first() -> None:
    inner = CountingEmbedder()
    cache = QueryVectorCache(inner, size=2)
    cache.embed_queries(["a"])
    cache.embed_queries(["b"])
    cache.embed_queries(["a"])  # a is now the most recent
    cache.embed_queries(["c"])  # b goes
    inner.calls.clear()
    cache.embed_queries(["a", "c"])
    cache.embed_queries(["b"])
    assert inner.calls == [["b"]]


def test_a_returned_array_written_to_does_not_change_what_is_kept() -> None:
    cache = QueryVectorCache(CountingEmbedder(), size=4)
    out = cache.embed_queries(["私钥"])
    kept = out.copy()
    out[:] = 0
    assert np.array_equal(cache.embed_queries(["私钥"]), kept)


def test_passages_and_empty_calls_pass_through() -> None:
    inner = CountingEmbedder()
    cache = QueryVectorCache(inner, size=4)
    assert cache.embed_passages(["a passage"]).shape == (1, inner.dim)
    assert cache.embed_queries([]).shape == (0, inner.dim)
    assert cache.embed_queries(["a passage"]).shape == (1, inner.dim)
    assert cache.misses == 1  # the passage was not kept as a question


def test_concurrent_askers_get_each_their_own_vector() -> None:
    inner = CountingEmbedder(seconds=0.002)
    cache = QueryVectorCache(inner, size=16)
    texts = [f"question {i % 6}" for i in range(48)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda t: cache.embed_queries([t])[0], texts))
    for text, vector in zip(texts, got, strict=True):
        assert np.array_equal(vector, inner.embed_queries([text])[0]), text


def test_an_adapted_model_has_a_cache_of_its_own(tmp_path: Path) -> None:
    class Adaptable(CountingEmbedder):
        def adapted(self, adapter: Path) -> CountingEmbedder:
            other = CountingEmbedder()
            other.adapter = adapter
            return other

    cache = QueryVectorCache(Adaptable(), size=4)
    adapted = cache.adapted(tmp_path / "adapter.pt")
    assert adapted.adapter == tmp_path / "adapter.pt" and adapted.base is cache and cache.base is cache
    cache.embed_queries(["x"])
    adapted.embed_queries(["x"])
    assert (cache.misses, adapted.misses) == (1, 1)


def test_the_api_caches_by_default_counts_in_its_metrics_and_not_with_zero() -> None:
    inner = CountingEmbedder()
    assert Settings.from_env({}).query_cache == 4096
    runtime = Runtime(Settings.from_env({}))
    cached = runtime._cached(inner)
    assert isinstance(cached, QueryVectorCache) and cached.size == 4096
    cached.embed_queries(["gas fee", "seed phrase"])
    cached.embed_queries(["gas fee"])
    metrics = runtime.metrics.render().decode()
    assert 'kefu_query_cache_total{outcome="hit"} 1.0' in metrics
    assert 'kefu_query_cache_total{outcome="embedded"} 2.0' in metrics
    assert Runtime(Settings.from_env({"KEFU_QUERY_CACHE": "0"}))._cached(inner) is inner
    with pytest.raises(ValueError, match="size"):
        QueryVectorCache(inner, size=0)
