"""Secrets written to slip past redaction: each must still be hidden, and ordinary support
text must not be. The first ten are the formats that once reached the database."""

from __future__ import annotations

import hashlib
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mnemonic import Mnemonic

from kefu.redaction import Redactor, detect_secrets
from service.rules import check_rules

EN = Mnemonic("english")
ZH = Mnemonic("chinese_simplified")
PHRASE12 = EN.to_mnemonic(bytes(range(16))).split()
PHRASE24 = EN.to_mnemonic(bytes(range(100, 132))).split()
ZH12 = ZH.to_mnemonic(bytes(range(40, 56))).split()
KEY = hashlib.sha256(b"a key someone pasted").hexdigest()
TX = hashlib.sha256(b"a transaction").hexdigest()


def _fullwidth(text: str) -> str:
    return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})


def _typo(phrase: list[str], at: int) -> list[str]:
    word = phrase[at]
    return [*phrase[:at], word[:-1] + ("x" if word[-1] != "x" else "y"), *phrase[at + 1 :]]


#: (name, text, what must not survive redaction)
EVASIONS: list[tuple[str, str, list[str]]] = [
    # the ten formats of the report
    ("zh phrase without spaces", "我的助记词是" + "".join(ZH12) + "，帮我看看", ["".join(ZH12[2:8])]),
    ("joined by U+200B", "\u200b".join(PHRASE12), PHRASE12[1:11]),
    ("joined by +", "+".join(PHRASE12), PHRASE12[1:11]),
    ("fullwidth letters", _fullwidth(" ".join(PHRASE12)), [_fullwidth(w) for w in PHRASE12[1:11]]),
    ("24 words, one misspelled", " ".join(_typo(PHRASE24, 12)), PHRASE24[:12] + PHRASE24[13:]),
    ("hex key after 'transaction'", f"my transaction fails, I imported this: {KEY}", [KEY]),
    ("pass: X", "pass: Tr0ub4dor&3", ["Tr0ub4dor&3"]),
    ("密码X", "钱包打不开了 密码hunter2024 是不是错了", ["hunter2024"]),
    ("plain-word passphrase", "my password is correct horse battery staple", ["horse battery staple"]),
    ("pwd X", "pwd qwerty7788 still fails", ["qwerty7788"]),
    # and the other shapes it was tried in
    ("spaces", " ".join(PHRASE12), PHRASE12[1:11]),
    ("commas", ", ".join(PHRASE12), PHRASE12[1:11]),
    ("numbered", " ".join(f"{i}. {w}" for i, w in enumerate(PHRASE12, 1)), PHRASE12[1:11]),
    ("new lines", "\n".join(PHRASE12), PHRASE12[1:11]),
    ("upper case", " ".join(PHRASE12).upper(), [w.upper() for w in PHRASE12[1:11]]),
    ("dashes", "-".join(PHRASE12), PHRASE12[1:11]),
    ("pipes", "|".join(PHRASE12), PHRASE12[1:11]),
    ("zero-width joiner", "\u200d".join(PHRASE12), PHRASE12[1:11]),
    ("soft hyphens inside words", " ".join(w[:2] + "\u00ad" + w[2:] for w in PHRASE12), [PHRASE12[5][2:]]),
    ("ideographic spaces", "\u3000".join(PHRASE12), PHRASE12[1:11]),
    ("zh phrase with spaces", " ".join(ZH12), ["".join(ZH12[2:8])]),
    ("zh phrase with 、", "、".join(ZH12), ZH12[3:9]),
    ("in a Chinese sentence", "助记词：" + " ".join(PHRASE12) + " 怎么导入", PHRASE12[1:11]),
    ("24 words, typo at the start of the second half", " ".join(_typo(PHRASE24, 13)), PHRASE24[14:]),
    ("private key word", f"私钥是 {KEY}", [KEY]),
    ("0x key, fullwidth", _fullwidth(f"private key 0x{KEY}"), [_fullwidth(KEY)]),
    ("bare hex key", KEY, [KEY]),
    ("password is", "my wallet password is Hx7-kk29z", ["Hx7-kk29z"]),
    ("密码是", "密码是 abc12345xyz", ["abc12345xyz"]),
    ("密码：fullwidth colon", "密码：ｍｙｐａｓｓ９９", ["ｍｙｐａｓｓ９９"]),
]


@pytest.mark.parametrize(("name", "text", "hidden"), EVASIONS, ids=[e[0] for e in EVASIONS])
def test_every_evasion_is_redacted(name: str, text: str, hidden: list[str]) -> None:
    redacted = Redactor().redact(text).text
    assert "[REDACTED:" in redacted, name
    for piece in hidden:
        assert piece not in redacted, (name, piece, redacted)


