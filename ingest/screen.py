"""Help content that would fail the output check is kept out of the index, and reported.

An article that asks for a seed phrase, promises to recover stolen funds or links to a
domain that is not the deployment's would be cut sentence by sentence when shown
(:func:`service.safety.check_shown`); a poisoned source should not even reach search. Each
such sentence is removed from the indexed text and becomes a problem naming the file and
line, so ``kefu ingest`` lists it and ``--strict`` refuses the input until it is fixed.
Tickets are customers' words and never answer anyone, so only articles are screened. A
link shown as an example of a scam (a table of phishing domains) is no fault of the article:
it stays, and the output check cuts it if an answer ever quotes it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from ingest.documents import Problem, Section, SourceDocument
from kefu.text import sentence_spans
from service.safety import foreign_hosts, passage_problems

# Words that make a link an example of a scam, not a recommendation ("钓鱼域名示例 | 手法",
# "例如“Visit xxx-claim.com to get 500 USDC”").
_WARNING = re.compile(r"钓鱼|冒充|仿冒|假冒|诈骗|骗子|山寨|例如“|(?i:phishing|scam|fake|look-?alike|impersonat)")
#: How service.safety words a link to a domain that is not official.
_NOT_OFFICIAL = "not an official domain: "
#: How much of a sentence is looked for in the file to find its line (markup may differ).
_PROBES = (40, 20, 10)


def screen_documents(
    documents: Sequence[SourceDocument],
    root: Path,
    official_domains: Sequence[str] | None,
    foreign: Counter[str] | None = None,
) -> list[Problem]:
    """Remove, in place, the sentences of articles that would fail the output check; one
    problem per sentence (file and line when the sentence can be found in the file).
    ``foreign`` counts, by domain, the links left out for not being official."""
    problems: list[Problem] = []
    files: dict[str, str | None] = {}
    for doc in documents:
        if doc.kind != "article":
            continue
        for n, section in enumerate(doc.sections):
            found = passage_problems(_as_written(section), official_domains)
            if not found:
                continue
            if section.heading_path and _WARNING.search(section.heading_path[-1]):
                found = [p for p in found if p.violation.kind != "unknown_url"]
            where = doc.source_file or doc.path
            if where not in files:
                files[where] = _read(root, where)
            text = section.text
            for problem in found:
                row = problem.sentence.removeprefix("| ")
                header = section.text[: max(0, section.text.find(row))] if problem.sentence.startswith("| ") else ""
                if problem.violation.kind == "unknown_url" and _WARNING.search(problem.sentence + header[-600:]):
                    continue  # a scam's domain shown as a warning (a row of such a table): not a fault
                sentence = problem.sentence.removeprefix("| ")
                text = _without(text, sentence)
                what = problem.violation
                if foreign is not None and (link := what.detail.removeprefix(_NOT_OFFICIAL)) != what.detail:
                    foreign[_domain_of(link)] += 1
                problems.append(
                    Problem(
                        where,
                        _line_of(files[where], sentence),
                        f"{what.kind}: {what.detail}; left out of the index until fixed: {what.sentence[:120]!r}",
                    )
                )
            doc.sections[n] = replace(section, text=text)
    return problems


#: A list item's marker ("1）", "2、", "3.", "-", "•"): the item is one thing to do or know.
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}\s*[）)、.．]|[（(]\d{1,2}[）)]|[-*•·])")


def _without(text: str, sentence: str) -> str:
    """``text`` without ``sentence``; without its whole line if that line is a list item, whose
    rest ("（具体步骤请点击这里…）") would otherwise read as part of the item before it."""
    at = text.find(sentence)
    if at < 0:
        return text
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at + len(sentence))
    end = len(text) if end < 0 else end
    if _LIST_ITEM.match(text[start:end]):
        return text[:start] + text[end + 1 :] if end < len(text) else text[: max(0, start - 1)]
    return text[:at] + text[at + len(sentence) :]


def foreign_link_hosts(texts: Iterable[str], official_domains: Sequence[str]) -> Counter[str]:
    """The hosts outside ``official_domains`` that indexed article text links to, counted, but
    for a link this screen keeps as a scam's example: what an index ingested with other
    domains than it is served with would have cut from its answers."""
    found: Counter[str] = Counter()
    for text in texts:
        if "." not in text:
            continue
        for start, end in sentence_spans(text):
            sentence = text[start:end]
            hosts = foreign_hosts(sentence, official_domains)
            if hosts and not _WARNING.search(text[max(0, start - 600) : end]):
                found.update(hosts)
    return found


def foreign_domains_note(foreign: Counter[str], shown: int = 8) -> str:
    """What an ingest says about the links it left out for their domain, and what to do."""
    total = sum(foreign.values())
    top = ", ".join(f"{domain} ({n})" for domain, n in foreign.most_common(shown))
    more = f" and {len(foreign) - shown} more domain(s)" if len(foreign) > shown else ""
    return (
        f"{total} link(s) outside KEFU_OFFICIAL_DOMAINS left their sentences out of the index (each a problem "
        f"above): {top}{more}; "
        "if some of these are this help center's own domains, add them to KEFU_OFFICIAL_DOMAINS "
        "(it replaces the default list) and ingest again"
    )


def _domain_of(link: str) -> str:
    """The domain a link or e-mail address names, as its last two labels (help.x.pro -> x.pro)."""
    host = link.rsplit("@", 1)[-1] if "@" in link and "://" not in link else link
    host = (urlsplit(host if "://" in host else f"//{host}").hostname or host).rstrip(".")
    return ".".join(host.split(".")[-2:])


def _as_written(section: Section) -> str:
    """The section as the check reads an article: under its heading ("## 客服永远不会"
    makes the list below it a list of what support never does), table rows starting with
    "|" (a row of scam lines quotes the scammer)."""
    lines = [f"| {line}" if " | " in line else line for line in section.text.split("\n")]
    heading = f"## {section.heading_path[-1]}\n\n" if section.heading_path else ""
    return heading + "\n".join(lines)


def _read(root: Path, relative: str) -> str | None:
    path = root / relative if root.is_dir() else root
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _line_of(text: str | None, sentence: str) -> int | None:
    """The line of ``text`` the sentence starts on: as written, else by its words alone
    (the file may wrap them in markup: "* **安卓**：[www.x.pro](https://x.pro)&#x20;")."""
    if not text:
        return None
    for size in _PROBES:
        probe = sentence[:size].strip()
        if len(probe) >= 6 and (at := text.find(probe)) >= 0:
            return text.count("\n", 0, at) + 1
    lines = [_bare(line) for line in text.split("\n")]
    # A link's address the text shows but the file keeps in the link ("点击这里（https://…）").
    head = _PLACEHOLDER.split(sentence)[0]
    for bare in (_bare(head), _bare(_WEB_ADDRESS.sub("", head))):
        for size in _PROBES:
            probe = bare[:size]
            if len(probe) < 6:
                break
            for n, line in enumerate(lines, start=1):
                if probe in line:
                    return n
    return None


# Markup around the words of a line: tags, link targets, entities, escapes.
_MARKUP = re.compile(r"<[^<>\n]*>|\]\([^()\n]*\)|&#?[0-9A-Za-z]+;|\\")
_NOT_WORD = re.compile(r"[\W_]+")
_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z_]+\]")
_WEB_ADDRESS = re.compile(r"https?://[^\s（）()]+")


def _bare(text: str) -> str:
    """Only the letters, digits and CJK characters of ``text``, lower-cased, markup dropped."""
    return _NOT_WORD.sub("", _MARKUP.sub("", text)).lower()
