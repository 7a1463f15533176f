"""Follow-up questions ("那手续费呢?", "what about on TRON?") made standalone for retrieval.

A follow-up leans on the previous question for its topic. Rewriting it with the LLM costs
seconds on a CPU, so the rewrite is by rule: a short question, one that opens with a
follow-up phrase, or one that points back ("它", "this"), is searched together with the
previous user question. The displayed standalone question says what was searched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kefu.text import detect_language, tokens

_FOLLOW_ZH = re.compile(r"^(那|那么|那如果|还有|另外|然后|如果是|要是|换成|那要是|是不是也|也是)")
_FOLLOW_EN = re.compile(
    r"^(and|what about|how about|also|then|what if|same for|and if|but what|ok and|okay and)\b", re.I
)
_POINTER_ZH = re.compile(r"(它|这个|那个|这笔|那笔|这样|上面|刚才|这种)")
_POINTER_EN = re.compile(r"\b(it|this|that|those|these|same|there)\b", re.I)
_END_ZH = re.compile(r"(呢|吗)[？?]*$")


def is_follow_up(question: str, previous: str | None) -> bool:
    """Whether ``question`` needs the previous question to be understood."""
    if not previous:
        return False
    q = question.strip()
    content = [t for t in tokens(q) if len(t) > 1]
    if detect_language(q) == "zh":
        short = len(q) <= 12
        return bool(
            _FOLLOW_ZH.search(q) or (short and (_END_ZH.search(q) or _POINTER_ZH.search(q))) or len(content) <= 1
        )
    words = q.split()
    return bool(_FOLLOW_EN.search(q) or (len(words) <= 6 and _POINTER_EN.search(q)) or len(content) <= 1)


def standalone_question(question: str, history: Sequence[str]) -> str:
    """The question to search for: itself, or joined to the previous user question."""
    previous = next((h for h in reversed(history) if h.strip()), None)
    if previous and is_follow_up(question, previous):
        return f"{previous.strip()} {question.strip()}"
    return question.strip()
