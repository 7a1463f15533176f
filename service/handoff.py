"""What a handoff carries: a message for the user, and for the agent a summary, triage
fields, the redacted conversation, the evidence found and a reply they can edit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kefu import vocab

if TYPE_CHECKING:
    from service.retriever import DocumentHit

#: Reasons a handoff can carry: the rule reasons, and the answer-side ones.
ANSWER_REASONS = vocab.ANSWER_REASONS

_USER_MESSAGE = {
    "stolen_funds": (
        "很抱歉遇到这种情况，我已为你转接人工客服（安全紧急）。在等待时请立即：1. 用新的助记词创建新钱包，"
        "把剩余资产转过去；2. 用钱包的授权管理取消可疑授权；3. 不要向任何人提供助记词或私钥，"
        "真正的客服绝不会索要。",
        "I'm sorry this happened. I've passed you to a human agent (security, urgent). While you wait: "
        "1. create a new wallet with a new recovery phrase and move what is left into it; 2. revoke "
        "suspicious token approvals with the wallet's approval manager; 3. never give anyone your "
        "recovery phrase or private key: real support never asks for it.",
    ),
    "secret_shared": (
        "你的消息里有助记词或私钥，我们已将其隐藏，不会保存。请不要向任何人（包括自称客服的人）透露助记词或私钥。"
        "这个钱包应视为已泄露：请尽快创建新钱包并转移资产。我已为你转接人工客服。",
        "Your message contained a recovery phrase or private key; we hid it and did not store it. Never "
        "share your recovery phrase or private key with anyone, including people who say they are "
        "support. Treat this wallet as exposed: create a new wallet and move your funds soon. I've passed "
        "you to a human agent.",
    ),
    "human_requested": (
        "好的，正在为你转接人工客服，请稍候。",
        "Sure, I'm passing you to a human agent now.",
    ),
    "compensation": (
        "我理解你的心情，这个问题需要人工客服处理，我已为你转接。",
        "I understand. This needs a human agent, and I've passed your request on.",
    ),
    "account_lookup": (
        "查询具体的交易或账户需要人工客服协助，我已为你转接，请准备好交易哈希或地址。",
        "Looking into a specific transaction or account needs a human agent; I've passed you on. "
        "Please have the transaction hash or address ready.",
    ),
    "out_of_scope": (
        "抱歉，我只能回答钱包使用相关的问题，不能提供价格预测、投资或税务建议。如需其他帮助，已为你转接人工客服。",
        "Sorry, I can only help with using the wallet; I can't give price predictions, investment or tax "
        "advice. I've passed you to a human agent in case you need more.",
    ),
}
_DEFAULT_USER_MESSAGE = (
    "这个问题我没有在帮助中心找到可靠的答案，已为你转接人工客服，请稍候。",
    "I couldn't find a reliable answer in the help center, so I've passed you to a human agent.",
)

_AGENT_REPLY = {
    "stolen_funds": (
        "您好，非常抱歉您遇到资产被盗。港湾钱包是非托管钱包，链上转账无法撤回，我们也无法冻结代币，但会尽力协助："
        "请立即创建新钱包并转移剩余资产，取消可疑授权，并提供被盗交易的哈希，我们会协助标记风险地址并整理资金流向，"
        "建议您同时向警方报案。",
        "Hello, I'm very sorry about the theft. The wallet is non-custodial: on-chain transfers cannot be "
        "reversed and we cannot freeze tokens, but we will help. Please create a new wallet right away and "
        "move what is left, revoke suspicious approvals, and send us the hash of the theft transaction so we "
        "can flag the addresses. We also recommend reporting it to the police.",
    ),
    "secret_shared": (
        "您好，您发送的内容包含助记词/私钥，我们已隐藏。请注意任何人索要助记词都是诈骗。请尽快创建新钱包，"
        "把资产转到新地址，并停止使用旧钱包。",
        "Hello, your message contained a recovery phrase or private key, which we hid. Anyone who asks for it "
        "is a scammer. Please create a new wallet soon, move your assets to it and stop using the old one.",
    ),
}


def user_message(reason: str, lang: str) -> str:
    """What the user is told when the conversation goes to a human."""
    pair = _USER_MESSAGE.get(reason, _DEFAULT_USER_MESSAGE)
    return pair[1] if lang == "en" else pair[0]


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
) -> Handoff:
    """Everything an agent needs to pick up the conversation (all text already redacted)."""
    titles = "、".join(h.title for h in hits[:3]) if lang != "en" else "; ".join(h.title for h in hits[:3])
    turns = len([1 for role, _ in history if role == "user"]) + 1
    if lang == "en":
        summary = (
            f"Handoff ({reason}). The user ({sentiment}) asks: {question[:300]}"
            f"{f' ({turns} user turns so far)' if turns > 1 else ''}."
            + (f" Related articles: {titles}." if titles else " No related article found.")
        )
    else:
        summary = (
            f"转人工（{reason}）。用户（情绪：{sentiment}）问：{question[:300]}"
            f"{f'（共 {turns} 轮）' if turns > 1 else ''}。"
            + (f"相关资料：{titles}。" if titles else "未找到相关资料。")
        )
    conversation = [{"role": role, "text": text} for role, text in history] + [{"role": "user", "text": question}]
    evidence = [
        {
            "source": h.doc_id,
            "title": h.title,
            "url": h.url,
            "kind": h.kind,
            "snippet": h.snippet,
            "score": h.score,
            "dense_score": h.dense_score,
            "sparse_score": h.sparse_score,
        }
        for h in hits[:5]
    ]
    pair = _AGENT_REPLY.get(reason)
    if pair:
        reply = pair[1] if lang == "en" else pair[0]
    elif draft:
        reply = draft
    else:
        reply = ("Hello, thanks for waiting. " if lang == "en" else "您好，感谢耐心等待。") + (
            f"These articles may help: {titles}."
            if lang == "en" and titles
            else f"以下资料可能有帮助：{titles}。"
            if titles
            else ""
        )
    return Handoff(
        reason=reason,
        summary=summary,
        category=category,
        priority=priority,
        lang=lang,
        sentiment=sentiment,
        conversation=conversation,
        evidence=evidence,
        suggested_reply=reply,
        rules=list(rules),
    )
