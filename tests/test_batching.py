"""Concurrent query embeddings joined into bounded batches (kefu/batching.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from kefu.batching import BatchingEmbedder
from kefu.embedder import Embedder
from tests.fakes.embedder import FakeEmbedder


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, counting model calls; each call takes ``seconds`` (as a model would)."""

    def __init__(self, seconds: float = 0.0, fail_on: str | None = None) -> None:
        super().__init__()
        self.seconds = seconds
        self.fail_on = fail_on
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.calls.append(list(texts))
        if self.fail_on in texts:
            raise RuntimeError(f"the model failed on {self.fail_on}")
        time.sleep(self.seconds)
        return super().embed_queries(texts)


def _concurrently(embedder: Embedder, texts: list[str]) -> list[np.ndarray]:
    start = threading.Barrier(len(texts))

    def one(text: str) -> np.ndarray:
        start.wait()
        return embedder.embed_queries([text])

    with ThreadPoolExecutor(len(texts)) as pool:
        return list(pool.map(one, texts))


def test_it_is_an_embedder_with_the_inner_models_identity() -> None:
    inner = FakeEmbedder(dim=64, model_id="m")
    batched = BatchingEmbedder(inner)
    assert isinstance(batched, Embedder)
    assert (batched.model_id, batched.dim, batched.adapter, batched.base) == ("m", 64, None, batched)


def test_concurrent_queries_share_model_calls_and_each_gets_its_own_vector() -> None:
    inner = CountingEmbedder(seconds=0.05)
    texts = [f"问题 {i} transfer pending {i * 7}" for i in range(12)]
    with closing(BatchingEmbedder(inner, max_batch=16, max_wait=0.02)) as batched:
        vectors = _concurrently(batched, texts)
    expected = FakeEmbedder().embed_queries(texts)
    for text, got, want in zip(texts, vectors, expected, strict=True):
        assert got.shape == (1, 256), text
        np.testing.assert_allclose(got[0], want, err_msg=text)
    assert sum(len(call) for call in inner.calls) == 12
    # the first call may be alone (it starts the model); the rest wait for it and go together
    assert len(inner.calls) <= 3, inner.calls


def test_a_batch_never_holds_more_than_max_batch_texts() -> None:
    inner = CountingEmbedder(seconds=0.02)
    texts = [f"q{i}" for i in range(20)]
    with closing(BatchingEmbedder(inner, max_batch=4, max_wait=0.05)) as batched:
        vectors = _concurrently(batched, texts)
    assert max(len(call) for call in inner.calls) == 4
    assert sorted(t for call in inner.calls for t in call) == sorted(texts)
    assert [v.shape for v in vectors] == [(1, 256)] * 20


def test_a_lone_query_waits_at_most_max_wait_and_goes_alone() -> None:
    inner = CountingEmbedder()
    with closing(BatchingEmbedder(inner, max_wait=0.003)) as batched:
        batched.embed_queries(["warm the worker"])
        start = time.perf_counter()
        batched.embed_queries(["我的转账一直在打包中"])
        took = time.perf_counter() - start
    assert inner.calls[-1] == ["我的转账一直在打包中"]
    assert took < 0.003 + 0.05  # the window and a thread hand-over, never a stuck request


def test_a_call_of_several_texts_keeps_them_together_and_in_order() -> None:
    inner = CountingEmbedder()
    with closing(BatchingEmbedder(inner, max_batch=8)) as batched:
        got = batched.embed_queries(["a", "bb", "ccc"])
        full = batched.embed_queries([str(i) for i in range(8)])  # a full batch goes straight through
        empty = batched.embed_queries([])
    np.testing.assert_allclose(got, FakeEmbedder().embed_queries(["a", "bb", "ccc"]))
    assert full.shape == (8, 256) and empty.shape == (0, 256)
    assert inner.calls == [["a", "bb", "ccc"], [str(i) for i in range(8)], []]


def test_a_model_error_reaches_every_query_of_its_batch_and_the_worker_goes_on() -> None:
    inner = CountingEmbedder(seconds=0.05, fail_on="boom")
    batched = BatchingEmbedder(inner, max_wait=0.05)
    barrier = threading.Barrier(2)

    def one(text: str) -> object:
        barrier.wait()
        try:
            return batched.embed_queries([text])
        except RuntimeError as exc:
            return exc

    try:
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(one, ["boom", "fine"]))
        after = batched.embed_queries(["after the failure"])
    finally:
        batched.close()
    same_batch = any(set(call) == {"boom", "fine"} for call in inner.calls)
    assert isinstance(outcomes[0], RuntimeError)
    assert isinstance(outcomes[1], RuntimeError) == same_batch
    assert after.shape == (1, 256)


def test_passages_go_straight_to_the_model() -> None:
    inner = CountingEmbedder()
    batched = BatchingEmbedder(inner)
    vectors = batched.embed_passages(["p1", "p2"])
    assert vectors.shape == (2, 256) and batched.calls == 0 and batched._worker is None


def test_a_closed_embedder_refuses_queries() -> None:
    batched = BatchingEmbedder(CountingEmbedder())
    batched.embed_queries(["x"])
    batched.close()
    with pytest.raises(RuntimeError, match="closed"):
        batched.embed_queries(["y"])


def test_an_adapted_model_is_batched_too_and_keeps_its_base() -> None:
    class Adaptable(CountingEmbedder):
        def adapted(self, adapter: Path) -> CountingEmbedder:
            other = CountingEmbedder()
            other.adapter = adapter
            return other

    batched = BatchingEmbedder(Adaptable(), max_batch=8, max_wait=0.001)
    tuned = batched.adapted(Path("adapter.safetensors"))
    assert isinstance(tuned, BatchingEmbedder)
    assert tuned.adapter == Path("adapter.safetensors") and tuned.base is batched
    assert tuned.max_batch == 8 and tuned.max_wait == 0.001


@pytest.mark.parametrize(("max_batch", "max_wait"), [(0, 0.001), (4, -1.0), (4, 5.0)])
def test_bounds_are_checked(max_batch: int, max_wait: float) -> None:
    with pytest.raises(ValueError, match="max_"):
        BatchingEmbedder(FakeEmbedder(), max_batch=max_batch, max_wait=max_wait)


@pytest.mark.slow
def test_the_real_model_gives_each_query_the_vector_it_gets_alone(embedder: Embedder) -> None:
    questions = ["我的转账一直在打包中", "忘记密码了怎么办", "How do I revoke an approval?", "USDT 转不出去 能量不足"]
    alone = embedder.embed_queries(questions)
    with closing(BatchingEmbedder(embedder, max_batch=16, max_wait=0.05)) as batched:
        together = np.vstack(_concurrently(batched, questions))
    # padding to the longest question of a batch must not move a vector
    assert np.min(np.sum(alone * together, axis=1)) > 0.9999
    assert batched.calls < len(questions) and batched.texts == len(questions)
