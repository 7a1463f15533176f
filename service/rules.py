"""Handoff rules: conversations a person must take over, whatever the answer's confidence.

A confident, well-grounded answer is still the wrong reply to a user whose wallet is being
drained, who has just pasted a seed phrase, or who asks for a human. Each rule below is a
detector for one such situation; :func:`check_rules` runs them all and returns what fired,
most severe first, as :class:`RuleHit` values whose ``reason`` codes are stable (the API
and the eval use them):

    reason           priority  fires when the user...
    stolen_funds     urgent    reports funds stolen, drained or a wallet/key compromised now
    secret_shared    urgent    pastes a seed phrase, private key, keystore or password, or says
                               they gave one away (to "support", a site, anyone)
    compensation     high      demands compensation or a refund from the company, or
                               threatens police, lawyers, regulators, public exposure
    human_requested  normal    asks for a human (转人工, "real person", "live agent")
    account_lookup   normal    asks about one specific transaction or account (a hash, an
                               address, an order number, "帮我查下这笔") that needs a lookup
    out_of_scope     normal    asks for prices or predictions, what to buy, or tax/legal advice

How the detectors read text. Each works on ``normalise(text).lower()`` (full-width to
half-width, traditional to simplified Chinese) with the user's secrets already replaced by
``[redacted]``, so no evidence string can ever quote a secret and the words of a pasted
seed phrase cannot trip another rule. Text that arrives redacted (``[REDACTED:seed_phrase]``
from :class:`kefu.redaction.Redactor`) reads the same as the raw text. Patterns are phrase
shapes, not whole sentences: a situation word ("被转走", "drained", "赔偿", "refund") plus
the context that makes it one: who it is aimed at (你们 / "you"), whether it already
happened (了, past tense), whether the user is asking about it in general. Every match then
passes the guards its pattern names; most look at the clause before the match:

    hypothetical  如果 / 万一 / 怎么防 / 担心 / "if" / "how do I avoid", or 会怎样 after
                  the match: talk about theft in general, not theft that happened
    question      吗 / 是不是 / 会不会 after or before, or an English clause opened by an
                  auxiliary and closed by "?" ("is my wallet hacked?"): the user is unsure
    negated       没 / 不要 / "never" / "didn't" (not 能不能 / 有没有, which ask)
    negated_near  the same, but only in the words right before the match (back to a space):
                  colloquial Chinese strings clauses with spaces, and in "试过了 没用 转人工吧"
                  the 没 belongs to the clause before, not to the request
    howto         怎么 / 如何 / "how do I" / "can I": the user wants to do it themselves
    hearsay       听说 / 有人说 / "I heard" / "my friend": someone else's story
    third_party   有人 / 别人 as the one acting: someone else's secret, not the user's
    past          上个月 / 去年 / "years ago" / "filed a police report" in the same sentence,
                  with no recent word (刚 / 今天 / "just happened" / "an hour ago"): an old case
    display       显示 / 列表 / "screen" / "after the update" in the sentence: a token gone
                  from a list is a display question, not theft
    fees          gas / 手续费 / 能量 in the sentence: a prediction about fees is in scope
    general       提前了解 / "just asking" anywhere in the message
    elsewhere     骗子 / 诈骗 / 交易所 / "scammer" in the sentence: a complaint or report aimed at
                  a scammer or an exchange, not a threat to the company
    honeypot      someone else's phrase posted "by mistake" (群里有人发了助记词) anywhere in
                  the message: the fee the user sends in is swept, but that is a known scam
                  the help center explains, not theft from the user's wallet

Decisions worth knowing:

- A 64-hex string with no words either way is a private key to the redactor (a lost hash
  costs a question, a leaked key costs everything). Here, if the message talks about a
  transfer's state (到账, 这笔, pending, "went through") and names no key, import or seed,
  it is read as a transaction hash: the conversation goes to a person either way
  (``account_lookup``), but not flagged urgent for a key that is not one. The redactor still
  hides it; this reading only decides the reason.
- A leaked seed phrase or key ("助记词泄露了", "the scammer has my private key") fires both
  ``stolen_funds`` (the wallet is compromised now, funds or not) and ``secret_shared``.
- A question about whether one was hacked ("被盗了吗", "am I hacked?") does not by
  itself fire ``stolen_funds``: it usually comes with a harmless cause (a zero-value
  "address poisoning" transfer) that the help center explains. Reports of loss ("币全没了",
  "all my ETH is gone") fire it. For the same reason an unauthorised transfer of a zero
  amount ("0 USDT 转出 不是我操作的") does not.
- Address poisoning counts as theft once it worked (转了 to an address whose 前后几位一样
  中间不一样), not when the user almost fell for it (差点转错) or only got dust from one.
- 报警 on its own is what support tells a scam victim to do ("好的 我去报警"); it is a
  threat, and ``compensation``, only on a condition (不赔就报警) or aimed at the company.
  投诉 / 起诉 / 律师 aimed at a scammer or an exchange are not threats to us either.
- "Is this a bot?" / "你是机器人吗" alone is not a request for a human: it is a question
  the assistant answers truthfully (and can offer a person in the answer). "Not a bot",
  "别给我机器人回复", or any explicit ask for a person, is.
- History: earlier user turns are checked for the conversation-level reasons only
  (``stolen_funds``, ``secret_shared``, ``compensation``, ``human_requested``): a theft,
  a leaked phrase, a threat or a request for a person does not expire because the user
  typed another message. ``account_lookup`` and ``out_of_scope`` describe the question at
  hand and are not carried over. Hits from history say so in their evidence
  (``"earlier turn: 转人工"``); only the last :data:`HISTORY_TURNS` turns are read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Final

from kefu.redaction import detect_secrets, find_addresses
from kefu.text import normalise

#: Every reason code, most severe first (the order :func:`check_rules` sorts by).
REASONS: Final = (
    "stolen_funds",
    "secret_shared",
    "compensation",
    "human_requested",
    "account_lookup",
    "out_of_scope",
)
#: Priorities a hit can carry, most pressing first.
PRIORITIES: Final = ("urgent", "high", "normal")
#: Reasons that, once raised by an earlier user turn, still hold for the conversation.
STICKY_REASONS: Final = frozenset({"stolen_funds", "secret_shared", "compensation", "human_requested"})
#: How many earlier user turns :func:`check_rules` reads (the most recent ones).
HISTORY_TURNS: Final = 20
#: Longest evidence string; longer matches are cut with an ellipsis.
MAX_EVIDENCE: Final = 40

_SECRET_KINDS: Final = frozenset({"seed_phrase", "private_key", "keystore", "password"})


@dataclass(frozen=True)
class RuleHit:
    """One handoff rule that fired, and why, in words an agent can read at a glance."""

    reason: str  # one of REASONS
    rule: str  # the detector's name
    evidence: str  # a short phrase saying what matched; never a secret
    priority: str  # "urgent" | "high" | "normal"


# --- the text every detector reads -------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A user's message as the detectors see it.

    ``text`` is normalised, lower-cased and has its secrets (seed phrases, keys, keystores,
    passwords, e-mails, phones) replaced by ``[redacted]``. ``secrets`` are the
    seed phrases, keys and keystores found in the raw text; ``hashes`` counts the 64-hex
    strings the redactor called keys that read as transaction hashes here (module doc).
    """

    raw: str
    text: str
    secrets: tuple[str, ...]
    hashes: int

    @classmethod
    def of(cls, raw: str) -> Message:
        """Read ``raw`` once: find its secrets, redact them, normalise what is left.

        ``raw`` may already be redacted (the answerer redacts before it runs the rules): a
        ``[REDACTED:<kind>]`` placeholder counts as the secret it replaced.
        """
        spans = [(m.start(), m.end(), m.group(1).lower(), True) for m in _PLACEHOLDER.finditer(raw)]
        spans += [(m.start, m.end, m.kind, False) for m in detect_secrets(raw)]
        spans.sort()
        hash_like = _reads_as_transfer(_PLACEHOLDER.sub(" ", raw))
        secrets: list[str] = []
        hashes = 0
        parts: list[str] = []
        position = 0
        for start, end, kind, redacted in spans:
            parts += [raw[position:start], " [redacted] "]
            position = end
            if kind == "private_key" and hash_like and (redacted or _HEX64_VALUE.fullmatch(raw[start:end])):
                hashes += 1
            elif kind in _SECRET_KINDS:
                secrets.append(kind)
        parts.append(raw[position:])
        text = normalise("".join(parts)).lower()
        return cls(raw=raw, text=text, secrets=tuple(secrets), hashes=hashes)


_PLACEHOLDER = re.compile(r"\[REDACTED:([a-z_]+)\]", re.IGNORECASE)
_HEX64_VALUE = re.compile(r"(?:0[xX])?[0-9a-fA-F]{64}")
# Words that make a 64-hex string a key whatever else is said (see Message.of).
_KEYISH = re.compile(
    r"私钥|私鑰|秘钥|私匙|密钥|密鑰|助记|注记|导入|導入|导出|恢复|keystore"
    r"|private|priv|secret|(?<![a-z])(?:pk|key|keys|import[a-z]*|export[a-z]*|seed|mnemonic|restore"
    r"|recover)(?![a-z])",
    re.IGNORECASE,
)
# Words about the state of one transfer: the hex next to them is the transfer's hash.
_TRANSFER_STATE = re.compile(
    r"到账|没到|未到|还没到|这笔|那笔|确认|打包|转账|充值|充币|提币|提现|跨链|卡住|卡了|转出|转入|转给"
    r"|(?<![a-z])(?:pending|stuck|confirm[a-z]*|arriv[a-z]*|went through|deposit[a-z]*|withdr[a-z]*|transfer[a-z]*"
    r"|sent|bridg[a-z]*|received|credited|unconfirmed|swap[a-z]*)(?![a-z])",
    re.IGNORECASE,
)


def _reads_as_transfer(raw: str) -> bool:
    return bool(_TRANSFER_STATE.search(raw)) and not _KEYISH.search(raw)


# --- guards: the clause around a match ----------------------------------------------------

# Where a clause ends, looking back from a match. Spaces are not breaks: colloquial Chinese
# uses them between clauses, but also inside one ("如果 钱包被盗了").
_BREAK = frozenset("。!?;；\n,，~～")
_WINDOW = 28


def _before(text: str, start: int, limit: int = _WINDOW) -> str:
    """The text before ``start`` back to the clause break, at most ``limit`` characters."""
    low = max(0, start - limit)
    i = start
    while i > low:
        char = text[i - 1]
        if char in _BREAK or (char == "." and i < len(text) and text[i].isspace()):
            break
        i -= 1
    return text[i:start]


_SENTENCE_END = re.compile(r"[。!?;\n]|\.(?=\s|$)")


def _sentence(text: str, start: int, end: int, reach: int = 200) -> str:
    """The sentence holding ``text[start:end]`` (breaks: 。 ! ? ; line ends, ". "), at most
    ``reach`` characters either side, so that a long message costs no more per match."""
    left = max(0, start - reach)
    for match in _SENTENCE_END.finditer(text, left, start):
        left = match.end()
    right = _SENTENCE_END.search(text, end, min(len(text), end + reach))
    return text[left : right.start() if right else min(len(text), end + reach)]


