"""Source readers: help-center exports and ticket dumps in, ``SourceDocument`` s out.

A *source* is a folder or a single file in one of :data:`FORMATS` (see
``corpora/README.md``). :func:`read_source` reads every file it finds, each with the reader
of its kind, and never stops at a bad file or line: what it cannot use becomes a
:class:`~ingest.documents.Problem` (file, line, message) and the rest is read. Markup is
turned into plain-text :class:`~ingest.documents.Section` s here, once, for every format:
Markdown goes through markdown-it to HTML, and all HTML (pages, Zendesk bodies, HTML
inside Markdown) through one flattener.

Exact duplicates are left to the pipeline; paths are read in sorted order, so a source
always yields the same documents in the same order.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import posixpath
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import yaml
from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag
from markdown_it import MarkdownIt

from ingest.documents import Problem, Redact, Section, SourceDocument
from kefu.errors import BadInputError
from service.safety import foreign_hosts

FORMATS = ("markdown", "gitbook", "html", "zendesk", "tickets-jsonl", "tickets-csv")

# What each file kind is read as when a folder is read; ``.md`` files follow the folder's
# format (markdown or gitbook). ``.json`` is only ever a Zendesk export here.
_KIND_BY_SUFFIX = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".json": "zendesk",
    ".jsonl": "tickets-jsonl",
    ".ndjson": "tickets-jsonl",
    ".csv": "tickets-csv",
}
# A folder's own format, by the first kind of file found in it (help content before tickets).
_FOLDER_PRIORITY = ("markdown", "html", "zendesk", "tickets-jsonl", "tickets-csv")

CSV_REQUIRED = ("id", "subject", "question", "resolution")


@dataclass
class SourceRead:
    """What reading one source produced: its documents and the problems met on the way."""

    #: The folder document paths are relative to (a single file's parent folder).
    root: Path
    #: The source's format: the one asked for, else the one detected.
    format: str
    documents: list[SourceDocument]
    problems: list[Problem]
    #: Zendesk drafts left out (not a problem: drafts are unpublished on purpose).
    skipped_drafts: int = 0
    #: Other things worth telling the person who ingests (files deliberately not read).
    notes: list[str] = field(default_factory=list)


def detect_format(path: Path) -> str:
    """The format of the source at ``path`` (a folder or a file), one of :data:`FORMATS`.

    A folder with ``SUMMARY.md`` at its root is a GitBook export; otherwise a folder takes the
    format of the first kind of file in it, in the order Markdown, HTML, Zendesk JSON, ticket
    JSONL, ticket CSV. Raises :class:`~kefu.errors.BadInputError` naming the path when the
    path does not exist or holds nothing kefu reads.
    """
    path = Path(path)
    if path.is_dir():
        return _folder_format(path, _list_files(path))
    if not path.exists():
        raise BadInputError(f"source {path} does not exist")
    kind = _KIND_BY_SUFFIX.get(path.suffix.lower())
    if kind is None:
        raise BadInputError(
            f"cannot tell the format of {path}: expected .md, .html, .htm, .json (Zendesk), "
            ".jsonl or .csv; name a format to read it anyway"
        )
    if kind == "markdown" and (path.parent / "SUMMARY.md").is_file():
        return "gitbook"
    return kind


def read_source(
    path: Path, *, fmt: str | None = None, redact: Redact | None = None, official_domains: Sequence[str] | None = None
) -> SourceRead:
    """Read the source at ``path`` (a folder or a file) into documents and problems.

    Without ``fmt``, a folder's files are each read by the reader of their kind (Markdown, or
    GitBook when ``SUMMARY.md`` is at the root; HTML; Zendesk JSON; ticket JSONL and CSV), so
    a folder may mix help content and tickets. With ``fmt``, only that format's files are read
    (a single file is read as ``fmt`` whatever its name). ``redact`` is applied to every text
    taken from a ticket (help content is published material and is not redacted); for a
    conversation turn its context is the previous turn's original text (the subject for the
    first turn), plus, for a customer turn, the agent's last turn. Raises
    :class:`~kefu.errors.BadInputError` when the source does not exist or holds nothing kefu
    reads; every other fault is a :class:`Problem` in the result. A named link's address is
    written after its text where ``official_domains`` (all, without them) hold its host.
    """
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise BadInputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if path.is_dir():
        root = path
        files = _list_files(path)
        detected = _folder_format(path, files) if fmt is None else fmt
        if fmt is not None:
            files = [f for f in files if _file_format(f, fmt) == fmt]
    elif path.exists():
        root = path.parent
        detected = fmt or detect_format(path)
        files = [path]
    else:
        raise BadInputError(f"source {path} does not exist")

    pages = _page_keys([f.relative_to(root).as_posix() for f in files]) if path.is_dir() else frozenset()
    reader = _Reader(root, redact, gitbook=detected == "gitbook", pages=pages, official_domains=official_domains)
    for file in files:
        kind = detected if not path.is_dir() else _file_format(file, detected)
        if path.is_dir() and file.parent == root:
            if file.name == "SUMMARY.md" and kind in ("markdown", "gitbook"):
                continue  # a table of contents (GitBook reads it for titles), not an article
            if kind == "markdown" and file.name.lower() == "readme.md":
                # A plain Markdown folder's top README describes the folder (as
                # corpora/harbor/README.md does); a GitBook's is its landing page, an article.
                reader.notes.append(f"{file.name} at the root describes the folder; not read as an article")
                continue
        reader.read_file(file, kind)
    if reader.skipped_drafts:
        reader.notes.append(f"left out {reader.skipped_drafts} Zendesk draft(s)")
    return SourceRead(
        root=root,
        format=detected,
        documents=reader.documents,
        problems=reader.problems,
        skipped_drafts=reader.skipped_drafts,
        notes=reader.notes,
    )


# --------------------------------------------------------------------------- files


def _list_files(folder: Path) -> list[Path]:
    """Files of a known kind under ``folder``, sorted; hidden files and folders left out."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in _KIND_BY_SUFFIX:
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _folder_format(folder: Path, files: list[Path]) -> str:
    if (folder / "SUMMARY.md").is_file():
        return "gitbook"
    kinds = {_KIND_BY_SUFFIX[f.suffix.lower()] for f in files}
    for kind in _FOLDER_PRIORITY:
        if kind in kinds:
            return kind
    raise BadInputError(f"found nothing to read in {folder}: no .md, .html, .json (Zendesk), .jsonl or .csv files")


