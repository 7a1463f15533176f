"""Text utilities shared by ingest, search and answering: normalisation, language,
sentences and the tokens the sparse (BM25) index uses. Chinese and English alike."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any, Final

_CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = re.compile(f"[{_CJK_CHARS}]")
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_ENGLISH_WORD = re.compile(r"[a-z']+")
#: Words only a sentence written in English has (jargon such as "usdt" or "gas" is not one).
_ENGLISH_FUNCTION_WORDS = frozenset({
    "the", "a", "an", "is", "are", "was", "were", "in", "on", "at", "to", "for", "of", "my", "it", "its", "i",
    "you", "your", "where", "what", "how", "why", "when", "can", "can't", "cant", "cannot", "don't", "dont",
    "doesn't", "do", "does", "did", "not", "this", "that", "there", "here", "with", "from", "and", "or", "but",
    "have", "has", "had", "be", "been", "will", "would", "should", "just", "still",
})  # fmt: skip
# Sentence ends: Chinese full stops always; Latin ones before a space or the end.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?])|(?<=[.;:])(?=\s)|\n+")
_WEB_LINK = re.compile(r"https?://[^\s（）()<>，。；！？]+")
_LINK_AFTER = re.compile(r"[ \t]*[（(]https?://")
_TOKEN_SPLIT = re.compile(r"[^\w\u3400-\u9fff]+", re.UNICODE)
#: Names of a list of links to other pages (an alternation for regular expressions).
RELATED_PAGES = (
    r"相关文章|相关阅读|相关链接|延伸阅读|推荐阅读|related (?:articles?|reading|links)|see also|further reading"
)
#: Titles of release notes (an alternation for regular expressions): each change they list
#: is a chunk of its own (ingest/chunking.py).
RELEASE_NOTES = r"更新日志|更新说明|版本更新|release notes?|changelog|change log|update log|what'?s new"

#: The version of what ``tokens`` and ``char_bigrams`` produce. Bump it when either changes:
#: the next ingest then rebuilds the BM25 indexes (reusing every vector) instead of finding
#: nothing changed.
TOKENS_VERSION = 4

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _t2s() -> Any:
    # opencc loads its dictionaries once; traditional text is rare but real (HK/TW users).
    import opencc

    return opencc.OpenCC("t2s")


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), traditional to simplified Chinese, tidy spaces."""
    text = unicodedata.normalize("NFKC", text)
    if _CJK.search(text):
        text = _t2s().convert(text)
    return re.sub(r"[ \t\u00a0\u3000]+", " ", text).strip()


# "能不能", "会不会", "是不是", "有没有", "可不可以": a yes-no question (A-not-A), not a negation.
_A_NOT_A = re.compile(f"([{_CJK_CHARS}])[不没]\\1")


def fold_questions(text: str) -> str:
    """Chinese A-not-A questions to their verb: "能不能改成刷脸" -> "能改成刷脸".

    Left whole, "能不能" holds "不能" (cannot) and "有没有" holds "没有" (there is none), which
    search then takes for what the user says: "能不能把不用的网络藏起来" matched the article
    "不同公链间不能直接转账" and the glossary added 无法 / can't.
    """
    return _A_NOT_A.sub(r"\1", text)


def detect_language(text: str) -> str:
    """``zh`` when Chinese characters carry the text, else ``en``.

    Mixed queries ("usdt转账pending") count as Chinese: a handful of Chinese characters
    says more about the writer than the crypto jargon around them.
    """
    cjk = len(_CJK.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text))
    if cjk == 0:
        return "en"
    if cjk * 3 < latin * 0.5 and cjk < 4:
        return "en"
    # An English sentence naming a Chinese screen ("can't find it in 系统设置") is English.
    function_words = sum(w in _ENGLISH_FUNCTION_WORDS for w in _ENGLISH_WORD.findall(text.lower()))
    return "en" if function_words >= 3 and latin >= 4 * cjk else "zh"


def split_sentences(text: str) -> list[str]:
    """Sentences (and list items / lines) of Chinese or English text, stripped.

    The pieces search indexes (a stop after ":" too); :func:`sentence_spans` is the
    sentence as the rules and the answer check read it.
    """
    return [p.strip() for p in split_outside_links(text, _SENTENCE_END) if p and p.strip()]


