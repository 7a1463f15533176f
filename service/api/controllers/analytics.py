"""``/v1/analytics``: the weekly report (service/analytics.py) as JSON, and
``/v1/analytics/html``: the same report as the page ``kefu report --html`` writes (the
console's report page shows it)."""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from msgspec import Meta

from kefu.errors import BadInputError
from kefu.vocab import Lang
from service.analytics import Report, build_report
from service.analytics_html import render_html
from service.api.auth import AGENTS, keyed
from service.api.openapi import AUTH_ERRORS, error_responses
from service.api.runtime import Runtime

DEFAULT_PERIOD = timedelta(days=7)
#: The report page holds no script and fetches nothing; this keeps it so if opened directly.
HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
#: Longest period one call may cover: grouping embeds every question in it and the one before.
MAX_PERIOD = timedelta(days=92)
#: The report's period, as both report endpoints take it.
PeriodStart = Annotated[datetime | None, QueryParameter(name="from", description="Start of the period, inclusive.")]
PeriodEnd = Annotated[datetime | None, QueryParameter(name="to", description="End of the period, exclusive.")]


class QuestionGroup(msgspec.Struct):
    """Similar questions, grouped by meaning (or by normalised text without an embedder)."""

    question: Annotated[str, Meta(description="The group's most asked wording.")]
    count: Annotated[int, Meta(description="Questions in the period.")]
    previous: Annotated[int, Meta(description="Questions in the previous period of the same length.")]
    rise: Annotated[int, Meta(description="count - previous.")]
    examples: Annotated[list[str], Meta(description="Up to 3 wordings, most asked first.")]
    reasons: Annotated[dict[str, int], Meta(description="For a gap: handoff reasons and their counts.")]
    closest_article: Annotated[
        dict[str, Any] | None,
        Meta(description="For a gap: the article the served index finds closest (path, title, url, score)."),
    ]


class PreviousPeriod(msgspec.Struct):
    start: datetime
    end: datetime
    questions: int
    answered: int
    resolution_rate: float | None


class AnalyticsReport(msgspec.Struct):
    """The report for ``[start, end)``; rates are shares (0-1), None when there is nothing to divide."""

    start: datetime
    end: datetime
    questions: Annotated[int, Meta(description="Questions users asked the assistant.")]
    answered: Annotated[int, Meta(description="Questions the bot answered itself.")]
    handed_off: Annotated[int, Meta(description="Questions handed to a human.")]
    resolution_rate: Annotated[float | None, Meta(description="answered / questions.")]
    resolution_rate_change: Annotated[float | None, Meta(description="resolution_rate minus the previous period's.")]
    previous: PreviousPeriod
    suggestions: Annotated[int, Meta(description="Replies suggested to agents.")]
    handoffs: Annotated[int, Meta(description="Handoffs opened (by answers and by rules).")]
    handoffs_by_reason: dict[str, int]
    handoffs_by_day: Annotated[dict[str, dict[str, int]], Meta(description="UTC day -> reason -> handoffs.")]
    questions_by_day: Annotated[dict[str, dict[str, int]], Meta(description="UTC day -> answered / handed_off.")]
    handoffs_resolved: int
    handoffs_open: Annotated[int, Meta(description="Handoffs of the period not resolved (open or claimed).")]
    feedback: Annotated[dict[str, int], Meta(description="Feedback given in the period, by kind.")]
    helpful_rate: Annotated[float | None, Meta(description="helpful / (helpful + not_helpful).")]
    agent_actions: Annotated[dict[str, int], Meta(description="What agents did with suggestions.")]
    edit_rate: Annotated[float | None, Meta(description="edited / (sent_as_is + edited + discarded).")]
    discard_rate: Annotated[float | None, Meta(description="discarded / (sent_as_is + edited + discarded).")]
    latency_ms: Annotated[dict[str, int | None], Meta(description="p50, p95 (nearest rank) and count of answers.")]
    csat: Annotated[
        dict[str, dict[str, float | None]],
        Meta(
            description="Satisfaction ratings of the period: `bot` (conversations the bot answered alone) and "
            "`agent` (a human agent wrote in them), each with count, average (1-5) and satisfied_rate (share of 4-5)."
        ),
    ]
    grouping: Annotated[str, Meta(description="`meaning` (embedder) or `text` (normalised text).")]
    hot_questions: Annotated[list[QuestionGroup], Meta(description="Biggest groups first.")]
    rising: Annotated[list[QuestionGroup], Meta(description="Groups that rose most against the previous period.")]
    gaps: Annotated[
        list[QuestionGroup],
        Meta(description="Groups handed off for low_confidence, no_sources or no_answer, biggest first."),
    ]


@get(
    "/v1/analytics",
    **keyed(*AGENTS),
    tags=["admin"],
    summary="The weekly report",
    description=(
        "Questions, answered by the bot vs handed off (the resolution rate and its change against the "
        "previous period of the same length), handoffs by reason per day, hot and rising questions "
        "(grouped by meaning with the served embedder), the gap list (groups handed off for "
        "low_confidence, no_sources or no_answer, each with the closest article in the served index), "
        "👍/👎 rate, agents' edit/discard rate of suggestions, CSAT for bot vs agent and p50/p95 answer "
        "latency. `from` and `to` are ISO times (UTC when no offset is given); `to` defaults to now and "
        "`from` to 7 days before `to`; at most 92 days. The same report as `kefu report --json`. Roles: agent, admin."
    ),
    responses=error_responses(*AUTH_ERRORS, 503),
)
async def analytics(
    runtime: NamedDependency[Runtime],
    start: PeriodStart = None,
    end: PeriodEnd = None,
) -> AnalyticsReport:
    return _view(await _report(runtime, start, end))


@get(
    "/v1/analytics/html",
    **keyed(*AGENTS),
    tags=["admin"],
    summary="The weekly report as a page",
    description=(
        "The report of `GET /v1/analytics` for the same `from` and `to`, as the one self-contained HTML page "
        "`kefu report --html` writes (figures, tables and inline SVG charts; no script, nothing fetched). "
        "The page's own words (headings, table headers, notes, handoff reasons) are in `lang`, `zh` or `en` "
        "(default); the data (users' questions, article titles) is shown as it is. The console's report page "
        "(`/console/report`) shows it in the console's language. Roles: agent, admin."
    ),
    media_type="text/html; charset=utf-8",
    responses=error_responses(*AUTH_ERRORS, 503),
)
async def analytics_html(
    runtime: NamedDependency[Runtime],
    start: PeriodStart = None,
    end: PeriodEnd = None,
    lang: Annotated[Lang, QueryParameter(description="The page's language: `zh` or `en`.")] = "en",
) -> Response[str]:
    report = await _report(runtime, start, end)
    return Response(render_html(report, lang=lang), media_type="text/html; charset=utf-8", headers=HTML_HEADERS)


async def _report(runtime: Runtime, start: datetime | None, end: datetime | None) -> Report:
    end = _utc(end) if end else datetime.now(UTC)
    start = _utc(start) if start else end - DEFAULT_PERIOD
    if end <= start:
        raise BadInputError("from: must be before to")
    if end - start > MAX_PERIOD:
        raise BadInputError(f"from: the period is at most {MAX_PERIOD.days} days")
    store = runtime.store
    answerer = runtime.answerer
    return await anyio.to_thread.run_sync(
        lambda: build_report(
            store,
            start=start,
            end=end,
            embedder=runtime.embedder,
            retriever=answerer.retriever if answerer is not None else None,
        )
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _view(report: Report) -> AnalyticsReport:
    return msgspec.convert(report.to_dict(), AnalyticsReport)
