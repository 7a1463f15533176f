"""A bilingual wallet glossary for query expansion.

Help content is mostly Chinese; some users ask in English, and Chinese users write
colloquially ("u", "卡住了", "秘钥"). Expanding a query with the help center's own terms
lets BM25 over Chinese tokens and the multilingual embedder meet it: "my transfer is
pending" gains 转账 打包中; "转了100u一直卡住" gains USDT 打包中.

The table (``glossary.tsv`` beside this module, or ``KEFU_GLOSSARY``) has three
tab-separated columns: English forms, Chinese forms (the first is the standard term),
and a note. Forms within a column are separated by ``|``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kefu.errors import BadInputError
from kefu.text import fold_questions

DEFAULT_GLOSSARY = Path(__file__).with_name("glossary.tsv")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Entry:
    en: tuple[str, ...]
    zh: tuple[str, ...]


@dataclass(frozen=True)
class Expansion:
    #: Terms to add to the query.
    terms: list[str]
    #: One list per entry the query names: the forms it uses and the terms added for it
    #: (lowercase), the words of one idea in either language. Search counts each such
    #: concept once in BM25, by its best-matching form.
    concepts: list[list[str]]


class Glossary:
    """Finds glossary terms in a query and returns the terms to add."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        en_forms: dict[str, int] = {}
        zh_forms: dict[str, int] = {}
        for i, e in enumerate(entries):
            for form in e.en:
                en_forms.setdefault(form.lower(), i)
            for form in e.zh:
                zh_forms.setdefault(form.lower(), i)
        self._en_forms = en_forms
        self._zh_forms = zh_forms
        # Longest forms first, so "seed phrase" wins over "seed".
        self._en_re = _alternation(en_forms, latin_bounds=True)
        self._zh_re = _alternation(zh_forms, latin_bounds=True)

    @classmethod
    def load(cls, path: Path = DEFAULT_GLOSSARY) -> Glossary:
        entries: list[Entry] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise BadInputError(f"cannot read the glossary {path}: {exc}") from exc
        header_seen = False
        for n, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = line.split("\t")
            if not header_seen and cols[0].strip().lower() == "en":
                header_seen = True
                continue
            if len(cols) < 2:
                raise BadInputError(f"{path}:{n}: expected 'en<TAB>zh[<TAB>note]'")
            en = tuple(f.strip().lower() for f in cols[0].split("|") if f.strip())
            zh = tuple(f.strip() for f in cols[1].split("|") if f.strip())
            if not en or not zh:
                raise BadInputError(f"{path}:{n}: both the en and zh columns need a form")
            entries.append(Entry(en, zh))
        return cls(entries)

    def expand(self, query: str, lang: str) -> Expansion:
        """The glossary entries the query names: the terms to add (each entry's standard
        Chinese term, and for Chinese queries its English term too, since English articles
        exist; not what the query already says) and, per entry, its words in the query and
        the terms added for it."""
        low = query.lower()
        named: dict[int, list[str]] = {}
        for i, form in self._mentions(query):
            named.setdefault(i, []).append(form)
        terms: list[str] = []
        concepts: list[list[str]] = []
        for i, used in named.items():
            entry = self.entries[i]
            added = [entry.zh[0], entry.en[0]] if lang == "zh" else [entry.zh[0]]
            for term in added:
                if term.lower() not in low and term.lower() not in {t.lower() for t in terms}:
                    terms.append(term)
            concepts.append(list(dict.fromkeys([*used, *(t.lower() for t in added)])))
        return Expansion(terms, concepts)

    def _mentions(self, query: str) -> list[tuple[int, str]]:
        """(entry index, the form used) for each place the query uses a glossary form,
        English forms first; a place both tables know ("usdt") counts once."""
        low = fold_questions(query.lower())  # "能不能..." asks; it does not say 不能
        out: list[tuple[int, str]] = []
        spans: set[tuple[int, int]] = set()
        for regex, forms in ((self._en_re, self._en_forms), (self._zh_re, self._zh_forms)):
            if regex is None:
                continue
            for m in regex.finditer(low):
                if m.span() not in spans:
                    spans.add(m.span())
                    out.append((forms[m.group(0)], m.group(0)))
        return out


def _alternation(forms: dict[str, int], latin_bounds: bool) -> re.Pattern[str] | None:
    if not forms:
        return None
    ordered = sorted(forms, key=len, reverse=True)
    parts = []
    for form in ordered:
        escaped = re.escape(form)
        if latin_bounds and not _CJK.search(form):
            # Latin forms must stand alone ("u" in "100u" yes, in "bus" no).
            escaped = rf"(?<![a-z]){escaped}(?![a-z])"
        parts.append(escaped)
    return re.compile("|".join(parts))
