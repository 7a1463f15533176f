"""The API's embedder is batched when KEFU_QUERY_BATCH_MAX is above 1, and not otherwise."""

from __future__ import annotations

import anyio
import pytest

from kefu.batching import BatchingEmbedder
from kefu.settings import Settings
from service.api.runtime import Runtime
from tests.fakes.embedder import FakeEmbedder


def test_batching_is_off_by_default() -> None:
    inner = FakeEmbedder()
    assert Runtime(Settings.from_env({}))._batched(inner) is inner


def test_a_batch_size_above_one_batches_queries_and_stop_ends_the_worker() -> None:
    runtime = Runtime(Settings.from_env({"KEFU_QUERY_BATCH_MAX": "8", "KEFU_QUERY_BATCH_WAIT_MS": "1"}))
    batched = runtime._batched(FakeEmbedder())
    assert isinstance(batched, BatchingEmbedder)
    assert (batched.max_batch, batched.max_wait) == (8, 0.001)
    assert batched.embed_queries(["转账 pending"]).shape == (1, 256)
    anyio.run(runtime.stop)
    with pytest.raises(RuntimeError, match="closed"):
        batched.embed_queries(["after stop"])
