"""``/v1/admin/reindex``."""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

from litestar import post
from litestar.di import NamedDependency

from ingest.adapt import retrain_due
from service.api.auth import ADMINS, keyed
from service.api.openapi import AUTH_ERRORS, error_responses
from service.api.runtime import Runtime
from service.api.schemas import AdapterOutdated, ReindexResponse, view


@post(
    "/v1/admin/reindex",
    **keyed(*ADMINS),
    status_code=200,
    tags=["admin"],
    summary="Ingest the corpus again and serve the new index",
    description=(
        "Runs `kefu ingest` on the configured corpus (KEFU_CORPUS_DIR) into the served index in a "
        "worker thread, answering when it is done, then swaps the new version in at once: requests "
        "in flight finish on the old one, later ones use the new one, none is refused. Incremental: "
        "only new or changed documents are embedded (with the index's embedder adapter, if it has one; "
        "a reindex keeps it and never trains one), and an unchanged corpus changes nothing. One "
        "reindex at a time, also across replicas sharing the index; another while one runs answers 409. "
        "The other replicas serve the new version within KEFU_INDEX_WATCH_SECONDS. Roles: admin."
    ),
    responses=error_responses(*AUTH_ERRORS, 409, 503),
)
async def reindex(runtime: NamedDependency[Runtime]) -> ReindexResponse:
    outcome = await runtime.reindex()
    report = outcome.report
    return view(
        ReindexResponse,
        report,
        previous_version=outcome.previous_version,
        swapped=outcome.swapped,
        seconds=round(report.seconds, 2),
        adapter="kept" if report.adapter else None,
        adapter_outdated=(
            AdapterOutdated(**outdated, retrain_suggested=retrain_due(outdated))
            if (outdated := report.adapter_outdated)
            else None
        ),
    )
