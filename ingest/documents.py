"""What source readers produce: documents made of sections, and problems met on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

DocumentKind = Literal["article", "ticket"]


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path (``()`` for text before the first heading).

    ``text`` is clean plain text: no markup, images or link targets; lists as lines
    ("1. ...", "- ..."); tables as rows with cells joined by " | ".
    """

    heading_path: tuple[str, ...]
    text: str


@dataclass
class SourceDocument:
    """One help article or one resolved ticket, as read from its source."""

    #: The document's name: its path relative to the source root (posix, e.g.
    #: ``fqa/pending-status-transfer.md``), ``tickets/<id>`` for a ticket,
    #: ``zendesk/<id>`` for a Zendesk article.
    path: str
    kind: DocumentKind
    title: str
    sections: list[Section]
    lang: str | None = None
    category: str | None = None
    url: str | None = None
    updated: str | None = None
    #: The file it was read from, relative to the source root (for messages).
    source_file: str = ""
    #: Extra fields: for tickets ``subject``, ``resolution``, ``channel``, ``priority``,
    #: ``tags``, ``csat``, ``created``, ``resolved``, ``escalated``, ``articles`` and the
    #: redacted ``messages`` ([{"role", "text"}]).
    meta: dict[str, Any] = field(default_factory=dict)
    #: The texts of links to other pages of the same help center ("见转账一直显示“打包中”怎么办？"):
    #: names of other pages, which search leaves out of what this page matches.
    link_texts: tuple[str, ...] = ()

    def text(self) -> str:
        """The whole document as plain text (title, headings and sections)."""
        parts = [self.title]
        for s in self.sections:
            if s.heading_path:
                parts.append(" / ".join(s.heading_path))
            parts.append(s.text)
        return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class Problem:
    """Something wrong with the input: where (file, line when known) and what."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class Redact(Protocol):
    """Redacts secrets from ``text``; ``context`` is nearby text (e.g. the previous turn)."""

    def __call__(self, text: str, context: str = "") -> str: ...
