"""The learning loop: ``/v1/curated`` (curated answers), ``/v1/drafts`` (FAQ drafts for
review) and ``POST /v1/conversations/{id}/csat`` (satisfaction)."""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

import time
from collections.abc import Sequence
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from kefu.errors import InvalidFieldError, NotReadyError
from service.api.assistant import owner_of
from service.api.auth import ADMINS, AGENTS, ANY_ROLE, keyed, require
from service.api.openapi import AUTH_ERRORS, SECURITY, error_responses
from service.api.runtime import Caller, Runtime
from service.api.schemas import (
    Approved,
    ApproveRequest,
    Csat,
    CsatRequest,
    Curated,
    CuratedMatchView,
    CuratedPatch,
    CuratedRequest,
    Draft,
    DraftPatch,
    LearnReport,
    view,
)
from service.curated import check_articles, check_texts
from service.store import CsatRecord, CuratedRecord, DraftRecord

CURATED_FIELDS = ("question_zh", "question_en", "answer_zh", "answer_en", "articles", "enabled")

# Row ids are 64-bit: a larger number is refused as invalid (422) before the database sees it.
CuratedId = Annotated[int, PathParameter(ge=1, le=2**63 - 1, description="The curated answer's id.")]
DraftId = Annotated[int, PathParameter(ge=1, le=2**63 - 1, description="The draft's id.")]


def curated_view(record: CuratedRecord) -> Curated:
    return view(Curated, record, articles=list(record.articles))


def draft_view(record: DraftRecord) -> Draft:
    return view(Draft, record, lang="en" if record.lang == "en" else "zh", examples=list(record.examples))


def csat_view(record: CsatRecord) -> Csat:
    return view(Csat, record)


def _check_articles(runtime: Runtime, articles: Sequence[str] | None) -> None:
    """Article links must name articles of the served index: answers cite them from it."""
    answerer = runtime.answerer
    index = answerer.retriever.index if answerer is not None else None
    check_articles(articles, index, why_none=runtime.problems.get("index", "the index is not loaded yet"))


def _with_score(curated: Curated, score: float | None = None, matches: bool | None = None) -> CuratedMatchView:
    return view(CuratedMatchView, curated, score=score, matches=matches)


