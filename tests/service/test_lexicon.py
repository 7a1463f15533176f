"""The lexicon both the handoff rules and the answer check read: one list of secret words and
one of negations, so a word means the same to both (they had drifted apart)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kefu.brand import demo_brand
from kefu.errors import ConfigError
from service import rules, safety
from service.intents import FRAUD_KINDS
from service.lexicon import lexicon, read_lexicon
from service.rules import check_rules
from service.safety import asks_for_secret


def reasons(text: str) -> list[str]:
    return [hit.reason for hit in check_rules(text)]


# Secret words only one of the two knew before: the rules missed 种子词 / 恢复词, the answer
# check missed 助记 alone.
@pytest.mark.parametrize("word", ["助记码", "种子词", "恢复词", "助记", "助记词", "私钥", "私鑰"])
def test_a_secret_word_is_a_secret_to_the_rules_and_the_answer_check(word: str) -> None:
    assert "secret_shared" in reasons(f"我把{word}发给客服了")
    assert asks_for_secret(f"请把您的{word}发给我们。")
    assert "secret_shared" not in reasons(f"我没有把{word}发给任何人")
    assert asks_for_secret(f"请不要把您的{word}发给任何人。") is None


# Negations only one list had: 严禁 / 绝不 / 从来不 (the rules did not know them), 不准 / 不许
# (the answer check did not).
@pytest.mark.parametrize("negation", ["严禁", "不准", "不许", "绝不", "从来不", "千万不要", "切勿"])
def test_a_negation_denies_for_the_rules_and_the_answer_check(negation: str) -> None:
    assert "secret_shared" not in reasons(f"我{negation}把助记词发给了客服")
    assert asks_for_secret(f"{negation}把助记词发给我们。") is None
    # the same sentences without it are a leak and a request
    assert "secret_shared" in reasons("我把助记词发给了客服")
    assert asks_for_secret("把助记词发给我们。")


@pytest.mark.parametrize("question", ["能不能", "要不要", "可不可以"])
def test_an_a_not_a_question_is_not_a_negation_for_either(question: str) -> None:
    # "您能不能把助记词发给我们" asks for the phrase; the answer check took 不能 for a denial.
    assert asks_for_secret(f"您{question}把助记词发给我们？")


def test_both_modules_read_the_same_negation_and_secret_words() -> None:
    assert rules._NEGATED is safety._NEGATION
    secret = lexicon().source("shared.secret")
    assert secret in safety._STRONG_SECRET
    for word in lexicon().words("shared.secret"):
        assert word in secret


def test_every_secret_word_passes_the_answer_checks_fast_filter() -> None:
    # The answer check skips sentences with none of these substrings: a new word must have one.
    plain = [w for w in lexicon().words("shared.secret") if w.isalpha()]
    assert plain
    for word in plain:
        assert safety._may_name_secret(word), word


def test_rule_patterns_name_only_guards_the_rules_have() -> None:
    for reason in rules.REASONS:
        for spec in lexicon().patterns(reason, demo_brand()):
            assert set(spec.guards) <= rules._GUARDS.keys(), (reason, spec)


def _copy(folder: Path, replace: tuple[str, str] | None = None, lang: str = "en") -> Path:
    for name in ("zh.toml", "en.toml"):
        text = (Path(rules.__file__).parent / "lexicon" / name).read_text(encoding="utf-8")
        if replace and name == f"{lang}.toml":
            assert replace[0] in text
            text = text.replace(replace[0], replace[1], 1)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_broken_lexicon_names_the_file_and_line(tmp_path: Path) -> None:
    _copy(tmp_path, ("\n[shared.words]\n", "\n[shared.words\n"))
    with pytest.raises(ConfigError, match=r"en\.toml.*line \d+"):
        read_lexicon(tmp_path)


def test_an_unknown_reference_names_the_file_and_entry(tmp_path: Path) -> None:
    lex = read_lexicon(_copy(tmp_path, ("${you}", "${yuo}")))
    with pytest.raises(ConfigError, match=r"en\.toml: patterns\.compensation\[\d+\]: \$\{yuo\}"):
        lex.patterns("compensation", demo_brand())


def test_an_entry_naming_the_brand_needs_one() -> None:
    with pytest.raises(ConfigError, match=r"answers\.verdict.*brand"):
        lexicon().source("answers.verdict")


def test_an_entry_that_is_no_regular_expression_names_the_file_and_item(tmp_path: Path) -> None:
    lex = read_lexicon(_copy(tmp_path, ("asks_cause = ['\\bwhy\\b']", "asks_cause = ['\\bwhy\\b(']")))
    with pytest.raises(ConfigError, match=r"en\.toml: evidence\.shapes\.asks_cause\[0\]: not a regular expression"):
        lex.regex("evidence.asks_cause")


@pytest.mark.parametrize(
    ("lang", "replace", "where"),
    [
        ("zh", ("'破解版'", "'破解版('"), r"zh\.toml: fraud\.shapes\.fake_app\[\d+\]: not a regular expression"),
        ("en", ("${fraud_pretext})'", "${fraud_pretxt})'"), r"en\.toml: fraud\.secret_request: \$\{fraud_pretxt\}"),
        ("en", ("'cannot sell',", "'cannot sell', 3,"), r"en\.toml: fraud\.shapes\.fake_token: must be a string"),
    ],
)
def test_a_broken_fraud_entry_names_the_file_and_field(
    tmp_path: Path, lang: str, replace: tuple[str, str], where: str
) -> None:
    lex = read_lexicon(_copy(tmp_path, replace, lang))
    with pytest.raises(ConfigError, match=where):
        for kind in FRAUD_KINDS:
            lex.regex(f"fraud.{kind}", re.S)
