"""The deployment's brand: its names, official domains and the texts kefu sends in its name.

A wallet deploying kefu writes a brand file (TOML) and points ``KEFU_BRAND_FILE`` at it;
without one, kefu speaks for the demo brand (:data:`DEMO_BRAND_FILE`). The file::

    official_domains = ["harborwallet.example", "etherscan.io"]

    [names]                       # most specific first; the first is the display name
    zh = ["港湾钱包", "港湾"]
    en = ["Harbor Wallet", "Harbor"]

    [user_messages.zh]            # what the user is told at a handoff, by reason
    stolen_funds = "..."          # (any of MESSAGE_KEYS; "default" for the rest)
    fraud_fake_app = "..."        # and the warning a scam question gets first, by kind
    [user_messages.en]
    [agent_replies.zh]            # the reply suggested to the agent, by reason
    [agent_replies.en]

``names`` and ``official_domains`` are required; a message the file leaves out is the demo
brand's, with ``{name}`` in it replaced by this brand's display name. The names are what the
handoff rules and the answer check take for the company ("我要告港湾", "Harbor will refund
you"); the domains are the only hosts a link in an answer may name unless
``KEFU_OFFICIAL_DOMAINS`` says otherwise.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from kefu.errors import ConfigError

#: The brand file kefu uses when ``KEFU_BRAND_FILE`` is not set: the demo wallet's.
DEMO_BRAND_FILE: Final = Path(__file__).resolve().parent / "brands" / "harbor.toml"
LANGS: Final = ("zh", "en")
#: Reasons a message can be written for: the handoff rules' and the answer's, "default", and
#: the scam warnings ("fraud_" and the kind of scam).
MESSAGE_KEYS: Final = frozenset(
    {
        "stolen_funds",
        "secret_shared",
        "secret_shared_password",
        "secret_shared_elsewhere",
        "compensation",
        "human_requested",
        "account_lookup",
        "out_of_scope",
        "low_confidence",
        "low_confidence_after_answer",
        "no_answer",
        "no_sources",
        "unsafe_answer",
        "llm_unavailable",
        "timeout",
        "default",
        # The warning an answer opens with when the question is about a scam (service/intents.py).
        "fraud_secret_request",
        "fraud_impersonation",
        "fraud_phishing_site",
        "fraud_fake_app",
        "fraud_address_poisoning",
        "fraud_fake_token",
    }
)
#: A message variant and the reason whose text it falls back to.
_BASE_REASON: Final = {
    "secret_shared_password": "secret_shared",
    "secret_shared_elsewhere": "secret_shared",
    "low_confidence_after_answer": "low_confidence",
}
_TOP_LEVEL: Final = frozenset({"names", "official_domains", "user_messages", "agent_replies"})
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}")

Messages = Mapping[str, Mapping[str, str]]  # lang -> reason -> text


@dataclass(frozen=True, eq=False)  # compared by identity: compiled patterns are cached per brand
class Brand:
    """A deployment's brand, read from its file with :func:`load_brand`."""

    file: Path
    names: Mapping[str, tuple[str, ...]]  #: by language, most specific first
    official_domains: tuple[str, ...]
    user_messages: Messages  #: by language and reason; ``{name}`` stands for the display name
    agent_replies: Messages

    def display_name(self, lang: str) -> str:
        """The brand's name as shown to a user writing in ``lang``."""
        return self.names["en" if lang == "en" else "zh"][0]

    def user_message(self, reason: str, lang: str) -> str:
        """What the user is told when the conversation goes to a human for ``reason``."""
        texts = self.user_messages["en" if lang == "en" else "zh"]
        return self._named(texts.get(reason) or texts.get(_BASE_REASON.get(reason, "")) or texts["default"], lang)

    def agent_reply(self, reason: str, lang: str) -> str | None:
        """The reply suggested to the agent for ``reason``, if the brand has one."""
        replies = self.agent_replies["en" if lang == "en" else "zh"]
        text = replies.get(reason) or replies.get(_BASE_REASON.get(reason, ""))
        return self._named(text, lang) if text else None

    def _named(self, text: str, lang: str) -> str:
        return text.replace("{name}", self.display_name(lang))


