"""Query embeddings of concurrent searches, embedded together.

One search embeds one short question, and a model call costs nearly the same for one
question as for eight: requests that arrive together are run as one batch. A single
thread owns the model for queries, so concurrent searches no longer fight over the
CPU's cores inside the model either.

Bounded both ways: a batch holds at most ``max_batch`` texts, and a request waits for
others at most ``max_wait`` seconds past the moment the model is free to take it (a lone
question pays at most that). Passages (ingest) go straight to the model: they come in
batches already.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING

import numpy as np

from kefu.embedder import QueryEmbedderWrapper

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kefu.embedder import Embedder

#: Texts in one model call at most; measured in docs/benchmarks.md.
DEFAULT_MAX_BATCH = 16
#: Seconds a request waits for others to join it, at most.
DEFAULT_MAX_WAIT = 0.002


@dataclass
class _Request:
    texts: list[str]
    future: Future[NDArray[np.float32]] = field(default_factory=Future)


class BatchingEmbedder(QueryEmbedderWrapper):
    """An :class:`~kefu.embedder.Embedder` whose :meth:`embed_queries` joins concurrent calls.

    Wraps another embedder; everything but query embedding is passed through. The worker
    thread starts at the first query and stops with :meth:`close` (or with the process).
    """

    def __init__(
        self,
        inner: Embedder,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait: float = DEFAULT_MAX_WAIT,
        base: BatchingEmbedder | None = None,
    ) -> None:
        if max_batch <= 0:
            raise ValueError("max_batch must be above 0")
        if not 0 <= max_wait <= 1:
            raise ValueError("max_wait must be between 0 and 1 second")
        super().__init__(inner, base=base)
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        #: Model calls made for queries, and the texts they carried (read by tests and metrics).
        self.calls = 0
        self.texts = 0

    def _wrapping(self, inner: Embedder) -> BatchingEmbedder:
        # Another model gets its own worker.
        return BatchingEmbedder(inner, max_batch=self.max_batch, max_wait=self.max_wait, base=self.base)

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors for ``texts``, computed in one model call with other threads' queries."""
        if not texts:
            return self.inner.embed_queries([])
        if len(texts) >= self.max_batch:
            return self.inner.embed_queries(texts)  # a full batch on its own
        request = _Request(list(texts))
        self._ensure_worker()
        self._queue.put(request)
        return request.future.result()

    def close(self) -> None:
        """Stop the worker once the queries already queued are answered."""
        with self._start_lock:
            self._closed = True
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join()

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._closed:
                raise RuntimeError("the embedder was closed")
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="kefu-query-embedder", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            self._embed(batch)
            if stop:
                return

    def _collect(self, first: _Request) -> tuple[list[_Request], bool]:
        """``first`` and the requests that arrive within ``max_wait``, up to ``max_batch`` texts."""
        batch, size = [first], len(first.texts)
        deadline = monotonic() + self.max_wait
        while size < self.max_batch:
            try:
                nxt = self._queue.get(timeout=max(deadline - monotonic(), 0.0) or 1e-6)
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            if size + len(nxt.texts) > self.max_batch:
                self._embed(batch)  # nxt starts the next batch
                batch, size = [nxt], len(nxt.texts)
                deadline = monotonic() + self.max_wait
                continue
            batch.append(nxt)
            size += len(nxt.texts)
        return batch, False

    def _embed(self, batch: list[_Request]) -> None:
        texts = [t for request in batch for t in request.texts]
        try:
            vectors = self.inner.embed_queries(texts)
        except BaseException as exc:  # every waiting search gets the model's error as its own
            for request in batch:
                request.future.set_exception(exc)
            return
        self.calls += 1
        self.texts += len(texts)
        start = 0
        for request in batch:
            end = start + len(request.texts)
            request.future.set_result(np.ascontiguousarray(vectors[start:end]))
            start = end
