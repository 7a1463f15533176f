"""Request and response bodies of the HTTP API, as msgspec Structs.

Litestar validates requests against these and documents them in the OpenAPI schema at
``/schema``; the ``description`` of each field is what the schema shows.
"""

# No ``from __future__ import annotations``: Litestar and msgspec read these annotations
# at run time.

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta

from kefu.vocab import MAX_QUESTION_CHARS, Action, FeedbackKind, HandoffStatus, Lang, Priority

MAX_TEXT_CHARS = 8000

ViewT = TypeVar("ViewT", bound=msgspec.Struct)


def view(view_type: type[ViewT], record: object, **overrides: Any) -> ViewT:
    """A response body with each field read from ``record``'s attribute of that name, but for ``overrides``."""
    names = [name for name in view_type.__struct_fields__ if name not in overrides]
    return view_type(**{name: getattr(record, name) for name in names}, **overrides)


Question = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        description="The user's question, Chinese or English (at most KEFU_MAX_QUESTION_CHARS characters).",
    ),
]
Identifier = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Citation(msgspec.Struct):
    """A source the answer cites with ``[n]``."""

    n: Annotated[int, Meta(description="The marker number used in the answer text.")]
    source: Annotated[str, Meta(description="The document's path in the corpus, e.g. `fqa/pending-transfer.md`.")]
    title: str
    url: str | None
    snippet: Annotated[str, Meta(description="The passage the answer drew on, shortened.")]
    kind: Annotated[
        str,
        Meta(
            description="`article` or `ticket`; `curated` for a curated answer (source `curated/<id>`), "
            "whose linked articles follow it as `article` citations with their titles and URLs."
        ),
    ] = "article"


class HandoffRef(msgspec.Struct):
    """The handoff an answer opened: the conversation now waits for a human."""

    id: str
    status: HandoffStatus
    reason: Annotated[str, Meta(description="Why: e.g. stolen_funds, secret_shared, human_requested, low_confidence.")]
    priority: Priority
    category: str | None
    claimed_by: Annotated[str | None, Meta(description="The agent who has the conversation, once claimed.")] = None


class AskRequest(msgspec.Struct):
    question: Question
    conversation_id: (
        Annotated[
            str,
            Meta(
                max_length=64,
                description="Continue this conversation (from an earlier answer); omit to start a new one.",
            ),
        ]
        | None
    ) = None
    lang: Annotated[Lang | None, Meta(description="Answer in this language; default: the question's.")] = None
    channel: Annotated[
        str,
        Meta(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$", description="Where the user asks from."),
    ] = "app"
    user_id: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=128,
                description="Your id for the user; only the same id can then continue the conversation.",
            ),
        ]
        | None
    ) = None
    details: Annotated[
        bool,
        Meta(
            description=(
                "Also return `details`: what the decision rests on (the documents search found and the numbered "
                "sources, each with every corpus path of the document, the handoff rules that matched, the "
                "confidence evidence, the draft reply a handoff gives the agent, token usage). For evaluation "
                "and debugging."
            )
        ),
    ] = False


class RetrievedDocument(msgspec.Struct):
    """A document search found for the question."""

    rank: int
    source: Annotated[str, Meta(description="The document's path in the corpus (the first of `paths`).")]
    paths: Annotated[
        list[str],
        Meta(description="Every path in the corpus with this document's content (duplicates are indexed once)."),
    ]
    title: str
    kind: Annotated[str, Meta(description="`article` or `ticket`.")]
    lang: str
    category: str | None
    url: str | None
    score: Annotated[float, Meta(description="The fused ranking score (higher is better; not a probability).")]
    dense_score: Annotated[
        float | None, Meta(description="Cosine of the question to the document's best chunk (null: not a candidate).")
    ]
    sparse_score: Annotated[float | None, Meta(description="BM25 score of the best chunk (null: no term matched).")]
    snippet: str


class AnswerSource(msgspec.Struct):
    """A numbered source the answer (or the handoff's draft) was written from; `[n]` refers to it."""

    n: Annotated[int, Meta(description="The marker number `[n]` that cites this source.")]
    source: Annotated[str, Meta(description="The document's path in the corpus (the first of `paths`).")]
    paths: Annotated[list[str], Meta(description="Every path in the corpus with this document's content.")]
    title: str
    url: str | None
    kind: Annotated[str, Meta(description="`article` or `ticket`.")]