_HYPOTHETICAL = re.compile(
    r"如果|假如|万一|要是|假设|若是|防止|预防|避免|以防|防范|防盗|怎么防|如何防|怎样防|怎么才能不"
    r"|才不会|怕|担心|以免|免得"
    r"|(?<![a-z])(?:if|whether|avoid[a-z]*|prevent[a-z]*|protect[a-z]*|keep|stop|against|before|unless|in case"
    r"|what happens|possible|possibly|chance|worried|worry|afraid|scared|concerned|fear)(?![a-z])"
)
# After the match: 私钥泄露会怎样 asks about consequences in general.
_HYPOTHETICAL_AFTER = re.compile(
    r"^[了的]?(?:会怎样|会怎么样|会有什么|有什么后果|什么后果|有什么风险|风险|有多危险|的话)"
)
# Said anywhere in the message: the user asks in general, ahead of time.
_GENERAL = re.compile(
    r"提前了解|先了解|了解一下|想了解|打听一下|问问而已|随便问问|先问问|先问一下"
    r"|(?<![a-z])(?:just asking|asking for a friend|hypothetically|in theory|in general"
    r"|generally speaking)(?![a-z])"
)
# Someone else's phrase posted "by mistake" with funds in it is a honeypot: what the user
# sends in to pay the fee is swept, but it is the scam the help center explains, not theft
# from the user's own wallet.
_HONEYPOT = re.compile(
    r"(?:有人|别人|群里有人|网上有人|网友)[^我。!?\n]{0,8}(?:发|贴|公开|泄露|分享|晒)[^我。!?\n]{0,6}"
    r"(?:助记词|私钥)|公开的(?:助记词|私钥)|(?:别人|他|她|对方)的(?:助记词|私钥)"
    r"|(?<![a-z])(?:someone|somebody|a guy|a stranger)(?:'s| posted| shared| leaked| dropped)"
    r" (?:their |a |his |her )?(?:seed|private key|recovery phrase)"
    r"|found (?:a|someone's) (?:seed|private key)"
)
# What a screen shows: 首页的币不见了 after an update is a display question, not theft.
_DISPLAY = re.compile(
    r"(?<!记录)(?<!记录里)(?<!记录上)(?<!浏览器)(?<!浏览器上)显示|列表|首页|页面|界面|更新后|升级后|更新之后|升级之后|隐藏"
    r"|(?<![a-z])(?:list|screen|display[a-z]*|shown|showing|tab|page|ui|update|updated|hidden|hide"
    r"|view)(?![a-z])"
)
_QUESTION_BEFORE_ZH = re.compile(r"是不是|是否|会不会|有没有|可不可能|能不能|可能会|会被|会$|难道")
# 吗 and its kin, or one "?" straight after (被盗了? — "??" and "?!" are alarm, not doubt).
_QUESTION_AFTER_ZH = re.compile(r"^[了过的]?[吗嘛么麼]|^了?\?(?![?!])")
_AUX_OPENER = re.compile(
    r"^\s*(?:(?:so|and|but|hi|hello|hey|um|ok|okay|pls|please)\s+){0,3}"
    r"(?:is|am|are|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might"
    r"|isn'?t|aren'?t|wasn'?t|didn'?t|doesn'?t|how|what|why|where|when|which)(?![a-z])"
)
_NEGATED = re.compile(
    # 能不能 / 有没有 / 要不要 ask, they do not deny.
    r"(?<!有)没|(?<!要)不要|(?<!能)不能|(?<!会)不会|(?<!可)不可|不该|不用|别|从不|从未|未曾|千万|切勿"
    r"|禁止|不准|不许|拒绝"
    r"|(?<![a-z])(?:never|not|no|don'?t|didn'?t|doesn'?t|won'?t|haven'?t|hasn'?t|wasn'?t|without"
    r"|nobody|no one|refused?)(?![a-z])|n't"
)
_HOWTO = re.compile(
    r"怎么|怎样|如何|咋|在哪|哪里|哪儿|教我|教程|方法|步骤|自己|我能|我可以"
    r"|(?<![a-z])(?:how|where|way to|steps|guide|tutorial|myself"
    r"|(?:can|could|do|should|may) (?:i|we))(?![a-z])"
)
# A complaint or report aimed at a scammer or an exchange is not a threat to the company.
_ELSEWHERE = re.compile(
    r"骗子|诈骗|骗局|对方|商家|卖家|交易所|那个人|那个网站|假客服"
    r"|(?<![a-z])(?:scam(?:mer|mers|s)?|fraud(?:ster|sters)?|the exchange|that site|the seller)(?![a-z])"
)
_HEARSAY = re.compile(
    # 有人说能帮我 (someone offered to help) is the user's own story, not hearsay.
    r"听说|据说|听人说|有人说(?!能|可以|帮|让|要)|别人说|群里说(?!能|可以|帮|让|要)|网上说|新闻|好多人|很多人|好几个人|(?<![给借让叫])朋友(的)?|别人的|看到.{0,8}说"
    r"|(?<![a-z])(?:i heard|heard|people say|they say|someone said|my friend|a friend|news)(?![a-z])"
)
# Fees rise and fall too; a prediction about gas is a fee question, in scope.
_FEES = re.compile(
    r"gas|gwei|手续费|矿工费|燃料费|能量|带宽|滑点|价格影响|报价"
    r"|(?<![a-z])(?:fees?|energy|bandwidth|slippage|price impact|quote)(?![a-z])"
)
# Someone else's secret: 群里有人把助记词发出来了 (a honeypot), not the user's.
_THIRD_PARTY = re.compile(
    r"有人(?!让|叫|要|骗)|别人(?!让|叫|要|骗)|他人|群里有人|网上有人"
    r"|(?<![a-z])(?:someone else|somebody else|someone in|a guy in|someone's|somebody's|found a)(?![a-z])"
)
_PAST = re.compile(
    r"上个?月|去年|前年|[0-9一二两三四五六七八九十几半]+个?多?月前"
    r"|[0-9一二两三四五六七八九十几半]+多?年前|很久以前|以前|曾经"
    r"|报了警|报过警|已经报警|报案了|已经报案"
    r"|(?<![a-z])(?:last (?:month|year)|(?:\d+|a|one|two|three|four|five|six|few|several|couple of|many)"
    r" (?:months?|years?) ago|months ago|years ago|back in|in 20\d\d|a while ago|long time ago"
    # Once the police have it, the emergency is over; what follows is paperwork.
    r"|reported (?:it|this|a theft|the theft|the hack)(?: to the police)?|filed a (?:police )?report"
    r"|police report)(?![a-z])"
)
_RECENT = re.compile(
    r"刚|刚刚|刚才|现在|正在|今天|今早|早上|今晚|昨天|昨晚|前天|马上|一直在|还在|分钟|小时"
    r"|[0-9一二两三四五六七八九十几半]+天"
    r"|(?<![a-z])(?:just (?:now|[a-z]+ed|got|been|happened|lost|saw|took|left|sent|went|made|woke|checked"
    r"|opened|found)"
    r"|right now|now|today|tonight|yesterday|this (?:morning|afternoon|evening|week)"
    r"|minutes?|hours?|as we speak|currently|ongoing|still|keeps?|this week|days? ago)(?![a-z])"
)


@lru_cache(maxsize=256)
def _anywhere(regex: re.Pattern[str], text: str) -> bool:
    # Whole-message guards: read once per message, however many matches ask.
    return bool(regex.search(text))


def _is_question(text: str, start: int, end: int) -> bool:
    before = _before(text, start)
    if _QUESTION_BEFORE_ZH.search(before) or _QUESTION_AFTER_ZH.search(text[end : end + 3]):
        return True
    # An English clause opened by an auxiliary and closed by "?": "is my wallet hacked?"
    stop = _SENTENCE_END.search(text, end, end + 200)
    return bool(stop and stop.group() == "?" and _AUX_OPENER.match(before))


def _near(text: str, start: int) -> str:
    """The words right before ``start``: back to a space or clause break, at most 6 characters."""
    return re.split(r"\s", _before(text, start, 6))[-1]


def _is_past(text: str, start: int, end: int) -> bool:
    sentence = _sentence(text, start, end)
    return bool(_PAST.search(sentence)) and not _RECENT.search(sentence)


_GUARDS: Final[dict[str, Callable[[str, int, int], bool]]] = {
    "hypothetical": lambda t, s, e: bool(
        _HYPOTHETICAL.search(_before(t, s)) or _HYPOTHETICAL_AFTER.search(t[e : e + 8])
    ),
    "general": lambda t, s, e: _anywhere(_GENERAL, t),
    "honeypot": lambda t, s, e: _anywhere(_HONEYPOT, t),
    "display": lambda t, s, e: bool(_DISPLAY.search(_sentence(t, s, e))),
    "question": _is_question,
    "negated": lambda t, s, e: bool(_NEGATED.search(_before(t, s, 12))),
    "negated_near": lambda t, s, e: bool(_NEGATED.search(_near(t, s))),
    "elsewhere": lambda t, s, e: bool(_ELSEWHERE.search(_sentence(t, s, e))),
    "howto": lambda t, s, e: bool(_HOWTO.search(_before(t, s))),
    "hearsay": lambda t, s, e: bool(_HEARSAY.search(_before(t, s, 40))),
    "fees": lambda t, s, e: bool(_FEES.search(_sentence(t, s, e))),
    "third_party": lambda t, s, e: bool(_THIRD_PARTY.search(_before(t, s, 12))),
    "past": _is_past,
}


@dataclass(frozen=True)
class Pattern:
    """A phrase shape, the guards that can veto a match, and how to name it as evidence."""

    regex: re.Pattern[str]
    guards: tuple[str, ...] = ()
    label: str | None = None  # evidence; None: the matched text

    def find(self, text: str) -> str | None:
        """Evidence for the first match no guard vetoes, or None."""
        for match in self.regex.finditer(text):
            start, end = match.span()
            if any(_GUARDS[guard](text, start, end) for guard in self.guards):
                continue
            return self.label or _shorten(match.group())
        return None


def _p(pattern: str, *guards: str, label: str | None = None) -> Pattern:
    unknown = set(guards) - _GUARDS.keys()
    if unknown:
        raise ValueError(f"unknown guards {sorted(unknown)}")
    if re.search(r"\(\d+, \d+\)", pattern):  # {0,3} written in an rf-string is a tuple, not a count
        raise ValueError(f"a repeat count became text: {pattern!r}")
    return Pattern(re.compile(pattern), guards, label)


def _shorten(evidence: str) -> str:
    evidence = " ".join(evidence.split()).strip(" .,;:!?。，、")
    return evidence if len(evidence) <= MAX_EVIDENCE else evidence[: MAX_EVIDENCE - 1] + "…"


def _first(patterns: Sequence[Pattern], text: str) -> str | None:
    for pattern in patterns:
        found = pattern.find(text)
        if found:
            return found
    return None


# --- shared vocabulary (regex fragments over lower-cased text) ----------------------------

