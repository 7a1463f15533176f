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

    def matches(self, query: str) -> list[Entry]:
        """Entries whose English or Chinese forms occur in the query, in order, once each."""
        return [self.entries[i] for i in dict.fromkeys(i for i, _ in self._mentions(query))]

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

    def expansion(self, query: str, lang: str) -> list[str]:
        """Terms to add: the standard Chinese term for each match, and for Chinese queries
        the English term too (English articles exist), skipping what is already there."""
        low = query.lower()
        extra: list[str] = []
        for entry in self.matches(query):
            for term in self._added(entry, lang):
                if term.lower() not in low and term.lower() not in {e.lower() for e in extra}:
                    extra.append(term)
        return extra

    def concepts(self, query: str, lang: str) -> list[list[str]]:
        """One list per glossary entry the query names: the forms it uses and the terms
        :meth:`expansion` adds for the entry (the words of one idea, in either language)."""
        found: dict[int, list[str]] = {}
        for i, form in self._mentions(query):
            forms = found.setdefault(i, [])
            for term in [form, *self._added(self.entries[i], lang)]:
                if term.lower() not in forms:
                    forms.append(term.lower())
        return list(found.values())

    @staticmethod
    def _added(entry: Entry, lang: str) -> list[str]:
        return [entry.zh[0], entry.en[0]] if lang == "zh" else [entry.zh[0]]


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
