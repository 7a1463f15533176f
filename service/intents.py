"""The anti-fraud intent: a question about a scam gets the warning first, and a person soon.

Users ask about the scams wallet help desks see every day: someone "from support" on Telegram
who wants the seed phrase to "verify" the wallet, a look-alike site that wants it to "sync",
an APK a friend sent, dust from an address that looks like one they use. Such a question is
not a pasted secret (the ``secret_shared`` rule) and not a theft (``stolen_funds``): nothing
happened yet, and the right reply is the warning, at once, then what the help center says.
:func:`detect_fraud` names the kind of scam; the answerer puts :func:`warning` first and
raises the conversation's priority to ``high``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kefu.text import normalise

FraudKind = Literal["secret_request", "impersonation", "phishing_site", "fake_app", "address_poisoning", "fake_token"]

_SECRET = r"(助记词|私钥|密钥|keystore|密码|seed|recovery phrase|secret phrase|private key|12 words|24 words|mnemonic)"
_ASKER = (
    r"(客服|管理员|工作人员|官方|自称|冒充|有人|对方|他|她|群里|网站|链接|页面|机器人|admin|support|agent|someone"
    r"|somebody|he|she|they|site|website|link|page|bot|staff|moderator|mod)"
)
_ASK = (
    r"(让我|要我|叫我|要求|需要|要先|得先|要输|输入|填|发给|提供|验证|同步|核实|激活|asks?|asked|wants?|wanted"
    r"|told me|telling me|need(s|ed)? me|enter|type|send|share|verify|sync|validate)"
)

_PATTERNS: tuple[tuple[FraudKind, re.Pattern[str]], ...] = (
    # Someone asks for the secret: 客服让我填助记词 / the admin wants my seed phrase to verify.
    ("secret_request", re.compile(
        rf"{_ASKER}.{{0,24}}({_ASK}.{{0,16}}{_SECRET}|{_SECRET}.{{0,12}}(验证|同步|核实|激活|verify|sync|validate))",
        re.S,
    )),
    # Someone claims to be support or staff, in a DM or a group.
    ("impersonation", re.compile(
        r"(自称|冒充|假冒|说是|说他是|号称).{0,8}(tp|官方|客服|工作人员|管理员|团队)|假客服|(客服|管理员|工作人员).{0,10}(加我|私信|私聊|找我|联系我)"
        r"|(claim(s|ed|ing)?|says?|said|pretend(s|ing)?)( to be| he'?s| she'?s| they'?re"
        r"| it'?s)? (an? |the )?(tp |tokenpocket |official )?(admin|support|staff|agent|team|moderator)"
        r"|(admin|support|staff|agent|moderator).{0,30}\b(dm'?d|dm|messaged"
        r"|pm'?d|contacted|added) me|fake (support|admin|customer service)"
        # "Support" that wants a fee first: real support never charges to fix a problem.
        r"|(客服|管理员|工作人员|技术人员).{0,24}先.{0,4}(交|付|转|汇|充).{0,8}(手续费|服务费|费用|保证金|押金|解冻费|一笔)"
        r"|(support|admin|agent|staff).{0,40}\bpay\b.{0,30}\bfee\b.{0,30}\b(first|before)\b", re.S)),
    # A site or link that wants the secret, an approval or a "claim".
    ("phishing_site", re.compile(
        r"钓鱼(网站|网页|链接|站|网址)|(网站|网页|链接|网址|官网|二维码|扫码).{0,20}(助记词|私钥|授权|空投|领币|领取|同步|验证|连接钱包)"
        r"|(空投|领币|领取).{0,12}(链接|网站|网址|授权|扫码)|phishing|(site|website|link|url"
        r"|page).{0,30}(seed|recovery phrase|private key|airdrop|claim|approve|connect|sync)"
        r"|(airdrop|claim).{0,20}(link|site|website|approve)", re.S)),
    # An app from anywhere but the official site or store.
    ("fake_app", re.compile(
        r"假(的)?(钱包|app|tp|tokenpocket|版本|软件)|国际版|破解版|(apk|安装包).{0,16}(发|给|链接|下载)|(发|给)我.{0,12}(apk|安装包|下载链接)"
        r"|百度.{0,4}(搜|下载)|(fake|modded|cracked|unofficial) (app|apk|wallet"
        r"|version)|\bapk\b.{0,40}(sent|whatsapp|telegram|friend|link)"
        r"|(sent|gave) me .{0,30}\bapk\b", re.S)),
    # Address poisoning: dust or zero-value transfers from a look-alike address.
    ("address_poisoning", re.compile(
        r"(前|后|首尾|前后)(几|\d)位.{0,12}(一样|一模一样|相同|很像)|长得(很|特别)?像|相似的?地址|地址投毒|投毒|(?<![\d.])0\s*(u|usdt)的?(转|记录)|零转账|0转账"
        r"|address poisoning|look-?alike address|similar address"
        r"|dust(ing)? (from|attack)|(zero|0)[- ]value transfer", re.S)),
    # Fake tokens: "cheap USDT", an airdropped token that cannot be sold.
    ("fake_token", re.compile(
        r"低价(卖|出|收)(u|usdt|币)|假(u|usdt|币)|卖不出去|能买.{0,6}(卖不|不能卖)"
        r"|fake (usdt|tokens?)(?![a-z])|can'?t sell|cannot sell", re.S)),
)  # fmt: skip


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