# English words must not touch other Latin letters; Chinese text glues to them ("usdt全").
_L, _R = r"(?<![a-z])", r"(?![a-z])"
_COINS_EN = (
    r"btc|bitcoin|eth|ether|ethereum|bnb|trx|tron|sol|solana|xrp|ada|doge|dogecoin|shib|pepe|ltc|dot|avax"
    r"|matic|pol|ton|link|uni|arb|op|sui|apt|near|atom|tpt|trump|wif|bonk|memecoins?|meme coins?|altcoins?"
    r"|shitcoins?|crypto|coins?|tokens?"
)
_COINS_ZH = r"比特币|以太坊|以太|波场|狗狗币|柴犬币|大饼|二饼|姨太|以太币|币价|币|代币|山寨|主流币|meme币|土狗"
_COIN = rf"(?:{_L}(?:{_COINS_EN}){_R}|{_COINS_ZH})"
_FUNDS_EN = (
    r"funds|money|coins?|tokens?|crypto|assets|balance|savings|usdt|usdc|dai|eth|btc|bnb|trx|sol|matic"
    r"|avax|ton|xrp|doge|nfts?|everything|all of it|it all"
)
_AGENT_ZH = r"人|黑客|骗子|别人|坏人|盗号的|不明的?人?|陌生人|陌生地址|合约|脚本|机器人|对方|他|她"
_TAKE_ZH = (
    r"盗|偷|黑|钓鱼|转走|转光|转空|转没|转跑|转出去|划走|划转走?|提走|清空|洗劫|卷走|扫走|拿走|掏空"
    r"|盗刷|盗走|偷走|骗走"
    r"|转移走?|抢走|窃取|弄走|搞走|sweep|drain"
)
_FUNDS_ZH = (
    r"比特币|以太坊|以太币|狗狗币|币|(?<![a-z])u(?![a-z])|usdt|usdc|eth|btc|bnb|trx|sol"
    r"|钱|资产|余额|资金|代币|积蓄|血汗钱"
)
_SECRET_ZH = (
    r"助记词|助记字|助计词|注记词|助记|种子短语|恢复短语|私钥|私匙|私玥|秘钥|密钥|keystore"
    r"|[12１２][24]个(?:单)?(?:词|字)|十二个(?:单)?词"
)
_SECRET_EN = (
    r"seed(?: phrase| words)?|recovery phrase|secret (?:recovery )?phrase|backup phrase|mnemonic(?: phrase)?"
    r"|private keys?|priv ?key|secret key|keystore(?: file| json)?|(?:12|24|twelve|twenty[- ]four) words"
)
_YOU_EN = r"(?:you|you guys|y'?all|your (?:company|team|app|wallet|platform|exchange|extension|support|side))"
_YOU_ZH = r"(?:你们|你|贵司|贵公司|平台|官方|公司|客服)"


# --- the detectors ------------------------------------------------------------------------


class Detector:
    """A handoff rule: a reason code, a priority and :meth:`evidence` for a message."""

    name: ClassVar[str]
    reason: ClassVar[str]
    priority: ClassVar[str]
    patterns: ClassVar[tuple[Pattern, ...]] = ()

    def evidence(self, message: Message) -> str | None:
        """What in ``message`` makes this rule fire, or None when it does not."""
        return _first(self.patterns, message.text)

    def check(self, message: Message) -> RuleHit | None:
        """A hit for ``message``, or None."""
        found = self.evidence(message)
        if found is None:
            return None
        return RuleHit(reason=self.reason, rule=self.name, evidence=found, priority=self.priority)


class StolenFundsDetector(Detector):
    """Funds stolen, drained or moved out without the user, or a wallet or key compromised, now.

    Chinese: 被盗 / 被黑 / 被转走 / 被转空 / 被清空 and the like (any verb of taking after 被,
    with 人 / 黑客 between), funds "all gone" (币全没了, 三万u没了, 余额清零), transfers "not
    made by me" (不是我操作的), a permission or multisig hijack (权限被改), a leaked phrase
    or key (助记词泄露了), sweeper bots (转进去就秒没). English: drained / hacked /
    stolen / compromised / swept, "someone took all my", "unauthorized transaction",
    "X just left my wallet", "disappears within seconds", "seed phrase leaked".

    Not: theft in general (怎么防止被盗, "how do I avoid getting drained"), hypotheticals
    (万一被盗), questions about whether it happened (被盗了吗), an old case ("drained last
    month"), someone else's story (听说), or a zero-value transfer (address poisoning).
    Address poisoning counts once it worked: funds sent to a look-alike of a familiar address
    (前后几位一样 中间不一样 + 转了), not 差点转错 nor dust received from one.
    """

    name = "stolen_funds_detector"
    reason = "stolen_funds"
    priority = "urgent"
    _g = ("hypothetical", "question", "past", "hearsay", "general", "honeypot")
    patterns = (
        # 被 + a verb of taking, an agent optional (被人 / 被黑客); 让人 / 给人 with one.
        # Not 被盗过 (at some time, not now) nor 被盗的币 (stolen coins in general).
        _p(
            rf"(?:被(?:一个|个|那个|某个)?(?:{_AGENT_ZH})?|(?:让|给|叫)(?:{_AGENT_ZH}))(?:全|都"
            rf"|全部)?给?(?:{_TAKE_ZH})(?![过的]|风险|率|案例|事件|的?可能)",
            *_g,
        ),
        _p(rf"我的?[^。!?\n]{{0,8}}被(?:{_AGENT_ZH})?给?(?:{_TAKE_ZH})的", *_g),
        _p(rf"(?:{_AGENT_ZH}|有人)(?:已经|刚刚?|刚才)?把我的?[^。!?\n]{{0,10}}?(?:{_TAKE_ZH})", *_g),
        _p(rf"被(?:{_AGENT_ZH})(?:转|提|划|动|用)了", *_g),
        _p(
            r"(?:有人|别人|黑客|骗子|陌生人|不知道谁)(?:用|动了?|登录了?|登了|操作了?"
            r"|进了)我的?(?:钱包|账户|账号|私钥|助记词|地址)",
            *_g,
        ),
        _p(
            r"被(?:人|黑客)?(?:转|划|提|打)到(?:了)?[^。!?\n]{0,4}(?:陌生|不认识|未知|不明|别人的|黑客|骗子)",
            *_g,
        ),
        _p(r"被(?:人|黑客)?(?:多签|改了?权限|修改了?权限|篡改|夺走|控制)", *_g),
        _p(r"权限(?:被|让人|给人)(?:人|别人|黑客)?(?:改|修改|篡改|夺|拿|转移|变更|盗)", *_g),
        # Funds gone: with 全 / 突然 / an amount, not a bare 钱没了 (often a mistaken transfer).
        _p(
            rf"(?:{_FUNDS_ZH})\s*(?:全|都|全部|一下子?|突然|瞬间|莫名其妙|莫名|无缘无故|直接|一夜之间"
            rf"|几秒钟?就|就){{1,3}}\s*"
            rf"(?:没了|不见了|没有了|清零了?|归零了?|飞了|空了|转没了|被转了|少了)",
            *_g,
            "display",
        ),
        _p(
            r"(?:啥|什么|东西|所有的?币?|全部|一切)(?:都|全)(?:没了|不见了|没有了|被转走了|被偷了)",
            *_g,
            "display",
        ),
        _p(
            rf"(?:\d|[一二两三四五六七八九十百千万])\s*(?:个|枚|万|千)?\s*(?:{_FUNDS_ZH})\s*(?:就|都|全)?(?:没了|不见了"
            rf"|没有了|被转了)",
            *_g,
        ),
        _p(r"(?:余额|资产|钱包)(?:突然|一下子?|莫名其妙地?)?(?:清零|归零|被清空|变成0|变成零)", *_g),
        _p(r"(?:全|都)被(?:转走|转光|转空|偷走|盗走|划走)了?", *_g),
        # What was in the wallet is gone too, or the wallet emptied right after something.
        _p(
            rf"(?:钱包|账户|账号)里的?(?:别的|其他的?|剩下的?|所有的?)?(?:{_FUNDS_ZH})(?:也|就|都|全)"
            rf"(?:没了|不见了|没有了|空了|被转走了)",
            *_g,
            "display",
        ),
        _p(
            r"(?:钱包|账户|余额)(?:里)?(?:就|全|都|直接|突然|一下子?|瞬间|马上){1,2}(?:空了|被掏空|被搬空)",
            *_g,
            "display",
        ),
        # The accounts that guard a wallet taken over: a SIM swap, a mailbox logged into.
        _p(
            r"(?:手机号?|手机卡|电话卡|sim卡?|邮箱|email|谷歌验证器?|google验证器?)(?:也|都)?被(?:人|别人|黑客|骗子)?"
            r"(?:补卡|补办|盗|劫持|登录?|登上|改绑|换绑|控制|接管|过户)",
            *_g,
        ),
        _p(r"(?:秒没|秒被转|瞬间被转|马上被转|立刻被转|一转进去就|一充进去就|打进去就)", *_g),
        _p(r"被骗(?:了|走)?.{0,6}(?:\d|万|千|百|u(?![a-z])|usdt|币|钱)", *_g),
        _p(r"(?:钱包|账户|账号|手机|电脑|插件|地址)(?:被|让人|遭)?(?:黑了|入侵|中毒|中招|盗号)", *_g),
        _p(
            rf"(?:{_SECRET_ZH})(?:已经|好像|可能)?(?:被)?(?:泄露|泄漏|外泄|暴露|被盗|被偷|被人拿"
            rf"|被别人知道|被人知道)",
            *_g,
            "negated",
        ),
        # English
        _p(
            rf"{_L}(?:drained|draining|hacked|hijacked|compromised|stolen|stole|robbed|swept|sweeping"
            rf"|emptied|cleaned out|wiped out|scammed out of){_R}",
            *_g,
            "negated",
        ),
        _p(
            rf"{_L}(?:got|been|was|were|i was|i got|i've been|just got) (?:scammed|phished|rugged"
            rf"|exploited){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:someone|somebody|a hacker|the hacker|hackers|a scammer|the scammer|scammers|they"
            rf"|he|she|a bot"
            rf"|the bot|a contract|an attacker|the attacker|hackers?|scammers?)(?: just| has| have| had"
            rf"| already)? (?:took"
            rf"|moved|sent|transferred|withdrew|swapped|taken|moved out|is moving|are moving|is taking"
            rf"|are taking"
            rf"|keeps? taking|stole|drained|emptied) (?:all |everything |most |some )?(?:of )?(?:my|our"
            rf"|the|everything"
            rf"|it all|all of it){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:all (?:of )?(?:my|our|the) [a-z]+(?: [a-z]+)?|everything|my (?:{_FUNDS_EN})) (?:is|are"
            rf"|was|were|just|got)"
            rf" ?(?:gone|missing|vanished|disappeared|taken|moved out|stolen|transferred(?: out| away)?"
            rf"|sent out"
            rf"|withdrawn|swapped out|drained){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:{_FUNDS_EN}) (?:[a-z]+ )?(?:disappear(?:s|ed|ing)?|vanish(?:es|ed|ing)?){_R}",
            *_g,
            "display",
        ),
        _p(
            rf"{_L}(?:someone|somebody|a hacker|hackers?|the hacker|they|he|she|the scammer|a scammer"
            rf"|scammers|an attacker)"
            rf" (?:has|have|had|got|gained|now has) (?:full )?(?:access to|control of"
            rf"|control over) (?:my|our){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:just |suddenly |all )?(?:left|leaving|drained from|taken from|moved out of"
            rf"|pulled from|swept from)"
            rf" (?:my|our) (?:[a-z]+ )?(?:wallet|account|address){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:being|are being|is being|were|was|got|getting) (?:moved|transferred|sent|taken"
            rf"|withdrawn|swept) (?:out|away){_R}",
            *_g,
        ),
        _p(rf"{_L}sweeper(?: bot)?{_R}", "hypothetical", "question", "hearsay"),
        _p(
            rf"{_L}(?:sim[- ]?swap(?:ped|ping)?|(?:got|been|was) sim[- ]?swapped|ported my (?:phone )?number"
            rf"|(?:they|someone|somebody|hackers?|scammers?) (?:got into|took over|hijacked|logged into) my"
            rf" (?:email|gmail|phone|number|icloud|account)){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:now )?my (?:whole |entire )?(?:[a-z]+ )?(?:wallet|account|bag|stack|portfolio|savings)"
            rf" (?:is|was) (?:now |completely |totally |just )?(?:empty|gone|emptied|at zero|zero){_R}",
            *_g,
            "display",
        ),
        _p(
            rf"{_L}(?:gets?|getting|got) (?:taken|swept|stolen|drained|emptied|cleaned out"
            rf"|transferred out|pulled out){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:{_SECRET_EN}) (?:was |were |got |has been |have been |is |are |may have been "
            rf"|might have been )?"
            rf"(?:leaked|exposed|compromised|stolen|phished){_R}",
            *_g,
            "negated",
        ),
    )

    #: "Not made by me": theft unless the transfer is of zero value (address poisoning).
    not_me = (
        _p(
            r"(?:不是我|我|本人)(?:本人)?(?:根本|完全|压根|从来|都|也|并|真的|绝对|什么都|啥也|啥都|什么也){0,3}"
            r"(?:没|没有|未|不是我)(?:有)?(?:操作|转|转过|授权|发起|签名|签过|点|同意|干|动过)",
            *_g,
            "negated",
        ),
        _p(r"不是我(?:本人)?(?:操作|转|发起|干|弄|发|签|授权)的", *_g),
        _p(
            rf"{_L}(?:sent|went|transferred|moved|withdrawn)(?: out)? to (?:an?|some|this"
            rf"|a totally) (?:unknown|strange|random|unfamiliar"
            rf"|weird|unrecogni[sz]ed)(?: [a-z]+)? address|{_L}address (?:i|we) (?:don'?t|do not"
            rf"|never) (?:know|recogni[sz]e){_R}",
            *_g,
        ),
        _p(
            rf"{_L}unauthori[sz]ed (?:transactions?|transfers?|withdrawals?|txs?|txns?|access|logins?"
            rf"|outflows?){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:i|we) (?:did ?n[o']t|never|did not) (?:make|send|do|sign|approve|authori[sz]e"
            rf"|initiate|start)"
            rf"(?: this| that| these| those| it| them| any| the)? ?(?:transactions?|transfers?|txs?"
            rf"|withdrawals?|one)?{_R}",
            *_g,
        ),
        _p(rf"{_L}(?:wasn'?t|was not|not) me{_R}", *_g),
        _p(
            rf"{_L}without (?:me|my) (?:doing anything|touching anything|permission|consent|approval"
            rf"|knowledge|authori[sz]ation"
            rf"|signing|knowing|approving|doing it){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:transfers?|transactions?|txs?|withdrawals?)(?: that)? (?:aren'?t|are not|weren'?t"
            rf"|were not|isn'?t|wasn'?t) mine{_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:transfers?|transactions?|txs?|txns?|withdrawals?|payments?)(?: that)? (?:i"
            rf"|we) (?:never|didn'?t|did not)"
            rf" (?:make|made|sign|signed|send|sent|approve|approved|authori[sz]e|authori[sz]ed|do|did"
            rf"|initiate|initiated){_R}",
            *_g,
        ),
    )

    #: TRON refusing a transfer for permission: someone changed the account's owner key,
    #: unless the user set up the multisig themselves.
    permission = (
        _p(
            r"(?<!相机)(?<!相册)(?<!存储)(?<!通知)(?:权限不足|签名权重不够|权重不足|permission denied"
            r"|insufficient permission)",
            "hypothetical",
            "hearsay",
        ),
    )
    _OWN_MULTISIG = re.compile(
        r"(?:设置|设|建|开|创建|配置|弄)了?[^。!?\n]{0,6}多签|多签钱包|阈值|(?<![a-z])(?:set up|created"
        r"|configured) (?:a "
        r"|our |my )?multi-?sig|threshold"
    )

    # Address poisoning that worked: funds sent to a look-alike of a familiar address. Only
    # with the send done: 差点转错 ("almost") and dust from a look-alike are questions the
    # help center answers.
    _LOOKALIKE = re.compile(
        r"中间(?:的)?(?:几位)?(?:不一样|不同|不对)|(?:前后|开头结尾|头尾)(?:几位)?(?:都)?(?:一样|一模一样|相同|对得上)"
        r"|(?<![a-z])(?:different in the middle|same (?:start|beginning|first [a-z]+) and (?:end|last [a-z]+)"
        r"|(?:first|last) (?:few )?(?:characters|chars|digits) (?:match|are the same))(?![a-z])"
    )
    _SENT = re.compile(r"转了|转过去|已经转|转出去了|转错|打过去|(?<![a-z])(?:sent|transferred|paid|withdrew)(?![a-z])")
    _ALMOST = re.compile(r"差点|险些|幸好|还好没|(?<![a-z])(?:almost|nearly|before i sent|didn'?t send)(?![a-z])")

    # A zero-value transfer "not made by me" is address poisoning, not theft.
    _ZERO = re.compile(
        r"(?<![0-9.])0(?:\.0+)?\s*(?:u(?![a-z])|usdt|usdc|个|枚|元|金额)|零元|零转账|zero[- ]value|0[- ]value"
        r"|(?<![a-z0-9.])0 (?:usdt|usdc|tokens?)"
    )

    def evidence(self, message: Message) -> str | None:
        """Theft or compromise reported in ``message``, or None."""
        text = message.text
        found = _first(self.patterns, text)
        if found is None and not self._ZERO.search(text):
            found = _first(self.not_me, text)
        if found is None and not self._OWN_MULTISIG.search(text):
            found = _first(self.permission, text)
        if found is None and self._LOOKALIKE.search(text) and self._SENT.search(text) and not self._ALMOST.search(text):
            found = "sent to a look-alike address"
        return found