class TokenUsage(msgspec.Struct):
    prompt_tokens: int | None
    completion_tokens: int | None


class AnswerDetails(msgspec.Struct):
    """What the decision rests on (only with `details: true` in the request)."""

    documents: Annotated[list[RetrievedDocument], Meta(description="The documents search found, best first.")]
    sources: Annotated[
        list[AnswerSource],
        Meta(description="The passages given to the LLM, chosen from `documents`; `[n]` in `answer` and `draft`."),
    ]
    rules: Annotated[
        list[str], Meta(description="The handoff rules the question matched, e.g. secret_shared, human_requested.")
    ]
    evidence: Annotated[
        dict[str, float],
        Meta(description="The features the confidence score was computed from, by name (e.g. top_dense, grounded)."),
    ]
    draft: Annotated[
        str | None,
        Meta(
            description=(
                "For a handoff: the reply suggested to the agent (for low_confidence, the answer that was not "
                "shown on its own, citing `sources` as [n]); null for an answer. Not for the user."
            )
        ),
    ]
    usage: Annotated[TokenUsage, Meta(description="The LLM's token counts, each null when the LLM was not called.")]


class AskResponse(msgspec.Struct):
    """An answer with citations, or a handoff to a human, and why."""

    answer: Annotated[str, Meta(description="What to show the user; cites sources as [n].")]
    citations: list[Citation]
    confidence: Annotated[
        float,
        Meta(
            ge=0,
            le=1,
            description="How likely the answer is to be right (0 to 1); below the threshold it is handed off.",
        ),
    ]
    action: Annotated[Action, Meta(description="`answer`: show it; `handoff`: a human takes over.")]
    reason: Annotated[str, Meta(description="Reason code for the decision, e.g. grounded, extractive_fallback.")]
    mode: Annotated[
        str,
        Meta(
            description="How the text came about: quoted (the help center's own sentences), rendered (those "
            "sentences translated line by line by the LLM into the user's language), generated (written by the "
            "LLM), extractive (the LLM failed or was late; the sources' own sentences), warning (a scam "
            "warning alone), curated (an admin's curated answer, as written; reason `curated`) or handoff."
        ),
    ]
    lang: Lang
    conversation_id: str
    answer_id: Annotated[
        str | None,
        Meta(
            description="Refer to this answer in POST /v1/feedback; null when the message went to the human "
            "who has the conversation (reason `handed_off`) and the assistant did not answer."
        ),
    ]
    handoff: HandoffRef | None = None
    details: Annotated[
        AnswerDetails | msgspec.UnsetType,
        Meta(description="What the decision rests on; present only when the request asked for `details`."),
    ] = msgspec.UNSET


class TicketMessage(msgspec.Struct):
    role: Annotated[Literal["user", "agent"], Meta(description="`user`: the customer; `agent`: support.")]
    text: Annotated[str, Meta(min_length=1, max_length=MAX_TEXT_CHARS)]


class SuggestRequest(msgspec.Struct):
    """A ticket: its subject and the conversation so far, oldest message first."""

    conversation: Annotated[list[TicketMessage], Meta(min_length=1, max_length=100)]
    subject: Annotated[str, Meta(max_length=300)] = ""
    lang: Annotated[Lang | None, Meta(description="Suggest a reply in this language.")] = None
    conversation_id: (
        Annotated[
            str,
            Meta(max_length=64, description="Record the suggestion in this kefu conversation (e.g. from a handoff)."),
        ]
        | None
    ) = None


class SimilarTicket(msgspec.Struct):
    id: Annotated[str, Meta(description="The ticket's id in the corpus, e.g. `tickets/T-1042`.")]
    subject: str
    resolution: str | None
    similarity: Annotated[float, Meta(description="Cosine similarity of the ticket to the question (0 to 1).")]
    url: str | None = None


class SuggestResponse(msgspec.Struct):
    """A reply for the agent to send, edit or discard, with what it is based on."""

    reply: Annotated[str, Meta(description="The suggested reply, citing sources as [n].")]
    citations: list[Citation]
    similar_tickets: list[SimilarTicket]
    category: str | None
    priority: Priority
    sentiment: str
    confidence: Annotated[float, Meta(ge=0, le=1)]
    action: Annotated[Action, Meta(description="`handoff`: the assistant would not answer this on its own.")]
    reason: str
    mode: str
    lang: Lang
    conversation_id: str
    answer_id: Annotated[str, Meta(description="Refer to this suggestion in POST /v1/feedback.")]


