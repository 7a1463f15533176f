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
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ingest.documents import Problem, Section, SourceDocument
from service.safety import passage_problems

# Words that make a link an example of a scam, not a recommendation ("钓鱼域名示例 | 手法",
# "例如“Visit xxx-claim.com to get 500 USDC”").
_WARNING = re.compile(r"钓鱼|冒充|仿冒|假冒|诈骗|骗子|山寨|例如“|(?i:phishing|scam|fake|look-?alike|impersonat)")
#: How much of a sentence is looked for in the file to find its line (markup may differ).
_PROBES = (40, 20, 10)


def screen_documents(
    documents: Sequence[SourceDocument], root: Path, official_domains: Sequence[str] | None
) -> list[Problem]:
    """Remove, in place, the sentences of articles that would fail the output check; one
    problem per sentence (file and line when the sentence can be found in the file)."""
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
                text = text.replace(sentence, "", 1)
                what = problem.violation
                problems.append(
                    Problem(
                        where,
                        _line_of(files[where], sentence),
                        f"{what.kind}: {what.detail}; left out of the index until fixed: {what.sentence[:120]!r}",
                    )
                )
            doc.sections[n] = replace(section, text=text)
    return problems


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
    if not text:
        return None
    for size in _PROBES:
        probe = sentence[:size].strip()
        if len(probe) >= 6 and (at := text.find(probe)) >= 0:
            return text.count("\n", 0, at) + 1
    return None