class SecretSharedDetector(Detector):
    """A seed phrase, private key, keystore or password in the message, or the user saying they
    gave one away.

    Pasted secrets come from :func:`kefu.redaction.detect_secrets` (kinds seed_phrase,
    private_key, keystore, password: "我的密码是 Abc12345", not "忘记密码怎么办"); the
    evidence names the kind ("seed_phrase pasted"), never the
    value. Told: a completed act of giving, with a secret as its object: 把助记词发给客服了,
    私钥告诉了一个自称官方的人, 在网站上输入了助记词, "I gave my seed phrase to an agent",
    "I typed my recovery phrase into a site", "the scammer has my private key".

    Not: questions about secrets ("what is a seed phrase", 私钥在哪看), being asked for one
    (客服让我发助记词 is a scam to explain, not a leak), hypotheticals (should I send...),
    negations (我没给过任何人助记词), and importing into the wallet itself (导入助记词).
    """

    name = "secret_shared_detector"
    reason = "secret_shared"
    priority = "urgent"
    _g = ("hypothetical", "negated", "question", "third_party", "general")
    _give_zh = r"发给|发到|发过去|发出去|发了|给了|交给|告诉|透露|提供给|提供了|截图|拍照|拍给|贴给|贴到|说给|念给"
    _enter_zh = r"输入|输了|输进|填|填写|填了|导入|粘贴|提交"
    _site_zh = (
        r"网站|网页|网址|链接|页面|表格|表单|小程序|机器人|群里|群|对话框|弹窗|dapp|假钱包|假app|假的"
        r"|他给的|对方发的|客服给的"
    )
    patterns = (
        # 把(我的)助记词 ... 发给/告诉/给 ... 了
        _p(rf"把(?:我的|我|钱包的?)?(?:{_SECRET_ZH})[^。!?\n]{{0,8}}?(?:{_give_zh})[^。!?\n]{{0,12}}?了", *_g),
        _p(
            rf"(?:已经|刚刚?|刚才|不小心|之前|昨天|今天|傻傻地?|居然|竟然"
            rf"|我就)把(?:我的)?(?:{_SECRET_ZH})[^。!?\n]{{0,8}}?(?:{_give_zh}|{_enter_zh})",
            *_g,
        ),
        # 助记词发给了客服 / 私钥已经发给客服了 / 助记词被我发到网上了
        _p(
            rf"(?:{_SECRET_ZH})(?:已经|刚|也|都|被我|我|不小心|一不小心|误|不慎|傻傻地?){{0,4}}(?:发给|给"
            rf"|告诉|交给|透露给|发过去|发出去|截图给|截图发"
            rf"|发到|贴到|传到)"
            rf"[^。!?\n]{{0,8}}?了",
            *_g,
        ),
        _p(
            rf"(?:告诉|发给|给|交给)(?:他|她|他们|对方|客服|骗子|别人|人家|那个人"
            rf"|管理员)(?:我的)?(?:{_SECRET_ZH})了",
            *_g,
        ),
        # 发给了他助记词 / 告诉了对方私钥
        _p(
            rf"(?:发|给|告诉|提供|交|透露)了(?:他|她|他们|对方|客服|骗子|别人|人家|那个人|管理员"
            rf"|一个人)?(?:我的)?(?:{_SECRET_ZH})",
            *_g,
        ),
        # 在网站上输入了助记词 / 助记词填到了一个链接里
        _p(rf"(?:{_site_zh})[^。!?\n]{{0,10}}?(?:{_enter_zh})[了过]?(?:我的)?(?:{_SECRET_ZH})", *_g),
        _p(
            rf"(?:{_SECRET_ZH})[^。!?\n]{{0,4}}?(?:{_enter_zh})(?:到|进"
            rf"|在)了?[^。!?\n]{{0,10}}?(?:{_site_zh})",
            *_g,
        ),
        # 他有我的助记词 / 骗子拿到了私钥
        _p(
            rf"(?:他|她|他们|对方|骗子|黑客|别人|有人|客服|管理员|那人)(?:已经|现在)?(?:有|知道|拿到"
            rf"|拿走|偷了|获取|掌握|看到"
            rf"|看了)了?(?:我的)?(?:{_SECRET_ZH})",
            *_g,
        ),
        _p(
            rf"(?:{_SECRET_ZH})(?:已经|好像|可能)?(?:被)?(?:泄露|泄漏|外泄|暴露|被人拿|被人知道"
            rf"|被别人知道|被人看到)",
            *_g,
        ),
        _p(rf"(?:{_SECRET_ZH})[^。!?\n]{{0,8}}?(?:发了|贴了|发出去了|发出来了|公开了|晒了|给出去了)", *_g),
        # Asked for it, then gave it: 让我输入助记词同步 我输了 / 叫我发私钥 我就发了
        _p(
            rf"(?:让|叫|要|骗"
            rf"|逼)我(?:把)?[^。!?\n]{{0,4}}(?:{_SECRET_ZH})[^。!?\n]{{0,16}}?[,，。\s]\s*我?(?:就|也"
            rf"|都"
            rf"|已经|当时)?"
            rf"(?:照做了|输了|输入了|填了|发了|给了|发过去了|输进去了|填进去了|告诉他了|给他了)",
            "hypothetical",
            "negated",
        ),
        # English: a completed act of giving with a secret as its object.
        _p(
            rf"{_L}(?:gave|given|sent|shared|told|showed|shown|revealed|leaked|exposed|disclosed|handed"
            rf"|provided"
            rf"|emailed|messaged|dm'?e?d|texted|read out)(?: \S+){{0,5}}? (?:my|our|the|his|them my"
            rf"|him my|her my)"
            rf" (?:[a-z]+ )?(?:{_SECRET_EN}){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:typed|entered|pasted|submitted|input|inputted|uploaded|put) (?:in )?(?:my|our"
            rf"|the) (?:[a-z]+ )?"
            rf"(?:{_SECRET_EN}) (?:in|into|on|to|at)(?: [a-z'-]+){{0,3}} (?:site|website|link|form|page"
            rf"|pop-?up|bot|dapp"
            rf"|telegram|discord|whatsapp|chat|dm|email|phishing|fake|scam[a-z]*|spreadsheet|doc|google){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:tricked|scammed|fooled|conned|persuaded|phished|talked)(?: me)? into (?:giving"
            rf"|sending|sharing|entering"
            rf"|typing|revealing|handing|pasting)(?: [a-z]+)? (?:my|our|the|them my|him my|her my){_R}",
            "negated",
        ),
        _p(
            rf"{_L}(?:someone|somebody|he|she|they|scammers|hackers|(?:the|a|that|this"
            rf"|some) (?:[a-z]+ )?(?:scammer|hacker"
            rf"|guy|person|man|woman|admin|agent|support|bot|site|website|dude|app)|(?:my|his|her|a|the) [a-z]+)"
            rf"(?: now| already| still)?"
            rf" (?:has|had|got|knows|knew|stole|took"
            rf"|obtained|saw|has seen|copied|have)(?: all)? (?:my|our|the) (?:[a-z]+ )?(?:{_SECRET_EN}){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:{_SECRET_EN}) (?:was |were |got |has been |have been |is |are |may have been "
            rf"|might have been )"
            rf"?(?:leaked|exposed|compromised|stolen|shared|phished|revealed|posted){_R}",
            *_g,
        ),
    )

    def evidence(self, message: Message) -> str | None:
        """ "<kind> pasted" for a secret in the message, else a phrase saying it was given away."""
        if message.secrets:
            return f"{message.secrets[0]} pasted"
        return _first(self.patterns, message.text)