class SearchRequest(msgspec.Struct):
    query: Annotated[str, Meta(min_length=1, max_length=MAX_QUESTION_CHARS)]
    k: Annotated[int, Meta(ge=1, le=50, description="How many documents.")] = 5
    lang: Lang | None = None
    kind: Literal["article", "ticket"] | None = None
    category: Annotated[str, Meta(max_length=64)] | None = None


class SearchHit(msgspec.Struct):
    rank: int
    source: str
    title: str
    kind: str
    lang: str
    category: str | None
    url: str | None
    score: Annotated[float, Meta(description="The fused ranking score (higher is better; not a probability).")]
    snippet: str
    heading_path: list[str]


class SearchResponse(msgspec.Struct):
    query: str
    lang: str
    expansion: Annotated[list[str], Meta(description="Glossary terms added to the query.")]
    index: str
    index_version: str
    hits: list[SearchHit]
    took_ms: float


class FeedbackRequest(msgspec.Struct):
    """A vote on an answer, or what an agent did with a suggestion."""

    answer_id: Annotated[str, Meta(min_length=1, max_length=64)]
    kind: Annotated[
        FeedbackKind,
        Meta(
            description=(
                "helpful / not_helpful: a vote on an answer or suggestion; sent_as_is / edited / "
                "discarded: what the agent did with a suggestion (edited needs final_text)."
            )
        ),
    ]
    final_text: (
        Annotated[str, Meta(min_length=1, max_length=MAX_TEXT_CHARS, description="What the agent sent.")] | None
    ) = None
    comment: Annotated[str, Meta(max_length=2000)] | None = None


class FeedbackResponse(msgspec.Struct):
    id: int
    answer_id: str
    kind: FeedbackKind
    created_at: datetime


class HandoffSummaryParts(msgspec.Struct):
    """What a handoff's `summary` says, for a page that writes the line in its own language."""

    reason: Annotated[str, Meta(description="The handoff's reason code.")]
    sentiment: Annotated[str, Meta(description="The user's sentiment code: negative, neutral or positive.")]
    question: Annotated[
        str, Meta(description="The user's question as they wrote it (redacted), at most 300 characters.")
    ]
    turns: Annotated[int, Meta(description="The user's turns so far, this question included.")]
    titles: Annotated[list[str], Meta(description="The titles of up to 3 related articles, best first.")]


class Handoff(msgspec.Struct):
    """A conversation waiting for, or taken by, a human agent."""

    id: str
    conversation_id: str
    answer_id: str | None
    status: HandoffStatus
    reason: str
    priority: Priority
    category: str | None
    lang: str | None
    sentiment: str | None
    summary: Annotated[
        str | None,
        Meta(description="One line for the agent, in the user's language: `summary_parts` worded, codes as they are."),
    ]
    conversation: Annotated[list[dict[str, str]], Meta(description="The conversation so far, redacted.")]
    evidence: Annotated[list[dict[str, Any]], Meta(description="What search found for it.")]
    suggested_reply: Annotated[str | None, Meta(description="A reply the agent can edit.")]
    claimed_by: str | None
    claimed_at: datetime | None
    resolved_at: datetime | None
    final_reply: str | None
    created_at: datetime
    waiting: Annotated[
        int, Meta(description="The user's messages since the handoff opened that no agent has replied to yet.")
    ] = 0
    summary_parts: Annotated[
        HandoffSummaryParts | None,
        Meta(
            description="What `summary` is made of, so a page can word it in its own language (the agent "
            "console does); null for a handoff stored before kefu kept them."
        ),
    ] = None


class HandoffPage(msgspec.Struct):
    items: list[Handoff]
    total: Annotated[int, Meta(description="Handoffs matching the filters, on all pages.")]
    limit: int
    offset: int


class ResolveRequest(msgspec.Struct):
    final_reply: Annotated[
        str, Meta(min_length=1, max_length=MAX_TEXT_CHARS, description="The reply the agent sent the user.")
    ]


class AdapterOutdated(msgspec.Struct):
    articles: Annotated[int, Meta(description="Articles in the index now.")]
    new_or_changed: Annotated[int, Meta(description="Of them, those the adapter was not trained on.")]
    retrain_suggested: Annotated[
        bool,
        Meta(description="Half or more are new to it: `kefu ingest --adapt` should train it again."),
    ]


