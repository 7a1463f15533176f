"""Citation markers: ``[n]`` in answer text, kept only when ``n`` was a source in the prompt.

Models stream tokens, and a marker can arrive in pieces ("[", "1", "]"); the filter holds
back a possible marker until it is complete, then passes it through or drops it, so every
citation comes through streaming intact and invalid ones never reach the user.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# [1], [1,2], [1][2], 【1】, [source 1] -> normalised to [1] / [1][2]
_MARKER = re.compile(
    r"[\[【]\s*(?:source\s*|来源\s*|资料\s*)?(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】]", re.IGNORECASE
)
_OPEN = ("[", "【")
_MAX_MARKER = 16


def normalise_markers(text: str, valid: Iterable[int]) -> tuple[str, list[int]]:
    """Rewrite markers as ``[n]``, drop those whose ``n`` is not valid; return text and cited ns in order."""
    allowed = set(valid)
    cited: list[int] = []

    def repl(m: re.Match[str]) -> str:
        out = []
        for part in re.split(r"[,，、]", m.group(1)):
            n = int(part.strip())
            if n in allowed:
                out.append(f"[{n}]")
                if n not in cited:
                    cited.append(n)
        return "".join(out)

    text = _MARKER.sub(repl, text)
    # A dropped marker can leave a space before punctuation: "费用 。" -> "费用。"
    text = re.sub(r"[ \t]+([。，！？；,.!?;])", r"\1", text)
    return text, cited


class CitationStream:
    """Feeds streamed text through; emits text with only valid, whole markers."""

    def __init__(self, valid: Iterable[int]) -> None:
        self.valid = set(valid)
        self.cited: list[int] = []
        self._pending = ""

    def feed(self, piece: str) -> str:
        """Text safe to show now (a possible marker in progress stays held back)."""
        self._pending += piece
        cut = self._safe_cut(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._clean(ready)

    def flush(self) -> str:
        """The rest, at the end of the stream (an unfinished marker is dropped)."""
        rest, self._pending = self._pending, ""
        rest = re.sub(r"\s*[\[【][^\]】]*$", "", rest)
        return self._clean(rest)

    def _safe_cut(self, text: str) -> int:
        cut = len(text)
        last_open = max(text.rfind(o) for o in _OPEN)
        if last_open != -1:
            tail = text[last_open:]
            if not ("]" in tail or "】" in tail or len(tail) > _MAX_MARKER):
                cut = last_open
        # Spaces wait for what follows: before a dropped marker they would dangle.
        while cut > 0 and text[cut - 1] in " \t":
            cut -= 1
        return cut

    def _clean(self, text: str) -> str:
        cleaned, cited = normalise_markers(text, self.valid)
        for n in cited:
            if n not in self.cited:
                self.cited.append(n)
        return cleaned


def strip_markers(text: str) -> str:
    """The text without any citation markers (for grounding checks and summaries)."""
    return re.sub(r"\s*" + _MARKER.pattern, "", text, flags=re.IGNORECASE).strip()