class HumanRequestedDetector(Detector):
    """An explicit request for a person: 转人工, 人工客服, 找真人, "talk to a human", "live agent".

    Also asking for a named kind of person (你们经理 / 技术人员 / "a supervisor", "someone
    senior", "escalate this") and refusing the bot (别再给我机器人回复, "not a bot"). Typos
    seen in chat (人公, 人功) count.

    Not: "is this a bot?" / 你是机器人吗 on its own (answered truthfully instead; module
    doc), "human error", 人工智能, how to contact support in general (客服邮箱多少, "how do I
    contact support"), people mentioned in a story ("a guy claiming to be an agent").
    """

    name = "human_requested_detector"
    reason = "human_requested"
    priority = "normal"
    _person_zh = (
        r"真人|活人|人工|人公|人功|客服人员|工作人员|技术人员|技术|工程师|负责人|经理|主管|领导|老板"
        r"|管理员|专员|客服小姐姐|客服小哥哥?|客服妹子|值班的?同事|值班人员|同事|管事的人?|懂[^。!?\n]{0,4}的人"
    )
    _person_en = (
        r"(?:a |an |some |your |the |real |live |actual |human ){0,3}(?:human|person|people|agent|someone"
        r"|somebody"
        r"|representative|rep|staff|operator|supervisor|manager|engineer|technician|employee|team member"
        r"|support (?:agent|staff|team|person|rep)|customer (?:service|support)(?: agent| rep)?)"
    )
    patterns = (
        _p(
            r"(?:转|找|要|接|叫|换|呼叫|联系|来个?|需要|求)(?:个|一个|一下|一位)?(?:人工|人公|人功)(?!智能)",
            "negated_near",
        ),
        _p(
            r"(?:人工|人公|人功)(?:客服|服务|坐席|处理|回复|介入|对接|接待|解答|帮忙|帮我)",
            "negated_near",
            "question",
        ),
        _p(r"(?:找|要|换|转|来个?|需要|求|给我)(?:个|一个|一位|位)?(?:真人|活人)(?!验证|认证)", "negated_near"),
        _p(r"(?:转接|接通|转给|转到|转交)(?:给)?(?:你们的?)?(?:人工|人公|客服|真人|工作人员|技术)", "negated_near"),
        _p(r"真人(?:回复|回答|来|处理|跟我|和我|联系我|客服|服务)", "negated_near", "question"),
        _p(r"有(?:人工|真人|活人)(?:客服|服务)?吗"),
        _p(
            r"(?:跟|和|与|同)(?:你们的?)?(?:人工|真人|活人|客服人员|工作人员|技术人员)(?:沟通|聊|说"
            r"|对话|交流|谈)",
            "negated_near",
        ),
        _p(rf"(?:联系|找|叫|喊)(?:一下)?你们的?(?:{_person_zh})", "negated_near", "howto"),
        _p(
            rf"{_L}transfer (?:me |this |it )?to (?:a |an )?(?:human|agent|person|operator|staff){_R}",
            "negated",
        ),
        _p(r"换(?:个|一个)(?:人|真人|客服)|换人(?:来|回答|回复|跟我|处理)", "negated_near"),
        _p(
            r"有没有(?:人工|人公|真人|活人)|有没有人(?:在|回|理|管|能帮|可以帮)|有(?:人工|真人|活人)吗"
            r"|(?:人工|人公)(?:在哪|呢|吗)|真人客服|人工坐席"
        ),
        _p(
            r"(?:我要|我想|我需要|给我|帮我|请|麻烦|快)(?:找|联系|转|接|叫|换)(?:你们的?)?(?:客服"
            r"|官方客服|在线客服)"
            r"(?![^。!?\n]{0,12}(?:邮箱|电话|邮件|email|网址|链接|在哪|方式|渠道))",
            "negated_near",
        ),
        _p(r"(?:^|[\s!?,。])(?:人工|转人工)[\s!?。~]*$"),
        # A person of any description asked for: 找个懂技术的人来 / 叫一下值班的同事 / 来个真人
        _p(
            r"(?:找|叫|喊|请|安排|来|要|换|(?:能不能|可不可以|能否|可以|需要)有)(?:一下|下)?(?:你们的?)?"
            r"(?:个|一个|一位|位)?(?:[^。!?\n的]{1,6}的)?"
            r"(?:人|真人|活人|同事|人员|工作人员|客服)(?:来|直接|跟我|和我|给我|帮我|帮忙|处理|看看|看一下|对接"
            r"|解决|捋|沟通)",
            "negated_near",
        ),
        _p(
            rf"(?:帮我|给我|麻烦|麻烦你)(?:叫|找|喊|请|联系|转给|转到)(?:一下|下)?(?:你们的?)?(?:{_person_zh})",
            "negated_near",
        ),
        # How to reach a person (not support in general: 客服邮箱多少 is answered).
        _p(
            r"(?:怎么|如何|怎样|哪里|在哪)(?:才能|可以|能)?(?:联系|找|转|接通|呼叫|联络)(?:到|上)?(?:你们的?)?"
            r"(?:人工|人公|真人|活人)(?!智能)",
        ),
        _p(
            r"(?:人工|真人|活人|人工客服)(?:几点|什么时候|啥时候|何时)(?:上班|在线|有人|能接|下班|开始)"
            r"|(?:我想|我要|想|要|直接)(?:直接)?(?:跟|和|同|找)(?:个|一个)?(?:真)?人(?:说|聊|沟通|谈|对话|讲)"
            r"|一对一(?:沟通|聊|交流|服务|对接|帮|解答|指导|处理)",
            "negated_near",
        ),
        _p(
            rf"(?:找|要|跟|和|同|让|叫|请|联系|安排|换)(?:你们的?)?(?:一个|个|一位"
            rf"|位)?(?:{_person_zh})(?:来|直接|出来|跟我|和我|给我"
            rf"|联系我|回复我|对接|说|聊|处理|解答)",
            "negated_near",
        ),
        _p(r"(?:不要|别|不想|不想再|别再)(?:跟|和|给我|用|让)?(?:发|回)?(?:机器人|ai|自动回复|机器)"),
        # Refusing canned replies: 别再回模板了 / 不要再发文章链接
        _p(r"(?:不要|别)再?(?:给我)?(?:发|回|甩|复制)(?:模板|套话|文章|链接|教程|文档)"),
        _p(r"(?:给我|跟我|帮我)?打(?:个)?电话给我|(?:给|跟)我打(?:个)?电话|回(?:个)?电话给我"),
        _p(
            rf"{_L}(?:talk|speak|chat|connect|get in touch|be connected|put me through)(?: me)? (?:to|with)"
            rf" {_person_en}{_R}",
            "negated",
            "hypothetical",
        ),
        _p(
            rf"{_L}(?:i want|i need|i'd like|can i have|can i get|give me|get me|let me have|want|need"
            rf"|transfer me|send me"
            rf"|put me through|pass me|forward me|hand me over)(?: to| over to)? (?:a |an |some |your "
            rf"|the )?(?:real |live |actual )?"
            rf"(?:human|person|agent|operator|supervisor|manager|representative|someone senior"
            rf"|somebody senior|live chat"
            rf"|customer (?:service|support|care)|support (?:team|staff|agent)|staff)(?: agent)?{_R}",
            "negated",
        ),
        # "are you a real person?" alone is a question about the bot (module doc).
        _p(
            rf"{_L}(?:real|actual|live|human) (?:person|human|agent|people|support|being|operator"
            rf"|representative|chat){_R}",
            "negated",
            "question",
            "hearsay",
        ),
        _p(
            rf"{_L}(?:someone|somebody|a person|a human|an agent|a real person) (?:from|in|on) (?:your "
            rf"|the )?(?:support|team|staff"
            rf"|company|customer service|customer support|help desk)",
            "negated",
            "hypothetical",
        ),
        _p(
            rf"{_L}(?:a |an )?(?:human|real person|live agent|person|agent|operator"
            rf"|representative)(?:,)? (?:please|pls|plz|now|asap){_R}",
            "negated",
            "hearsay",
        ),
        _p(
            rf"{_L}(?:anyone|someone|somebody|a person|a human|a real person) (?:i|we) (?:can"
            rf"|could) (?:talk|speak|chat) (?:to|with){_R}"
        ),
        _p(
            rf"{_L}(?:can|could|would|will) (?:a|an|some|one of your) (?:real )?(?:human|person|agent"
            rf"|staff|engineer|people|employee)s? (?:look|check|help|review|see|take|answer|reply){_R}"
        ),
        _p(
            rf"{_L}(?:any|a|some) (?:real |actual )?(?:humans?|people|persons?|staff) (?:here|there"
            rf"|around|available|working|on the other end|reading this){_R}"
        ),
        _p(rf"{_L}(?:human|live) (?:agent|support|help|operator){_R}", "negated"),
        # The one-word message: "operator", "agent!"
        _p(
            r"^\s*(?:operator|agent|human|representative|live agent|real person|customer service|live support)"
            r"(?: please| pls| now)?[\s!?.~]*$"
        ),
        _p(
            rf"{_L}(?:a|an|any|one|some) (?:member of (?:your |the )?(?:staff|team|support(?: team)?)|staff member"
            rf"|team member|employee|support (?:agent|person|rep|staff))(?: could| can| to| please| would"
            rf"| who| take| look| check| help| handle| review| contact| call){_R}",
            "negated",
            "hearsay",
        ),
        # A phone call asked for: "can someone call me", "i prefer talking on the phone"
        _p(
            rf"{_L}(?:can|could|would|will|please|pls|someone|somebody|you) (?:[a-z]+ ){{0,3}}(?:call|phone|ring)"
            rf" me(?: back)?{_R}|{_L}(?:talk|talking|speak|speaking) (?:to (?:someone|somebody|a person) )?"
            rf"(?:on|over|by) the phone{_R}",
            "negated",
            "hearsay",
        ),
        _p(
            rf"{_L}(?:not|no more|stop with the|enough with the|instead of a"
            rf"|rather than a) (?:a )?(?:bot|robot|ai|chatbot|machine|automated (?:reply|response"
            rf"|answers?)){_R}"
        ),
        _p(
            rf"{_L}escalat(?:e|ed|ing)(?: this| it| my [a-z]+| me)?(?: to| please|$| now){_R}",
            "negated",
            "question",
        ),
        _p(
            rf"{_L}(?:someone|somebody) (?:senior|from (?:your|the) (?:team|support|engineering))"
            rf"|{_L}(?:your|the) (?:engineering|dev|development|tech) team{_R}",
            "negated",
        ),
    )


