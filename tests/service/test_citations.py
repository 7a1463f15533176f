from __future__ import annotations

import pytest

from service.citations import CitationStream, normalise_markers, strip_markers


def test_valid_markers_are_kept_and_invalid_dropped() -> None:
    text, cited = normalise_markers("先加速 [1]。再等待 [3]。也可取消【2】。", {1, 2})
    assert text == "先加速 [1]。再等待。也可取消[2]。"
    assert cited == [1, 2]


def test_combined_and_worded_markers_are_normalised() -> None:
    text, cited = normalise_markers("Pay the fee in TRX [1, 2]. See [source 2].", {1, 2})
    assert text == "Pay the fee in TRX [1][2]. See [2]."
    assert cited == [1, 2]


@pytest.mark.parametrize(
    "pieces",
    [
        ["在交易详情页点击加速", " [", "1", "]", "。"],
        ["在交易详情页点击加速 [1", "]。"],
        ["在交易详情页点击加速 ", "[1]", "。"],
        list("在交易详情页点击加速 [1]。"),
    ],
)
def test_markers_split_across_tokens_come_through_whole(pieces: list[str]) -> None:
    stream = CitationStream({1})
    shown = [stream.feed(p) for p in pieces] + [stream.flush()]
    assert "".join(shown) == "在交易详情页点击加速 [1]。"
    # nothing is ever shown half-way through a marker
    assert all("[" not in s or "]" in s for s in shown)
    assert stream.cited == [1]


def test_an_invalid_marker_never_reaches_the_stream() -> None:
    stream = CitationStream({1, 2})
    out = "".join(stream.feed(p) for p in ["看这里 [", "7", "]。还有 [2]"]) + stream.flush()
    assert out == "看这里。还有 [2]"
    assert stream.cited == [2]


def test_an_unfinished_marker_at_the_end_is_dropped() -> None:
    stream = CitationStream({1})
    assert stream.feed("完成 [1") == "完成"
    assert stream.flush() == ""


def test_brackets_that_are_not_markers_pass() -> None:
    stream = CitationStream({1})
    out = stream.feed("点击 [加速] 按钮 [1]") + stream.flush()
    assert out == "点击 [加速] 按钮 [1]"


def test_strip_markers() -> None:
    assert strip_markers("点击加速 [1][2]。") == "点击加速。"
