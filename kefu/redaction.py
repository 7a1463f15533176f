"""Redaction of secrets and personal data from text on the way in.

Users paste seed phrases, private keys, keystores and passwords into chats and tickets.
kefu redacts them before anything is stored, embedded or logged: every detector below
finds spans in a text, :func:`detect_secrets` merges them, and :class:`Redactor` replaces
each span with a placeholder such as ``[REDACTED:seed_phrase]`` (the same in every
language, so that reports and the handoff rules can count them).

Kinds, as stable strings:

    seed_phrase   12+ consecutive BIP39 words (English list, or Chinese single characters
                  separated by spaces or commas)
    private_key   64 hex characters judged to be a key (see below), WIF keys with a valid
                  checksum, extended private keys (xprv/yprv/zprv...)
    keystore      a JSON keystore (an object with a ``"ciphertext"``), the whole object
    password      the value given after a password keyword ("密码是 xxx", "password: xxx")
    email         an e-mail address
    phone         a Chinese mobile number, or an international number written with ``+``
    address       (only when asked for) EVM, TRON and Bitcoin addresses
    tx_hash       (only when asked for) 64 hex characters judged to be a transaction hash

Hash or key? A private key and a transaction hash look the same: 64 hex characters, with
``0x`` on EVM chains and without on TRON and Bitcoin. Agents need the hashes, and a leaked
key is catastrophic, so :func:`classify_hex64` decides from the words around it, in order:

1. directly after an explorer transaction path (``etherscan.io/tx/``,
   ``tronscan.org/#/transaction/``, ``mempool.space/tx/``...): a hash;
2. a private-key word (私钥, 密钥, private key, privkey, pk, secret key, 导入 key...) in the
   60 characters before it: a key, even if hash words are there too;
3. a hash word (哈希, 交易, hash, txid, tx, transaction, an explorer's name, a checksum's: SHA256, MD5) in those 60
   characters: a hash;
4. the same two tests on ``context`` (say, the agent's message the customer answers:
   "请发一下交易哈希");
5. nothing either way: a key. A lost hash costs the agent a question; a leaked key costs
   the customer everything.

The detectors are regular expressions that cannot backtrack catastrophically, plus
linear scans: the whole demo corpus (tickets and help articles, about 315,000 characters) is redacted
in well under a second, and no pasted text can make it slow.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from mnemonic import Mnemonic

Kind = Literal["seed_phrase", "private_key", "keystore", "password", "email", "phone", "address", "tx_hash"]

#: Every kind, in the order overlapping matches are settled: a span claimed by an earlier
#: kind is not claimed again by a later one (the hex ciphertext inside a keystore is part
#: of the keystore, not a private key of its own).
KINDS: Final[tuple[Kind, ...]] = (
    "keystore",
    "seed_phrase",
    "private_key",
    "password",
    "email",
    "phone",
    "address",
    "tx_hash",
)
_PRIORITY: Final[dict[str, int]] = {kind: n for n, kind in enumerate(KINDS)}

#: Shortest run of BIP39 words that counts as a seed phrase (the shortest real phrase).
MIN_SEED_WORDS: Final = 12
#: How far before a 64-hex string :func:`classify_hex64` looks for key or hash words.
HEX_CONTEXT_CHARS: Final = 60


def placeholder(kind: str) -> str:
    """The text that replaces a redacted span of this kind, e.g. ``[REDACTED:email]``."""
    return f"[REDACTED:{kind}]"


@dataclass(frozen=True)
class SecretMatch:
    """Where a secret is in a text: ``text[start:end]``. The value itself is never kept."""

    kind: Kind
    start: int
    end: int


@dataclass(frozen=True)
class RedactionResult:
    """A redacted text and how many spans of each kind were replaced in it."""

    text: str
    counts: dict[str, int]

    @property
    def found(self) -> bool:
        """Whether anything was redacted."""
        return any(self.counts.values())


# --- shared character classes -------------------------------------------------------------

_B58 = "1-9A-HJ-NP-Za-km-z"
_B58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_CJK = "\u4e00-\u9fff"


# --- seed phrases -------------------------------------------------------------------------


@cache
def _mnemonic(language: str) -> Mnemonic:
    # Imported here so that importing kefu stays cheap; each list is read once.
    from mnemonic import Mnemonic

    return Mnemonic(language)


@cache
def _english_words() -> frozenset[str]:
    return frozenset(_mnemonic("english").wordlist)


@cache
def _chinese_words() -> frozenset[str]:
    return frozenset(_mnemonic("chinese_simplified").wordlist) | frozenset(_mnemonic("chinese_traditional").wordlist)


_LATIN_WORD = re.compile(r"[A-Za-z]+")
# A Chinese mnemonic word is one character standing alone; a character inside running
# Chinese text never is, since almost every common character is on the Chinese list.
_LONE_CJK = re.compile(rf"(?<![{_CJK}])[{_CJK}](?![{_CJK}])")
# ...and the first and last characters of a block of them, which a phrase can touch
# ("助记词是滩 眼 构 ..."): a block's inside never joins a run, its edges do.
_EDGE_CJK = re.compile(rf"(?<![{_CJK}])[{_CJK}]|[{_CJK}](?![{_CJK}])")
# What may stand between two words of a phrase: spaces, line breaks, any punctuation or
# symbol ("abandon+ability", "abandon|ability"), and list numbering ("1. abandon 2. ability",
# "1)abandon"). No letters, no Chinese characters, no number of three digits or more.
_SEED_GAP = re.compile(r"(?:[^\w]|_|\d{1,2}(?!\d)){1,16}")
# Numbering in front of the first word ("1. ", "(1) ", "#1 ", "1)"), redacted with the run.
_FIRST_NUMBER = re.compile(r"(?<!\d)[#(（\[]?0?1(?:[.)）、:：\]][ \t]*|[ \t]+)$")


def find_seed_phrases(text: str) -> list[SecretMatch]:
    """Runs of 12 or more consecutive BIP39 words, English or Chinese.

    English words are matched case-insensitively (phones capitalise the first word) and
    may be separated by spaces, line breaks, any punctuation or symbol, or numbering, also
    inside Chinese text. A word off the list by one typo, or whose first four letters
    name a list word (BIP39 words differ in their first four), still counts inside a run:
    at most one in six of a run's words, never two in a row, never at its ends. Eleven list
    words in a row are not a phrase, which keeps ordinary English sentences (many of whose
    words are on the list) unflagged. The checksum is not required: a phrase with a typo is
    still nearly the whole secret, so every run of 12+ words is redacted whole, numbering
    in front of its first word included. One exception: a run one or two words longer than
    a phrase length (12, 15, 18, 21, 24) that holds a checksum-valid phrase, such as "seed
    phrase: <12 words>" ("seed" and "phrase" are on the list) or a phrase followed by
    "Address", loses only the phrase.

    Chinese words are single characters: separated (by spaces, commas...) they are matched
    like English words; written together, a run of 12+ list characters is a phrase when a
    word segmenter finds almost no words in it (:func:`find_chinese_runs`).
    """
    matches = _word_runs(text, _LATIN_WORD.finditer(text), _english_words(), ("english",), near=_near_english)
    if _LONE_CJK.search(text):
        matches += _word_runs(
            text, _EDGE_CJK.finditer(text), _chinese_words(), ("chinese_simplified", "chinese_traditional")
        )
    matches += find_chinese_runs(text)
    return matches


@cache
def _english_prefixes() -> dict[str, str]:
    return {word[:4]: word for word in _english_words()}


@cache
def _english_deletes() -> dict[str, str]:
    """Every list word with one letter deleted -> the word (for one-typo matches)."""
    out: dict[str, str] = {}
    for word in _english_words():
        for i in range(len(word)):
            out.setdefault(word[:i] + word[i + 1 :], word)
    return out


def _near_english(token: str) -> bool:
    """Whether a word off the BIP39 list is one typo from a list word, or starts like one."""
    if len(token) < 3 or not token.isascii():
        return False
    if len(token) <= 9 and token[:4] in _english_prefixes():
        return True
    words, deletes = _english_words(), _english_deletes()
    if token in deletes:  # a letter missing
        return True
    return any(
        token[:i] + token[i + 1 :] in words or token[:i] + token[i + 1 :] in deletes  # one extra, one changed
        for i in range(len(token))
    )


# A run of Chinese characters long enough to hold a phrase written without separators.
_CJK_RUN = re.compile(rf"[{_CJK}]{{{MIN_SEED_WORDS},}}")
#: Share of a run's characters that must stand alone (no dictionary word) for a phrase.
_LOOSE_SHARE: Final = 0.6
#: Fewest characters between the grammar characters at a phrase's edges.
_MIN_CORE: Final = 10
# The characters that carry Chinese grammar: chat is full of them, while a phrase, drawn at
# random from 2,048 characters, holds one of them in three phrases.
_FUNCTION_CHARS: Final = frozenset(
    "的了是我你他她它们在就都也还和与给让把被吗呢吧啊呀么这那有不没很会要能可说去来到上下个对从"
    "向跟但而且或如果因为所以已经再又才只想看用后前里中时么哪谁什怎"
)


def find_chinese_runs(text: str) -> list[SecretMatch]:
    """Chinese phrases written without separators ("浪费敌氏卷夏狗拖袭唱奶群辛").

    Nearly every common character is on the Chinese list, so a run of list characters
    alone says nothing; what gives a phrase away is that its characters make no words.
    Each run of 12+ list characters is segmented (jieba, dictionary only): a stretch of
    12+ characters with no word of three or more, at least 60% of whose characters stand
    alone, with 9+ different characters, and where grammar characters (的, 了, 我, 是...)
    and neighbouring pairs that are dictionary words together number at most a quarter of
    its length, is a phrase (with the loose characters around it). Ordinary Chinese is
    mostly two-character words, and chat that is not is full of grammar characters. A
    random phrase fails this by chance about 6 times in 1,000 (docs/security.md).
    """
    words = _chinese_words()
    found: list[SecretMatch] = []
    for run in _CJK_RUN.finditer(text):
        start = run.start()
        for i, char in enumerate([*run.group(), ""]):
            if char in words:
                continue
            end = run.start() + i
            if end - start >= MIN_SEED_WORDS and _few_grammar_chars(text, start, end):
                found += _loose_stretches(text, start, end)
            start = end + 1
    return found


def _few_grammar_chars(text: str, start: int, end: int) -> bool:
    """Whether some 12 characters in a row of ``text[start:end]`` hold at most three grammar
    characters (a cheap test that spares most Chinese prose the segmenter)."""
    marks = [start - 1, *(i for i in range(start, end) if text[i] in _FUNCTION_CHARS), end]
    return any(marks[i + 4] - marks[i] - 1 >= MIN_SEED_WORDS for i in range(len(marks) - 4)) or (
        len(marks) < 5 and end - start >= MIN_SEED_WORDS
    )


def _loose_stretches(text: str, start: int, end: int) -> list[SecretMatch]:
    from kefu.text import common_words, segment

    found: list[SecretMatch] = []
    stretch: list[tuple[int, int]] = []  # (start, end) of the tokens in the current stretch

    def bound(token: tuple[int, int]) -> bool:
        # A word, or a grammar character, at an edge belongs to the sentence around.
        return token[1] - token[0] > 1 or text[token[0]] in _FUNCTION_CHARS

    def close() -> None:
        last = len(stretch)
        while last and bound(stretch[last - 1]):
            last -= 1
        # The phrase may start a few characters into the stretch ("词是<phrase>").
        for core in range(last):
            if bound(stretch[core]):
                continue
            first = core
            chars = text[stretch[first][0] : stretch[last - 1][1]]
            if len(chars) < _MIN_CORE:
                break
            loose = sum(1 for a, b in stretch[first:last] if b - a == 1)
            grammar = sum(char in _FUNCTION_CHARS for char in chars)
            if (
                loose >= _LOOSE_SHARE * len(chars)
                and grammar + common_words(chars, least=0) <= len(chars) // 4
                and len(set(chars)) >= 9
            ):
                # Grammar characters at the edges may be the phrase's own first and last words.
                while first and stretch[first - 1][1] - stretch[first - 1][0] == 1:
                    first -= 1
                while last < len(stretch) and stretch[last][1] - stretch[last][0] == 1:
                    last += 1
                if stretch[last - 1][1] - stretch[first][0] >= MIN_SEED_WORDS:
                    found.append(SecretMatch("seed_phrase", stretch[first][0], stretch[last - 1][1]))
                break
        stretch.clear()

    for a, b in segment(text[start:end]):
        if b - a >= 3:
            close()
        else:
            stretch.append((start + a, start + b))
    close()
    return found


_PHRASE_LENGTHS: Final = (24, 21, 18, 15, 12)


def _word_runs(
    text: str,
    tokens: Iterable[re.Match[str]],
    words: frozenset[str],
    languages: tuple[str, ...],
    near: Callable[[str], bool] | None = None,
) -> list[SecretMatch]:
    found: list[SecretMatch] = []
    run: list[tuple[re.Match[str], bool]] = []  # (token, only near a list word)

    def close() -> None:
        # A character at the edge of a block of Chinese text joins a run only to make up
        # a phrase's length ("助记词是滩 眼 构..."), never to lengthen one that is whole.
        while len(run) > MIN_SEED_WORDS and _in_block(text, run[0][0]):
            run.pop(0)
        while len(run) > MIN_SEED_WORDS and _in_block(text, run[-1][0]):
            run.pop()
        # Near words never start or end a phrase, and at most one in six is near.
        while run and run[-1][1]:
            run.pop()
        while run and run[0][1]:
            run.pop(0)
        if len(run) >= MIN_SEED_WORDS and sum(n for _, n in run) <= len(run) // 6:
            first, last = _phrase_in_run([token.group().lower() for token, _ in run], languages)
            start = run[first][0].start()
            number = _FIRST_NUMBER.search(text, max(0, start - 6), start)
            found.append(SecretMatch("seed_phrase", number.start() if number else start, run[last][0].end()))
        run.clear()

    for token in tokens:
        word = token.group().lower()
        is_near = False
        if word not in words:
            is_near = near is not None and bool(run) and not run[-1][1] and near(word)
            if not is_near:
                close()
                continue
        if run and not _SEED_GAP.fullmatch(text, run[-1][0].end(), token.start()):
            close()
        run.append((token, is_near))
    close()
    return found


_CJK_CHAR = re.compile(rf"[{_CJK}]")


def _in_block(text: str, token: re.Match[str]) -> bool:
    """Whether a Chinese token touches another Chinese character (the edge of a block)."""
    before, after = token.start() - 1, token.end()
    return bool((before >= 0 and _CJK_CHAR.match(text, before)) or (after < len(text) and _CJK_CHAR.match(text, after)))


def _phrase_in_run(run: list[str], languages: tuple[str, ...]) -> tuple[int, int]:
    """Indexes of the first and last word to redact in a run of 12+ list words."""
    for length in _PHRASE_LENGTHS:
        if not len(run) - 2 <= length < len(run):
            continue
        for first in range(len(run) - length + 1):
            phrase = " ".join(run[first : first + length])
            if any(_mnemonic(language).check(phrase) for language in languages):
                return first, first + length - 1
    # Trimming more than two words could expose most of a phrase whose checksum fails
    # because of a typo, while a short window inside it happens to be valid.
    return 0, len(run) - 1


# --- private keys and transaction hashes --------------------------------------------------

_HEX64 = re.compile(r"(?<![0-9A-Za-z_])(?:0[xX])?[0-9a-fA-F]{64}(?![0-9A-Za-z_])")
_KEY_WORDS = re.compile(
    r"私钥|私鑰|密钥|密鑰|秘钥|秘鑰"
    r"|(?<![A-Za-z])(?:private|secret|priv|signing)[\s_-]*keys?(?![A-Za-z])"
    r"|(?<![A-Za-z])(?:privkey|privatekey|pk)(?![A-Za-z])"
    r"|(?:导入|導入|导出|導出|(?<![A-Za-z])(?:import|export)(?:ed|ing)?)\s*(?:(?:the|my|a|this)\s+)?key"
    r"|(?<![A-Za-z])key\s*(?:(?:is|was)(?![A-Za-z])|[:=：])",
    re.IGNORECASE,
)
_HASH_WORDS = re.compile(
    r"哈希|雜湊|交易\s*(?:id|ID|号|號|编号)"
    r"|(?<![A-Za-z])(?:hash(?:es)?|txid|txids|txhash|tx\s*(?:id|hash))(?![A-Za-z])"
    r"|etherscan|bscscan|polygonscan|arbiscan|basescan|tronscan|solscan|oklink|blockchair"
    r"|blockstream|mempool\.space|explorer|区块浏览器|區塊瀏覽器"
    # A file's checksum (an APK's SHA256 in a help article) is 64 hex too.
    r"|sha-?256|md5|校验值|校验码|checksum",
    re.IGNORECASE,
)
# Words that only suggest a transaction: they lose to an import verb ("my transaction fails,
# I imported this: <hex>"), since nobody imports a transaction hash.
_WEAK_HASH_WORDS = re.compile(
    r"交易(?!所)|(?<![A-Za-z])(?:txn|tx|transactions?)(?![A-Za-z])",
    re.IGNORECASE,
)
_IMPORT_WORDS = re.compile(
    r"导入|導入|导出|導出|(?<![A-Za-z])(?:import|export)(?:ed|ing|s)?(?![A-Za-z])",
    re.IGNORECASE,
)
# The path of a page named by a hash, right before the hex: a transaction or block on a block
# explorer, a governance proposal (snapshot.org/#/<space>/proposal/0x...).
_EXPLORER_TX_PATH = re.compile(r"(?:/(?:tx|transaction|block|proposal)/|[?&](?:hash|txid|tx)=)$", re.IGNORECASE)


def classify_hex64(text: str, start: int, context: str = "") -> Literal["private_key", "tx_hash"]:
    """Whether the 64-hex string at ``text[start:]`` is a private key or a transaction hash.

    Looks at the 60 characters before it and then at ``context`` (for example the message
    the customer answers); key words win over hash words, and with neither it is a key.
    The module docstring gives the whole rule and why it leans towards "key".
    """
    before = text[max(0, start - HEX_CONTEXT_CHARS) : start]
    if _EXPLORER_TX_PATH.search(before):
        return "tx_hash"
    for where in (before, context):
        if _KEY_WORDS.search(where):
            return "private_key"
        if _HASH_WORDS.search(where):
            return "tx_hash"
        if _IMPORT_WORDS.search(where):
            return "private_key"
        if _WEAK_HASH_WORDS.search(where):
            return "tx_hash"
    return "private_key"


# WIF: base58check of 0x80 + 32-byte key (+ 0x01 when compressed): 51 chars starting with
# 5, or 52 starting with K or L. TRON (T...) and Bitcoin (1.../3...) addresses cannot match.
_WIF = re.compile(rf"(?<![{_B58}])(?:5[{_B58}]{{50}}|[KL][{_B58}]{{51}})(?![{_B58}])")
# Extended private keys (BIP32 and the SLIP-132 variants). The checksum is not required:
# half an xprv pasted by mistake is still worth hiding.
_XPRV = re.compile(rf"(?<![{_B58}])[xyztuvYZUV]prv[{_B58}]{{50,120}}(?![{_B58}])")


def find_private_keys(text: str, context: str = "") -> list[SecretMatch]:
    """Private keys: 64 hex judged a key by :func:`classify_hex64`, WIF keys, xprv keys.

    A WIF candidate counts only with a valid double-SHA256 checksum and the mainnet
    private-key version byte, so base58 text of the same length (addresses, ids) is left.
    """
    found = [
        SecretMatch("private_key", m.start(), m.end())
        for m in _HEX64.finditer(text)
        if classify_hex64(text, m.start(), context) == "private_key"
    ]
    found += [SecretMatch("private_key", m.start(), m.end()) for m in _WIF.finditer(text) if _is_wif(m.group())]
    found += [SecretMatch("private_key", m.start(), m.end()) for m in _XPRV.finditer(text)]
    return found


def find_tx_hashes(text: str, context: str = "") -> list[SecretMatch]:
    """64-hex strings that :func:`classify_hex64` judges to be transaction hashes."""
    return [
        SecretMatch("tx_hash", m.start(), m.end())
        for m in _HEX64.finditer(text)
        if classify_hex64(text, m.start(), context) == "tx_hash"
    ]


def _b58decode(value: str) -> bytes:
    number = 0
    for char in value:
        number = number * 58 + _B58_ALPHABET.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    leading_zeros = len(value) - len(value.lstrip("1"))
    return b"\x00" * leading_zeros + body


def _is_wif(value: str) -> bool:
    raw = _b58decode(value)
    payload, checksum = raw[:-4], raw[-4:]
    if len(payload) not in (33, 34) or payload[0] != 0x80:
        return False
    if len(payload) == 34 and payload[-1] != 0x01:
        return False
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum


# --- keystores ----------------------------------------------------------------------------

# The key, also inside a keystore pasted as an escaped JSON string (\"ciphertext\":).
_CIPHERTEXT_KEY = r"\\?[\"']ciphertext\\?[\"']\s*:"
# One pass over the text: the ciphertext key, escaped characters, braces and quotes.
_KEYSTORE_TOKENS = re.compile(rf"(?P<key>{_CIPHERTEXT_KEY})|\\.|[{{}}\"]", re.IGNORECASE | re.DOTALL)
# How far before "ciphertext" the keystore's opening brace may be, and how many objects
# deep: a keystore is under 1 kB and nests 3 deep, and a brace further out belongs to
# something else the user pasted.
_KEYSTORE_LOOKBACK: Final = 4000
_KEYSTORE_DEPTH: Final = 16
_JSON_OBJECT_START = re.compile(r"\{\s*[\"']")


def find_keystores(text: str) -> list[SecretMatch]:
    """JSON keystores: the outermost JSON object around a ``"ciphertext"`` key, whole.

    A v3 keystore keeps its ciphertext under ``"crypto"`` (``"Crypto"`` in older geth);
    the crypto object alone is enough to attack the password, so a pasted fragment is
    redacted too. A keystore cut off before its closing brace is redacted to the end.
    """
    if not re.search(_CIPHERTEXT_KEY, text, re.IGNORECASE):
        return []
    # Match braces in one linear pass, so that no input can make this slow. Quotes are
    # followed only inside braces: a stray quote in the prose must not hide a keystore.
    open_braces: list[int] = []
    closing: dict[int, int] = {}
    keys: list[tuple[int, list[int]]] = []  # (key position, braces open around it)
    in_string = False
    for token in _KEYSTORE_TOKENS.finditer(text):
        char = token.group()
        if token.group("key") is not None:
            first = bisect.bisect_left(open_braces, token.start() - _KEYSTORE_LOOKBACK)
            keys.append((token.start(), open_braces[max(first, len(open_braces) - _KEYSTORE_DEPTH) :]))
        elif char == '"':
            in_string = bool(open_braces) and not in_string
        elif in_string or char.startswith("\\"):
            continue
        elif char == "{":
            open_braces.append(token.start())
        elif char == "}" and open_braces:
            closing[open_braces.pop()] = token.end()
    found: list[SecretMatch] = []
    for position, around in keys:
        if found and position < found[-1].end:
            continue
        # The outermost object around the key that closes; else (a keystore cut off) the
        # outermost that starts like JSON ('{"key"'), not a stray "{" in the prose before.
        closed = [b for b in around if b in closing]
        unclosed = [b for b in around if _JSON_OBJECT_START.match(text, b)]
        if closed:
            found.append(SecretMatch("keystore", closed[0], closing[closed[0]]))
        elif unclosed:
            found.append(SecretMatch("keystore", unclosed[0], len(text)))
    return found


# --- passwords ----------------------------------------------------------------------------

_PASSWORD = re.compile(
    r"(?:(?<![A-Za-z])(?:password|passwd|passcode|passphrase|pwd)(?![A-Za-z])|密码(?:短语)?|密碼(?:短語)?|口令)"
    r"\s*(?:(?:是|为|為|(?<![A-Za-z])(?:is|was)(?![A-Za-z]))\s*[:：=]?|[:：=])\s*"
    r"[\"'“‘「『]?"
    r"(?P<value>[!-~]{1,64})",
    re.IGNORECASE,
)
_PASSWORD_TRAILING = ".,;:?\"'”’」』)）]"
# Words that follow "password is" in sentences about a password, not in front of one.
_NOT_PASSWORDS: Final = frozenset({
    "a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "this", "that", "it",
    "there", "here", "and", "or", "but", "so", "because", "wrong", "incorrect", "correct", "right",
    "not", "invalid", "valid", "too", "required", "needed", "necessary", "forgotten", "forgot",
    "lost", "ok", "okay", "fine", "same", "different", "reset", "set", "still", "also", "gone",
    "empty", "blank", "missing", "weak", "strong", "long", "short", "saved", "stored", "only",
    "just", "what", "how", "where", "when", "which", "for", "on", "in", "at", "of", "to", "with",
    "by", "from", "changed", "working", "expired", "locked", "known", "unknown", "optional",
    "mandatory", "now", "never", "always", "something", "nothing", "case", "sensitive", "being",
    "been", "protected", "enabled", "disabled", "separate", "shown", "hidden", "accepted",
    "rejected", "entered", "asked", "requested", "used", "local", "encrypted", "lowercase",
    "uppercase", "wallet", "app", "no", "yes", "none", "null", "very", "really", "definitely",
    "probably", "maybe", "mine", "yours", "unique",
})  # fmt: skip
# Names of standards that follow "passphrase 是" in explanations ("Passphrase 是 BIP39 标准").
_STANDARD_NAMES: Final = frozenset(
    {"bip39", "bip-39", "bip32", "bip44", "slip39", "utf-8", "ascii", "scrypt", "pbkdf2"}
)


# Every password keyword holds one of these (a fast test before the patterns).
_PASSWORD_HINT = re.compile(r"pw|pass|密[码碼]|口令", re.IGNORECASE)
# Forms without "is" or a colon: "pwd hunter2", "密码abc123", "pass: hunter2".
_PASSWORD_BARE = re.compile(
    r"(?:(?<![A-Za-z])(?P<abbr>pwd|passwd|pw)(?![A-Za-z])(?P<abbr_sep>\s*[:：=]?\s*)"
    r"|(?<![A-Za-z])pass\s*[:：=]\s*"
    r"|(?P<zh>密码|密碼|口令)(?P<space>\s*))"
    r"[\"'“‘「『]?(?P<value>[A-Za-z0-9][!-~]{0,63})",
    re.IGNORECASE,
)
# A passphrase of plain words: "my password is correct horse battery staple".
_PASSPHRASE = re.compile(
    r"(?:(?<![A-Za-z])(?:password|passphrase|passcode)(?![A-Za-z])|密码|密碼|口令)\s*"
    r"(?:是|为|為|(?<![A-Za-z])(?:is|was)(?![A-Za-z]))\s*[:：=]?\s*"
    r"[\"'“‘「『]?(?P<value>[A-Za-z]{2,24}(?:[ \t]+[A-Za-z]{2,24}){3,7})[\"'”’」』]?\s*(?=[.!?。！？,，;；\n]|$)",
    re.IGNORECASE,
)
# Words that do not occur in a passphrase but do in a sentence about a password.
_SENTENCE_WORDS: Final = frozenset({
    "i", "me", "we", "you", "he", "she", "they", "is", "am", "are", "was", "were", "be", "do", "does",
    "did", "doesn't", "don't", "didn't", "can", "can't", "cannot", "will", "would", "should", "could",
    "have", "has", "had", "every", "time", "times", "try", "tried", "when", "if", "then", "work",
    "works", "worked", "fail", "fails", "failed", "login", "log", "help", "please", "why", "app",
    "wallet", "account", "again", "days", "day", "ago", "since", "after", "before", "keeps", "says",
})  # fmt: skip


def find_passwords(text: str) -> list[SecretMatch]:
    """The value after a password keyword: "密码是 xxx", "密码：xxx", "password is xxx",
    "pwd: xxx", "pwd xxx", "pass: xxx", "密码xxx", and a passphrase of 4 to 8 plain words
    ending its sentence ("my password is correct horse battery staple").

    Only the value is redacted, so the sentence still says a password was given. A value
    is a run of ASCII characters without spaces (a password in Chinese characters would be
    indistinguishable from "密码是什么"); plain words that usually follow "password is" in
    a sentence ("wrong", "the", "not"...) are not values. After "密码" and a space, or "pwd"
    with no colon, a value needs a digit, a symbol or mixed case ("密码 Google" names an
    app, "what does pwd mean" asks a question).
    """
    if not _PASSWORD_HINT.search(text):
        return []
    found: list[SecretMatch] = []
    for m in _PASSPHRASE.finditer(text):
        words = m.group("value").lower().split()
        if not any(word in _SENTENCE_WORDS or word in _NOT_PASSWORDS for word in words[1:]):
            found.append(SecretMatch("password", m.start("value"), m.end("value")))
    for m in _PASSWORD.finditer(text):
        if (value := _password_value(m)) is not None:
            found.append(SecretMatch("password", m.start("value"), m.start("value") + len(value)))
    for m in _PASSWORD_BARE.finditer(text):
        if (value := _password_value(m)) is None:
            continue
        # Bare words after "密码 " or "pwd " name things ("密码 Google", "what does pwd mean").
        spaced = bool(m["zh"] and m["space"]) or bool(m["abbr"] and not re.search("[:：=]", m["abbr_sep"]))
        if spaced and not re.search(r"[^A-Za-z]|[a-z].*[A-Z]|[A-Z].*[A-Z]", value):
            continue
        found.append(SecretMatch("password", m.start("value"), m.start("value") + len(value)))
    return _disjoint(found)


def _password_value(m: re.Match[str]) -> str | None:
    value = m.group("value").rstrip(_PASSWORD_TRAILING)
    if len(value) < 4 or value.startswith("[REDACTED") or value.lower() in _STANDARD_NAMES:
        return None
    parts = value.lower().split("-")
    if all(part.isalpha() and part in _NOT_PASSWORDS for part in parts):
        return None  # "password is wrong", "password is case-sensitive"
    return value


def _disjoint(matches: list[SecretMatch]) -> list[SecretMatch]:
    """``matches`` without those that overlap an earlier one."""
    kept: list[SecretMatch] = []
    for m in matches:
        if not any(k.start < m.end and m.start < k.end for k in kept):
            kept.append(m)
    return kept


# --- e-mail and phone numbers -------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)


def find_emails(text: str) -> list[SecretMatch]:
    """E-mail addresses (``name@domain.tld``), also when glued to Chinese text."""
    return [SecretMatch("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]


# Chinese mobile: 1[3-9]x xxxx xxxx, optionally +86/0086, grouped with spaces or dashes.
_CN_MOBILE = re.compile(
    r"(?<![0-9A-Za-z_.,+/-])(?:(?:\+|00)86[ \u00a0-]?)?1[3-9]\d(?:[ \u00a0-]?\d{4}){2}(?![0-9A-Za-z_]|[.,]\d)"
)
# International: + and 8 to 15 digits, single spaces, dots or dashes between, "(0)" allowed.
_INTL_PHONE = re.compile(r"(?<![0-9A-Za-z_+])\+[1-9](?>[ \u00a0.-]?(?:\(\d{1,4}\)|\d)){6,16}(?![0-9A-Za-z_]|[.,]\d)")


def find_phones(text: str) -> list[SecretMatch]:
    """Phone numbers: Chinese mobiles ("138 2716 4459", "+86 139-2245-8803") and ``+`` numbers.

    Amounts, dates, block numbers, order numbers and hex strings do not have these shapes:
    a Chinese mobile is exactly 11 digits starting 13-19 (grouped 3-4-4 if at all), and an
    international number starts with ``+``. A ``+`` number written without any separator
    needs at least 10 digits, so "+1000 USDT" stays an amount.
    """
    found = [SecretMatch("phone", m.start(), m.end()) for m in _CN_MOBILE.finditer(text)]
    for m in _INTL_PHONE.finditer(text):
        digits = sum(char.isdigit() for char in m.group())
        grouped = not m.group()[1:].isdigit()
        if 8 <= digits <= 15 and (grouped or digits >= 10):
            found.append(SecretMatch("phone", m.start(), m.end()))
    return found


# --- addresses (only on request) ----------------------------------------------------------

_ADDRESS = re.compile(
    r"(?<![0-9A-Za-z_])0[xX][0-9a-fA-F]{40}(?![0-9A-Za-z_])"
    rf"|(?<![0-9A-Za-z_])T[{_B58}]{{33}}(?![0-9A-Za-z_])"
    rf"|(?<![0-9A-Za-z_])[13][{_B58}]{{25,34}}(?![0-9A-Za-z_])"
    r"|(?<![0-9A-Za-z_])(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{11,71}(?![0-9A-Za-z_])"
)


def find_addresses(text: str) -> list[SecretMatch]:
    """Blockchain addresses: EVM (0x + 40 hex), TRON (T + 33 base58), Bitcoin (1.../3.../bc1...).

    Shapes only, no checksums: addresses are redacted only when a deployment asks for it,
    and then a look-alike is better hidden than shown.
    """
    return [SecretMatch("address", m.start(), m.end()) for m in _ADDRESS.finditer(text)]


# --- all together -------------------------------------------------------------------------


# Characters that hide a word's letters or its separators from a reader or a pattern:
# zero-width spaces and joiners, word joiners, the soft hyphen, direction marks.
_INVISIBLE: Final = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
    "\u3164\ufe0f\ufeff\uffa0"
)
# Runs of characters that are kept as they are: ASCII and the common Chinese block.
_PLAIN_RUN = re.compile(rf"[\x00-\x7f{_CJK}]+")


@dataclass(frozen=True)
class _View:
    """A normalised copy of a text, and where each of its characters came from."""

    text: str
    origin: list[int]

    def span(self, match: SecretMatch) -> SecretMatch:
        """``match`` in the view, as a span of the original text."""
        return SecretMatch(match.kind, self.origin[match.start], self.origin[match.end - 1] + 1)


def _views(text: str) -> list[_View]:
    """The texts the detectors read: width, compatibility forms and invisible characters
    folded away (fullwidth "ａｂａｎｄｏｎ" reads "abandon"). When the text holds invisible
    characters there are two views: one without them ("s\u200beed" reads "seed") and one
    with each as a space (words joined by U+200B read as words)."""
    if text.isascii():
        return [_View(text, list(range(len(text))))]
    hidden = any(char in _INVISIBLE for char in text)
    views = []
    for invisible in ("", " ") if hidden else ("",):
        chars: list[str] = []
        origin: list[int] = []
        position = 0
        for plain in [*_PLAIN_RUN.finditer(text), None]:
            stop = plain.start() if plain else len(text)
            for i in range(position, stop):
                folded = invisible if text[i] in _INVISIBLE else unicodedata.normalize("NFKC", text[i])
                chars.append(folded)
                origin += [i] * len(folded)
            if plain is not None:
                chars.append(plain.group())
                origin += range(plain.start(), plain.end())
                position = plain.end()
        views.append(_View("".join(chars), origin))
    return views


def detect_secrets(
    text: str, context: str = "", *, addresses: bool = False, tx_hashes: bool = False
) -> list[SecretMatch]:
    """Every secret in ``text``, in text order, no two overlapping.

    ``context`` is text the user was answering (the previous message of a conversation);
    it only helps to tell transaction hashes from private keys. Addresses and transaction
    hashes are public and agents need them, so they are found only when asked for.

    The detectors read normalised views of the text (:func:`_views`): fullwidth letters,
    digits and punctuation folded to ASCII, invisible characters dropped or read as
    spaces. What they find is reported as spans of ``text`` itself.
    """
    context = _views(context)[0].text if context else ""
    candidates: list[SecretMatch] = []
    for view in _views(text):
        found = _detect(view.text, context, addresses=addresses, tx_hashes=tx_hashes)
        candidates += found if view.text is text else [view.span(m) for m in found]
    candidates.sort(key=lambda m: (_PRIORITY[m.kind], m.start, -m.end))
    # Kept matches never overlap, so sorted by start they are sorted by end too, and a
    # candidate only has to be checked against its two neighbours.
    kept: list[SecretMatch] = []
    starts: list[int] = []
    for match in candidates:
        index = bisect.bisect_right(starts, match.start)
        if index > 0 and kept[index - 1].end > match.start:
            continue
        if index < len(kept) and kept[index].start < match.end:
            continue
        kept.insert(index, match)
        starts.insert(index, match.start)
    return kept


def _detect(text: str, context: str, *, addresses: bool, tx_hashes: bool) -> list[SecretMatch]:
    detectors: list[Callable[[], list[SecretMatch]]] = [
        lambda: find_keystores(text),
        lambda: find_seed_phrases(text),
        lambda: find_private_keys(text, context),
        lambda: find_passwords(text),
        lambda: find_emails(text),
        lambda: find_phones(text),
    ]
    if addresses:
        detectors.append(lambda: find_addresses(text))
    if tx_hashes:
        detectors.append(lambda: find_tx_hashes(text, context))
    return [match for detector in detectors for match in detector()]


class Redactor:
    """Replaces secrets with ``[REDACTED:<kind>]`` and keeps running totals per kind.

    ``redact_addresses`` and ``redact_tx_hashes`` also hide public chain data; both are
    off by default because agents need addresses and hashes to look transfers up.
    """

    def __init__(self, *, redact_addresses: bool = False, redact_tx_hashes: bool = False) -> None:
        self.redact_addresses = redact_addresses
        self.redact_tx_hashes = redact_tx_hashes
        #: Redactions per kind over every ``__call__`` so far (for the ingest report).
        self.totals: Counter[str] = Counter()

    def redact(self, text: str, context: str = "") -> RedactionResult:
        """``text`` with its secrets replaced, and the count per kind. Does not touch totals."""
        matches = detect_secrets(text, context, addresses=self.redact_addresses, tx_hashes=self.redact_tx_hashes)
        parts: list[str] = []
        position = 0
        for match in matches:
            parts += [text[position : match.start], placeholder(match.kind)]
            position = match.end
        parts.append(text[position:])
        return RedactionResult("".join(parts), dict(Counter(match.kind for match in matches)))

    def __call__(self, text: str, context: str = "") -> str:
        """The redacted text; its counts are added to :attr:`totals`."""
        result = self.redact(text, context)
        self.totals.update(result.counts)
        return result.text
