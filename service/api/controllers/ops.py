"""``/health``, ``/ready`` and ``/metrics``: no key needed."""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

from typing import Any

import anyio.to_thread
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from kefu.errors import KefuError
from service.api.errors import error_response
from service.api.metrics import CONTENT_TYPE_LATEST
from service.api.openapi import error_responses
from service.api.runtime import Runtime
from service.api.schemas import Health, Readiness


@get(
    "/health",
    tags=["operations"],
    summary="Liveness",
    description="200 while the process serves HTTP, whatever else is loaded.",
)
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    tags=["operations"],
    summary="Readiness",
    description=(
        "200 when the embedder, the index and the LLM are loaded. Otherwise 503 with the error "
        "shape, `detail.missing` naming each missing part and why (also while the embedded "
        "model's process is being restarted after a crash or hang; `llm_restarts` counts those); "
        "the service still serves what it can (search works without the LLM, answers fall back "
        "to extracts or handoffs)."
    ),
    responses={
        200: ResponseSpec(data_container=Readiness, description="Everything is loaded.", generate_examples=False),
        **error_responses(503),
    },
)
async def ready(runtime: NamedDependency[Runtime]) -> Response[Any]:
    state = runtime.readiness()
    if state["missing"]:
        return error_response(
            503,
            "not_ready",
            "not ready: " + ", ".join(sorted(state["missing"])),
            {
                "missing": state["missing"],
                "index": state["index"],
                "index_version": state["index_version"],
                "llm_restarts": state["llm_restarts"],
            },
        )
    return Response(
        Readiness(
            status="ready",
            index=state["index"],
            index_version=state["index_version"] or "",
            llm=state["llm"],
            open_access=runtime.open_access,
            llm_restarts=state["llm_restarts"],
        )
    )


@get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    description=(
        "Prometheus text format: requests by route and status (`kefu_http_requests_total`), "
        "latencies (`kefu_http_request_duration_seconds`), answers and handoffs "
        "(`kefu_answers_total`, `kefu_handoffs_total`, `kefu_handoff_rate`, `kefu_open_handoffs`), "
        "LLM time, queue and state (`kefu_llm_generation_seconds`, `kefu_llm_queue_waiting`, "
        "`kefu_llm_busy_rejections_total`, `kefu_llm_ready`, `kefu_llm_restarts`), rate limiting, "
        "webhook deliveries, and the index served (`kefu_index_info`, `kefu_index_documents`)."
    ),
    media_type=CONTENT_TYPE_LATEST,
)
async def metrics(runtime: NamedDependency[Runtime]) -> Response[bytes]:
    try:
        runtime.llm_health()
        counts = await anyio.to_thread.run_sync(runtime.store.counts)
        runtime.metrics.set_counts(counts)
    except KefuError:
        pass  # the database's gauges keep their last value; the rest is still worth a scrape
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
