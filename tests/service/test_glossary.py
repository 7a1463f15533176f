from __future__ import annotations

from pathlib import Path

import pytest

from kefu.errors import BadInputError
from service.glossary import DEFAULT_GLOSSARY, Glossary
from service.prompting import render_messages

TABLE = """# test glossary
en\tzh\tnote
seed phrase|recovery phrase|mnemonic\t助记词|种子短语
seed\t种子
pending|stuck\t打包中|卡住|卡了
transfer|send\t转账|转币
usdt|tether\tUSDT|u
private key\t私钥|秘钥
"""


@pytest.fixture
def glossary(tmp_path: Path) -> Glossary:
    path = tmp_path / "g.tsv"
    path.write_text(TABLE, encoding="utf-8")
    return Glossary.load(path)


def test_english_query_gains_the_chinese_terms(glossary: Glossary) -> None:
    assert glossary.expand("My transfer has been pending since yesterday", "en").terms == ["转账", "打包中"]


def test_longest_form_wins(glossary: Glossary) -> None:
    assert glossary.expand("where do I write my seed phrase", "en").terms == ["助记词"]


def test_latin_forms_need_word_bounds(glossary: Glossary) -> None:
    # "u" after a number is USDT; inside a word it is nothing.
    assert "USDT" in glossary.expand("转了100u一直卡住", "zh").terms
    assert glossary.expand("my bus is late", "en").terms == []


def test_a_longer_latin_form_inside_a_word_leaves_the_shorter_one_at_its_place(glossary: Glossary) -> None:
    # "seed phrase" runs on into "seed phrases": not a mention; "seed" before it stands alone.
    found = glossary.expand("two seed phrases", "en")
    assert found.terms == ["种子"] and found.concepts == [["seed", "种子"]]


def test_mentions_do_not_overlap_and_the_leftmost_comes_first(glossary: Glossary) -> None:
    # "private key" and "key"-less "usdt": two places; "u" inside "usdt" is not a third.
    found = glossary.expand("send usdt with my private key", "en")
    assert found.concepts == [["send", "转账"], ["usdt"], ["private key", "私钥"]]


def test_chinese_colloquial_form_gains_the_standard_term_and_english(glossary: Glossary) -> None:
    extra = glossary.expand("秘钥泄露了怎么办", "zh").terms
    assert extra == ["私钥", "private key"]


def test_a_yes_no_question_is_not_taken_for_cannot() -> None:
    shipped = Glossary.load(DEFAULT_GLOSSARY)
    # "能不能" asks whether one can; the glossary's 不能 (can't) is not in it.
    assert "无法" not in shipped.expand("能不能把不用的网络藏起来", "zh").terms
    assert "无法转账" in shipped.expand("不能转账了", "zh").terms


def test_terms_already_in_the_query_are_not_added(glossary: Glossary) -> None:
    assert glossary.expand("转账 打包中", "zh").terms == ["transfer", "pending"]


def test_each_mention_is_one_concept_with_its_added_terms(glossary: Glossary) -> None:
    # Search scores a concept by its best form: "stuck" and 打包中 are one idea, not two.
    assert glossary.expand("my USDT transfer is stuck", "en").concepts == [
        ["usdt"],
        ["transfer", "转账"],
        ["stuck", "打包中"],
    ]
    assert glossary.expand("秘钥泄露了", "zh").concepts == [["秘钥", "私钥", "private key"]]
    # One entry named in two ways (or twice) is one concept with all its forms.
    assert glossary.expand("send 转账 转账", "zh").concepts == [["send", "转账", "transfer"]]


def test_bad_rows_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("en\tzh\nonly-one-column\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"bad.tsv:2"):
        Glossary.load(path)


def test_the_shipped_glossary_loads_and_covers_the_basics() -> None:
    g = Glossary.load(DEFAULT_GLOSSARY)
    assert len(g.entries) >= 200
    for query, term in [
        ("I forgot my seed phrase", "助记词"),
        ("how to revoke an approval", "授权"),
        ("TRON energy is not enough", "能量"),
    ]:
        assert any(term in t for t in g.expand(query, "en").terms), query


def test_a_chinese_term_left_in_an_english_rendering_is_put_in_english() -> None:
    glossary = Glossary.load()  # the shipped table
    assert glossary.in_english("so you are using the正版 wallet.") == "so you are using the genuine wallet."
    # A term quoted as the Chinese word it is stays: the sentence is about the word.
    quoted = 'In Chinese, "矿工费" is often used to refer to gas fees.'
    assert glossary.in_english(quoted) == quoted


def test_a_rendering_is_told_how_english_writes_the_chains_its_lines_name() -> None:
    glossary = Glossary.load()
    names = glossary.chain_names("在波场上转USDT前，先在币安智能链钱包里确认以太坊地址。打开钱包转账。")
    # A 1.5B model had rendered 波场 as "Binance Smart Chain": a TRON user sent to BSC.
    assert names == [("波场", "TRON"), ("币安智能链", "BSC"), ("以太坊", "Ethereum")]
    assert glossary.chain_names("打开钱包，点击转账。") == []
    (system, _) = render_messages(["在波场上转账"], "en", names[:1])
    assert system.content.endswith("Write these names so: 波场 = TRON.")
    assert "Write these names" not in render_messages(["在波场上转账"], "en")[0].content