def _fail(path: Path, field: str, problem: str) -> ConfigError:
    return ConfigError(f"brand file {path}: {field}: {problem}")


def _strings(path: Path, field: str, value: Any, *, empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not empty):
        return_type = "a list of strings" + ("" if empty else " (at least one)")
        raise _fail(path, field, f"must be {return_type}, not {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _fail(path, f"{field}[{i}]", f"must be a non-empty string, not {item!r}")
    return tuple(item.strip() for item in value)


def _messages(path: Path, field: str, value: Any, fallback: Messages | None) -> Messages:
    if not isinstance(value, dict):
        raise _fail(path, field, "must be a table of [" + field + ".zh] and [" + field + ".en]")
    out: dict[str, dict[str, str]] = {}
    for lang in LANGS:
        table = value.get(lang, {})
        if not isinstance(table, dict):
            raise _fail(path, f"{field}.{lang}", "must be a table of reason = text")
        unknown = sorted(set(table) - MESSAGE_KEYS)
        if unknown:
            raise _fail(
                path, f"{field}.{lang}.{unknown[0]}", f"not a reason (one of {', '.join(sorted(MESSAGE_KEYS))})"
            )
        for reason, text in table.items():
            if not isinstance(text, str) or not text.strip():
                raise _fail(path, f"{field}.{lang}.{reason}", f"must be a non-empty string, not {text!r}")
        out[lang] = {**(fallback or {}).get(lang, {}), **table}
    unknown_langs = sorted(set(value) - set(LANGS))
    if unknown_langs:
        raise _fail(path, f"{field}.{unknown_langs[0]}", f"not a language (one of {', '.join(LANGS)})")
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"brand file {path}: not found (KEFU_BRAND_FILE)") from exc
    except OSError as exc:
        raise ConfigError(f"brand file {path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"brand file {path}: not valid TOML: {exc}") from exc


def load_brand(path: Path | str) -> Brand:
    """Read and check a brand file; a :class:`~kefu.errors.ConfigError` names the file and
    the line (TOML syntax) or the field that is wrong."""
    path = Path(path)
    data = _read(path)
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise _fail(path, unknown[0], f"unknown field (expected {', '.join(sorted(_TOP_LEVEL))})")
    raw_names = data.get("names")
    if not isinstance(raw_names, dict):
        raise _fail(path, "names", "missing: a [names] table with zh = [...] and en = [...]")
    names = {lang: _strings(path, f"names.{lang}", raw_names.get(lang)) for lang in LANGS}
    domains = _strings(path, "official_domains", data.get("official_domains"), empty=True)
    for i, domain in enumerate(domains):
        if not _DOMAIN.fullmatch(domain.lower()):
            raise _fail(path, f"official_domains[{i}]", f"not a domain name: {domain!r}")
    demo = None if path == DEMO_BRAND_FILE else demo_brand()
    user = _messages(path, "user_messages", data.get("user_messages", {}), demo.user_messages if demo else None)
    if "default" not in user["zh"] or "default" not in user["en"]:
        raise _fail(path, "user_messages", "needs a default text in both zh and en")
    agent = _messages(path, "agent_replies", data.get("agent_replies", {}), demo.agent_replies if demo else None)
    return Brand(path, names, tuple(d.lower() for d in domains), user, agent)


@lru_cache(maxsize=1)
def demo_brand() -> Brand:
    """The packaged demo brand (港湾钱包 / Harbor Wallet)."""
    return load_brand(DEMO_BRAND_FILE)


@lru_cache(maxsize=8)
def _brand_at(path: str) -> Brand:
    return load_brand(path)


def active_brand() -> Brand:
    """The brand ``KEFU_BRAND_FILE`` names, else the demo brand; read once per file."""
    path = os.environ.get("KEFU_BRAND_FILE", "").strip()
    return _brand_at(path) if path else demo_brand()
