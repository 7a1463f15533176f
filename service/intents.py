"""The anti-fraud intent: a question about a scam gets the warning first, and a person soon.

Users ask about the scams wallet help desks see every day: someone "from support" on Telegram
who wants the seed phrase to "verify" the wallet, a look-alike site that wants it to "sync",
an APK a friend sent, dust from an address that looks like one they use. Such a question is
not a pasted secret (the ``secret_shared`` rule) and not a theft (``stolen_funds``): nothing
happened yet, and the right reply is the warning, at once, then what the help center says.
:func:`detect_fraud` names the kind of scam; the answerer puts :func:`warning` first and
raises the conversation's priority to ``high``.

Each kind's phrase shapes are in the lexicon (``[fraud.shapes]`` of
``service/lexicon/zh.toml`` and ``en.toml``; the words they share, ``fraud_asker``... in
``[shared.words]``); the warnings are the brand file's (``fraud_<kind>`` in
``user_messages``), so a wallet words them its own way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from kefu.brand import Brand, active_brand
from kefu.text import normalise
from service.lexicon import lexicon

FraudKind = Literal["secret_request", "impersonation", "phishing_site", "fake_app", "address_poisoning", "fake_token"]

#: The kinds, in the order :func:`detect_fraud` tries them: the first that matches is named.
FRAUD_KINDS: Final[tuple[FraudKind, ...]] = get_args(FraudKind)

# Each kind's phrase shapes are data: [fraud.shapes] in service/lexicon/{zh,en}.toml.
_PATTERNS: Final = tuple((kind, lexicon().regex(f"fraud.{kind}", re.S)) for kind in FRAUD_KINDS)


@dataclass(frozen=True)
class FraudIntent:
    kind: FraudKind
    #: The words that matched (for the agent and the logs; never a secret: input is redacted).
    evidence: str


def detect_fraud(question: str) -> FraudIntent | None:
    """The kind of scam the (redacted) question is about, or None."""
    text = normalise(question).lower()
    for kind, pattern in _PATTERNS:
        m = pattern.search(text)
        if m:
            return FraudIntent(kind, m.group(0)[:40])
    return None


def warning(kind: FraudKind, lang: str, brand: Brand | None = None) -> str:
    """The warning the answer opens with, in the user's language: the brand file's text
    ``fraud_<kind>`` (:mod:`kefu.brand`; default: the deployment's brand)."""
    return (brand or active_brand()).user_message(f"fraud_{kind}", lang)
