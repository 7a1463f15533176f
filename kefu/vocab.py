"""The words kefu's parts share, defined once: the core, the store, the API schemas and the
eval import them from here instead of keeping copies that drift apart.

No ``from __future__ import annotations``: msgspec and Litestar read these types at run time.
"""

from typing import Final, Literal, get_args

#: The languages kefu answers in.
Lang = Literal["zh", "en"]
LANGS: Final[tuple[Lang, ...]] = get_args(Lang)

#: ``answer``: to an end user (articles only); ``suggest``: a reply for an agent (articles and tickets).
Mode = Literal["answer", "suggest"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)

#: What was done with a question: answered, or handed to a human.
Action = Literal["answer", "handoff"]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)

#: A handoff's priority.
Priority = Literal["urgent", "high", "normal", "low"]
#: Most urgent first: the order of the handoff queue.
PRIORITIES: Final[tuple[Priority, ...]] = get_args(Priority)
#: The priorities a handoff rule's hit carries, most pressing first (``low`` is for no hit).
RULE_PRIORITIES: Final[tuple[Priority, ...]] = ("urgent", "high", "normal")

#: Why a handoff rule fired, most severe first (the order the rules are reported in).
RuleReason = Literal[
    "stolen_funds", "secret_shared", "compensation", "human_requested", "account_lookup", "out_of_scope"
]
RULE_REASONS: Final[tuple[RuleReason, ...]] = get_args(RuleReason)
#: Why an answer was handed off although no rule fired.
AnswerReason = Literal["low_confidence", "no_answer", "no_sources", "unsafe_answer", "llm_unavailable", "timeout"]
ANSWER_REASONS: Final[tuple[AnswerReason, ...]] = get_args(AnswerReason)
#: Every reason a handoff can carry.
Reason = Literal[RuleReason, AnswerReason]
REASONS: Final[tuple[Reason, ...]] = (*RULE_REASONS, *ANSWER_REASONS)

#: Where a handoff is: waiting for an agent, with one, or done.
HandoffStatus = Literal["open", "claimed", "resolved"]
HANDOFF_STATUSES: Final[tuple[HandoffStatus, ...]] = get_args(HandoffStatus)

#: Feedback on an answer: a user's vote, or what an agent did with a suggestion.
FeedbackKind = Literal["helpful", "not_helpful", "sent_as_is", "edited", "discarded"]
FEEDBACK_KINDS: Final[tuple[FeedbackKind, ...]] = get_args(FeedbackKind)

#: How answers are written: the help center's own sentences, or the LLM's words.
AnswerStyle = Literal["quote", "generate"]
ANSWER_STYLES: Final[tuple[AnswerStyle, ...]] = get_args(AnswerStyle)
DEFAULT_ANSWER_STYLE: Final[AnswerStyle] = "quote"

#: The longest question (or search query) kefu takes, in characters; KEFU_MAX_QUESTION_CHARS
#: can only lower it.
MAX_QUESTION_CHARS: Final = 2000
#: How many earlier turns of a conversation a question is answered with.
HISTORY_TURNS: Final = 5