def _file_format(file: Path, folder_format: str) -> str:
    kind = _KIND_BY_SUFFIX[file.suffix.lower()]
    if kind == "markdown" and folder_format == "gitbook":
        return "gitbook"
    return kind


def _keep(text: str, context: str = "") -> str:
    return text


class _Reader:
    """Reads files one by one into a shared list of documents and problems."""

    def __init__(
        self,
        root: Path,
        redact: Redact | None,
        *,
        gitbook: bool,
        pages: frozenset[str] = frozenset(),
        official_domains: Sequence[str] | None = None,
    ) -> None:
        self.root = root
        self.official_domains = official_domains
        #: The source's own pages (:func:`_page_keys`), to tell its absolute links from others.
        self.pages = pages
        self.redact: Redact = redact or _keep
        self.documents: list[SourceDocument] = []
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.skipped_drafts = 0
        self._summary: _Summary | None = None
        self._gitbook = gitbook

    def rel(self, file: Path) -> str:
        try:
            return file.relative_to(self.root).as_posix()
        except ValueError:
            return file.as_posix()

    def problem(self, file: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(file, line, message))

    def read_file(self, file: Path, kind: str) -> None:
        rel = self.rel(file)
        text = self._read_text(file, rel)
        if text is None:
            return
        if kind in ("markdown", "gitbook"):
            self._markdown(text, rel, gitbook=kind == "gitbook")
        elif kind == "html":
            self._html_page(text, rel)
        elif kind == "zendesk":
            self._zendesk(text, rel)
        elif kind == "tickets-jsonl":
            self._tickets_jsonl(text, rel)
        else:
            self._tickets_csv(text, rel)

    def _read_text(self, file: Path, rel: str) -> str | None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            self.problem(rel, None, f"cannot read the file ({exc.strerror or exc}); skipped")
            return None
        try:
            # utf-8-sig reads plain UTF-8 too, and drops the BOM that Windows tools write.
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            self.problem(
                rel,
                line,
                f"not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded); save the file as UTF-8; skipped",
            )
            return None
        if not text.strip():
            self.problem(rel, None, "empty file; skipped")
            return None
        return text

    # ------------------------------------------------------------------ Markdown, GitBook

    def summary(self) -> _Summary:
        if self._summary is None:
            self._summary = _Summary()
            file = self.root / "SUMMARY.md"
            if self._gitbook and file.is_file():
                text = self._read_text(file, "SUMMARY.md")
                if text is not None:
                    self._summary = _read_summary(text, self.root, self.problems)
        return self._summary

    def _markdown(self, text: str, rel: str, *, gitbook: bool) -> None:
        front, body = self._front_matter(text, rel)
        # Zero-width characters left by editors stop emphasis from closing (``**粗体**\u200c``).
        body = _ZERO_WIDTH.sub("", body)
        summary = self.summary() if gitbook else _Summary()
        if gitbook:
            body = _without_gitbook_markup(body, rel, summary)
        soup = BeautifulSoup(_markdown_html(body), "html.parser")
        events = _flatten(soup, self.pages, self.official_domains)
        description = _scalar(front.get("description"))
        if description:
            events.insert(0, _clean(description))
        title = _scalar(front.get("title")) or summary.titles.get(rel) or _first_heading(events) or Path(rel).stem
        category = _scalar(front.get("category")) or summary.groups.get(rel) or _first_folder(rel)
        meta: dict[str, Any] = {}
        for key in ("id", "description"):
            if _scalar(front.get(key)):
                meta[key] = _scalar(front.get(key))
        self.documents.append(
            _article(
                rel,
                title,
                events,
                lang=_language(_scalar(front.get("lang"))),
                category=category,
                url=_scalar(front.get("url")),
                updated=_scalar(front.get("updated")),
                meta=meta,
                link_texts=_page_link_texts(soup, self.pages),
            )
        )

    def _front_matter(self, text: str, rel: str) -> tuple[dict[str, Any], str]:
        """The front matter (``{}`` when absent or broken) and the Markdown body."""
        lines = text.splitlines(keepends=True)
        if not lines or lines[0].rstrip() != "---":
            return {}, text
        end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
        if end is None:
            self.problem(rel, 1, "front matter opened with '---' is never closed; read the rest as Markdown")
            return {}, "".join(lines[1:])
        body = "".join(lines[end + 1 :])
        try:
            data = yaml.safe_load("".join(lines[1:end]))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 1
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.problem(rel, line, f"front matter is not valid YAML ({reason}); read the body without it")
            return {}, body
        if data is None:
            return {}, body
        if not isinstance(data, dict):
            self.problem(rel, 2, "front matter is not a mapping of fields; read the body without it")
            return {}, body
        return {str(k): v for k, v in data.items()}, body

    # ------------------------------------------------------------------ HTML, Zendesk

    def _html_page(self, text: str, rel: str) -> None:
        soup = BeautifulSoup(text, "html.parser")
        content = _first_tag(soup, "article") or _first_tag(soup, "main") or _first_tag(soup, "body") or soup
        h1 = _first_tag(content, "h1")
        title_tag = _first_tag(soup, "title")
        title = (_inline_text(h1) if h1 else "") or (_inline_text(title_tag) if title_tag else "") or Path(rel).stem
        html_tag = _first_tag(soup, "html")
        canonical = soup.find("link", rel="canonical")
        events = _flatten(content, self.pages, self.official_domains)
        self.documents.append(
            _article(
                rel,
                title,
                events,
                lang=_language(_attr(html_tag, "lang")),
                category=_first_folder(rel),
                url=_attr(canonical if isinstance(canonical, Tag) else None, "href"),
                link_texts=_page_link_texts(content, self.pages),
            )
        )

    def _zendesk(self, text: str, rel: str) -> None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.problem(rel, exc.lineno, f"not valid JSON ({exc.msg}, column {exc.colno}); skipped")
            return
        articles = data.get("articles") if isinstance(data, dict) else None
        if not isinstance(articles, list):
            self.problem(rel, None, "not a Zendesk Help Center export (no 'articles' list); skipped")
            return
        for n, art in enumerate(articles):
            where = f"articles[{n}]"
            if not isinstance(art, dict):
                self.problem(rel, None, f"{where} is not an object; skipped")
                continue
            if art.get("draft") is True:
                self.skipped_drafts += 1
                continue
            missing = [k for k in ("id", "title") if _scalar(art.get(k)) is None]
            if missing:
                self.problem(rel, None, f"{where}: missing required {_names(missing)}; skipped")
                continue
            aid, title = str(art["id"]), _clean(str(art["title"]))
            body = art.get("body")
            events = (
                _flatten(BeautifulSoup(body, "html.parser"), official_domains=self.official_domains)
                if isinstance(body, str)
                else []
            )
            labels = [str(x) for x in art.get("label_names") or [] if isinstance(x, str)]
            self.documents.append(
                _article(
                    f"zendesk/{aid}",
                    title,
                    events,
                    source_file=rel,
                    lang=_language(_scalar(art.get("locale"))),
                    # Zendesk has no category name in the article; its labels are the
                    # nearest thing (section_id is only a number).
                    category=labels[0] if labels else None,
                    url=_scalar(art.get("html_url")),
                    updated=_scalar(art.get("updated_at")),
                    meta={
                        "zendesk_id": art["id"],
                        "locale": _scalar(art.get("locale")),
                        "section_id": art.get("section_id"),
                        "label_names": labels,
                        "created": _scalar(art.get("created_at")),
                    },
                )
            )

    # ------------------------------------------------------------------ tickets

    def _tickets_jsonl(self, text: str, rel: str) -> None:
        # Split on newlines only: str.splitlines() also breaks at U+2028, which JSON allows raw.
        for n, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                self.problem(rel, n, f"not valid JSON ({exc.msg}, column {exc.colno}); line skipped")
                continue
            if not isinstance(record, dict):
                self.problem(rel, n, "expected a JSON object (one ticket per line); line skipped")
                continue
            self._ticket(record, rel, n)

    def _tickets_csv(self, text: str, rel: str) -> None:
        reader = csv.reader(io.StringIO(text, newline=""))
        header: list[str] | None = None
        while True:
            line = reader.line_num + 1  # where the next row starts (a quoted cell may span lines)
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self.problem(rel, line, f"not valid CSV ({exc}); the rest of the file skipped")
                return
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                missing = [c for c in CSV_REQUIRED if c not in header]
                if missing:
                    self.problem(
                        rel,
                        line,
                        f"missing required column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)} (the header has: {', '.join(header)}); file skipped",
                    )
                    return
                continue
            if len(row) > len(header):
                self.problem(
                    rel,
                    line,
                    f"row has {len(row)} cells but the header has {len(header)}; extra cells ignored",
                )
            cells = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header)}
            self._ticket(_csv_record(cells), rel, line, customer_field="question")

    def _ticket(self, record: dict[str, Any], rel: str, line: int, *, customer_field: str = "") -> None:
        """One ticket record (JSONL schema) into a document, or a problem if it lacks a field."""
        tid = _scalar(record.get("id"))
        label = f"ticket {tid}" if tid else "ticket"
        missing = [k for k in ("id", "subject", "resolution") if not _scalar(record.get(k))]
        messages = self._messages(record.get("messages"), rel, line, label)
        if not any(role == "customer" for role, _ in messages):
            missing.append(customer_field or "messages (at least one customer message)")
        if missing or tid is None:
            self.problem(rel, line, f"{label}: missing required {_names(missing)}; skipped")
            return

        subject_raw = str(record["subject"]).strip()
        subject = self.redact(subject_raw, "")
        turns = self._redacted_turns(messages, subject_raw)
        resolution = self.redact(str(record["resolution"]).strip(), "")
        lang = _language(_scalar(record.get("lang")))
        zh = lang == "zh" if lang else _has_cjk(subject_raw + "".join(t for _, t in messages))
        customer_said = [t["text"] for t in turns if t["role"] == "customer"]
        resolved = self._timestamp(record, "resolved", rel, line, label)
        escalated = record.get("escalated")
        self.documents.append(
            SourceDocument(
                path=f"tickets/{tid}",
                kind="ticket",
                title=subject,
                sections=[
                    Section(("问题",) if zh else ("Problem",), "\n".join([subject, *customer_said])),
                    Section(("解决方法",) if zh else ("Resolution",), resolution),
                ],
                lang=lang,
                category=self._redacted_field(record, "category"),
                updated=resolved,
                source_file=rel,
                meta={
                    "subject": subject,
                    "resolution": resolution,
                    "channel": self._redacted_field(record, "channel"),
                    "priority": self._redacted_field(record, "priority"),
                    "tags": self._redacted_list(record, "tags"),
                    "csat": self._csat(record.get("csat"), rel, line, label),
                    "created": self._timestamp(record, "created", rel, line, label),
                    "resolved": resolved,
                    "escalated": escalated if isinstance(escalated, bool) else None,
                    "articles": self._redacted_list(record, "articles"),
                    "messages": turns,
                },
            )
        )

    def _redacted_turns(self, messages: list[tuple[str, str]], subject: str) -> list[dict[str, str]]:
        """The messages as ``{"role", "text"}`` turns, each redacted in the context it answers."""
        turns: list[dict[str, str]] = []
        # A turn answers the turn before it and, for a customer, the agent's last request
        # ("请发一下交易哈希"), which may be a turn or two back.
        previous = subject  # the subject is what the first message answers to
        last_agent = ""
        for role, text in messages:
            context = previous if role == "agent" or last_agent in ("", previous) else f"{last_agent}\n{previous}"
            turns.append({"role": role, "text": self.redact(text, context)})
            previous = text
            if role == "agent":
                last_agent = text
        return turns

    def _redacted_field(self, record: dict[str, Any], key: str) -> str | None:
        value = _scalar(record.get(key))
        return self.redact(value, "") if value else None

    def _redacted_list(self, record: dict[str, Any], key: str) -> list[str]:
        values = record.get(key)
        items = [_scalar(v) for v in values] if isinstance(values, list) else []
        return [self.redact(v, "") for v in items if v]

    def _messages(self, raw: Any, rel: str, line: int, label: str) -> list[tuple[str, str]]:
        """``(role, text)`` of each usable message; unusable ones are reported and left out."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(rel, line, f"{label}: 'messages' is not a list; left out")
            return []
        messages = []
        for i, m in enumerate(raw, start=1):
            role = m.get("role") if isinstance(m, dict) else None
            text = m.get("text") if isinstance(m, dict) else None
            if isinstance(role, str) and role.strip() and isinstance(text, str) and text.strip():
                messages.append((role.strip().lower(), text.strip()))
            else:
                self.problem(rel, line, f"{label}: message {i} has no role or no text; left out")
        return messages

    def _timestamp(self, record: dict[str, Any], key: str, rel: str, line: int, label: str) -> str | None:
        # Timestamps are kept only when they parse: they are not free text, so they are not
        # passed through the redactor (whose phone-number rule could mangle one).
        value = _scalar(record.get(key))
        if not value:
            return None
        try:
            datetime.fromisoformat(value)
        except ValueError:
            self.problem(rel, line, f"{label}: '{key}' is not an ISO 8601 time ({value!r}); left out")
            return None
        return value

    def _csat(self, value: Any, rel: str, line: int, label: str) -> int | None:
        if value is None or value == "":
            return None
        try:
            score = int(value) if not isinstance(value, bool) else -1
        except (TypeError, ValueError):
            score = -1
        if not 1 <= score <= 5:
            self.problem(rel, line, f"{label}: 'csat' must be 1 to 5 ({value!r}); left out")
            return None
        return score


def _csv_record(cells: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a record in the JSONL schema (the question becomes the first message)."""
    question = cells.get("question", "")
    messages = [{"role": "customer", "text": question}] if question else []
    for turn in _conversation(cells.get("conversation", "")):
        if not (messages and turn["role"] == "customer" and turn["text"] == question):
            messages.append(turn)
    record: dict[str, Any] = {k: v for k, v in cells.items() if v and k not in ("question", "conversation")}
    record["messages"] = messages
    record["tags"] = [t.strip() for t in cells.get("tags", "").split(";") if t.strip()]
    record["articles"] = [a.strip() for a in cells.get("articles", "").split(";") if a.strip()]
    record["escalated"] = _YES_NO.get(cells.get("escalated", "").lower())
    return record


