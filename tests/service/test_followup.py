from __future__ import annotations

import pytest

from service.followup import is_follow_up, standalone_question

PREVIOUS = "波场转 USDT 要多少手续费"


@pytest.mark.parametrize(
    "question",
    ["那手续费呢？", "那如果是以太坊呢", "它要多久到账", "还有别的办法吗",
     "what about on BSC?", "and how long does it take?", "is that safe?"],
)  # fmt: skip
def test_follow_ups_are_recognised(question: str) -> None:
    assert is_follow_up(question, PREVIOUS)


@pytest.mark.parametrize(
    "question",
    [
        "忘记钱包密码了，助记词还在，怎么重新导入？",
        "How do I revoke a token approval on BSC?",
        "转账一直显示打包中怎么办",
    ],
)
def test_standalone_questions_are_left_alone(question: str) -> None:
    assert not is_follow_up(question, PREVIOUS)
    assert standalone_question(question, [PREVIOUS]) == question


def test_a_follow_up_is_searched_with_the_previous_question() -> None:
    assert standalone_question("那手续费呢？", ["怎么往交易所充值 USDT"]) == "怎么往交易所充值 USDT 那手续费呢？"


def test_no_history_means_no_rewrite() -> None:
    assert standalone_question("那手续费呢？", []) == "那手续费呢？"
