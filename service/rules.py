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

Neither of the last two fires on a question about a scam (:func:`service.intents.detect_fraud`):
a scam's pretext reads like a lookup ("wants my seed phrase to verify my wallet") or like an
investment question ("先转点u才能把币提出来 这靠谱吗"), and the user needs the warning, not a queue.

The words and phrase shapes are data, shared with the answer check: the lexicon
(``service/lexicon/zh.toml`` and ``en.toml``, one phrase shape per ``[[patterns.<reason>]]``
with the guards that can veto it). This module holds what needs code: reading a message,
the guards below and each detector's steps.

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

from kefu.brand import Brand, active_brand, demo_brand
from kefu.redaction import detect_secrets, find_addresses
from kefu.text import normalise, sentence_around, stop_after
from service.intents import detect_fraud
from service.lexicon import PatternSpec, lexicon

# Words and phrase shapes are data (service/lexicon/*.toml); what is here reads them.
_LEX: Final = lexicon()

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
#: Reasons a question about a scam never takes (module doc): the warning answers it.
_NOT_FOR_SCAMS: Final = ("account_lookup", "out_of_scope")
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
_KEYISH = _LEX.regex("rules.keyish", re.IGNORECASE)
# Words about the state of one transfer: the hex next to them is the transfer's hash.
_TRANSFER_STATE = _LEX.regex("rules.transfer_state", re.IGNORECASE)


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


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence holding ``text[start:end]`` (:func:`kefu.text.sentence_around`)."""
    left, right = sentence_around(text, start, end)
    return text[left:right]


_HYPOTHETICAL = _LEX.regex("rules.hypothetical")
# After the match: 私钥泄露会怎样 asks about consequences in general.
_HYPOTHETICAL_AFTER = _LEX.regex("rules.hypothetical_after")
# Said anywhere in the message: the user asks in general, ahead of time.
_GENERAL = _LEX.regex("rules.general")
# Someone else's phrase posted "by mistake" with funds in it is a honeypot: what the user
# sends in to pay the fee is swept, but it is the scam the help center explains, not theft
# from the user's own wallet.
_HONEYPOT = _LEX.regex("rules.honeypot")
# What a screen shows: 首页的币不见了 after an update is a display question, not theft.
_DISPLAY = _LEX.regex("rules.display")
_QUESTION_BEFORE_ZH = _LEX.regex("rules.question_before_zh")
# 吗 and its kin, or one "?" straight after (被盗了? — "??" and "?!" are alarm, not doubt).
_QUESTION_AFTER_ZH = _LEX.regex("rules.question_after_zh")
_AUX_OPENER = _LEX.regex("rules.aux_opener")
_NEGATED = _LEX.regex("shared.negation")
_HOWTO = _LEX.regex("rules.howto")
# A complaint or report aimed at a scammer or an exchange is not a threat to the company.
_ELSEWHERE = _LEX.regex("rules.elsewhere")
_HEARSAY = _LEX.regex("rules.hearsay")
# Fees rise and fall too; a prediction about gas is a fee question, in scope.
_FEES = _LEX.regex("rules.fees")
# Someone else's secret: 群里有人把助记词发出来了 (a honeypot), not the user's.
_THIRD_PARTY = _LEX.regex("rules.third_party")
_PAST = _LEX.regex("rules.past")
_RECENT = _LEX.regex("rules.recent")
_ASKS_IF_LEGIT = _LEX.regex("rules.asks_if_legit")
_DONE = _LEX.regex("rules.done")


@lru_cache(maxsize=256)
def _anywhere(regex: re.Pattern[str], text: str) -> bool:
    # Whole-message guards: read once per message, however many matches ask.
    return bool(regex.search(text))


def _is_question(text: str, start: int, end: int) -> bool:
    before = _before(text, start)
    if _QUESTION_BEFORE_ZH.search(before) or _QUESTION_AFTER_ZH.search(text[end : end + 3]):
        return True
    # An English clause opened by an auxiliary and closed by "?": "is my wallet hacked?"
    return stop_after(text, end).startswith("?") and bool(_AUX_OPENER.match(before))


def _near(text: str, start: int) -> str:
    """The words right before ``start``: back to a space or clause break, at most 6 characters."""
    return re.split(r"\s", _before(text, start, 6))[-1]


def _is_past(text: str, start: int, end: int) -> bool:
    sentence = _sentence(text, start, end)
    return bool(_PAST.search(sentence)) and not _RECENT.search(sentence)


def _asks_if_legit(text: str, start: int, end: int) -> bool:
    # "客服让我输入助记词，靠谱吗": nothing was given yet; the answer warns (service/intents.py).
    return (
        _anywhere(_ASKS_IF_LEGIT, text)
        and not _DONE.search(text[start:end])
        and not _DONE.search(_before(text, start, 8))
    )


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
    "asks_if_legit": _asks_if_legit,
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


def _pattern(spec: PatternSpec) -> Pattern:
    unknown = set(spec.guards) - _GUARDS.keys()
    if unknown:
        raise ValueError(f"unknown guards {sorted(unknown)} in a {spec.group} pattern: {spec.regex!r}")
    return Pattern(re.compile(spec.regex), spec.guards, spec.label)


@lru_cache(maxsize=8)
def _patterns(reason: str, brand: Brand) -> dict[str, tuple[Pattern, ...]]:
    """The phrase shapes of rule ``reason`` by the detector's step ("patterns", "not_me"...)."""
    groups: dict[str, list[Pattern]] = {}
    for spec in _LEX.patterns(reason, brand):
        groups.setdefault(spec.group, []).append(_pattern(spec))
    return {group: tuple(patterns) for group, patterns in groups.items()}