_YES_NO = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


_TURN = re.compile(r"^\s*(customer|agent)\s*[:：]\s*(.*)$", re.IGNORECASE)


def _conversation(text: str) -> list[dict[str, str]]:
    """Turns of a ``customer: …`` / ``agent: …`` transcript; other lines continue a turn."""
    turns: list[dict[str, str]] = []
    for line in text.splitlines():
        m = _TURN.match(line)
        if m:
            turns.append({"role": m.group(1).lower(), "text": m.group(2).strip()})
        elif line.strip():
            if turns:
                turns[-1]["text"] = f"{turns[-1]['text']}\n{line.strip()}".strip()
            else:
                turns.append({"role": "customer", "text": line.strip()})
    return [t for t in turns if t["text"]]


# --------------------------------------------------------------------------- GitBook


@dataclass
class _Summary:
    """What a GitBook ``SUMMARY.md`` says of each page: its title and its group (category)."""

    titles: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)


def _read_summary(text: str, root: Path, problems: list[Problem]) -> _Summary:
    summary = _Summary()
    group: str | None = None
    heading_level = 0
    for tok in _markdown().parse(text):
        if tok.type == "heading_open":
            heading_level = int(tok.tag[1:])
        elif tok.type == "heading_close":
            heading_level = 0
        elif tok.type == "inline" and heading_level:
            if heading_level == 2:
                group = _without_emoji(_inline_plain(tok.children or [])) or None
            elif heading_level == 1:
                group = None
        elif tok.type == "inline":
            line = tok.map[0] + 1 if tok.map else None
            for href, title in _links(tok.children or []):
                page = _page_path(href, "")
                if page is None or page in summary.titles:
                    continue
                if not (root / page).is_file():
                    problems.append(Problem("SUMMARY.md", line, f"lists {page}, which does not exist"))
                summary.titles[page] = title
                if group:
                    summary.groups[page] = group
    return summary


