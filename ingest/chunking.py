"""Split documents into chunks by structure: sections under headings, then sentences.

A chunk's embedded text carries the document title and its heading path, so a passage
like "点击加速即可" is found for "转账打包中怎么办" through its title.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.documents import SourceDocument
from kefu.text import RELATED_PAGES, RELEASE_NOTES, split_passage

#: Bump when chunking (or what the readers give it) changes: an index built with another
#: version is re-chunked. 4: a table row names its columns. 5: a release note's changes are
#: chunks of their own. 6: a web address's "?" ends no sentence; a named link shows its address;
#: a list item the screen leaves out goes whole.
CHUNKER_VERSION = 6

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
#: Headings of link lists to other pages ("相关文章", "Related articles").
_NAVIGATION_HEADING = re.compile(rf"^\W*(?:{RELATED_PAGES})\W*$", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)、])\s+\S")
_RELEASE_NOTES = re.compile(RELEASE_NOTES, re.IGNORECASE)
#: One change in a release note's list ("1.支持Sui。", "2、", "- Fixed ..."): the space after
#: the number is often missing in Chinese.
_CHANGE = re.compile(r"^\s*(?:[-*+•]|\d{1,2}\s*[.)、．])\s*\S")
#: A line that only names the part after it ("【版本更新内容】", "**What's new**", "Changes:").
_LABEL = re.compile(r"^\s*(?:【[^】]{1,20}】|\*\*[^*]{1,30}\*\*|[^。.!?！？]{1,30}[:：])\s*$")


def text_units(text: str) -> float:
    """Rough embedder tokens: a Chinese character is about one, a Latin character a quarter."""
    cjk = len(_CJK.findall(text))
    return cjk + (len(text) - cjk) * 0.27


@dataclass(frozen=True)
class ChunkerConfig:
    #: A chunk grows to about this many units (tokens) before it is cut at a sentence end.
    max_units: int = 220
    #: Sections smaller than this are merged with their neighbours in the same document.
    min_units: int = 60
    #: Sentences carried over from the end of one piece to the start of the next.
    overlap_sentences: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.min_units < self.max_units:
            raise ValueError("chunking needs 0 < min_units < max_units")


@dataclass(frozen=True)
class Chunk:
    heading_path: tuple[str, ...]
    #: The passage itself (what snippets and prompts show).
    text: str


def embed_text(title: str, heading_path: Sequence[str], text: str) -> str:
    """A chunk's title, headings and passage, as the embedder and the sparse index see them."""
    head = " > ".join(h for h in heading_path if h and h != title)
    return "\n".join(p for p in (title, head, text) if p)


def _split_long(text: str, cfg: ChunkerConfig) -> list[str]:
    sentences = split_passage(text)
    pieces: list[str] = []
    current: list[str] = []
    size = 0.0
    for sentence in sentences:
        units = text_units(sentence)
        if current and size + units > cfg.max_units:
            pieces.append("\n".join(current))
            current = current[-cfg.overlap_sentences :] if cfg.overlap_sentences else []
            size = sum(text_units(s) for s in current)
            if size + units > cfg.max_units:
                current, size = [], 0.0
        if units > cfg.max_units:
            # One endless "sentence" (a table row run, a code block): cut by characters.
            step = max(1, int(len(sentence) * cfg.max_units / units))
            for i in range(0, len(sentence), step):
                pieces.append(sentence[i : i + step])
            continue
        current.append(sentence)
        size += units
    if current:
        pieces.append("\n".join(current))
    return [p for p in pieces if p.strip()]


def _is_navigation(heading_path: Sequence[str], text: str) -> bool:
    """A "Related articles" list: the titles of other pages, not content of this one.

    Left out of the index: such a list matches questions about the pages it names (a
    "转账一直显示“打包中”怎么办" link under a deposit article drew that question to the deposit
    article), and a quote never comes from it.
    """
    if not heading_path or not _NAVIGATION_HEADING.match(heading_path[-1].strip()):
        return False
    return all(_LIST_ITEM.match(line) for line in text.splitlines() if line.strip())


def chunk_document(doc: SourceDocument, cfg: ChunkerConfig | None = None) -> list[Chunk]:
    """Chunks of one document, in reading order; never empty for a document with text."""
    cfg = cfg or ChunkerConfig()
    # Merge small neighbouring sections first (a heading with two lines under it is
    # too little context on its own), keeping the first one's heading path.
    merged: list[tuple[tuple[str, ...], str]] = []
    for section in doc.sections:
        text = section.text.strip()
        if not text or _is_navigation(section.heading_path, text):
            continue
        if merged:
            path, prev = merged[-1]
            if text_units(prev) < cfg.min_units and text_units(prev) + text_units(text) <= cfg.max_units:
                heading = " / ".join(section.heading_path[len(path) :]) if section.heading_path else ""
                joined = f"{prev}\n{heading}\n{text}" if heading and section.heading_path != path else f"{prev}\n{text}"
                merged[-1] = (path, joined)
                continue
        merged.append((section.heading_path, text))

    if _RELEASE_NOTES.search(doc.title):
        merged = [piece for path, text in merged for piece in _changes_apart(path, text)]
    chunks: list[Chunk] = []
    for path, text in merged:
        if text_units(text) <= cfg.max_units:
            chunks.append(Chunk(path, text))
        else:
            chunks.extend(Chunk(path, piece) for piece in _split_long(text, cfg))
    if not chunks and doc.title.strip():
        # A section page with no body still answers "where is X": index its title.
        chunks.append(Chunk((), doc.title.strip()))
    return chunks


def _changes_apart(path: tuple[str, ...], text: str) -> list[tuple[tuple[str, ...], str]]:
    """A release note's section with each change it lists as a piece of its own (with the
    lines that continue it), after the rest of the section (versions, how to update) less
    the label that announced the list.

    Together in one chunk, a note's six changes matched no question about any one of them
    (docs/search.md)."""
    rest: list[str] = []
    changes: list[list[str]] = []
    current = rest
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        if _CHANGE.match(line):
            if current is rest and rest and _LABEL.match(rest[-1]):
                rest.pop()
            current = [line]
            changes.append(current)
        elif _LABEL.match(line):
            # "【版本更新方式】" after the list: what follows is not part of the last change.
            current = rest
            rest.append(line)
        else:
            current.append(line)
    if len(changes) < 2:
        return [(path, text)]
    while rest and _LABEL.match(rest[-1]):
        rest.pop()  # a label whose list is in the next section
    pieces = ["\n".join(rest)] if rest else []
    return [(path, piece) for piece in pieces + ["\n".join(change) for change in changes]]