def _shorten(evidence: str) -> str:
    evidence = " ".join(evidence.split()).strip(" .,;:!?。，、")
    return evidence if len(evidence) <= MAX_EVIDENCE else evidence[: MAX_EVIDENCE - 1] + "…"


def _first(patterns: Sequence[Pattern], text: str) -> str | None:
    for pattern in patterns:
        found = pattern.find(text)
        if found:
            return found
    return None


# --- the detectors ------------------------------------------------------------------------


class Detector:
    """A handoff rule: a reason code, a priority and :meth:`evidence` for a message."""

    name: ClassVar[str]
    reason: ClassVar[str]
    priority: ClassVar[str]

    def __init__(self, brand: Brand) -> None:
        # Phrase shapes that name the company ("我要告港湾") read the brand's names.
        self.groups = _patterns(self.reason, brand)
        self.patterns = self.groups.get("patterns", ())

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

    # TRON refusing a transfer for permission ("permission" shapes) means someone changed the
    # account's owner key, unless the user set up the multisig themselves.
    _OWN_MULTISIG = _LEX.regex("rules.own_multisig")

    # Address poisoning that worked: funds sent to a look-alike of a familiar address. Only
    # with the send done: 差点转错 ("almost") and dust from a look-alike are questions the
    # help center answers.
    _LOOKALIKE = _LEX.regex("rules.lookalike")
    _SENT = _LEX.regex("rules.sent")
    _ALMOST = _LEX.regex("rules.almost")

    # A zero-value transfer "not made by me" is address poisoning, not theft.
    _ZERO = _LEX.regex("rules.zero")

    def evidence(self, message: Message) -> str | None:
        """Theft or compromise reported in ``message``, or None."""
        text = message.text
        found = _first(self.patterns, text)
        if found is None and not self._ZERO.search(text):
            found = _first(self.groups["not_me"], text)
        if found is None and not self._OWN_MULTISIG.search(text):
            found = _first(self.groups["permission"], text)
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
    _ORDER = _LEX.regex("rules.order")

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


_KINDS: Final = (
    StolenFundsDetector,
    SecretSharedDetector,
    CompensationDetector,
    HumanRequestedDetector,
    AccountLookupDetector,
    OutOfScopeDetector,
)


@lru_cache(maxsize=8)
def detectors(brand: Brand) -> tuple[Detector, ...]:
    """The rules for ``brand``, in severity order (the order of REASONS)."""
    return tuple(kind(brand) for kind in _KINDS)


#: The rules for the demo brand, in severity order (the order of REASONS).
DETECTORS: Final[tuple[Detector, ...]] = detectors(demo_brand())
_SEVERITY: Final = {reason: n for n, reason in enumerate(REASONS)}


def check_rules(text: str, history: Sequence[str] = (), *, brand: Brand | None = None) -> list[RuleHit]:
    """Every handoff rule that fires on ``text``, most severe first.

    ``history`` is the conversation's earlier user turns, oldest first; the last
    :data:`HISTORY_TURNS` are read for the conversation-level reasons (module doc), and a
    hit found only there carries ``"earlier turn: ..."`` as its evidence. One hit per reason.
    ``brand`` (default: the deployment's, :func:`kefu.brand.active_brand`) says which names
    are the company's.
    """
    found: dict[str, RuleHit] = {}
    message = Message.of(text)
    rules = detectors(brand or active_brand())
    for detector in rules:
        hit = detector.check(message)
        if hit is not None:
            found[hit.reason] = hit
    sticky = [d for d in rules if d.reason in STICKY_REASONS]
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
    if detect_fraud(text) is not None:
        for reason in _NOT_FOR_SCAMS:
            found.pop(reason, None)
    return sorted(found.values(), key=lambda hit: _SEVERITY[hit.reason])