def _page_link_texts(node: Tag, pages: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The texts of links to other pages of the same site, longest first.

    A page of the site is a relative link, or an absolute one (``https://help.example.com/cn/
    faq/fees``, ``/cn/faq/fees``) whose path ends with the path of one of the source's own
    pages (``pages``, see :func:`_page_keys`) in at least two segments. Short texts ("这里",
    "here") are not collected: they name no page, and cutting them out of the text would cut
    words.
    """
    texts = set()
    for a in node.find_all("a"):
        href = a.get("href")
        if isinstance(href, str) and not href.startswith("#") and _is_own_page(href, pages):
            text = _inline_text(a)
            if len(text) >= 4:
                texts.add(text)
    return tuple(sorted(texts, key=lambda t: (-len(t), t)))


def _page_keys(paths: list[str]) -> frozenset[str]:
    """How the pages at ``paths`` (relative to the root) can appear at the end of a URL's path:
    lower-case, without the file's suffix, a folder's ``README`` or ``index`` as the folder."""
    keys = set()
    for rel in paths:
        stem, suffix = posixpath.splitext(rel.lower())
        if suffix not in (".md", ".html", ".htm"):
            continue
        keys.add(stem)
        folder, name = posixpath.split(stem)
        if name in ("readme", "index") and folder:
            keys.add(folder)
    return frozenset(keys)


def _is_own_page(href: str, pages: frozenset[str]) -> bool:
    if _page_path(href, "") is not None:
        return True
    if not pages or not href.lower().startswith(("http://", "https://", "/")):
        return False
    path = unquote(urlsplit(href).path).lower().strip("/")
    path = posixpath.splitext(path)[0] if path.endswith((".md", ".html", ".htm")) else path
    segments = [seg for seg in path.split("/") if seg]
    return any("/".join(segments[i:]) in pages for i in range(len(segments) - 1))


def _links(children: list[Any]) -> Iterator[tuple[str, str]]:
    """``(href, text)`` of each link among an inline token's children."""
    href: str | None = None
    parts: list[str] = []
    for child in children:
        if child.type == "link_open":
            href, parts = str(child.attrs.get("href", "")), []
        elif child.type == "link_close" and href is not None:
            yield href, _clean("".join(parts))
            href = None
        elif href is not None and child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif href is not None and child.type in ("softbreak", "hardbreak"):
            parts.append(" ")


def _inline_plain(children: list[Any]) -> str:
    return _clean("".join(c.content for c in children if c.type in ("text", "code_inline")))


def _page_path(href: str, base: str) -> str | None:
    """The page a relative link points to, as a path relative to the root; None if external."""
    href = unquote(href.split("#", 1)[0].split("?", 1)[0]).strip()
    if not href or "://" in href or href.startswith(("mailto:", "/")):
        return None
    if href.endswith("/"):
        href += "README.md"
    return posixpath.normpath(posixpath.join(base, href))


_CONTENT_REF = re.compile(r'\{%\s*content-ref\s+url="([^"]*)"\s*%\}.*?\{%\s*endcontent-ref\s*%\}', re.DOTALL)
_GITBOOK_LINE = re.compile(r"^[ \t]*\{%-?(.*?)-?%\}[ \t]*$", re.MULTILINE)
_GITBOOK_INLINE = re.compile(r"\{%-?(.*?)-?%\}")
_TITLE_ATTR = re.compile(r'\btitle="([^"]*)"')
#: A GitBook page mention, ``[about.md](about.md "mention")``: its text is the file's name.
_MENTION = re.compile(r'\[([^\]\n]*)\]\(([^)\s]+)\s+"mention"\)')
#: A column name ending in a Chinese character takes a full-width colon.
_CJK_END = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff01-\uff0f\uff1a-\uff1f）」》]$")
# GitBook ends paragraphs with a hard-break backslash, which Markdown keeps as text there.
_TRAILING_BACKSLASH = re.compile(r"\\[ \t]*(?=(?:\n[ \t]*\\[ \t]*)*(?:\n[ \t]*\n|\n?\Z))")


