"""The shared vocabulary: the modules that still keep a copy of a word list agree with it."""

from __future__ import annotations

from typing import get_args

from kefu import vocab
from kefu.settings import Settings


def test_the_rules_raise_exactly_the_reasons_and_priorities_of_the_vocabulary() -> None:
    from service import rules

    assert tuple(rules.REASONS) == vocab.RULE_REASONS
    assert tuple(rules.PRIORITIES) == vocab.RULE_PRIORITIES


def test_the_answerer_refuses_questions_at_the_vocabularys_limit() -> None:
    import pytest

    from kefu.errors import BadInputError
    from service.answerer import Answerer

    a = Answerer(object(), object())  # type: ignore[arg-type]  # prepare() needs no search or LLM
    assert Settings().max_question_chars == vocab.MAX_QUESTION_CHARS
    a.prepare("转" * vocab.MAX_QUESTION_CHARS)
    with pytest.raises(BadInputError, match=f"longer than {vocab.MAX_QUESTION_CHARS}"):
        a.prepare("转" * (vocab.MAX_QUESTION_CHARS + 1))


def test_every_reason_is_one_word_list_and_the_answer_reasons_are_the_handoffs() -> None:
    from service.handoff import ANSWER_REASONS

    assert ANSWER_REASONS == vocab.ANSWER_REASONS
    assert set(get_args(vocab.Reason)) == set(vocab.REASONS)
    assert len(vocab.REASONS) == len(set(vocab.REASONS))


def test_the_settings_default_to_the_vocabularys_answer_style() -> None:
    assert Settings().answer_style == vocab.DEFAULT_ANSWER_STYLE == "quote"
    assert vocab.DEFAULT_ANSWER_STYLE in vocab.ANSWER_STYLES


def test_the_store_and_the_api_check_the_same_priorities_most_urgent_first() -> None:
    from service.api import schemas
    from service.store import models

    assert models.PRIORITIES == vocab.PRIORITIES == ("urgent", "high", "normal", "low")
    assert schemas.HandoffRef.__annotations__["priority"] is vocab.Priority