class ReindexResponse(msgspec.Struct):
    index: str
    version: str | None
    previous_version: str | None
    changed: Annotated[bool, Meta(description="Whether the ingest wrote a new version.")]
    swapped: Annotated[bool, Meta(description="Whether the service now serves a new version.")]
    documents: dict[str, int]
    chunks: int
    embedded_chunks: int
    problems: list[str]
    seconds: float
    adapter: Annotated[
        Literal["kept"] | None,
        Meta(
            description="The index's embedder adapter (`kefu ingest --adapt`): kept, and new or changed "
            "documents embedded with it, when the index has one; null when it has none. A reindex "
            "never trains one."
        ),
    ] = None
    adapter_outdated: Annotated[
        AdapterOutdated | None,
        Meta(
            description="How much of the content the adapter has not seen; null without an adapter "
            "or for one trained before kefu recorded what it was trained on."
        ),
    ] = None


class Health(msgspec.Struct):
    status: Literal["ok"]


class LlmHost(msgspec.Struct):
    """One LLM server of a pool, as the last health check and the queue see it."""

    host: str
    healthy: bool
    running: Annotated[int, Meta(description="Generations it runs now.")]
    waiting: Annotated[int, Meta(description="Requests waiting for it now.")]
    problem: Annotated[str | None, Meta(description="Why it is out of the pool, when it is.")] = None


class Readiness(msgspec.Struct):
    status: Literal["ready"]
    index: str
    index_version: str
    llm: str
    open_access: Annotated[bool, Meta(description="True when the server runs without API keys (a local demo).")]
    llm_restarts: Annotated[
        int, Meta(description="Times the embedded model's process was restarted after a crash or hang.")
    ] = 0
    llm_hosts: Annotated[
        list[LlmHost],
        Meta(description="With several LLM servers (a pool): each one's health and queue. Empty otherwise."),
    ] = []


class ErrorInfo(msgspec.Struct):
    code: Annotated[str, Meta(description="Machine-readable, e.g. not_found, validation_error, busy.")]
    message: str
    detail: Any = None


class ErrorBody(msgspec.Struct):
    """The shape of every error response."""

    error: ErrorInfo


class ConversationMessage(msgspec.Struct):
    """One message of a conversation: the user's, the assistant's (an answer) or an agent's."""

    id: Annotated[int, Meta(description="Increasing within the conversation: pass the last one seen as `after`.")]
    role: Annotated[Literal["user", "assistant", "agent"], Meta(description="`agent`: a human support agent.")]
    text: str
    created_at: datetime
    answer_id: Annotated[str | None, Meta(description="For an assistant message: its answer, for feedback.")] = None
    author: Annotated[str | None, Meta(description="For an agent message: the agent's name.")] = None
    citations: list[Citation] = msgspec.field(default_factory=list)


class Csat(msgspec.Struct):
    """A user's rating of a conversation (1-5)."""

    conversation_id: str
    score: int
    comment: str | None
    handled_by: Annotated[
        Literal["bot", "agent"], Meta(description="`agent` when a human agent wrote in the conversation.")
    ]
    created_at: datetime


class ConversationMessages(msgspec.Struct):
    conversation_id: str
    messages: list[ConversationMessage]
    handoff: Annotated[
        HandoffRef | None,
        Meta(description="The conversation's newest handoff (`open` or `claimed`: a human has it)."),
    ] = None
    csat: Annotated[
        Csat | None,
        Meta(
            description="The user's rating of the conversation (one per conversation: a second is 409), "
            "null until rated; a page shows it instead of asking again."
        ),
    ] = None


class AgentMessageRequest(msgspec.Struct):
    text: Annotated[str, Meta(min_length=1, max_length=MAX_TEXT_CHARS, description="The agent's message to the user.")]


class HandoffDetail(Handoff, kw_only=True):
    """A handoff with its whole conversation as stored, oldest message first."""

    messages: list[ConversationMessage]


class Caller(msgspec.Struct):
    role: Literal["app", "agent", "admin"]
    label: Annotated[str, Meta(description="How the key is named in stored data, e.g. `claimed_by`.")]
    open_access: Annotated[bool, Meta(description="The server runs without API keys (a local demo).")]


# --- curated answers, FAQ drafts, satisfaction -----------------------------------------------