def _without_gitbook_markup(body: str, rel: str, summary: _Summary) -> str:
    """GitBook Markdown with its ``{% … %}`` markers gone and the text inside them kept.

    A content-ref card and a page mention become the title of the page they point to; a
    marker with a ``title`` (a tab, a titled code block) leaves its title as a line of its own.
    """

    def content_ref(m: re.Match[str]) -> str:
        page = _page_path(m.group(1), posixpath.dirname(rel))
        title = summary.titles.get(page) if page else None
        return f"\n\n{title}\n\n" if title else "\n\n"

    def mention(m: re.Match[str]) -> str:
        # The page's title in place of its file name, the link kept; a file name alone says nothing.
        page = _page_path(m.group(2), posixpath.dirname(rel))
        title = summary.titles.get(page) if page else None
        if title:
            return f"[{title}]({m.group(2)})"
        return "" if m.group(1).strip().endswith((".md", ".html")) else f"[{m.group(1)}]({m.group(2)})"

    def marker(m: re.Match[str], *, line: bool) -> str:
        title = _TITLE_ATTR.search(m.group(1))
        if title and title.group(1).strip():
            return f"\n\n{title.group(1).strip()}\n\n" if line else f" {title.group(1).strip()} "
        return "" if line else " "

    body = _TRAILING_BACKSLASH.sub("", body)
    body = _CONTENT_REF.sub(content_ref, body)
    body = _MENTION.sub(mention, body)
    body = _GITBOOK_LINE.sub(lambda m: marker(m, line=True), body)
    return _GITBOOK_INLINE.sub(lambda m: marker(m, line=False), body)