@pytest.mark.parametrize(("name", "text"), [e[:2] for e in EVASIONS], ids=[e[0] for e in EVASIONS])
def test_every_evasion_hands_off_as_a_shared_secret(name: str, text: str) -> None:
    # The answerer runs the rules on the redacted question: the user is warned, a person takes over.
    redacted = Redactor().redact(f"帮我看看：{text}").text
    assert "secret_shared" in [hit.reason for hit in check_rules(redacted)], (name, redacted)


@pytest.mark.parametrize(
    "text",
    [
        f"交易哈希 0x{TX}",
        f"my transaction {TX} is still pending",
        f"Txid: {TX}",
        f"https://etherscan.io/tx/0x{TX}",
        "请问我的钱包地址在哪里可以找到呢？转账一直没有到账怎么办",
        "那就是我设的滑点让它少给我的？",
        "我在交易所买了一些币，想转到钱包里，但是一直显示打包中，请问是不是手续费太低了？",
        "密码错误怎么办",
        "忘记密码了，可以用助记词重置吗",
        "my password is correct but the app says it is wrong",
        "my password is wrong every time",
        "I forgot my password, how do I reset it?",
        "the password manager does not open",
        "What is a recovery phrase and where do I write it down?",
        "USDT 转去交易所 2000U，一个多小时了还没到",
    ],
)
def test_ordinary_support_text_is_left_alone(text: str) -> None:
    assert Redactor().redact(text).text == text


SEPARATORS = [" ", "  ", ",", ", ", "\n", "+", "-", "|", "/", "\u200b", "\u200c", "\u200d", "\u2060", "\u3000", "、"]


@st.composite
def pasted_phrases(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A real BIP39 phrase as a user might paste it: any length, separator, case, width,
    in some text, sometimes with one word mistyped."""
    chinese = draw(st.booleans())
    strength = draw(st.sampled_from([128, 160, 192, 224, 256]))
    # A wallet's entropy is random (shrinking it towards zeros would give "的的的的..."):
    # hypothesis draws the seed of a random generator instead.
    entropy = random.Random(draw(st.integers(min_value=0, max_value=2**32))).randbytes(strength // 8)
    words = (ZH if chinese else EN).to_mnemonic(entropy).split()
    if chinese:
        # (Written together, a phrase is found by how little of it makes words: see below.)
        separator = draw(st.sampled_from([" ", ",", "、", "\u200b", "\n", " , "]))
    else:
        separator = draw(st.sampled_from(SEPARATORS))
        case = draw(st.sampled_from([str.lower, str.upper, str.capitalize]))
        words = [case(w) for w in words]
        if len(words) >= 18 and draw(st.booleans()):
            at = draw(st.integers(min_value=2, max_value=len(words) - 3))
            words = _typo(words, at)
    phrase = separator.join(words)
    if not chinese and draw(st.booleans()):
        phrase = _fullwidth(phrase)
    before = draw(st.sampled_from(["", "我的助记词是", "here are my words: ", "帮我看看 ", "seed: "]))
    after = draw(st.sampled_from(["", " 谢谢", "，能恢复吗？", " thanks", "\n"]))
    return before + phrase + after, words


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(pasted_phrases())
def test_no_generated_phrase_survives(case: tuple[str, list[str]]) -> None:
    text, words = case
    redacted = Redactor().redact(text).text
    assert "[REDACTED:seed_phrase]" in redacted
    # What is left of the phrase: never more than three of its words in a row.
    left = [w for w in re.split(r"[\W_]+", redacted.replace("[REDACTED:seed_phrase]", " ")) if w]
    run = 0
    for token in left:
        run = run + 1 if token.lower() in {w.lower() for w in words} else 0
        assert run <= 3, (text, redacted)


def test_detection_reports_spans_of_the_original_text() -> None:
    text = "前缀 " + "\u200b".join(PHRASE12) + " 后缀"
    [match] = detect_secrets(text)
    assert text[match.start : match.end].startswith(PHRASE12[0]) and text[match.end :] == " 后缀"


def test_chinese_phrases_written_together_are_found_but_not_all() -> None:
    """Written without separators, a phrase is told from prose by how few words it makes:
    of 1,000 random 12-character phrases after "我的助记词是", at least 99% are caught
    (the rest form words or too many grammar characters by chance; docs/security.md)."""
    rnd = random.Random(2026)
    phrases = [ZH.to_mnemonic(rnd.randbytes(16)).replace(" ", "") for _ in range(1000)]
    caught = [p for p in phrases if p[3:9] not in Redactor().redact(f"我的助记词是{p}谢谢").text]
    assert len(caught) >= 990
