"""What the service holds while it runs: the store, the models, the index, the LLM gate.

One :class:`Runtime` per app, built by ``create_app`` and started by the app's lifespan:
the store is migrated, the embedder loaded, the index opened, the LLM warmed up, and the
webhook worker started. A part that fails to load (no index yet, an Ollama server that
does not answer) does not stop the app: ``/ready`` says what is missing, search works
without the LLM, and the LLM's warm-up is retried in the background.

The answerer is one reference, replaced whole when a new index version is published (by
this process's reindex, or by another's: replicas sharing the index folder watch its
``current`` pointer); a request takes the reference once, so requests in flight finish on
the version they started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import anyio.to_thread

from kefu.errors import ConflictError, ForbiddenError, KefuError, NotReadyError, RateLimitedError
from kefu.generators.base import GeneratorHealth
from kefu.generators.pool import HostPool
from service.api.gate import GatedGenerator, LlmGate
from service.api.metrics import Metrics
from service.api.ratelimit import RateLimiter, SharedRateLimiter
from service.keys import bearer_key, verify_key
from service.store import Role, Store
from service.store.engine import is_sqlite

if TYPE_CHECKING:
    from ingest.index import IndexLayout
    from ingest.pipeline import IngestReport
    from kefu.batching import BatchingEmbedder
    from kefu.embedder import Embedder
    from kefu.generators import Generator
    from kefu.settings import Settings
    from service.answerer import Answerer
    from service.curated import CuratedMatcher
    from service.retriever import HybridRetriever

log = logging.getLogger("kefu.api")
T = TypeVar("T")

#: Seconds between attempts to reach an LLM that failed its warm-up.
LLM_RETRY_SECONDS = 15.0
#: How long the background tasks (webhook worker, index watch, ...) get to stop at shutdown.
STOP_SECONDS = 10.0


@dataclass(frozen=True)
class Caller:
    """Who made a request: an API key, or anyone when the server runs open (a local demo)."""

    key_id: int | None
    role: Role
    #: How the caller is named in stored data (``handoffs.claimed_by``).
    label: str
    #: The rate limit bucket: the key, or the client address when open.
    rate_key: str


@dataclass(frozen=True)
class ReindexOutcome:
    report: IngestReport
    previous_version: str | None
    swapped: bool


class RuntimeParts(TypedDict, total=False):
    """What a caller may give :class:`Runtime` (and :func:`service.api.create_app`) beside the settings."""

    store: Store | None
    answerer: Answerer | None
    embedder: Embedder | None
    generator: Generator | None
    open_access: bool
    webhook_poll_seconds: float
    llm_retry_seconds: float


class Runtime:
    """The service's state and the operations on it that are not one request's business."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        answerer: Answerer | None = None,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        open_access: bool = False,
        webhook_poll_seconds: float = 2.0,
        llm_retry_seconds: float = LLM_RETRY_SECONDS,
    ) -> None:
        self.settings = settings
        self.open_access = open_access
        self.index_name = settings.index_name
        self.metrics = Metrics()
        self.limiter: RateLimiter | SharedRateLimiter = RateLimiter(settings.rate_limit, settings.rate_burst)
        self.gate = self._gate(settings.llm_queue, slots=1)
        self.webhook_poll_seconds = webhook_poll_seconds
        self.llm_retry_seconds = llm_retry_seconds
        self._given_store = store
        self._given_answerer = answerer
        self._given_embedder = embedder
        self._batcher: BatchingEmbedder | None = None
        self._given_generator = generator
        self._store: Store | None = store
        self.embedder: Embedder | None = None
        self.generator: GatedGenerator | None = None
        #: The answerer serving requests; replaced whole by a reindex.
        self.answerer: Answerer | None = None
        #: Curated answers, matched before retrieval (needs the embedder).
        self.curated: CuratedMatcher | None = None
        #: Component -> why it is not ready ("embedder", "index", "llm").
        self.problems: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._reindex_lock: asyncio.Lock | None = None
        #: Held while a new index version is opened and swapped in (by a reindex or the watch).
        self._swap_lock: asyncio.Lock | None = None
        #: Work that outlives its request (a streamed answer whose client left); stop() waits for it.
        self._detached: set[asyncio.Task[None]] = set()
        self.handoff_created: asyncio.Event | None = None
        #: Conversation id -> the long-polls waiting for its next message.
        self._listeners: dict[str, set[asyncio.Event]] = {}

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            raise NotReadyError("the store is not open yet")
        return self._store

    async def in_store(self, work: Callable[[Store], T]) -> T:
        """``work(store)``, run in a worker thread: the store's calls block on the database."""
        store = self.store
        return await anyio.to_thread.run_sync(lambda: work(store))

    async def start(self) -> None:
        """Open the store and load what the service needs (the app's lifespan calls this)."""
        self._reindex_lock = asyncio.Lock()
        self._swap_lock = asyncio.Lock()
        self.handoff_created = asyncio.Event()
        if self._store is None:
            self._store = Store.from_settings(self.settings)
        await anyio.to_thread.run_sync(self.store.migrate)
        if not is_sqlite(self.store.url) and self.limiter.enabled and isinstance(self.limiter, RateLimiter):
            # Replicas share the database: they count each key's requests there, together.
            self.limiter = SharedRateLimiter(self.store, self.settings.rate_limit, self.settings.rate_burst)
        if self._given_answerer is not None:
            given = self._given_answerer
            self.embedder = given.retriever.embedder
            self.generator = self._gated(given.generator)
            self.answerer = given.with_parts(generator=self.generator)
        else:
            await self._load_models()
        if self.embedder is not None:
            from service.curated import CuratedMatcher

            self.curated = CuratedMatcher(self.store, self.embedder)
            if self.answerer is not None:
                self.answerer = self.answerer.with_parts(curated=self.curated)
        self._publish_index_metrics()
        await self._warm_up_llm()
        if "llm" in self.problems:
            self._tasks.append(asyncio.create_task(self._retry_llm(), name="kefu-llm-retry"))
        if self._given_answerer is None and self.settings.index_watch_seconds > 0:
            self._tasks.append(asyncio.create_task(self._watch_index(), name="kefu-index-watch"))
        if self.settings.learn_every_hours > 0:
            self._tasks.append(asyncio.create_task(self._learn_on_schedule(), name="kefu-learn"))
        if self.store.webhook_url:
            from service.api.webhook import WebhookWorker

            worker = WebhookWorker(self.store, self.metrics, self.handoff_created, poll=self.webhook_poll_seconds)
            self._tasks.append(asyncio.create_task(worker.run(), name="kefu-webhook"))
        if self.problems:
            log.warning("started, not ready: %s", "; ".join(f"{k}: {v}" for k, v in self.problems.items()))
        else:
            log.info("ready: index %s version %s, llm %s", self.index_name, self.index_version, self.llm_name)

    async def stop(self) -> None:
        if self._detached:
            # Answers whose clients left are finished and saved; the deadline bounds each.
            _, late = await asyncio.wait(set(self._detached), timeout=self.settings.answer_deadline + 5)
            for task in late:
                task.cancel()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a task that ignores its cancellation must not hold the shutdown forever.
            done, stuck = await asyncio.wait(set(self._tasks), timeout=STOP_SECONDS)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("background task %s had failed", task.get_name(), exc_info=task.exception())
            for task in stuck:
                log.warning("background task %s did not stop within %s s", task.get_name(), STOP_SECONDS)
        self._tasks.clear()
        if self.generator is not None and self._given_generator is None and self._given_answerer is None:
            await self.generator.close()
        if self._batcher is not None:
            await anyio.to_thread.run_sync(self._batcher.close)
            self._batcher = None
        if self._store is not None and self._given_store is None:
            self._store.close()
            self._store = None

    async def _load_models(self) -> None:
        from kefu.embedder import embedder_from_settings
        from kefu.generators import generator_from_settings

        embedder = self._given_embedder or self._cached(self._batched(embedder_from_settings(self.settings)))
        try:
            await anyio.to_thread.run_sync(embedder.warm_up)
            self.embedder = embedder
        except KefuError as exc:
            self.problems["embedder"] = str(exc)
            self.problems["index"] = "not opened: the embedder did not load"
        self.generator = self._gated(self._given_generator or generator_from_settings(self.settings))
        if self.embedder is not None:
            try:
                retriever = await anyio.to_thread.run_sync(self._open_retriever)
                self.answerer = self._answerer_for(retriever)
            except KefuError as exc:
                self.problems["index"] = str(exc)

    def _cached(self, embedder: Embedder) -> Embedder:
        """A question asked again reuses its vector (kefu/query_cache.py)."""
        from kefu.query_cache import QueryVectorCache

        if self.settings.query_cache <= 0:
            return embedder
        hits, embedded = self.metrics.query_cache.labels("hit"), self.metrics.query_cache.labels("embedded")

        def count(found: int, computed: int) -> None:
            hits.inc(found)
            embedded.inc(computed)

        return QueryVectorCache(embedder, size=self.settings.query_cache, on_lookup=count)

    def _batched(self, embedder: Embedder) -> Embedder:
        """Concurrent searches embed their questions in one model call (kefu/batching.py)."""
        from kefu.batching import BatchingEmbedder

        if self.settings.query_batch_max <= 1:
            return embedder
        batched = BatchingEmbedder(
            embedder, max_batch=self.settings.query_batch_max, max_wait=self.settings.query_batch_wait_ms / 1000
        )
        self._batcher = batched
        return batched

    def _gate(self, max_waiting: int, *, slots: int) -> LlmGate:
        return LlmGate(
            max_waiting,
            slots=slots,
            on_change=self.metrics.llm_waiting.set,
            on_reject=self.metrics.llm_busy.inc,
            on_wait=self.metrics.llm_wait.observe,
        )

    def _gated(self, generator: Generator) -> GatedGenerator:
        if isinstance(generator, HostPool):
            # The pool queues per host; the service's gate only counts (and bounds) the whole.
            self.gate = self._gate(generator.queue, slots=generator.slots)
        backend = generator.name.split(":", 1)[0]
        histogram = self.metrics.llm_seconds.labels(backend)
        return GatedGenerator(generator, self.gate, on_generation=histogram.observe)

    def detach(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``work`` in a task of its own, which a client's disconnect does not cancel."""
        task = asyncio.create_task(work, name=name)
        self._detached.add(task)
        task.add_done_callback(self._detached.discard)
        return task

    def _open_retriever(self) -> HybridRetriever:
        from service.retriever import retriever_from_settings

        retriever = retriever_from_settings(self.settings, self.index_name, embedder=self.embedder)
        retriever.warm_up()
        return retriever

    def _answerer_for(self, retriever: HybridRetriever) -> Answerer:
        if self.answerer is not None:
            # Same generator, calibration and limits; only the index changes.
            return self.answerer.with_parts(retriever=retriever)
        from service.answerer import answerer_from_settings

        assert self.generator is not None
        answerer = answerer_from_settings(self.settings, retriever=retriever, generator=self.generator)
        answerer.curated = self.curated
        return answerer

    async def _warm_up_llm(self) -> bool:
        assert self.generator is not None
        try:
            with anyio.fail_after(max(self.settings.llm_timeout, self.settings.llm_connect_timeout)):
                await self.generator.warm_up()
        except TimeoutError:
            self.problems["llm"] = f"{self.generator.name} did not finish its warm-up in time"
        except KefuError as exc:
            self.problems["llm"] = f"{self.generator.name}: {exc}"
        else:
            self.problems.pop("llm", None)
            self.metrics.llm_ready.set(1)
            return True
        self.metrics.llm_ready.set(0)
        return False

    async def _learn_on_schedule(self) -> None:
        """``kefu learn`` over the last KEFU_LEARN_EVERY_HOURS, every that many hours (opt-in).

        Drafts only fill the review queue; a failure is logged and tried again next time."""
        from datetime import UTC, datetime, timedelta

        from service.learn import learn

        every = timedelta(hours=self.settings.learn_every_hours)
        while True:
            await asyncio.sleep(every.total_seconds())
            end = datetime.now(UTC)
            task = partial(
                learn, self.store, start=end - every, end=end, embedder=self.embedder, matcher=self.curated,
                official_domains=self.settings.official_domains,
            )  # fmt: skip
            try:
                outcome = await anyio.to_thread.run_sync(task)
                log.info("scheduled learn: %d FAQ drafts for review", len(outcome.drafts))
            except KefuError as exc:
                log.warning("scheduled learn failed, trying again in %s: %s", every, exc)

    async def _retry_llm(self) -> None:
        while True:
            await asyncio.sleep(self.llm_retry_seconds)
            if await self._warm_up_llm():
                log.info("the LLM %s answers now", self.llm_name)
                return

    # --- what is served ----------------------------------------------------------------

    @property
    def index_version(self) -> str | None:
        answerer = self.answerer
        return answerer.retriever.index.manifest.version if answerer else None

    @property
    def llm_name(self) -> str:
        return self.generator.name if self.generator else "none"

    def current_answerer(self) -> Answerer:
        """The answerer to use for one request (keep the reference for the whole request)."""
        answerer = self.answerer
        if answerer is None:
            missing = "; ".join(f"{k}: {v}" for k, v in self.problems.items() if k != "llm")
            raise NotReadyError(f"the index is not loaded ({missing or 'starting'})")
        return answerer

    def _publish_index_metrics(self) -> None:
        answerer = self.answerer
        if answerer is not None:
            index = answerer.retriever.index
            self.metrics.set_index(index.manifest.name, index.manifest.version, len(index.documents), len(index.chunks))

    # --- callers -----------------------------------------------------------------------

    async def authenticate(
        self,
        authorization: str | None,
        roles: Collection[Role],
        client: str,
        origin: str | None = None,
        own_origin: str | None = None,
    ) -> Caller:
        """Who is calling, if they may call this (401/403), and within their rate (429).

        ``origin`` is the request's Origin header: a key limited to some page origins
        is refused (403) from a page of another origin than those and kefu's own."""
        key = bearer_key(authorization)
        if key is None and self.open_access:
            caller = Caller(key_id=None, role="admin", label="demo", rate_key=f"open:{client}")
        else:
            record = await anyio.to_thread.run_sync(lambda: verify_key(self.store, key, roles))
            if record.allowed_origins and origin and origin not in (*record.allowed_origins, own_origin):
                raise ForbiddenError(f"this key may not be used from pages of {origin}")
            caller = Caller(key_id=record.id, role=record.role, label=record.label, rate_key=f"key:{record.id}")
        try:
            if isinstance(self.limiter, SharedRateLimiter):
                await anyio.to_thread.run_sync(self.limiter.check, caller.rate_key)
            else:
                self.limiter.check(caller.rate_key)
        except RateLimitedError:
            self.metrics.rate_limited.inc()
            raise
        return caller

    def notify_handoff(self) -> None:
        """Wake the webhook worker: a handoff (and its delivery) was just stored."""
        if self.handoff_created is not None:
            self.handoff_created.set()

    def conversation_changed(self, conversation_id: str) -> None:
        """A message or handoff change was stored: wake the webhook worker and the
        long-polls waiting on this conversation."""
        self.notify_handoff()
        for event in self._listeners.get(conversation_id, ()):
            event.set()

    async def wait_for_change(self, conversation_id: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for :meth:`conversation_changed`; whether it came."""
        event = asyncio.Event()
        listeners = self._listeners.setdefault(conversation_id, set())
        listeners.add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=timeout)
            return event.is_set()
        finally:
            listeners.discard(event)
            if not listeners:
                self._listeners.pop(conversation_id, None)

    # --- reindex -----------------------------------------------------------------------

    async def reindex(self) -> ReindexOutcome:
        """Ingest the configured corpus again and serve the new version, one run at a time."""
        from ingest.pipeline import run_ingest

        lock = self._reindex_lock
        if lock is None:
            raise NotReadyError("the service is still starting")
        if lock.locked():
            raise ConflictError("a reindex is already running; wait for it to finish")
        async with lock:
            embedder = self.embedder
            if embedder is None:
                raise NotReadyError(f"the embedder is not loaded: {self.problems.get('embedder', 'starting')}")
            previous = self.index_version
            settings = self.settings
            try:
                report = await anyio.to_thread.run_sync(
                    lambda: run_ingest(
                        [settings.default_corpus],
                        data_dir=settings.data_dir,
                        index_name=self.index_name,
                        embedder=embedder,
                        official_domains=settings.official_domains,
                    )
                )
                swapped = report.version is not None and report.version != previous
                if swapped:
                    # (The index watch may have swapped it in already.)
                    await self._serve_current()
            except BaseException:
                self.metrics.reindex.labels("failed").inc()
                raise
            self.metrics.reindex.labels("swapped" if swapped else "unchanged").inc()
            log.info(
                "reindex: index %s version %s (was %s), %s",
                self.index_name,
                report.version,
                previous,
                "swapped in" if swapped else "unchanged",
            )
            return ReindexOutcome(report=report, previous_version=previous, swapped=swapped)

    @property
    def _served_name(self) -> str | None:
        """The folder name of the index version served (its version id)."""
        answerer = self.answerer
        return answerer.retriever.index.path.name if answerer else None

    def _layout(self) -> IndexLayout:
        from ingest.index import IndexLayout

        return IndexLayout(self.settings.data_dir, self.index_name)

    async def _serve_current(self) -> bool:
        """Open the index's current version and serve it, unless it is served already; whether
        it was swapped in. The old version serves until the new one is loaded."""
        assert self._swap_lock is not None
        async with self._swap_lock:
            if await anyio.to_thread.run_sync(self._layout().current_name) == self._served_name:
                return False
            retriever = await anyio.to_thread.run_sync(self._open_retriever)
            # One assignment: requests that already took the old answerer keep it.
            self.answerer = self._answerer_for(retriever)
            self.problems.pop("index", None)
            self._publish_index_metrics()
            return True

    async def _watch_index(self) -> None:
        """Serve a version another process published (a reindex on another replica sharing the
        index folder, ``kefu ingest``) within KEFU_INDEX_WATCH_SECONDS.

        A poll of the ``current`` link rather than a filesystem watch: inotify does not see
        changes another host makes on network storage (NFS, EFS), and a readlink costs nothing.
        A version that cannot be served (another embedder, damaged) is logged once and skipped
        until ``current`` moves again; the old version keeps serving."""
        layout = self._layout()
        refused: str | None = None
        while True:
            await asyncio.sleep(self.settings.index_watch_seconds)
            published = await anyio.to_thread.run_sync(layout.current_name)
            if published is None or published in (self._served_name, refused) or self.embedder is None:
                continue
            if self._reindex_lock is not None and self._reindex_lock.locked():
                continue  # this process's own reindex publishes and swaps it in
            previous = self.index_version
            try:
                swapped = await self._serve_current()
            except Exception as exc:  # (FAISS raises its own): one bad version must not end the watch
                refused = published
                self.metrics.index_watch.labels("failed").inc()
                log.warning(
                    "index %s version %s was published but cannot be served (still serving %s): %s",
                    self.index_name, published, previous, exc,
                )  # fmt: skip
                continue
            if swapped:
                self.metrics.index_watch.labels("swapped").inc()
                log.info("index %s version %s published elsewhere: swapped in (was %s)",
                         self.index_name, self.index_version, previous)  # fmt: skip

    # --- health --------------------------------------------------------------------------

    def llm_health(self) -> GeneratorHealth:
        """The LLM's state now; the metrics' LLM gauges are set from it."""
        generator = self.generator
        health = generator.health() if generator is not None else GeneratorHealth(ready=False, detail="not loaded")
        self.metrics.set_llm(health, warmed_up="llm" not in self.problems)
        return health

    def readiness(self) -> dict[str, Any]:
        """What ``/ready`` reports: what is loaded, and what is missing."""
        missing = dict(self.problems)
        health = self.llm_health()
        if "llm" not in missing and not health.ready:
            # Warmed up once, but its process died and is coming back.
            missing["llm"] = f"{self.llm_name}: {health.detail}"
        return {
            "index": self.index_name,
            "index_version": self.index_version,
            "llm": self.llm_name,
            "llm_restarts": health.restarts,
            "llm_hosts": list(health.hosts),
            "missing": missing,
        }
