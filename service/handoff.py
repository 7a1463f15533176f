"""What a handoff carries: a message for the user, and for the agent a summary, triage
fields, the redacted conversation, the evidence found and a reply they can edit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kefu import vocab
from kefu.brand import Brand, active_brand
from service.retriever import contenders

if TYPE_CHECKING:
    from service.retriever import DocumentHit

#: Reasons a handoff can carry: the rule reasons, and the answer-side ones.
ANSWER_REASONS = vocab.ANSWER_REASONS
#: Placeholders the redactor leaves (kefu.redaction): which kinds of secret a text held.
_PLACEHOLDER = re.compile(r"\[REDACTED:([a-z_]+)\]")
_WALLET_SECRETS = frozenset({"seed_phrase", "private_key", "keystore"})


def pasted_kinds(texts: Iterable[str]) -> set[str]:
    return {m.group(1) for text in texts for m in _PLACEHOLDER.finditer(text)}


def _variant(reason: str, said: Iterable[str]) -> str:
    # A password (of the app, an exchange, an e-mail) is not the wallet's keys: change it, no
    # need to move funds. Chosen when no phrase or key was pasted with it.
    if reason == "secret_shared":
        kinds = pasted_kinds(said)
        if "password" in kinds and not kinds & _WALLET_SECRETS:
            return "secret_shared_password"
        if not kinds:  # "我把助记词发给了客服": given away elsewhere, nothing here to hide
            return "secret_shared_elsewhere"
    return reason


def user_message(reason: str, lang: str, said: Iterable[str] = (), brand: Brand | None = None) -> str:
    """What the user is told when the conversation goes to a human: the brand file's text
    for ``reason`` (:mod:`kefu.brand`; default: the deployment's brand); ``said`` is what the
    user wrote (redacted), for the kind of secret they pasted."""
    return (brand or active_brand()).user_message(_variant(reason, said), lang)


#: The longest question a summary quotes (the whole one is in the conversation).
SUMMARY_QUESTION_CHARS = 300
#: Related articles a summary names.
SUMMARY_TITLES = 3


@dataclass(frozen=True)
class SummaryParts:
    """What a handoff's summary line says, apart from its wording: a page shows the line in
    its own language from these, where the stored ``summary`` is in the user's."""

    reason: str
    sentiment: str
    #: The user's question as written (redacted), cut to :data:`SUMMARY_QUESTION_CHARS`.
    question: str
    #: The user's turns so far, this question included.
    turns: int
    #: The titles of the related articles, best first.
    titles: list[str]


@dataclass
class Handoff:
    reason: str
    summary: str
    category: str | None
    priority: str
    lang: str
    sentiment: str
    conversation: list[dict[str, str]]
    evidence: list[dict[str, Any]]
    suggested_reply: str
    rules: list[str] = field(default_factory=list)
    summary_parts: SummaryParts | None = None


def build_handoff(
    *,
    reason: str,
    question: str,
    history: Sequence[tuple[str, str]],
    lang: str,
    hits: Sequence[DocumentHit],
    category: str | None,
    priority: str,
    sentiment: str,
    draft: str | None = None,
    rules: Sequence[str] = (),
    brand: Brand | None = None,
) -> Handoff:
    """Everything an agent needs to pick up the conversation (all text already redacted).

    The suggested reply is the brand file's for ``reason`` if it has one (default: the
    deployment's brand), else ``draft``, else a pointer to the related articles."""
    parts = SummaryParts(
        reason=reason,
        sentiment=sentiment,
        question=question[:SUMMARY_QUESTION_CHARS],
        turns=len([1 for role, _ in history if role == "user"]) + 1,
        titles=[h.title for h in contenders(hits[:SUMMARY_TITLES])],
    )
    titles = _titles(parts.titles, lang)
    conversation = [{"role": role, "text": text} for role, text in history] + [{"role": "user", "text": question}]
    said = [question, *(text for role, text in history if role == "user")]
    canned = (brand or active_brand()).agent_reply(_variant(reason, said), lang)
    return Handoff(
        reason=reason,
        summary=summary_line(parts, lang),
        category=category,
        priority=priority,
        lang=lang,
        sentiment=sentiment,
        conversation=conversation,
        evidence=[_evidence(h) for h in hits[:5]],
        suggested_reply=canned or draft or _pointer_reply(lang, titles),
        rules=list(rules),
        summary_parts=parts,
    )


def _titles(titles: Sequence[str], lang: str) -> str:
    return "; ".join(titles) if lang == "en" else "、".join(titles)


def summary_line(parts: SummaryParts, lang: str) -> str:
    """The summary stored with a handoff, in ``lang`` (the user's); codes as they are, for the
    API's consumers. The console writes the same line from the parts in its own language
    (service/web/console.js ``summaryLine``), with the codes as labels."""
    question, turns, titles = parts.question, parts.turns, _titles(parts.titles, lang)
    if lang == "en":
        return (
            f"Handoff ({parts.reason}). The user ({parts.sentiment}) asks: {question}"
            f"{f' ({turns} user turns so far)' if turns > 1 else ''}."
            + (f" Related articles: {titles}." if titles else " No related article found.")
        )
    return (
        f"转人工（{parts.reason}）。用户（情绪：{parts.sentiment}）问：{question}"
        f"{f'（共 {turns} 轮）' if turns > 1 else ''}。" + (f"相关资料：{titles}。" if titles else "未找到相关资料。")
    )


def _evidence(hit: DocumentHit) -> dict[str, Any]:
    return {
        "source": hit.doc_id,
        "title": hit.title,
        "url": hit.url,
        "kind": hit.kind,
        "snippet": hit.snippet,
        "score": hit.score,
        "dense_score": hit.dense_score,
        "sparse_score": hit.sparse_score,
    }


def _pointer_reply(lang: str, titles: str) -> str:
    if lang == "en":
        return "Hello, thanks for waiting. " + (f"These articles may help: {titles}." if titles else "")
    return "您好，感谢耐心等待。" + (f"以下资料可能有帮助：{titles}。" if titles else "")