def split_outside_links(text: str, stops: re.Pattern[str], *, streaming: bool = False) -> list[str]:
    """``text`` cut at each match of ``stops``, but not inside a web address (its "?" ends no
    sentence: "index.html?locale=zh" is one link) nor before one in brackets after a stop (it
    belongs to the sentence before: "如何查看？（https://…）"). ``streaming``: the text is still
    coming, so an address that reaches its end may go on (".../nft-application?" + "utm_source=")."""
    if "://" not in text:  # the common case: no address to step around
        return stops.split(text)
    links = [m.span() for m in _WEB_LINK.finditer(text)]
    parts, start = [], 0
    for stop in stops.finditer(text):
        at = stop.start()
        if at == stop.end() and _LINK_AFTER.match(text, at):
            continue
        if any(a < at < b or (streaming and a < at == b == len(text)) for a, b in links):
            continue
        parts.append(text[start:at])
        start = stop.end()
    parts.append(text[start:])
    return parts


def split_passage(text: str) -> list[str]:
    """:func:`split_sentences`, but a table row (cells joined by " | ") stays one piece: a
    "；" inside a cell does not end it."""
    return [p for line in text.split("\n") for p in ([line.strip()] if " | " in line else split_sentences(line)) if p]


# Where a sentence ends. Chinese stops end one anywhere; Latin ones before a space, a line
# end or Chinese; "1." and "e.g." are not ends.
_STOP = re.compile(r"[。！？；]+|…+|[!?;]+(?=\s|$|[\u4e00-\u9fff])|\.(?=\s|$)|\n")
_NO_SPLIT_BEFORE_DOT = re.compile(
    r"(?<![a-z0-9.])(?:\d{1,3}|[a-z]|e\.g|i\.e|etc|vs|approx|no|mr|mrs|ms|dr|st|inc|ltd|fig)$", re.IGNORECASE
)
_CITATION: Final = r"(?:\[\d{1,3}(?:\s*[,，、\-–]\s*\d{1,3})*\]|【\d{1,3}】)"
_TRAILING_CITATIONS = re.compile(rf"[ \t]*{_CITATION}(?:[ \t]*{_CITATION})*")
#: The citation markers a sentence ends with (" [1]", "[1][2]", "【1】").
ENDING_CITATIONS: Final = re.compile(rf"(?:[ \t]*{_CITATION})+\s*$")
_CLOSERS: Final = "”’」』）)》\"'*"


def _abbreviation(text: str, stop: re.Match[str], floor: int) -> bool:
    """Whether a "." ends "1." or "e.g." (looking back no further than ``floor``)."""
    return stop.group() == "." and bool(_NO_SPLIT_BEFORE_DOT.search(text, max(floor, stop.start() - 8), stop.start()))


def _stops(text: str, start: int, end: int, floor: int) -> Iterator[re.Match[str]]:
    """The sentence ends in ``text[start:end]``, in a sentence that began at ``floor``."""
    return (stop for stop in _STOP.finditer(text, start, end) if not _abbreviation(text, stop, floor))


def _sentence_end(text: str, stop: re.Match[str]) -> int:
    """Where the sentence a stop ends stops: closing quotes and citation markers stay with it."""
    if stop.group() == "\n":
        return stop.start()
    end = stop.end()
    while end < len(text) and text[end] in _CLOSERS:
        end += 1
    citations = _TRAILING_CITATIONS.match(text, end)
    return citations.end() if citations else end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text`` as (start, end) spans, white space trimmed, empty ones left out.

    Stops: 。！？；… and line ends anywhere; ``! ? ; .`` before a space, the end or Chinese
    (not after "1." or "e.g."). Closing quotes and citation markers (``[1]``, ``【2】``)
    after a stop stay with the sentence before.
    """
    bounds: list[tuple[int, int]] = []
    start = 0
    for stop in _STOP.finditer(text):
        if stop.start() < start or _abbreviation(text, stop, start):
            continue  # inside closers or citations already taken by the sentence before
        end = _sentence_end(text, stop)
        bounds.append((start, end))
        start = max(end, stop.end())
    bounds.append((start, len(text)))
    spans = []
    for a, b in bounds:
        piece = text[a:b]
        lead = len(piece) - len(piece.lstrip())
        if piece.strip():
            spans.append((a + lead, a + lead + len(piece.strip())))
    return spans


def sentence_around(text: str, start: int, end: int, reach: int = 200) -> tuple[int, int]:
    """The span of the sentence (as :func:`sentence_spans` cuts) holding ``text[start:end]``,
    looking at most ``reach`` characters either side: a long text costs no more per call."""
    left = low = max(0, start - reach)
    for stop in _stops(text, low, start, low):
        left = max(left, min(_sentence_end(text, stop), start))
    right = next(_stops(text, end, min(len(text), end + reach), left), None)
    return left, right.start() if right else min(len(text), end + reach)


def stop_after(text: str, end: int, reach: int = 200) -> str:
    """The stop that ends the sentence running on from ``end`` ("?", "。"...), or "" when none
    comes within ``reach`` characters."""
    stop = next(_stops(text, end, min(len(text), end + reach), max(0, end - 8)), None)
    return stop.group() if stop else ""


# Function words that carry no topic; BM25's idf would weigh them down anyway, but
# dropping them keeps the query short and fast.
STOPWORDS = frozenset(
    """
    的 了 是 在 我 你 他 她 它 们 我们 你们 吗 呢 吧 啊 呀 哦 嗯 么 和 与 及 或 也 都 就 还 又 很
    这 那 这个 那个 这些 那些 一个 一下 有 没 被 把 给 让 对 从 到 为 以 于 之 而 但 如果 因为 所以
    怎么 怎么办 怎样 如何 为什么 什么 哪 哪里 可以 能 能不能 会 要 想 请问 请 您 吗? 呢? 啦 嘛 哈
    啥 咋 咋办 咋整 咋回事 为啥 干嘛 怎么回事 到底 现在 今天 昨天 刚 刚刚 刚才 之前 然后 已经 还是
    就是 这样 这种 那种 一样 好像 感觉 麻烦 谢谢 大佬 帮 帮忙 看看 看 说 跟 往 里 里面 上 下 个
    几个 好几 好几个 每个 一个个 一下子 一些 东西 有个 还有 时候 自己 先 后 着 点
    a an the and or but if then of to in on at for from by with as is are was were be been being
    do does did done have has had i me my you your we our they their it its this that these those
    can could should would will shall may might must what why how when where which who whom
    there here not no yes so too very just please hi hello thanks thank
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _lock:
        jieba.initialize()
    return jieba


