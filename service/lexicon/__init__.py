"""The lexicon: words and phrase shapes of each language, read by the handoff rules
(:mod:`service.rules`) and the answer check (:mod:`service.safety`) alike, the kinds
of thing a question asks for that evidence selection (:mod:`service.prompting`) looks for,
and the kinds of scam the anti-fraud intent (:mod:`service.intents`) names (``fraud.*``).

``zh.toml`` and ``en.toml`` beside this module hold them (their header says how they are
laid out); :func:`lexicon` reads both once. An entry is named ``section.key``
(``shared.secret``, ``rules.hypothetical``, ``answers.verdict``) and comes back as one
regular expression covering both languages, Chinese first; a rule's phrase shapes come from
:meth:`Lexicon.patterns`. Entries that name the brand (``${brand}``) need one: the
deployment's (:func:`kefu.brand.active_brand`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from kefu.brand import Brand
from kefu.errors import ConfigError

HERE: Final = Path(__file__).resolve().parent
LANGS: Final = ("zh", "en")
_EDGES: Final = {"L": "(?<![a-z])", "R": "(?![a-z])"}
_REFERENCE = re.compile(r"\$\{(?:(zh|en):)?([A-Za-z_]+)\}")
_KINDS: Final = ("words", "unbounded", "shapes")


@dataclass(frozen=True)
class PatternSpec:
    """One phrase shape of a handoff rule, as the lexicon writes it."""

    group: str  #: the detector's step: "patterns", or e.g. "not_me"
    regex: str  #: references expanded
    guards: tuple[str, ...]
    label: str | None


class Lexicon:
    """Both languages' entries; regular expressions are built on demand and cached."""

    def __init__(self, data: dict[str, dict[str, Any]], files: dict[str, Path]) -> None:
        self._data = data
        self._files = files

    def source(self, name: str, brand: Brand | None = None) -> str:
        """The regular expression (text) of entry ``name`` in both languages."""
        section, _, key = name.partition(".")
        found = {kind: [self._items(lang, section, kind, key) for lang in LANGS] for kind in _KINDS}
        if not any(any(per_lang) for per_lang in found.values()):
            raise ConfigError(f"lexicon {self._files['zh'].parent}: no entry {name!r}")
        zh_words, en_words = (
            [self._expand(lang, item, name, brand) for item in items]
            for lang, items in zip(LANGS, found["words"], strict=True)
        )
        parts = []
        if zh_words:
            parts.append("|".join(zh_words))
        if en_words:
            parts.append(_EDGES["L"] + "(?:" + "|".join(en_words) + ")" + _EDGES["R"])
        for kind in ("unbounded", "shapes"):
            for lang, items in zip(LANGS, found[kind], strict=True):
                parts += [self._expand(lang, item, name, brand) for item in items]
        return "|".join(parts)

    def regex(self, name: str, flags: int = 0, brand: Brand | None = None) -> re.Pattern[str]:
        """Entry ``name`` compiled (cached per brand)."""
        return _compiled(self, name, flags, brand)

    def patterns(self, reason: str, brand: Brand | None) -> list[PatternSpec]:
        """The phrase shapes of handoff rule ``reason``: Chinese first, each file's order kept."""
        specs = []
        for lang in LANGS:
            for i, entry in enumerate(self._data[lang].get("patterns", {}).get(reason, [])):
                where = f"patterns.{reason}[{i}]"
                regex = self._joined(lang, entry.get("regex"), where)
                guards = entry.get("guards", [])
                if not isinstance(guards, list) or not all(isinstance(g, str) for g in guards):
                    raise self._error(lang, f"{where}.guards", "must be a list of guard names")
                specs.append(
                    PatternSpec(
                        group=entry.get("group", "patterns"),
                        regex=self._expand(lang, regex, where, brand),
                        guards=tuple(guards),
                        label=entry.get("label"),
                    )
                )
        return specs

    def words(self, name: str) -> frozenset[str]:
        """The items of a ``words`` entry as plain words (both languages), e.g. for a set lookup."""
        section, _, key = name.partition(".")
        return frozenset(item for lang in LANGS for item in self._items(lang, section, "words", key))

    def _items(self, lang: str, section: str, kind: str, key: str) -> list[str]:
        items = self._data[lang].get(section, {}).get(kind, {}).get(key, [])
        if not isinstance(items, list):
            raise self._error(lang, f"{section}.{kind}.{key}", "must be a list")
        return [self._joined(lang, item, f"{section}.{kind}.{key}") for item in items]

    def _joined(self, lang: str, item: Any, where: str) -> str:
        if isinstance(item, list) and all(isinstance(piece, str) for piece in item):
            return "".join(item)
        if not isinstance(item, str):
            raise self._error(lang, where, f"must be a string or a list of strings, not {item!r}")
        return item

    def _expand(self, lang: str, text: str, where: str, brand: Brand | None, depth: int = 0) -> str:
        def one(m: re.Match[str]) -> str:
            ref_lang, key = m.group(1) or lang, m.group(2)
            if key in _EDGES:
                return _EDGES[key]
            if key == "brand":
                if brand is None:
                    raise self._error(lang, where, "names ${brand}: build it with a brand")
                return _alternation(_brand_regex(name) for name in brand.names[ref_lang])
            items = self._items(ref_lang, "shared", "words", key)
            if not items or depth > 4:
                raise self._error(lang, where, f"{m.group()} is not a [shared.words] entry of {ref_lang}.toml")
            return _alternation(self._expand(ref_lang, item, where, brand, depth + 1) for item in items)

        return _REFERENCE.sub(one, text)

    def bad_regex(self, name: str, flags: int, brand: Brand | None, exc: re.error) -> ConfigError:
        """The error for entry ``name`` that does not compile: the file and item at fault."""
        section, _, key = name.partition(".")
        for lang in LANGS:
            for kind in _KINDS:
                for i, item in enumerate(self._items(lang, section, kind, key)):
                    try:
                        re.compile(self._expand(lang, item, name, brand), flags)
                    except re.error as one:
                        return self._error(lang, f"{section}.{kind}.{key}[{i}]", f"not a regular expression: {one}")
        # Each item compiles alone; together they do not (a group opened in one, closed in another).
        return ConfigError(f"lexicon {self._files['zh'].parent}: {name}: not a regular expression: {exc}")

    def _error(self, lang: str, field: str, problem: str) -> ConfigError:
        return ConfigError(f"lexicon {self._files[lang]}: {field}: {problem}")


def _alternation(items: Any) -> str:
    return "(?:" + "|".join(items) + ")"


def _brand_regex(name: str) -> str:
    # Text is lower-cased before it is matched; a space in a name matches any run of them.
    return re.escape(name.lower()).replace(r"\ ", r"\s+")


@lru_cache(maxsize=512)
def _compiled(lex: Lexicon, name: str, flags: int, brand: Brand | None) -> re.Pattern[str]:
    source = lex.source(name, brand)
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise lex.bad_regex(name, flags, brand, exc) from exc


def read_lexicon(folder: Path = HERE) -> Lexicon:
    """Read ``zh.toml`` and ``en.toml`` from ``folder``; a ConfigError names file and line."""
    data, files = {}, {}
    for lang in LANGS:
        path = folder / f"{lang}.toml"
        try:
            with path.open("rb") as f:
                data[lang] = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"lexicon {path}: {exc}") from exc
        files[lang] = path
    return Lexicon(data, files)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The packaged lexicon, read once."""
    return read_lexicon()