CuratedQuestion = Annotated[str, Meta(max_length=500)]
CuratedText = Annotated[str, Meta(max_length=4000)]
ArticleRef = Annotated[str, Meta(min_length=1, max_length=500)]


class CuratedRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A curated answer: a question and its answer in Chinese, English or both."""

    question_zh: Annotated[CuratedQuestion | None, Meta(description="The question in Chinese.")] = None
    question_en: Annotated[CuratedQuestion | None, Meta(description="The question in English.")] = None
    answer_zh: Annotated[
        CuratedText | None, Meta(description="The answer shown, as written, to a matching Chinese question.")
    ] = None
    answer_en: Annotated[
        CuratedText | None, Meta(description="The answer shown, as written, to a matching English question.")
    ] = None
    articles: Annotated[
        list[ArticleRef],
        Meta(
            max_length=10,
            description="Help-center articles of the served index, each by its path in the corpus (a citation's "
            "`source`, e.g. `help/zh/transfers/failed-transfer.md`) or its URL, checked against the index; "
            "cited after the answer with their titles and URLs.",
        ),
    ] = msgspec.field(default_factory=list)
    enabled: Annotated[bool, Meta(description="Disabled answers are kept but never matched.")] = True


class CuratedPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; a text field set to an empty string is removed."""

    question_zh: CuratedQuestion | msgspec.UnsetType | None = msgspec.UNSET
    question_en: CuratedQuestion | msgspec.UnsetType | None = msgspec.UNSET
    answer_zh: CuratedText | msgspec.UnsetType | None = msgspec.UNSET
    answer_en: CuratedText | msgspec.UnsetType | None = msgspec.UNSET
    articles: Annotated[list[ArticleRef], Meta(max_length=10)] | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class Curated(msgspec.Struct):
    id: int
    question_zh: str | None
    question_en: str | None
    answer_zh: str | None
    answer_en: str | None
    articles: list[str]
    enabled: bool
    hits: Annotated[int, Meta(description="Questions it answered.")]
    last_hit_at: datetime | None
    updated_by: Annotated[str | None, Meta(description="The key that wrote or last changed it.")]
    created_at: datetime
    updated_at: datetime


class CuratedMatchView(Curated, kw_only=True):
    score: Annotated[
        float | None, Meta(description="With `q`: cosine of `q` to the closest of its questions; else null.")
    ] = None
    matches: Annotated[
        bool | None, Meta(description="With `q`: whether a user asking `q` would get this answer; else null.")
    ] = None


class CsatRequest(msgspec.Struct, forbid_unknown_fields=True):
    score: Annotated[int, Meta(ge=1, le=5, description="1 (very unhappy) to 5 (very happy).")]
    comment: Annotated[str, Meta(max_length=2000, description="Optional words from the user.")] | None = None
    user_id: (
        Annotated[str, Meta(max_length=128, description="The user the conversation belongs to (as given to /v1/ask).")]
        | None
    ) = None


class Draft(msgspec.Struct):
    """A FAQ entry drafted from the desk's handoffs, waiting for review; never shown to users."""

    id: int
    question: Annotated[str, Meta(description="The canonical question (the group's most asked wording).")]
    answer: Annotated[str, Meta(description="Drafted from the agents' replies, redacted.")]
    lang: Lang
    users: Annotated[int, Meta(description="Conversations that asked it.")]
    examples: Annotated[list[str], Meta(description="Other wordings asked.")]
    status: Literal["pending", "approved", "rejected"]
    created_at: datetime
    reviewed_at: datetime | None
    reviewed_by: str | None
    curated_id: Annotated[int | None, Meta(description="The curated answer approving it made.")]


class DraftPatch(msgspec.Struct, forbid_unknown_fields=True):
    question: Annotated[str, Meta(min_length=1, max_length=500)] | None = None
    answer: Annotated[str, Meta(min_length=1, max_length=4000)] | None = None


class ApproveRequest(msgspec.Struct, forbid_unknown_fields=True):
    articles: Annotated[
        list[ArticleRef],
        Meta(
            max_length=10,
            description="Articles of the served index to cite after it (paths or URLs, as for a curated answer).",
        ),
    ] = msgspec.field(default_factory=list)


class Approved(msgspec.Struct):
    draft: Draft
    curated: Curated


class LearnReport(msgspec.Struct):
    drafts: Annotated[list[Draft], Meta(description="The drafts made now (pending review).")]
    handoffs_read: int
    suggestions_read: int
    seconds: float