_EMOJI_EXTRA = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}


def _without_emoji(text: str) -> str:
    kept = (
        c
        for c in text
        if unicodedata.category(c) not in ("So", "Cs", "Co")
        and c not in _EMOJI_EXTRA
        and not 0x1F3FB <= ord(c) <= 0x1F3FF
    )
    return _clean("".join(kept))


# --------------------------------------------------------------------------- Markdown, HTML


@functools.cache
def _markdown() -> MarkdownIt:
    # Raw HTML passes through to the flattener, which drops or unwraps it like any page's.
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _markdown_html(body: str) -> str:
    """Markdown rendered to HTML, with emphasis markers that did not pair up taken out.

    CommonMark's flanking rules leave ``**注意：**收款`` unparsed (a full-width colon before
    the closing ``**``), where GitBook shows bold text; a literal ``**`` in a text token (never
    code) is such a left-over marker.
    """
    md = _markdown()
    env: dict[str, Any] = {}
    tokens = md.parse(body, env)
    for tok in tokens:
        for child in tok.children or ():
            if child.type == "text" and "**" in child.content:
                child.content = child.content.replace("**", "")
    return str(md.renderer.render(tokens, md.options, env))


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


# A flattened document: headings, and the lines of text between them.
_Event = _Heading | str

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Dropped with everything inside: code, navigation, media, forms, the document head.
_DROP = frozenset({
    "script", "style", "noscript", "template", "nav", "footer", "iframe", "svg", "canvas",
    "form", "button", "select", "input", "textarea", "img", "picture", "video", "audio",
    "source", "track", "map", "object", "embed", "head", "title", "meta", "link",
})  # fmt: skip
_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "div", "dl", "dt", "fieldset", "figure", "header", "hgroup", "html", "li",
    "main", "p", "section", "summary",
})  # fmt: skip
_INLINE_BREAK = _BLOCK | {"br", "hr", "ul", "ol", "table", "tr", "td", "th", "pre", *_HEADINGS}