def visible(text: str) -> str:
    """``text`` without format characters (zero-width spaces and joiners, direction marks)
    and surrounding white space: empty when nothing in it can be seen."""
    return "".join(char for char in text if unicodedata.category(char) != "Cf").strip()


def common_words(text: str, *, least: int = 100) -> int:
    """How many pairs of neighbouring characters in ``text`` are a common Chinese word
    (seen more than ``least`` times in the segmenter's dictionary counts)."""
    freq = _jieba().dt.FREQ
    return sum(1 for i in range(len(text) - 1) if freq.get(text[i : i + 2], 0) > least)


def segment(text: str) -> list[tuple[int, int]]:
    """Chinese words as spans of ``text``, by the segmenter's dictionary alone.

    Without its HMM, which would join unknown characters into made-up words: a character
    the dictionary puts in no word stays alone (what the seed phrase detector looks for).
    """
    return [(start, end) for _, start, end in _jieba().tokenize(text, HMM=False)]


def add_words(words: Iterable[str]) -> None:
    """Teach the Chinese segmenter domain words (glossary terms) so they stay whole."""
    jb = _jieba()
    for w in words:
        if _CJK.search(w) and len(w) > 1:
            jb.add_word(w, freq=20000)


def tokens(text: str) -> list[str]:
    """Search tokens: normalised, lower-case, Chinese segmented for search, no stopwords.

    Chinese goes through jieba's search mode, which also emits the shorter words inside a
    long one (交易所 -> 交易, 交易所), so queries and passages meet on either.
    """
    text = fold_questions(normalise(text).lower())
    out: list[str] = []
    for piece in _TOKEN_SPLIT.split(text):
        if not piece:
            continue
        if _CJK.search(piece):
            for raw in _jieba().cut_for_search(piece):
                word = raw.strip()
                if word and word not in STOPWORDS and not _TOKEN_SPLIT.fullmatch(word):
                    out.append(word)
        elif piece not in STOPWORDS and (len(piece) > 1 or piece.isdigit()):
            out.append(piece)
    return out


def char_bigrams(text: str) -> list[str]:
    """Overlapping pairs of Chinese characters within the content words of the text.

    A second view for search where word segmentation fails: jieba may cut a user's "撸毛" or
    "充了币" differently from the article's words, but the character pairs still meet. Pairs
    run over adjacent content words only, never over a function word ("我的转账一直在打包中
    怎么办" gives 转账 账一 一直 打包 包中): pairs such as 的转 or 么办 would match every
    article that happens to say "怎么办". A lone character stays itself.
    """
    out: list[str] = []
    for piece in _CJK_RUN.findall(fold_questions(normalise(text))):
        run = ""
        for word in [*_jieba().cut(piece), ""]:
            if word and word not in STOPWORDS:
                run += word
                continue
            out.extend([run[i : i + 2] for i in range(len(run) - 1)] or ([run] if run else []))
            run = ""
    return out
