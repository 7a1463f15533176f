"""The anti-fraud intent: a question about a scam gets the warning first, and a person soon.

Users ask about the scams wallet help desks see every day: someone "from support" on Telegram
who wants the seed phrase to "verify" the wallet, a look-alike site that wants it to "sync",
an APK a friend sent, dust from an address that looks like one they use. Such a question is
not a pasted secret (the ``secret_shared`` rule) and not a theft (``stolen_funds``): nothing
happened yet, and the right reply is the warning, at once, then what the help center says.
:func:`detect_fraud` names the kind of scam; the answerer puts :func:`warning` first and
raises the conversation's priority to ``high``.

Each kind's phrase shapes are in the lexicon (``[fraud.shapes]`` of
``service/lexicon/zh.toml`` and ``en.toml``; the words they share, ``fraud_asker``... in
``[shared.words]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from kefu.text import normalise
from service.lexicon import lexicon

FraudKind = Literal["secret_request", "impersonation", "phishing_site", "fake_app", "address_poisoning", "fake_token"]

#: The kinds, in the order :func:`detect_fraud` tries them: the first that matches is named.
FRAUD_KINDS: Final[tuple[FraudKind, ...]] = get_args(FraudKind)

# Each kind's phrase shapes are data: [fraud.shapes] in service/lexicon/{zh,en}.toml.
_PATTERNS: Final = tuple((kind, lexicon().regex(f"fraud.{kind}", re.S)) for kind in FRAUD_KINDS)


@dataclass(frozen=True)
class FraudIntent:
    kind: FraudKind
    #: The words that matched (for the agent and the logs; never a secret: input is redacted).
    evidence: str


def detect_fraud(question: str) -> FraudIntent | None:
    """The kind of scam the (redacted) question is about, or None."""
    text = normalise(question).lower()
    for kind, pattern in _PATTERNS:
        m = pattern.search(text)
        if m:
            return FraudIntent(kind, m.group(0)[:40])
    return None


_WARNINGS: dict[FraudKind, dict[str, str]] = {
    "secret_request": {
        "zh": "这是诈骗：官方客服和管理员绝不会索要助记词、私钥或密码，"
        "任何让你输入或发送它们的人、网站或链接都是骗子，请不要照做。",
        "en": "This is a scam: official support and admins never ask for your seed phrase, private key or "
        "password. Anyone, any site or link that asks you to enter or send them is a scammer; do not do it.",
    },
    "impersonation": {
        "zh": "请当心冒充客服的骗子：官方客服不会主动私信你，也绝不会索要助记词、"
        "私钥或收费“解决问题”；只通过官网或 App 内的客服联系。",
        "en": "Beware of people posing as support: official support never messages you first, never asks for "
        "your seed phrase or private key and never charges to \u201cfix\u201d a problem. Contact support only "
        "through the official website or the app.",
    },
    "phishing_site": {
        "zh": "请警惕钓鱼网站和链接：不要在任何网站或链接里输入助记词或私钥，"
        "也不要为“领空投”授权或扫码确认；只访问官网。",
        "en": "Beware of phishing sites and links: never enter your seed phrase or private key on a website or "
        "link, and never approve or scan anything to \u201cclaim an airdrop\u201d. Use only the official website.",
    },
    "fake_app": {
        "zh": "请只从官网或官方应用商店下载钱包：别人发来的安装包、"
        "“国际版”或搜索到的下载链接很可能是假钱包，会盗走你导入的助记词。",
        "en": "Download the wallet only from the official website or official app stores: an APK someone sends "
        "you, an \u201cinternational version\u201d or a download link from a search may be a fake wallet that steals "
        "the seed phrase you import.",
    },
    "address_poisoning": {
        "zh": "这是“地址投毒”骗局：对方用首尾几位相同的地址给你转小额或 0 金额，"
        "等你从转账记录里复制错地址。每次转账请完整核对收款地址。",
        "en": "This is the \u201caddress poisoning\u201d scam: a look-alike address (same first and last characters) "
        "sends you dust or zero-value transfers, hoping you copy it from your history. Check the whole "
        "address every time you send.",
    },
    "fake_token": {
        "zh": "请当心假币骗局：名字和图标一样的代币可能是假的（合约地址不同），"
        "能买不能卖的币多半是骗局，不要再买入或授权。",
        "en": "Beware of fake tokens: a token with the same name and logo can be a fake (another contract "
        "address), and one you can buy but not sell is almost always a scam. Do not buy more or approve it.",
    },
}


def warning(kind: FraudKind, lang: str) -> str:
    """The warning the answer opens with, in the user's language."""
    return _WARNINGS[kind]["en" if lang == "en" else "zh"]