class _Flattener:
    """Turns an HTML tree into headings and lines of plain text.

    Lists become ``- item`` / ``1. item`` lines (nested ones indented), table rows
    ``cell | cell``, code blocks their lines; images, scripts, navigation, comments and link
    targets are dropped, and so is a figure's caption unless it says something.
    """

    def __init__(self) -> None:
        self.events: list[_Event] = []
        self._inline: list[str] = []
        self._first_prefix = ""
        self._indent = ""

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                # Subclasses are comments, doctypes, CDATA and script/style text.
                if type(child) is NavigableString:
                    self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._tag(child)

    def _tag(self, tag: Tag) -> None:
        name = tag.name
        if name in _DROP:
            return
        special = _Flattener._heading if name in _HEADINGS else self._SPECIAL.get(name)
        if special is not None:
            special(self, tag)
        elif name in _BLOCK:
            self.end_line()
            self.walk(tag)
            self.end_line()
        else:
            self.walk(tag)

    def _heading(self, tag: Tag) -> None:
        self.end_line()
        text = _inline_text(tag)
        if text:
            self.events.append(_Heading(_HEADINGS[tag.name], text))

    def _list_block(self, tag: Tag) -> None:
        self.end_line()
        self._list(tag)

    def _table_block(self, tag: Tag) -> None:
        self.end_line()
        self._table(tag)

    def _pre(self, tag: Tag) -> None:
        self.end_line()
        for line in tag.get_text().splitlines():
            if line.strip():
                self._line(line.rstrip())

    def _break(self, tag: Tag) -> None:
        self.end_line()

    def _figcaption(self, tag: Tag) -> None:
        text = _inline_text(tag)
        if _says_something(text):
            self.end_line()
            self._line(text)

    #: Tags besides headings that are not walked as they are.
    _SPECIAL: ClassVar[dict[str, Callable[[_Flattener, Tag], None]]] = {
        "ul": _list_block,
        "ol": _list_block,
        "table": _table_block,
        "pre": _pre,
        "br": _break,
        "hr": _break,
        "figcaption": _figcaption,
    }

    def end_line(self) -> None:
        if self._inline:
            text = _clean("".join(self._inline))
            self._inline = []
            if text:
                self._line(text)

    def _line(self, text: str) -> None:
        if self._first_prefix:
            text, self._first_prefix = self._first_prefix + text, ""
        elif self._indent:
            text = self._indent + text
        self.events.append(text)

    def _list(self, tag: Tag) -> None:
        saved = self._first_prefix, self._indent
        item_indent = self._indent
        try:
            number = int(str(tag.get("start") or 1))
        except ValueError:
            number = 1
        for child in tag.children:
            if not isinstance(child, Tag):
                continue
            if child.name != "li":
                self._tag(child)
                continue
            marker = f"{number}. " if tag.name == "ol" else "- "
            number += 1
            self._first_prefix, self._indent = item_indent + marker, item_indent + "  "
            self.walk(child)
            self.end_line()
        self._first_prefix, self._indent = saved

    def _table(self, table: Tag) -> None:
        caption = table.find("caption", recursive=False)
        if isinstance(caption, Tag) and _inline_text(caption):
            self._line(_inline_text(caption))
        header: list[str] | None = None
        rows = 0
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue
            tags = tr.find_all(["td", "th"], recursive=False)
            cells = [_inline_text(c) for c in tags]
            if not any(cells):
                continue
            if header is None and rows == 0 and all(c.name == "th" for c in tags):
                header = cells
                continue
            rows += 1
            self._line(_labelled_row(header, cells))
        if header is not None and rows == 0:
            self._line(" | ".join(header))


def _labelled_row(header: list[str] | None, cells: list[str]) -> str:
    """A table row whose cells carry their column's name ("浏览器显示：查不到这笔交易 | 说明：…"):
    a row quoted or embedded on its own still says what each value is."""
    if not header:
        return " | ".join(cells)
    parts = []
    for i, cell in enumerate(cells):
        name = header[i] if i < len(header) else ""
        if not cell:
            continue
        colon = "：" if name and _CJK_END.search(name) else ": "
        parts.append(f"{name}{colon}{cell}" if name else cell)
    return " | ".join(parts)


#: Link texts that say only "the link is here": the text keeps the link's address, or an
#: answer quoting it would tell the user to click on nothing ("点击这里来找回转错链的资产").
_DEICTIC_LINK = re.compile(
    r"^(?:点击|点)?(?:这里|此处|此|我|链接|这个链接|该链接)$|^(?:click )?here$|^(?:this |the )?link$", re.IGNORECASE
)
#: Links to a picture or a file the site hosts: their address helps no reader of a quote.
_FILE_LINK = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|bmp|pdf|zip|mp4)$", re.IGNORECASE)


