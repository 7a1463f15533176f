"""An LLM-as-judge verdict on answer correctness, reported beside the fact-based score.

The configured LLM reads the question, the dataset's reference (its expected facts and
its note on what a right answer says) and kefu's answer, and replies with one word. The
verdict is a second opinion: the fact-based accuracy stays the headline, and the report
shows how often the two agree, since a small local judge is itself often wrong.
"""

from __future__ import annotations

import re

from eval.dataset import EvalItem
from kefu.errors import BackendTimeoutError, BackendUnavailableError, NotReadyError
from kefu.generators import ChatMessage, GenerationOptions, Generator
from kefu.generators.base import with_deadline

SYSTEM = (
    "You grade a wallet help-desk assistant. Given a question, a reference (facts a correct answer "
    "contains, and a note on what it should say) and the assistant's answer, decide whether the "
    "answer is correct and consistent with the reference. Wording and language may differ; "
    "citation markers like [1] do not matter. Reply with exactly one word: YES or NO."
)

_VERDICT = re.compile(r"\b(YES|NO)\b|(是|否|正确|错误)", re.IGNORECASE)


def judge_messages(item: EvalItem, answer: str) -> list[ChatMessage]:
    facts = "; ".join(item.facts) or "(none listed)"
    user = (
        f"Question: {item.question}\n"
        f"Reference facts: {facts}\n"
        f"Reference note: {item.note or '(none)'}\n"
        f"Assistant's answer: {answer}\n\n"
        "Is the answer correct? Reply YES or NO."
    )
    return [ChatMessage("system", SYSTEM), ChatMessage("user", user)]


def parse_verdict(text: str) -> bool | None:
    """YES/是/正确 -> True, NO/否/错误 -> False, anything else -> None (no verdict)."""
    match = _VERDICT.search(text)
    if not match:
        return None
    word = (match.group(1) or match.group(2)).upper()
    return word in ("YES", "是", "正确")


class LLMJudge:
    """Asks ``generator`` for a verdict; a failed or unparseable call gives ``None``."""

    def __init__(self, generator: Generator, *, timeout: float = 60.0) -> None:
        self.generator = generator
        self.timeout = timeout
        self.unparsed = 0

    @property
    def name(self) -> str:
        return self.generator.name

    async def __call__(self, item: EvalItem, answer: str) -> bool | None:
        if not answer.strip():
            return None
        try:
            options = GenerationOptions(max_tokens=4, temperature=0.0)
            text = ""
            async for chunk in with_deadline(self.generator.stream(judge_messages(item, answer), options),
                                             self.timeout, "the judge's verdict"):  # fmt: skip
                text += chunk.text
        except (BackendUnavailableError, BackendTimeoutError, NotReadyError):
            self.unparsed += 1
            return None
        verdict = parse_verdict(text)
        if verdict is None:
            self.unparsed += 1
        return verdict
