"""Prometheus metrics of one app, in a registry of its own (so tests can run many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from kefu.generators.base import GeneratorHealth
from service.store import StoreCounts

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LLM_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)


class Metrics:
    """Every metric the service exports; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        # The *_created series double the output and no dashboard here reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self._add_http_metrics(self.registry)
        self._add_answer_metrics(self.registry)
        self._add_llm_and_load_metrics(self.registry)
        self._add_index_and_webhook_metrics(self.registry)

    def _add_http_metrics(self, r: CollectorRegistry) -> None:
        self.requests = Counter(
            "kefu_http_requests",
            "HTTP requests answered, by route template, method and status code",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "kefu_http_request_duration_seconds",
            "Time from request to the last byte of the response, by route template",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def _add_answer_metrics(self, r: CollectorRegistry) -> None:
        self.answers = Counter(
            "kefu_answers",
            "Answers (mode answer) and suggestions (mode suggest) given, by decision and reason",
            ["mode", "action", "reason"],
            registry=r,
        )
        self.handoffs = Counter(
            "kefu_handoffs", "Handoffs opened by this process, by reason and priority",
            ["reason", "priority"], registry=r,
        )  # fmt: skip
        self.handoff_rate = Gauge(
            "kefu_handoff_rate",
            "Handoffs per answer given to users, over everything in the database (NaN before the first)",
            registry=r,
        )
        self.open_handoffs = Gauge("kefu_open_handoffs", "Handoffs waiting for an agent", registry=r)

    def _add_llm_and_load_metrics(self, r: CollectorRegistry) -> None:
        self.llm_seconds = Histogram(
            "kefu_llm_generation_seconds",
            "Time each generation held the LLM, first to last token",
            ["backend"],
            buckets=_LLM_BUCKETS,
            registry=r,
        )
        self.llm_wait = Histogram(
            "kefu_llm_queue_wait_seconds",
            "Time requests waited for the LLM",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_waiting = Gauge("kefu_llm_queue_waiting", "Requests waiting for the LLM now", registry=r)
        self.llm_busy = Counter(
            "kefu_llm_busy_rejections", "Requests refused with 503 because the LLM queue was full", registry=r
        )
        self.llm_ready = Gauge(
            "kefu_llm_ready", "1 when the LLM can generate now (warmed up, its process running), else 0", registry=r
        )
        self.llm_restarts = Gauge(
            "kefu_llm_restarts",
            "Times the embedded model's process was restarted after it crashed, was killed or hung",
            registry=r,
        )
        self.rate_limited = Counter(
            "kefu_rate_limited", "Requests refused with 429 by the per-key rate limit", registry=r
        )

    def _add_index_and_webhook_metrics(self, r: CollectorRegistry) -> None:
        self.index = Info("kefu_index", "The index version being served", registry=r)
        self.index_documents = Gauge("kefu_index_documents", "Documents in the served index", registry=r)
        self.index_chunks = Gauge("kefu_index_chunks", "Chunks in the served index", registry=r)
        self.query_cache = Counter(
            "kefu_query_cache",
            "Search questions whose vector was kept from an earlier search (hit) or computed (embedded)",
            ["outcome"],
            registry=r,
        )
        self.reindex = Counter(
            "kefu_reindex", "Reindex runs through the admin API, by outcome", ["outcome"], registry=r
        )
        self.index_watch = Counter(
            "kefu_index_watch",
            "Index versions another process published (a reindex on another replica, kefu ingest): "
            "swapped in, or failed to load",
            ["outcome"],
            registry=r,
        )
        self.webhook = Counter(
            "kefu_webhook_deliveries", "Webhook calls for new handoffs, by outcome", ["outcome"], registry=r
        )

    def set_index(self, name: str, version: str, documents: int, chunks: int) -> None:
        self.index.info({"name": name, "version": version})
        self.index_documents.set(documents)
        self.index_chunks.set(chunks)

    def set_counts(self, counts: StoreCounts) -> None:
        rate = counts.handoff_rate
        self.handoff_rate.set(float("nan") if rate is None else rate)
        self.open_handoffs.set(counts.open_handoffs)

    def set_llm(self, health: GeneratorHealth, warmed_up: bool) -> None:
        self.llm_ready.set(1 if warmed_up and health.ready else 0)
        self.llm_restarts.set(health.restarts)

    def render(self) -> bytes:
        return generate_latest(self.registry)