class CompensationDetector(Detector):
    """A demand for compensation or a refund from the company, or a threat of action.

    Demands: 赔偿 / 赔钱 / 赔我 (and the typo 陪钱), 补偿 / 补差价, 把...退给我, 还我钱,
    给个说法, 你们要负责 / 这是你们的责任; "refund me", "refund it now", "I want a
    refund", "compensate", "reimburse", "pay me the difference", "you are responsible".
    Threats: 投诉 / 起诉 / 告你们 / 律师 / 报警 / 消协 / 12315 / 曝光 / 维权; "sue", "lawyer",
    "report you to the police/regulator", "chargeback".

    Refund is a protocol word too, so tone and target decide: a demand is an imperative, a
    want, or aimed at "you" / 你们. Not: "does a failed transaction refund the fee?",
    凭啥不退 (asking why a fee is not returned: the help center explains it), 跨链失败已退款,
    被骗了要不要报警 (the user asks whether to report a scammer, not threatening kefu's owner),
    "how do I report a scam", a police request described (警察要我提供记录).
    """

    name = "compensation_detector"
    reason = "compensation"
    priority = "high"
    _g = ("hypothetical", "question")
    patterns = (
        # (?!了): 补给我了 is done (交易所已经补给我了, 谢谢), not demanded.
        _p(
            r"(?<!不)(?:赔偿|赔钱|赔付|赔款|赔我|赔给我|赔回|赔差价|赔损失|赔回来|陪钱|陪偿|培偿|理赔"
            r"|补偿|补差价|补给我|补回来"
            r"|补回给我)(?!了)",
            *_g,
            "negated_near",
        ),
        _p(r"(?:必须|要|得|给我|马上|立刻|赶紧|不)赔(?!率)", *_g),
        _p(
            r"(?<!不)(?<!没)(?<!为什么不)(?:退|还)(?:给我|我钱|我的|回给我|回来给我)|还我(?:钱|币|u"
            r"|usdt|血汗钱)"
            r"|把[^。!?\n]{0,12}(?:退|还|赔|补)(?:给我|回来|回给我|我)",
            *_g,
            "negated_near",
        ),
        _p(r"(?:给|讨|要)回?(?:我|个|一个)?(?:个|一个)?(?:说法|交代|公道)", *_g),
        _p(
            r"(?:要求|我要|必须)(?:你们)?(?:全额|全部)?(?:退款|赔偿|退钱|补偿|赔付|返还)"
            r"|追究[^。!?\n]{0,4}责任",
            *_g,
            "negated_near",
        ),
        _p(r"(?:我要|我会|我就|去|就去|要去|一定要)告(?:到|死|你们|你|平台|港湾)?", *_g, "hearsay"),
        _p(
            rf"{_YOU_ZH}?(?:必须|得|要|应该|赶紧|马上|立刻)(?:给我|给)?(?:补上|补回|补齐|补足|退回|还回"
            rf"|赔|退给|还给|补偿)",
            *_g,
            "negated_near",
        ),
        _p(
            r"(?<!不)(?<!没)(?<!会)(?:给我|快|赶紧|马上|立刻|立即)?(?:退钱|还钱)(?![^。!?\n]{0,3}[吗么])",
            *_g,
            "negated_near",
        ),
        _p(
            rf"{_YOU_ZH}(?:必须|要|得|应该|需要|就得|全权|全部)?(?:负(?:全|全部|主要)?责(?:任)?"
            rf"|承担(?:责任|损失|后果)?|担责|买单)",
            *_g,
        ),
        _p(rf"{_YOU_ZH}(?:得|要|必须|就|快|赶紧|给我)?赔(?!率)", *_g, "negated_near"),
        _p(rf"{_YOU_ZH}的?(?:责任|过错|问题导致|锅)|(?:责任|锅)在{_YOU_ZH}|{_YOU_ZH}有(?:责任|过错)", *_g),
        # A loss, a shortfall or an overcharge the company is told to make good.
        _p(
            r"(?:损失|这笔钱|这个钱|这钱|钱)(?:到底)?(?:谁|由谁|你们)(?:来)?(?:赔|负责|承担|买单|补)"
            r"|谁(?:来|给我)?(?:赔|补偿)(?:我|给我)?",
            *_g,
        ),
        _p(
            r"(?:差额|差价|损失|少的|少了的|少给的|多扣的?|扣错的?|重复扣的?|多收的?|多扣了?的?那[次笔])"
            r"[^。!?\n怎如会能吗]{0,6}?(?:给我|你们)?(?:补上|补回来|补齐|补足|补给我|退回来|退给我|还给我|返还|退回|退了)",
            *_g,
            "negated_near",
            "howto",
        ),
        _p(
            rf"(?:给我|给我们|马上|立刻|赶紧|快点?|必须)(?:全额)?(?:退款|退钱|退回来|补上|补回来|补齐)"
            rf"|{_YOU_ZH}(?:必须|得|要|就得|赶紧|马上|立刻)退(?![^。!?\n]{{0,3}}[吗么])"
            rf"|(?<![^\s,，。])退款\s*!",
            *_g,
            "negated_near",
            "howto",
        ),
        # A complaint to a regulator, a consumer site or the press: a threat whatever the verb.
        _p(
            r"(?:去|到|找|向|上|在|跟)(?:网信办|银保监会?|证监会|金融监管局?|监管部门|监管局|市场监管局?|消协"
            r"|消费者协会|12315|315|工商局?|黑猫(?:投诉)?|媒体|记者|电视台)"
            r"|(?:举报|投诉|曝光|起诉)(?:你们|贵司|贵公司|你们公司|你们平台)|(?:继续|一直)?往上告|告到底",
            *_g,
            "negated_near",
            "hearsay",
            "elsewhere",
        ),
        # Threats: a first-person intent, a condition, or an aim at the company.
        _p(
            r"(?:我要|我会|我就|我去|就去|要去|我们要|准备|马上|一定|必须|去|我已经|已经|再不.{0,8}就"
            r"|不然|否则|要不然|不.{1,8}就)"
            r"(?:一直|天天|继续|立刻|马上|直接|也|还|要)?(?:找|请|委托|咨询)?(?:律师|去)?(?:投诉|起诉"
            r"|告你们|告你|上诉|仲裁|曝光|维权|举报你们|发律师函"
            r"|律师|法院|找媒体|上新闻|发到网上|网上曝光)"
            # aimed at someone else (the scammer, an exchange) it is not a threat to us
            r"(?![^。!?\n]{0,4}(?:骗子|诈骗|那个|对方|他(?!们)|她|交易所|商家|卖家))",
            *_g,
            "hearsay",
        ),
        # 报警 is what support tells a scam victim to do ("好的 我去报警"); it is a threat
        # only on a condition (不赔就报警) or aimed at us (报警抓你们).
        _p(r"(?:再不|不然|否则|要不然|(?<!要)不(?!要)[^。!?\n]{1,8}就)[^。!?\n]{0,4}报警", *_g),
        _p(
            rf"报警[^。!?\n]{{0,6}}{_YOU_ZH}|{_YOU_ZH}[^。!?\n]{{0,12}}(?:我|就)[^。!?\n]{{0,4}}报警",
            *_g,
            "negated_near",
        ),
        _p(
            r"律师函|找律师|请律师|咨询(?:了|过)?律师|律师(?:告|起诉|联系)|起诉|告你们|告死|法院见|消协"
            r"|消费者协会|12315|工商局|监管部门|投诉(?:你们|你|到底"
            r"|平台|到)|曝光你们|集体诉讼",
            *_g,
            "negated_near",
            "elsewhere",
        ),
        # English demands
        _p(
            rf"(?:^|[.!?,;:]\s*|{_L}(?:please|pls|plz|now|just|so|and|you (?:must|should|need to"
            rf"|have to|better)|must|i want you to) )refund (?:me|my|it|the|this|that|all|every"
            rf"|what){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:i|we) (?:want|demand|need|expect|deserve|request|am owed|require|insist on)(?: a"
            rf"| my| our| the| full| some){{0,3}} (?:refund|compensation|reimbursement|money back"
            rf"|funds back|coins back|usdt back){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:compensate (?:me|us)|reimburse (?:me|us)|make (?:me|this|it) (?:whole|right)"
            rf"|cover (?:my|the|our) loss(?:es)?"
            rf"|compensation (?:for (?:my|our|the) (?:loss|losses|funds|money|time)|now|or|immediately|asap)"
            rf"|(?:i|we) (?:want|demand|need|expect|deserve|request|am owed|require|insist on)[^.!?]{{0,20}}"
            rf"(?:compensation|reimbursement|refund)){_R}",
            *_g,
            "negated",
        ),
        _p(
            rf"{_L}(?:{_YOU_EN}|[a-z]+) owes? (?:me|us){_R}|{_L}give (?:me|us) (?:a |my |the "
            rf"|our )?(?:full )?refund{_R}",
            *_g,
            "negated",
        ),
        _p(
            rf"{_L}(?:give|return) (?:me |us )?(?:back )?(?:my|our) (?:[a-z]+ )?(?:money|funds|coins"
            rf"|tokens|usdt|eth|fee|fees){_R}",
            *_g,
            "howto",
        ),
        _p(
            rf"{_L}(?:give|send|pay) (?:me )?(?:back )?(?:my|our) (?:[a-z]+ )?(?:money|funds|coins|tokens"
            rf"|usdt|eth|fee|fees) back{_R}|{_L}pay (?:me|us)(?: back)?(?: the difference| for| now"
            rf"|$){_R}|{_L}pay (?:for|back) (?:my|the|our) loss",
            *_g,
        ),
        _p(
            rf"{_L}(?!who |what |which |nobody |no one |anyone |someone |users? |i'm |i am )[a-z]+ (?:is"
            rf"|are) (?:fully |totally |100% |solely |entirely )?(?:responsible|liable|accountable"
            rf"|at fault|to blame)(?! for (?:your|their|his|her|its) own){_R}|{_L}your fault{_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:i|we) (?:expect|want|demand|deserve|need|insist|would like) to be (?:fully )?(?:compensated"
            rf"|reimbursed|refunded|paid back|made whole){_R}"
            rf"|{_L}(?:formally )?(?:requesting|demanding|seeking|claiming) (?:a |full |formal |my |the )*"
            rf"(?:reimbursement|compensation|refund){_R}",
            *_g,
            "negated",
            "howto",
        ),
        # English threats
        _p(
            rf"{_L}(?:police report|complaint|lawsuit|case|report) against (?:{_YOU_EN}|your company|this company"
            rf"|tokenpocket|harbor){_R}"
            rf"|{_L}unless (?:i get )?(?:my|our) (?:[a-z]+ )?(?:funds|money|coins|tokens|usdt|eth) (?:are |is )?"
            rf"(?:returned|refunded|back|given back|restored){_R}",
            *_g,
            "negated",
        ),
        _p(
            rf"{_L}(?:sue|suing|sued|lawsuit|class action|legal action|small claims|attorney|lawyers?"
            rf"|see you in court|take (?:you|this|it) to court){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:report|reporting|reported) (?:{_YOU_EN}|this (?:app|company"
            rf"|wallet))(?: [a-z]+){{0,3}}? to{_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:i'?ll|i will|i'?m|i am|we will|we'?ll|gonna"
            rf"|going to)(?: be)?(?: [a-z]+)? (?:report(?:ing)?|escalat[a-z]+|tak(?:e|ing)"
            rf"|send(?:ing)?) (?:this |it |you |all of this |[a-z]+ )?to (?:the )?(?:police|cops|fbi|sec"
            rf"|ftc|regulators?|authorities"
            rf"|cfpb|court|media|press|lawyers?|attorney){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:{_YOU_EN}|harbor) (?:will|'ll|are going to|is going to|gonna) pay for (?:this|it){_R}",
            *_g,
        ),
        _p(rf"{_L}pay (?:me |us )?back{_R}|{_L}i want (?:you|harbor|[a-z]+) to pay{_R}", *_g, "howto", "negated"),
        _p(
            rf"{_L}(?:i'?ll|i will|i'?m going to|i am going to|gonna|i'?m gonna|going to|i'?m"
            rf"|i am) (?:report(?:ing)? (?:this |it )?to|go to|call|contact|file (?:a )?(?:complaint"
            rf"|report) with) the (?:police|cops|fbi|sec|ftc|regulators?|authorities|cfpb"
            rf"|consumer protection){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:regulators?|consumer protection|better business bureau|bbb|go public|post (?:this"
            rf"|it) everywhere|expose (?:you|this)|file a complaint){_R}",
            *_g,
            "negated",
        ),
        # A chargeback the user will start, not one a bank did.
        _p(
            rf"{_L}(?:(?:i'?ll|i will|i'?m|i am|going to|gonna|we will"
            rf"|we'?re)(?: [a-z]+){{0,2}} (?:a )?charge ?backs?"
            rf"|(?:file|filing|initiate|initiating|request|requesting|open|opening|start|starting|do"
            rf"|doing) a charge ?back){_R}",
            *_g,
            "negated",
        ),
    )