class CuratedController(Controller):
    path = "/v1/curated"
    tags = ["curated answers"]  # noqa: RUF012

    @get(
        "/",
        **keyed(*AGENTS),
        summary="List or search curated answers",
        description=(
            "Every curated answer, oldest first, with how many questions each answered (`hits`). "
            "With `q`, the ones closest in meaning to `q` instead, best first, each with its `score` "
            "(cosine to the closest of its questions) and whether a user asking `q` would get it "
            "(`matches`: enabled, at or above the match threshold, with an answer in the language "
            "of `q`; both null without `q`); this needs the embedder (503 until it is loaded). `enabled` filters. "
            "Roles: agent, admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 503),
    )
    async def list_curated(
        self,
        runtime: NamedDependency[Runtime],
        q: Annotated[str | None, QueryParameter(max_length=2000, description="Search by meaning.")] = None,
        enabled: Annotated[bool | None, QueryParameter(description="Only enabled (true) or disabled.")] = None,
        k: Annotated[int, QueryParameter(ge=1, le=50, description="How many results with `q`.")] = 10,
    ) -> list[CuratedMatchView]:
        if q is None or not q.strip():
            records = await runtime.in_store(lambda store: store.list_curated(enabled=enabled))
            return [_with_score(curated_view(r)) for r in records]
        matcher = runtime.curated
        if matcher is None:
            raise NotReadyError(f"the embedder is not loaded: {runtime.problems.get('embedder', 'starting')}")
        from kefu.redaction import Redactor
        from kefu.text import detect_language

        query = Redactor().redact(q).text
        lang = detect_language(query)
        found = await anyio.to_thread.run_sync(lambda: matcher.search(query, k=50))
        out = []
        for record, score in found:
            if enabled is not None and record.enabled != enabled:
                continue
            view = curated_view(record)
            matches = record.enabled and score >= matcher.threshold and bool(record.answer_in(lang))
            out.append(_with_score(view, round(score, 4), matches))
        return out[:k]

    @post(
        "/",
        **keyed(*ADMINS),
        status_code=201,
        summary="Create a curated answer",
        description=(
            "A question and the answer to give, in Chinese, English or both (each question needs an "
            "answer in its language), with optional help-center articles. From the next question on, a user "
            "question close enough in meaning to one of its questions gets this answer as written, "
            "cited as curated, then its articles cited as any answer's are (title and URL from the served "
            "index, the article's translation when the user asks in its other language); no reindex is "
            "needed. Handoff rules still come first (a pasted seed phrase, stolen funds). An answer the "
            "output check would not show (one asking for a secret, promising recovery, or linking outside "
            "the official domains) is refused with 422 naming the sentence; an article the served index "
            "does not have (a mistyped path, a ticket), 422 naming the entry (`articles[i]`); articles while "
            "no index is loaded, 503; a question without an answer in its language, 400. Secrets are "
            "redacted before storing. Roles: admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 503),
    )
    async def create(
        self, data: JSONBody[CuratedRequest], runtime: NamedDependency[Runtime], caller: NamedDependency[Caller]
    ) -> Curated:
        fields = msgspec.structs.asdict(data)
        check_texts(fields, runtime.settings.official_domains)
        _check_articles(runtime, data.articles)
        record = await runtime.in_store(lambda store: store.add_curated(**fields, by=caller.label))
        return curated_view(record)

    @get(
        "/{curated_id:int}",
        **keyed(*AGENTS),
        summary="A curated answer",
        description="One curated answer with its hit count. Roles: agent, admin.",
        responses=error_responses(*AUTH_ERRORS, 404),
    )
    async def get_curated(self, curated_id: CuratedId, runtime: NamedDependency[Runtime]) -> Curated:
        return curated_view(await runtime.in_store(lambda store: store.get_curated(curated_id)))

    @patch(
        "/{curated_id:int}",
        **keyed(*ADMINS),
        summary="Edit, disable or enable a curated answer",
        description=(
            "Changes the fields given (an empty string removes a question or answer; `enabled: false` "
            "keeps it but stops matching it). The change is live at the next question. The same checks "
            "as creating (new `articles` against the served index). Roles: admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 404, 503),
    )
    async def edit(
        self,
        curated_id: CuratedId,
        data: JSONBody[CuratedPatch],
        runtime: NamedDependency[Runtime],
        caller: NamedDependency[Caller],
    ) -> Curated:
        changes = {name: getattr(data, name) for name in CURATED_FIELDS if getattr(data, name) is not msgspec.UNSET}
        if not changes:
            raise InvalidFieldError("body: give at least one field to change", field="body")
        check_texts(changes, runtime.settings.official_domains)
        _check_articles(runtime, changes.get("articles"))
        record = await runtime.in_store(lambda store: store.update_curated(curated_id, by=caller.label, **changes))
        return curated_view(record)

    @delete(
        "/{curated_id:int}",
        **keyed(*ADMINS),
        summary="Delete a curated answer",
        description="Deletes it for good (disable it instead to keep it). Roles: admin.",
        responses=error_responses(*AUTH_ERRORS, 404),
    )
    async def remove(self, curated_id: CuratedId, runtime: NamedDependency[Runtime]) -> None:
        await runtime.in_store(lambda store: store.delete_curated(curated_id))


class DraftController(Controller):
    path = "/v1/drafts"
    guards = [require(*ADMINS)]  # noqa: RUF012 - Litestar's own attribute
    security = SECURITY
    tags = ["curated answers"]  # noqa: RUF012

    @get(
        "/",
        summary="The FAQ drafts review queue",
        description=(
            "FAQ entries `kefu learn` drafted from the desk's work (questions handed off for low "
            "confidence or no sources, and resolved handoffs with the agents' replies), most asked "
            "first. Drafts are never shown to users: only approving one makes a curated answer of it. "
            "`status` filters (default: pending). Roles: admin."
        ),
        responses=error_responses(*AUTH_ERRORS),
    )
    async def list_drafts(
        self,
        runtime: NamedDependency[Runtime],
        status: Annotated[
            str,
            QueryParameter(
                pattern="^(pending|approved|rejected|all)$", description="pending, approved, rejected or all."
            ),
        ] = "pending",
    ) -> list[Draft]:
        wanted: Any = None if status == "all" else status
        records = await runtime.in_store(lambda store: store.list_drafts(status=wanted))
        return [draft_view(r) for r in records]

    @post(
        "/learn",
        status_code=200,
        summary="Draft FAQ entries now",
        description=(
            "What `kefu learn` does, over the last `days` days: groups the handed-off and resolved "
            "questions by meaning (with the served embedder) and drafts one entry per group that an "
            "agent answered, skipping what earlier drafts covered. Returns the new drafts. Roles: admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 503),
    )
    async def learn(
        self,
        runtime: NamedDependency[Runtime],
        days: Annotated[int, QueryParameter(ge=1, le=92, description="How far back to read.")] = 7,
    ) -> LearnReport:
        from datetime import UTC, datetime, timedelta

        from service.learn import learn

        store, embedder = runtime.store, runtime.embedder
        end = datetime.now(UTC)
        t0 = time.perf_counter()
        outcome = await anyio.to_thread.run_sync(
            lambda: learn(store, start=end - timedelta(days=days), end=end, embedder=embedder)
        )
        return LearnReport(
            drafts=[draft_view(d) for d in outcome.drafts],
            handoffs_read=outcome.handoffs_read,
            suggestions_read=outcome.suggestions_read,
            seconds=round(time.perf_counter() - t0, 2),
        )

    @patch(
        "/{draft_id:int}",
        summary="Edit a pending draft",
        description="Changes its question or answer (redacted again). Roles: admin.",
        responses=error_responses(*AUTH_ERRORS, 404, 409),
    )
    async def edit(self, draft_id: DraftId, data: JSONBody[DraftPatch], runtime: NamedDependency[Runtime]) -> Draft:
        if data.question is None and data.answer is None:
            raise InvalidFieldError("body: give question or answer", field="body")
        if data.answer is not None:
            check_texts({"answer": data.answer}, runtime.settings.official_domains)
        record = await runtime.in_store(
            lambda store: store.edit_draft(draft_id, question=data.question, answer=data.answer)
        )
        return draft_view(record)

    @post(
        "/{draft_id:int}/approve",
        status_code=200,
        summary="Approve a draft: it becomes a curated answer",
        description=(
            "The pending draft becomes an enabled curated answer in its language (with the articles "
            "given), answered from the next question on. The same checks as creating a curated answer "
            "(the output check and the articles against the served index). A draft already reviewed "
            "answers 409. Roles: admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 404, 409, 503),
    )
    async def approve(
        self,
        draft_id: DraftId,
        runtime: NamedDependency[Runtime],
        caller: NamedDependency[Caller],
        data: JSONBody[ApproveRequest | None] = None,
    ) -> Approved:
        draft = await runtime.in_store(lambda store: store.get_draft(draft_id))
        check_texts({"answer": draft.answer}, runtime.settings.official_domains)
        articles = data.articles if data is not None else []
        _check_articles(runtime, articles)
        approved, curated = await runtime.in_store(
            lambda store: store.approve_draft(draft_id, by=caller.label, articles=articles)
        )
        return Approved(draft=draft_view(approved), curated=curated_view(curated))

    @post(
        "/{draft_id:int}/reject",
        status_code=200,
        summary="Reject a draft",
        description=(
            "The draft is kept as rejected and never shown. A draft already reviewed answers 409. Roles: admin."
        ),
        responses=error_responses(*AUTH_ERRORS, 404, 409),
    )
    async def reject(
        self, draft_id: DraftId, runtime: NamedDependency[Runtime], caller: NamedDependency[Caller]
    ) -> Draft:
        return draft_view(await runtime.in_store(lambda store: store.reject_draft(draft_id, by=caller.label)))


@post(
    "/v1/conversations/{conversation_id:str}/csat",
    **keyed(*ANY_ROLE),
    status_code=201,
    tags=["assistant"],
    summary="Rate a conversation (satisfaction, 1-5)",
    description=(
        "The user's satisfaction with a conversation: `score` 1 to 5 and an optional `comment`, "
        "once per conversation (a second rating answers 409, as does a conversation nobody has "
        "answered yet). Ask after an answer or after a human agent resolved the handoff; "
        "`handled_by` records which (`agent` when an agent wrote in the conversation). The "
        "webhook gets `csat.submitted`. A key with role app rates only a conversation it started, "
        "for the `user_id` it started it with (any other looks missing: 404). Roles: app, agent, admin."
    ),
    responses=error_responses(*AUTH_ERRORS, 404, 409),
)
async def conversation_csat(
    conversation_id: FromPath[str],
    data: JSONBody[CsatRequest],
    runtime: NamedDependency[Runtime],
    caller: NamedDependency[Caller],
) -> Csat:
    owner = owner_of(caller, data.user_id)
    record = await runtime.in_store(
        lambda store: store.save_csat(
            conversation_id, data.score, comment=data.comment, owner=owner, api_key_id=caller.key_id
        )
    )
    runtime.notify_handoff()  # wakes the webhook worker
    return csat_view(record)
