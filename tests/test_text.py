"""The text helpers every part shares: normalisation, language, sentences and search tokens."""

from __future__ import annotations

import pytest

from kefu.text import (
    char_bigrams,
    detect_language,
    fold_questions,
    normalise,
    sentence_around,
    sentence_spans,
    split_sentences,
    stop_after,
    tokens,
)


def test_normalise_folds_width_and_traditional_characters() -> None:
    assert normalise("ＵＳＤＴ　轉帳\u00a0 失敗") == "USDT 转帐 失败"
    assert normalise("  plain  text ") == "plain text"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("我的转账一直在打包中", "zh"),
        ("usdt转账pending", "zh"),
        ("my USDT transfer has been pending since yesterday", "en"),
        ("why is my TRC20 USDT stuck? 钱包", "en"),
        # An English sentence naming a Chinese screen is English; Chinese with English jargon is not.
        ("where's the toggle for EIP-1559 mode in the TP app? cant find it in 系统设置", "en"),
        ("TP钱包的gas fee是什么意思 在哪里设置", "zh"),
        ("my wallet 转账 is stuck 一直打包中 怎么办", "zh"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_a_web_address_is_never_cut_into_sentences() -> None:
    # Its "?" ends no sentence; in brackets after a stop it stays with the sentence it names.
    assert split_sentences("点击这里（https://tools.example.com/find?locale=zh#/）找回。好的") == [
        "点击这里（https://tools.example.com/find?locale=zh#/）找回。",
        "好的",
    ]
    assert split_sentences("代币合约地址如何查看？（https://help.example.com/a）下一步。") == [
        "代币合约地址如何查看？（https://help.example.com/a）下一步。"
    ]
    assert split_sentences("What is gas? (https://example.com/gas?x=1) Next. Done") == [
        "What is gas? (https://example.com/gas?x=1) Next.",
        "Done",
    ]


def test_split_sentences_in_both_languages() -> None:
    assert split_sentences("第一步。第二步！真的吗？\n- 列表项") == ["第一步。", "第二步！", "真的吗？", "- 列表项"]
    assert split_sentences("Open the app. Tap Send; done. Version 6.3 is fine") == [
        "Open the app.",
        "Tap Send;",
        "done.",
        "Version 6.3 is fine",
    ]


SENTENCES = "客服说：“不要截图。”[1] 1. Open the app, e.g. the iOS one. Done?! 好的…\n- 列表项 [2]【3】结束"


def test_sentence_spans_keep_closers_citations_and_numbered_steps() -> None:
    assert [SENTENCES[a:b] for a, b in sentence_spans(SENTENCES)] == [
        "客服说：“不要截图。”[1]",
        "1. Open the app, e.g. the iOS one.",
        "Done?!",
        "好的…",
        "- 列表项 [2]【3】结束",
    ]
    assert sentence_spans("  \n ") == []


def test_sentence_around_is_the_sentence_spans_cut() -> None:
    for a, b in sentence_spans(SENTENCES):
        for i in range(a, b):
            if SENTENCES[i].isalpha():  # a word: its stop, closers and citations may fall either side
                left, right = sentence_around(SENTENCES, i, i + 1)
                assert SENTENCES[left:right].strip() in SENTENCES[a:b], (i, SENTENCES[left:right])


def test_stop_after_names_the_stop_within_reach() -> None:
    assert stop_after("is my wallet hacked? yes", 5) == "?"
    assert stop_after("被盗了吗？", 0) == "？"
    assert stop_after("no stop here at all", 0) == ""
    assert stop_after("far away" + " x" * 150 + "?", 0, reach=50) == ""


def test_tokens_segment_chinese_for_search_and_drop_function_words() -> None:
    toks = tokens("我的USDT在交易所一直没到账")
    assert "usdt" in toks and "交易所" in toks and "交易" in toks  # search mode: the word and its parts
    assert "我" not in toks and "的" not in toks
    assert tokens("How do I revoke an approval?") == ["revoke", "approval"]
    # Chat filler names no topic: a rare one would pull in whatever article happens to say it.
    assert tokens("有好几个eos账号 每个里面都有点币 到底咋整") == ["eos", "账号", "有点", "币"]


def test_char_bigrams_pair_the_characters_of_adjacent_content_words() -> None:
    assert char_bigrams("撸毛用") == ["撸毛", "毛用"]
    # Never across a function word, a break or a Latin word: 的转 or 么办 would match any
    # article that says "怎么办".
    assert char_bigrams("我的转账一直在打包中怎么办") == ["转账", "账一", "一直", "打包", "包中"]
    assert char_bigrams("充值usdt 提币") == ["充值", "提币"]
    assert char_bigrams("錢包") == ["钱包"]  # normalised first, like the index
    assert char_bigrams("no chinese here") == [] and char_bigrams("的了吗") == []


def test_yes_no_questions_are_not_negations() -> None:
    assert fold_questions("能不能改成刷脸 有没有这种功能 可不可以取消") == "能改成刷脸 有这种功能 可以取消"
    # A real negation stays.
    assert fold_questions("转不出去 不能转账 没有到账") == "转不出去 不能转账 没有到账"
    assert "不能" not in tokens("能不能把不用的网络藏起来") and "没有" not in tokens("有没有观察钱包")
    assert "不能" in tokens("为什么不能直接往合约地址转账")
    assert "不能" not in char_bigrams("能不能把网络藏起来")