class AccountLookupDetector(Detector):
    """A question about one specific transaction or account, which needs a lookup kefu cannot do.

    Fires on an identifier in the message: a transaction hash (0x + 64 hex, or bare 64 hex
    read as a hash), an address (EVM 0x + 40 hex, TRON T + 33 base58, Bitcoin bc1... /
    1... / 3..., Solana-shaped base58), an order or ticket number; or on asking staff to
    check (帮我查下这笔, 你们后台看一下, 我这个地址怎么回事, "can you look up my tx",
    "please check my account").

    Not: how-to questions that mention transactions or addresses ("how do I check my tx on
    the explorer", 交易哈希在哪看, 怎么在浏览器上看我那笔转账), where the user does the
    looking, or a pending transfer described without an identifier or an ask to check.
    """

    name = "account_lookup_detector"
    reason = "account_lookup"
    priority = "normal"
    _HEX64 = re.compile(r"(?<![0-9a-z_])(?:0x)?[0-9a-f]{64}(?![0-9a-z_])")
    _SOLANA = re.compile(r"(?<![0-9A-Za-z_])[1-9A-HJ-NP-Za-km-z]{32,44}(?![0-9A-Za-z_])")
    # A Solana transaction signature: 64 bytes in base58, 86-88 characters.
    _SIGNATURE = re.compile(r"(?<![0-9A-Za-z_])[1-9A-HJ-NP-Za-km-z]{80,90}(?![0-9A-Za-z_])")
    _ORDER = re.compile(
        r"(?:订单号?|工单号?|单号|流水号|编号|ticket|case|order|request)\s*(?:id|no\.?|number|#"
        r"|号)?\s*[:：#]?\s*#?"
        r"[a-z]{0,4}-?\d[\d-]{4,}",
    )
    _what = (
        r"这笔|那笔|这个地址|这个哈希|这个交易|这个订单|这个账户|这个钱包|我的?(?:这个)?(?:账户|账号"
        r"|钱包|地址|余额|交易|订单|记录|转账|充值|提币|资产)"
        r"|余额|账户|地址|哈希|记录|为啥|为什么|怎么回事|咋回事|到哪|去哪|什么情况"
    )
    patterns = (
        _p(
            r"(?:帮我|帮忙|帮|给我|麻烦|请|你们|能不能|可不可以|可以)(?:能|能不能|可以|可不可以|会|帮我"
            r"|帮忙|给我){0,3}"
            r"(?:查|查询|核实|核查|追查|调查)(?!看)",
            "howto",
        ),
        _p(
            r"(?:帮我|帮忙|麻烦|请)(?:你们?)?(?:看|查|瞧|确认|核实|核对)(?:一下|下|看"
            r"|一看)?(?=[\s!?。,~吧呗]*$)",
            "howto",
        ),
        _p(r"(?:发给|发|给)(?:你们|你|客服)(?:看看|看一下|看下|查查|查一下|查下)"),
        _p(
            r"(?:查|查询|核实|核查|看)(?:一下|下)(?:我的?|这个|那个)(?:账户|账号|钱包|地址|余额|交易"
            r"|订单|记录|转账|充值|提币|提现|资产"
            r"|哈希|交易哈希|txid|单号)",
            "howto",
        ),
        _p(
            rf"(?:帮我|帮忙|给我|麻烦|请|你们)(?:帮我|帮忙|给我)?(?:看|瞧|检查|确认)(?:一下|下"
            rf"|看)?(?:{_what})",
            "howto",
        ),
        _p(r"(?:^|[^怎如])(?:查|看)(?:一下|下|查|看)(?:我的?)?(?:这|那)笔", "howto"),
        _p(
            r"(?:你们|后台|系统|客服)(?:那边|这边)?(?:能|可以|能不能|可不可以)?(?:看到|查到|看见"
            r"|查)(?:我的?)",
            "howto",
        ),
        _p(r"后台(?:帮我|给我)?(?:查|看|核|确认|调)"),
        _p(
            r"我(?:的)?(?:这个|这|那个)?(?:地址|账户|账号|钱包|余额|订单)(?:怎么回事|咋回事|什么情况"
            r"|出什么问题|出啥问题|怎么了|出问题了)"
        ),
        _p(
            rf"{_L}(?:can|could|would|will) (?:you|u|someone|somebody|your team)(?: please| pls"
            rf"| plz)? (?:check|look up|look into|look at|verify"
            rf"|investigate|trace|track|see|find out|confirm|pull up)(?: on)?(?: what| why| whether| if"
            rf"| where| my| this| that| the| it| with){_R}",
        ),
        _p(
            rf"{_L}(?:please|pls|plz|kindly)? ?(?:check|look up|look into|look at|investigate|trace"
            rf"|track|pull up|verify|confirm)"
            rf" (?:my|this|that|the|our)"
            rf" (?:[a-z]+ )?(?:tx|txn|txid|transaction|transfer|account|address|wallet|balance|deposit"
            rf"|withdrawal|order|hash|swap|bridge){_R}",
            "howto",
        ),
        _p(rf"{_L}(?:please|pls|plz) (?:check|look)(?: it| this| into it)?(?: out)?{_R}", "howto"),
        _p(rf"{_L}check (?:what|why) (?:happened|is wrong|went wrong){_R}", "howto"),
    )

    def evidence(self, message: Message) -> str | None:
        """An identifier (by kind, not value) or an ask to check, or None."""
        found = self._identifier(message)
        return f"{found} given" if found else _first(self.patterns, message.text)

    def _identifier(self, message: Message) -> str | None:
        if message.hashes or self._HEX64.search(message.text):
            return "tx hash"
        for span in find_addresses(message.raw):
            value = message.raw[span.start : span.end]
            kind = (
                "EVM address"
                if value.lower().startswith("0x")
                else "TRON address"
                if value.startswith("T")
                else "BTC address"
                if value.lower().startswith("bc1") or _looks_random(value)
                else None
            )
            if kind:
                return kind
        if any(_looks_random(m.group()) for m in self._SOLANA.finditer(message.raw)):
            return "address"
        if any(_looks_random(m.group()) for m in self._SIGNATURE.finditer(message.raw)):
            return "tx signature"
        if self._ORDER.search(message.text):
            return "order/ticket number"
        return None


def _looks_random(value: str) -> bool:
    """Base58 that mixes digits, capitals and small letters: an address, not a word or a number."""
    return any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value)


