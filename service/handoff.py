"""What a handoff carries: a message for the user, and for the agent a summary, triage
fields, the redacted conversation, the evidence found and a reply they can edit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kefu import vocab
from kefu.brand import Brand, active_brand

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
    titles = "、".join(h.title for h in hits[:3]) if lang != "en" else "; ".join(h.title for h in hits[:3])
    turns = len([1 for role, _ in history if role == "user"]) + 1
    conversation = [{"role": role, "text": text} for role, text in history] + [{"role": "user", "text": question}]
    said = [question, *(text for role, text in history if role == "user")]
    canned = (brand or active_brand()).agent_reply(_variant(reason, said), lang)
    return Handoff(
        reason=reason,
        summary=_summary(reason, question, lang=lang, sentiment=sentiment, turns=turns, titles=titles),
        category=category,
        priority=priority,
        lang=lang,
        sentiment=sentiment,
        conversation=conversation,
        evidence=[_evidence(h) for h in hits[:5]],
        suggested_reply=canned or draft or _pointer_reply(lang, titles),
        rules=list(rules),
    )


def _summary(reason: str, question: str, *, lang: str, sentiment: str, turns: int, titles: str) -> str:
    if lang == "en":
        return (
            f"Handoff ({reason}). The user ({sentiment}) asks: {question[:300]}"
            f"{f' ({turns} user turns so far)' if turns > 1 else ''}."
            + (f" Related articles: {titles}." if titles else " No related article found.")
        )
    return (
        f"转人工（{reason}）。用户（情绪：{sentiment}）问：{question[:300]}"
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
