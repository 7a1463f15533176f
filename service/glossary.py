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

import ahocorasick

from kefu.errors import BadInputError
from kefu.text import fold_questions

DEFAULT_GLOSSARY = Path(__file__).with_name("glossary.tsv")
_CJK = re.compile(r"[\u3400-\u9fff]")
#: A section heading of the glossary file ("# ------ chains & token standards").
_SECTION = re.compile(r"^#\s*-{3,}\s*(.+)$")
#: The section whose entries are names of chains and token standards.
CHAINS = "chains & token standards"
_OPENING_QUOTES = frozenset("\"'“‘「『《")
_CLOSING_QUOTES = frozenset("\"'”’」』》")


@dataclass(frozen=True)
class Entry:
    en: tuple[str, ...]
    zh: tuple[str, ...]
    #: The glossary file's section it stands in ("chains & token standards").
    section: str = ""

    @property
    def name(self) -> str:
        """How English writes it: the Chinese column's Latin form ("TRON", "BSC"), else the
        first English form, capitalised ("Ethereum")."""
        latin = next((f for f in self.zh if not _CJK.search(f) and f != f.lower()), None)
        return latin or " ".join(w.capitalize() for w in self.en[0].split())


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
        # One automaton per table finds every form in one pass over the query (a regular
        # expression of every form tried each of them at each character).
        self._en_ac = _automaton(en_forms)
        self._zh_ac = _automaton(zh_forms)

    @classmethod
    def load(cls, path: Path = DEFAULT_GLOSSARY) -> Glossary:
        entries: list[Entry] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise BadInputError(f"cannot read the glossary {path}: {exc}") from exc
        header_seen = False
        section = ""
        for n, line in enumerate(lines, start=1):
            if heading := _SECTION.match(line):
                section = heading.group(1).strip()
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
            entries.append(Entry(en, zh, section))
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

    def in_english(self, text: str) -> str:
        """``text`` (an English rendering) with the Chinese terms a translation left in it
        ("a正版 one", "the 矿工费") replaced by their English term; other Chinese stays."""
        if self._zh_ac is None or not _CJK.search(text):
            return text
        low = text.lower()
        if len(low) != len(text):  # a letter whose lower case is longer: offsets would drift
            return text
        out: list[str] = []
        cursor = 0
        for start, end, form in _leftmost_longest(self._zh_ac, low):
            if not _CJK.search(form):
                continue
            before, after = text[start - 1 : start], text[end : end + 1]
            if before in _OPENING_QUOTES and after in _CLOSING_QUOTES:  # 'In Chinese, "矿工费" means gas'
                continue
            english = self.entries[self._zh_forms[form]].en[0]
            out += [text[cursor:start], " " if before.isalnum() else "", english, " " if after.isalnum() else ""]
            cursor = end
        out.append(text[cursor:])
        return "".join(out)

    def chain_names(self, text: str) -> list[tuple[str, str]]:
        """(Chinese form, English name) of each chain the Chinese ``text`` names ("波场" ->
        "TRON"), for a rendering to keep: a small model guessed "Binance Smart Chain" for 波场."""
        found: dict[str, str] = {}
        for _, _, form in _leftmost_longest(self._zh_ac, text.lower()):
            entry = self.entries[self._zh_forms[form]]
            if _CJK.search(form) and entry.section == CHAINS:
                found.setdefault(next(f for f in entry.zh if f.lower() == form), entry.name)
        return list(found.items())

    def _mentions(self, query: str) -> list[tuple[int, str]]:
        """(entry index, the form used) for each place the query uses a glossary form,
        English forms first; a place both tables know ("usdt") counts once."""
        low = fold_questions(query.lower())  # "能不能..." asks; it does not say 不能
        out: list[tuple[int, str]] = []
        spans: set[tuple[int, int]] = set()
        for automaton, forms in ((self._en_ac, self._en_forms), (self._zh_ac, self._zh_forms)):
            for start, end, form in _leftmost_longest(automaton, low):
                if (start, end) not in spans:
                    spans.add((start, end))
                    out.append((forms[form], form))
        return out


def _automaton(forms: dict[str, int]) -> ahocorasick.Automaton | None:
    if not forms:
        return None
    automaton = ahocorasick.Automaton()
    for form in forms:
        # The value: the form, and whether it is Latin (it must then stand alone).
        automaton.add_word(form, (form, not _CJK.search(form)))
    automaton.make_automaton()
    return automaton


def _leftmost_longest(automaton: ahocorasick.Automaton | None, text: str) -> list[tuple[int, int, str]]:
    """(start, end, form) of the forms in ``text``, scanned left to right without overlaps,
    the longest form where several start at one place ("seed phrase" over "seed"). A Latin
    form counts only standing alone ("u" in "100u" yes, in "bus" no); where it does not,
    a shorter one at the same place still may."""
    if automaton is None:
        return []
    found: list[tuple[int, int, str]] = []
    for last, (form, latin) in automaton.iter(text):
        start, end = last + 1 - len(form), last + 1
        if latin and (_is_latin_letter(text[start - 1 : start]) or _is_latin_letter(text[end : end + 1])):
            continue
        found.append((start, end, form))
    found.sort(key=lambda f: (f[0], f[0] - f[1]))
    out: list[tuple[int, int, str]] = []
    cursor = 0
    for start, end, form in found:
        if start >= cursor:
            out.append((start, end, form))
            cursor = end
    return out


def _is_latin_letter(ch: str) -> bool:
    """Whether ``ch`` (one character, or "" past either end of the text) is a letter a-z."""
    return "a" <= ch <= "z" if ch else False