class OutOfScopeDetector(Detector):
    """Prices and predictions, what to buy, and tax or legal advice: a help desk does not give them.

    Chinese: btc会涨吗, 明天eth多少钱, 能涨到多少, 抄底, 该买什么币, 买btc还是eth, 推荐个
    项目, 要交税吗, 怎么报税, 合法吗 (and colloquial names: 大饼, 姨太). English: "price of
    TRX", "will BTC hit 100k", "should I buy", "which coin", "good investment", "100x",
    "taxes", "capital gains", "is it legal".

    Not: fees ("what is the gas price", 能量多少钱), swaps ("price impact", 报价, 滑点), a
    wrong price on screen (钱包里显示的价格不对: a display issue the help center covers), or
    buying as a how-to (想买点eth当gas 怎么搞, "how do I buy eth in the app").
    """

    name = "out_of_scope_detector"
    reason = "out_of_scope"
    priority = "normal"
    _g = ("hypothetical",)
    patterns = (
        # prices and predictions
        _p(
            rf"(?:{_COIN})[^。!?\n]{{0,8}}?(?:会|能|还会|还能|能不能|会不会|可能|有望|要|明年|今年|年底"
            rf"|以后|未来|下个?月|下周)"
            rf"[^。!?\n]{{0,3}}?(?:涨|跌|暴涨|暴跌|翻倍|起飞|归零|拉盘|砸盘|破新高|新高|回调|反弹|到\d"
            rf"|到多少|到[十百千万几一二两三四五六七八九]"
            rf"|涨到|跌到|破\d)",
            "fees",
        ),
        _p(
            r"(?:涨|跌)到(?:多少|几|\d)|(?:能|会)?涨(?:多少|几倍)|涨得(?:多|快)|哪个(?:币)?(?:涨|会涨"
            r"|能涨|更涨)|翻(?:几|\d+)倍"
            r"|百倍币|千倍币|十倍币|能翻倍",
            "fees",
        ),
        _p(
            rf"(?:明天|后天|下周|下个?月|今年|明年|年底|以后|未来|到时候|现在"
            rf"|今天)(?:的)?[^。!?\n]{{0,6}}?(?:{_COIN})[^。!?\n]{{0,4}}?(?:多少钱|什么价|价格|价位"
            rf"|行情|走势)"
        ),
        _p(
            rf"(?:{_COIN})(?:现在|今天|明天)?(?:多少钱|什么价|啥价|的价格|价格是?多少|行情|走势"
            rf"|前景)(?!.{{0,6}}(?:不对|错|不准|不更新|显示))"
        ),
        _p(
            r"(?:行情|走势|k线|币价|大盘|后市|前景|牛市|熊市)(?:怎么看|分析|预测|如何|怎么样|会|还会"
            r"|什么时候)"
            r"|(?:分析|预测)(?:一下|下)?[^。!?\n]{0,8}(?:行情|走势|涨|跌|价格)",
            "fees",
        ),
        _p(
            r"(?:现在|这时候|目前|这个价)(?:买|入|卖|抄|上车|进)[^。!?\n]{0,8}(?:合适|好|划算|可以|行"
            r"|来得及|晚)(?:吗|不|么)"
        ),
        _p(
            r"抄底|梭哈|上车|入场|进场|高位|低位|见顶|见底|到顶了|顶了吗|底了吗|加仓|减仓|割肉|止损"
            r"|止盈|(?:是|到|进入|还是)(?:牛市|熊市)|(?:牛市"
            r"|熊市)(?:吗|了吗|来了|结束|什么时候|还有多久)"
        ),
        # what to buy
        _p(
            r"(?:买|入|投|囤|拿|屯|冲)(?:什么|哪个|哪些|啥)(?:币|好|比较好|项目|能)?|(?:该|应该|要不要"
            r"|适合|值不值得|可以)(?:现在)?(?:买|卖|入场"
            r"|进场|出货|all in)"
        ),
        _p(
            r"(?:买|入|投)[^。!?\n]{0,8}还是[^。!?\n]{0,8}(?:好|呢|划算|靠谱|\?)|(?:是"
            r"|该)买[^。!?\n]{0,6}还是"
        ),
        _p(
            rf"(?:推荐|介绍)(?:个|一个|几个|一些|点)?[^。!?\n]{{0,6}}?(?:{_COINS_ZH}|项目|理财|投资"
            rf"|基金|赚钱|挖矿项目|矿池)"
        ),
        _p(r"(?:项目|币种?|代币|理财|基金|矿池)(?:推荐|介绍)(?:一下|下|几个)?"),
        _p(
            rf"(?:{_COIN})[^。!?\n]{{0,4}}?(?:值得|值不值得|能不能|可以|还能|能)再?(?:买|投资|入手"
            rf"|长期持有|持有|拿|囤|上车)"
            rf"|投资(?:建议|什么|哪个|哪些|价值)|升值空间|理财(?:产品|项目|推荐)|(?:稳赚|收益最高"
            rf"|赚钱快|一夜暴富)"
            rf"|(?:{_COIN})[^。!?\n]{{0,6}}(?:潜力|前景|前途|有搞头|靠谱吗)|哪(?:个|些|种|一个)(?:币"
            rf"|代币|项目|meme|山寨)种?(?:好|最"
            rf"|值得|有潜力|比较好|更好|赚|靠谱|推荐|能涨|会涨|能翻|可以买|能买|该买)"
            rf"|(?:买|投资|囤|炒)(?:{_COIN})(?:靠谱|划算|好|稳|安全)(?:吗|不)"
        ),
        _p(
            r"哪(?:个|一个|种)(?:更|比较)?(?:值得(?!信|用)|有潜力|适合长期|适合投资|能涨|会涨)|长期(?:拿|持有|囤|屯)"
            r"(?:哪个|什么|啥)"
            r"|(?:牛市|熊市|行情|这波|上涨|下跌|大盘|涨势|跌势)[^。!?\n]{0,4}(?:持续|还有多久|多久|到什么时候|结束)",
            "fees",
            "display",
        ),
        # which exchange, trading strategies, mining hardware, fiat exchange rates
        _p(
            r"(?:哪个|哪家|什么|啥)交易所(?:更|最|比较)?(?:好|靠谱|安全|推荐|正规)|交易所(?:推荐|哪个好|哪家好)"
            r"|推荐(?:个|一个|几个)?交易所|交易所[^。!?\n]{0,4}哪个(?:更|比较)?(?:靠谱|好|安全|正规)"
            r"|(?:量化|合约|网格|套利|交易)(?:交易)?(?:策略|机器人)|稳定赚钱|稳赚不赔"
            r"|挖矿[^。!?\n]{0,4}(?:赚钱|回本|收益|划算|能赚)|矿机|显卡[^。!?\n]{0,6}(?:挖|回本|哪款|算力)"
            r"|汇率|(?:多少|几块)(?:钱|人民币|rmb)一个u|u(?:现在|今天)?(?:换|兑)(?:成)?(?:人民币|rmb|美元)"
            r"[^。!?\n]{0,4}(?:多少|什么价)",
            "howto",
            "fees",
            "display",
        ),
        # Not a wallet question at all: weather, essays and poems, jokes, translations, code.
        _p(
            r"天气|气温|(?:会|要)下雨|(?:写|作)(?:一?篇|个|一首|首|段|一段)?[^。!?\n]{0,8}"
            r"(?:作文|论文|诗|小说|文案|周报|简历|情书|演讲稿|读后感)"
            r"|(?:讲|说)(?:个|一个|几个)?笑话|(?:帮我|给我|请|麻烦)(?:把)?[^。!?\n]{0,12}翻译(?:成|为|一下|下)"
            r"|(?:帮我|给我|帮忙)(?:写|改|调|debug|看看|看下)(?:一下|下|个|段)?[^。!?\n]{0,6}(?:代码|程序|脚本"
            r"|python|java|爬虫|作业)",
            "hypothetical",
        ),
        # tax and legal
        _p(
            r"交税|报税|纳税|缴税|税务|个税|扣税|税率|避税|抵税|要不要税|税吗|收税|完税|(?:合法|违法"
            r"|犯法|坐牢)(?:吗|不|么)|法律(?:问题|风险|责任)吗"
        ),
        # English
        _p(
            rf"{_L}(?:price|value|worth) of (?:a |one "
            rf"|1 )?(?:{_COINS_EN}){_R}(?![^.!?\n]{{0,30}}(?:wrong|incorrect|shows?|shown|displayed"
            rf"|not updat|stuck|off))",
            *_g,
        ),
        _p(
            rf"{_L}(?:{_COINS_EN}) (?:price|prices)(?: (?:prediction|forecast|target|today|tomorrow"
            rf"|next|now|outlook))?{_R}"
            rf"(?![^.!?\n]{{0,30}}(?:wrong|incorrect|show|shown|display|not updat|stuck|off|in (?:the"
            rf"|my) (?:app|wallet)|fell|fall"
            rf"|dropped|drop|rose|went|changed|moved|chart))",
            *_g,
            "fees",
        ),
        _p(
            rf"{_L}(?:will|would|could|can|is|does|do) (?:the )?(?:{_COINS_EN}|it|the price|price"
            rf"|prices|market)(?: price)? (?:go up|go down|rise|fall|drop|pump|dump|moon|hit|reach"
            rf"|crash|recover|rally|break|double|10x|100x|be worth|go to){_R}",
        ),
        _p(
            rf"{_L}(?:price (?:prediction|forecast|target|outlook)|predictions?|forecasts?|to the moon"
            rf"|moon soon|when moon|bull run|bear market|next bull|all[- ]time high){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:{_COINS_EN}|the market|prices?) (?:is |are )?(?:going to|gonna|about to"
            rf"|ever going to) (?:crash|pump|dump|moon|go up"
            rf"|go down|rise|fall|drop|rally|explode|recover|hit|reach|double|be worth|zero|0){_R}"
        ),
        _p(
            rf"{_L}(?:{_COINS_EN}) (?:is |are )?(?:going|go|goes) (?:up|down) (?:tomorrow|soon|next"
            rf"|this|today|again|anytime)|{_L}(?:is|are|will) (?:{_COINS_EN}) (?:going|go) (?:up"
            rf"|down){_R}",
            "fees",
        ),
        _p(rf"{_L}how (?:high|low|far) (?:can|will|could|would) (?:{_COINS_EN}|it|the price) go{_R}"),
        _p(
            rf"{_L}how much (?:is|are|will|would) (?:(?:a|an|one|1"
            rf"|\d+(?:\.\d+)?) )?(?:{_COINS_EN}) (?:be )?(?:worth|in (?:usd|dollars"
            rf"|eur|euros|cny|rmb|usdt)|going|right now|today|tomorrow|next){_R}"
        ),
        _p(
            rf"{_L}(?:best|top|safest) (?:{_COINS_EN}|projects?|investments?) (?:to|for) (?:buy|invest"
            rf"|hold|own|trade){_R}|{_L}invest(?:ing)? in (?:which|what|{_COINS_EN}){_R}",
            *_g,
        ),
        _p(
            rf"{_L}(?:should|shall) (?:i|we) (?:buy|sell|hold|invest|hodl|ape|short|long|dca"
            rf"|all in){_R}(?! [a-z]* ?(?:gas|fees?|energy|bandwidth)(?:[^a-z]|$))"
        ),
        _p(
            rf"{_L}(?:which|what)(?: [a-z]+)? (?:{_COINS_EN}|project|projects|investment|stock"
            rf"|stocks)(?: [a-z]+)? (?:should|to|would|will|is (?:the )?best|are (?:the )?best|has"
            rf"|have){_R}"
        ),
        _p(
            rf"{_L}(?:good|best|safe|smart|great|bad|solid) (?:investment|buy|time to buy|time to sell"
            rf"|entry|coin|token|project|returns?){_R}"
        ),
        _p(rf"{_L}(?:investment|financial|tax|legal) advice|{_L}\d{{2,}}x{_R}|{_L}(?:nfa|dyor){_R}"),
        _p(
            rf"{_L}(?:tax|taxes|taxed|taxable|irs|hmrc|capital gains?|1099|tax return"
            rf"|report (?:my )?(?:crypto )?(?:gains|profits|income)){_R}",
            *_g,
        ),
        _p(rf"{_L}is (?:it|crypto|bitcoin|this|trading|mining) (?:legal|illegal){_R}"),
        _p(
            rf"{_L}(?:how much )?(?:will|would)[^.!?\n]{{0,30}} be worth(?: by| in| next| after){_R}"
            rf"|{_L}(?:better|best|smarter|safer) (?:long[- ]term )?investment{_R}"
            rf"|{_L}recommend (?:me )?(?:an? |some )?(?:good |great |solid |promising |new |safe )?(?:[a-z-]+ )?"
            rf"(?:gems?|coins?|tokens?|projects?|exchanges?|altcoins?|memecoins?|investments?){_R}"
            rf"|{_L}(?:low[- ]cap|micro[- ]cap|hidden) gems?{_R}"
            rf"|{_L}(?:which|what|best) exchange (?:is|should|to)(?: the)? (?:best|better|safest|most reliable|use)"
            rf"|{_L}(?:is (?:mining|it) (?:still )?profitable|mining rigs?|asic miners?|gpus? (?:for|to) mine){_R}"
            rf"|{_L}exchange rate (?:of|for|between|from)|{_L}(?:usdt?|dollars?|usd) to (?:cny|rmb|yuan|eur"
            rf"|euros|inr|rupees?|naira|ngn|pesos?|php|vnd|idr){_R}",
            *_g,
            "fees",
        ),
        # Not a wallet question at all.
        _p(
            rf"{_L}(?:weather|temperature outside){_R}|{_L}tell me (?:a |some )?jokes?{_R}"
            rf"|{_L}(?:write|compose|draft)(?: me)? (?:a|an|my|some) (?:[a-z-]+ ){{0,3}}(?:essay|poem|story|song|letter"
            rf"|cover letter|resume|cv|speech|haiku|homework|thesis|novel){_R}"
            rf"|{_L}translate (?:this|my|the|these)(?: [a-z]+)? (?:contract|document|letter|essay|paragraph|text"
            rf"|article|email|book){_R}"
            rf"|{_L}(?:fix|debug|write|correct|review)(?: me)? (?:my|this|some|a) (?:[a-z]+ )?(?:code|script|program"
            rf"|homework|function){_R}|{_L}(?:python|javascript|java|excel|sql) (?:code|script|homework|formula){_R}"
            rf"|{_L}(?:indentation|syntax|type|name|attribute|key|value)error{_R}",
            *_g,
        ),
    )


#: The rules, in severity order (the order of REASONS).
DETECTORS: Final[tuple[Detector, ...]] = (
    StolenFundsDetector(),
    SecretSharedDetector(),
    CompensationDetector(),
    HumanRequestedDetector(),
    AccountLookupDetector(),
    OutOfScopeDetector(),
)
_SEVERITY: Final = {reason: n for n, reason in enumerate(REASONS)}


def check_rules(text: str, history: Sequence[str] = ()) -> list[RuleHit]:
    """Every handoff rule that fires on ``text``, most severe first.

    ``history`` is the conversation's earlier user turns, oldest first; the last
    :data:`HISTORY_TURNS` are read for the conversation-level reasons (module doc), and a
    hit found only there carries ``"earlier turn: ..."`` as its evidence. One hit per reason.
    """
    found: dict[str, RuleHit] = {}
    message = Message.of(text)
    for detector in DETECTORS:
        hit = detector.check(message)
        if hit is not None:
            found[hit.reason] = hit
    sticky = [d for d in DETECTORS if d.reason in STICKY_REASONS]
    for turn in reversed(history[-HISTORY_TURNS:] if HISTORY_TURNS else ()):
        if all(d.reason in found for d in sticky):
            break
        earlier = Message.of(turn)
        for detector in sticky:
            if detector.reason in found:
                continue
            hit = detector.check(earlier)
            if hit is not None:
                found[hit.reason] = RuleHit(
                    reason=hit.reason,
                    rule=hit.rule,
                    evidence=_shorten(f"earlier turn: {hit.evidence}"),
                    priority=hit.priority,
                )
    return sorted(found.values(), key=lambda hit: _SEVERITY[hit.reason])