def _show_link_targets(
    node: Tag, pages: frozenset[str] = frozenset(), official_domains: Sequence[str] | None = None
) -> None:
    """Write a web link's address after its text, where the text does not show it: a quote of
    "常见的公链浏览器：以太坊浏览器" or "点击这里" is no use to a user who cannot click it (a
    quote is plain text). Links to the help center's own pages (cited by title), to pictures
    and, if ``official_domains`` are given, to other domains keep their text alone ("Twitter"
    is a harmless word; its address would leave the sentence out, :mod:`ingest.screen`). A
    "click here" link always shows its address: the screen judges it."""
    for a in node.find_all("a"):
        href = a.get("href")
        if not isinstance(href, str) or not href.lower().startswith(("http://", "https://")):
            continue
        text = _inline_text(a)
        parts = urlsplit(href)
        host = (parts.hostname or "").removeprefix("www.")
        if not _DEICTIC_LINK.match(text):
            if not text or (host and host in text.lower()) or _FILE_LINK.search(unquote(parts.path)):
                continue
            if ("/files/" in parts.path and "gitbook" in host) or _is_own_page(href, pages):
                continue
            if official_domains is not None and foreign_hosts(href, official_domains):
                continue
        a.insert_after(f"（{href}）" if _CJK_END.search(text) else f" ({href})")


def _flatten(
    node: Tag, pages: frozenset[str] = frozenset(), official_domains: Sequence[str] | None = None
) -> list[_Event]:
    _show_link_targets(node, pages, official_domains)
    flattener = _Flattener()
    flattener.walk(node)
    flattener.end_line()
    return flattener.events


def _inline_text(node: Tag) -> str:
    """All the text under ``node`` on one line (block boundaries become spaces)."""
    parts: list[str] = []

    def visit(tag: Tag) -> None:
        for child in tag.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:
                    parts.append(str(child))
            elif isinstance(child, Tag) and child.name not in _DROP:
                if child.name in _INLINE_BREAK:
                    parts.append(" ")
                    visit(child)
                    parts.append(" ")
                else:
                    visit(child)

    visit(node)
    return _clean("".join(parts))


_FILE_NAME = re.compile(r"^\S+\.(png|jpe?g|gif|svg|webp|bmp)$", re.IGNORECASE)


def _says_something(caption: str) -> bool:
    # GitBook leaves captions empty, or sets them to a file name; those are dropped.
    return any(c.isalpha() for c in caption) and not _FILE_NAME.match(caption)


def _article(
    path: str, title: str, events: list[_Event], *, source_file: str | None = None, **fields: Any
) -> SourceDocument:
    """A help article whose sections come from the page's text (``_sections``), read from
    ``source_file`` (by default the file the article's path names)."""
    return SourceDocument(
        path=path,
        kind="article",
        title=title,
        sections=_sections(events, title),
        source_file=source_file or path,
        **fields,
    )


def _sections(events: list[_Event], title: str) -> list[Section]:
    """Group lines under their heading paths; the first heading is left out if it is the title."""
    sections: list[Section] = []
    stack: list[_Heading] = []
    lines: list[str] = []
    first = True

    def flush() -> None:
        text = "\n".join(lines).strip("\n")
        if text.strip():
            sections.append(Section(tuple(h.text for h in stack), text))
        lines.clear()

    for event in events:
        if isinstance(event, str):
            lines.append(event)
            continue
        if first and event.text.casefold() == _clean(title).casefold():
            first = False
            continue
        first = False
        flush()
        while stack and stack[-1].level >= event.level:
            stack.pop()
        stack.append(event)
    flush()
    return sections


def _first_heading(events: list[_Event]) -> str | None:
    return next((e.text for e in events if isinstance(e, _Heading)), None)


def _first_tag(node: Tag, name: str) -> Tag | None:
    found = node.find(name)
    return found if isinstance(found, Tag) else None


def _attr(tag: Tag | None, name: str) -> str | None:
    value = tag.get(name) if tag is not None else None
    if isinstance(value, list):
        value = " ".join(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


# --------------------------------------------------------------------------- text


_ZERO_WIDTH = re.compile("[\u200b\u200c\u2060\ufeff]")
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
# A line break between two CJK characters joins them: Chinese has no spaces between words.
_CJK_BREAK = re.compile(rf"(?<=[{_CJK}])[ \t]*\n\s*(?=[{_CJK}])")
_SPACES = re.compile(r"\s+")


def _clean(text: str) -> str:
    text = _CJK_BREAK.sub("", _ZERO_WIDTH.sub("", text))
    return _SPACES.sub(" ", text).strip()


def _has_cjk(text: str) -> bool:
    return re.search(f"[{_CJK}]", text) is not None


def _scalar(value: Any) -> str | None:
    """A front matter or record value as text (dates as ISO), or None if absent or not a scalar."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | int | float):
        return str(value).strip() or None
    return None


def _language(tag: str | None) -> str | None:
    """``zh-CN`` → ``zh``: the primary language subtag, lower case."""
    if not tag:
        return None
    return re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower() or None


def _first_folder(rel: str) -> str | None:
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else None


def _names(fields: list[str]) -> str:
    """``field 'id'`` or ``fields 'id', 'subject'``, for messages."""
    quoted = ", ".join(f"'{f}'" if " " not in f else f for f in fields)
    return f"field {quoted}" if len(fields) == 1 else f"fields {quoted}"
