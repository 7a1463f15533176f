"""Answer a question, or hand it to a human: the decision and the grounded answer.

For each question (:meth:`Answerer.stream`, a pipeline of small stages): redact secrets,
run the handoff rules, note a question about a scam, rewrite a follow-up into a standalone
question (``prepare``); search the help center (``retrieve``); hand off at once for a rule
or an empty search (``decide``); pick the source sentences closest to the question
(``measure``); compose: in the default ``quote`` style, when those sentences are in the
user's language they are the answer; an English question over Chinese articles gets them
rendered line by line by the LLM (a faithful translation, each line cited); the
``generate`` style has the LLM write from the best passages. Every line passes the output
check before it is shown; a scam question's answer opens with the warning. Then ``score``
how well the answer is supported and decide: ``answer`` or ``handoff``, with a reason code.
When the LLM is down or late, the sentences themselves are shown (marked as such) or the
question handed off: never an error.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from kefu.errors import BackendTimeoutError, BackendUnavailableError, BadInputError, NotReadyError
from kefu.generators import GenerationOptions
from kefu.generators.base import ChatMessage, with_deadline
from kefu.redaction import Redactor
from kefu.settings import DEFAULT_OFFICIAL_DOMAINS
from kefu.text import detect_language, split_outside_links, visible
from kefu.vocab import MAX_QUESTION_CHARS, AnswerStyle, Mode
from service.citations import CitationStream, normalise_markers
from service.confidence import Calibration, Evidence, evidence_match, plain_cosine, retrieval_evidence
from service.curated import curated_result
from service.followup import standalone_question
from service.grounding import CitationAligner, copy_rate, groundedness, sentence_support, word_overlap
from service.handoff import Handoff, build_handoff, user_message
from service.intents import FraudIntent, detect_fraud, warning
from service.prompting import (
    RememberedSentences,
    SelectedEvidence,
    Source,
    about_scams,
    build_messages,
    clean_rendering,
    is_no_answer,
    quote_answer,
    render_messages,
    select_evidence,
    select_sentences,
    select_sources,
    trim_passage,
    without_secret_entry,
)
from service.retriever import (
    DocumentHit,
    HybridRetriever,
    Retriever,
    SearchFilters,
    contenders,
    document_sections,
    in_language,
)
from service.rules import RuleHit, check_rules
from service.safety import SafetyResult, check_shown
from service.triage import detect_category, detect_priority, detect_sentiment

log = logging.getLogger("kefu.answer")

if TYPE_CHECKING:
    from kefu.generators import Generator
    from service.curated import CuratedMatcher

Style = AnswerStyle
#: How close (cosine) another source's sentence must come to the best sentence to join the
#: answer: on tp-cn.jsonl, 0.03 cut the sources shown from 2.5 to 2.1 for one fewer correct
#: answer in 129 (docs/answers.md).
OTHER_SOURCE_FLOOR = 0.03
#: Cosine by which another source must beat a rendered line's own (by position) to be cited
#: instead: 5 of 105 hold-out lines, each then cited to the source it renders (docs/answers.md).
LINE_SOURCE_MARGIN = 0.05
#: Untranslated sentences in a row after which a rendering is given up for the sentences
#: themselves: a small model that starts copying the Chinese goes on copying until the deadline.
UNTRANSLATED_LIMIT = 2
#: Share of the answer deadline kept for scoring the LLM's answer after it stops.
DEADLINE_RESERVE = 0.1
_SENTENCE_END = re.compile(r"(?<=[。！？!?\n])|(?<=[.;:])(?=\s)")


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    title: str
    url: str | None
    snippet: str
    kind: str


@dataclass
class AnswerResult:
    """The outcome for one question, whatever happened on the way."""

    question: str  # redacted
    standalone_question: str
    lang: str
    answer: str
    citations: list[Citation]
    confidence: float
    action: Literal["answer", "handoff"]
    reason: str
    #: How the answer text came about: "quoted" (the sources' own sentences), "generated",
    #: "extractive" (the LLM failed) or "handoff".
    mode: str
    handoff: Handoff | None = None
    evidence: Evidence = field(default_factory=Evidence)
    hits: list[DocumentHit] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    similar_tickets: list[DocumentHit] = field(default_factory=list)
    category: str | None = None
    priority: str = "normal"
    sentiment: str = "neutral"
    rules: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)
    usage: dict[str, int | None] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    model: str = ""
    #: What the question is about beyond its topic, e.g. "fraud:impersonation".
    intent: str | None = None


@dataclass(frozen=True)
class AnswerEvent:
    """A streamed event: answer text as it is ready, then the final result."""

    type: Literal["token", "final"]
    text: str = ""
    result: AnswerResult | None = None


@dataclass
class Turn:
    """A question made ready to answer (:meth:`Answerer.prepare`): validated, redacted, its
    language known, a follow-up rewritten to stand alone, the handoff rules run."""

    question: str  # redacted
    standalone: str
    lang: str
    mode: Mode
    history: list[tuple[str, str]]
    rule_hits: list[RuleHit]
    reasons: list[str]
    sentiment: str
    redactions: dict[str, int]
    #: The scam the question is about (impersonation, phishing...), if any: the answer opens
    #: with its warning and the conversation's priority is raised.
    fraud: FraudIntent | None = None
    #: Whether the caller shows the text as it streams; a collected answer shows only the final one.
    streaming: bool = True
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def mark(self, name: str, since: float) -> None:
        self.timings[name] = (time.perf_counter() - since) * 1000


@dataclass
class Found:
    """What search found for a turn (:meth:`Answerer.retrieve`)."""

    hits: list[DocumentHit]
    similar: list[DocumentHit]
    query: str
    category: str | None
    priority: str


@dataclass
class Measured:
    """The evidence an answer would stand on (:meth:`Answerer.measure`): the retrieval
    features, the best source sentences, and the numbered sources a prompt would carry."""

    retrieval: dict[str, float]
    selected: SelectedEvidence
    sources: list[Source]


@dataclass
class Composed:
    """The answer text a compose stage produced, and how."""

    text: str = ""
    mode: str = "quoted"
    sources: list[Source] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)
    violations: list[str] = field(default_factory=list)
    usage: dict[str, int | None] = field(default_factory=dict)
    failure: str | None = None
    model: str = ""
    #: Whether the text was already streamed to the user while it was composed.
    streamed: bool = False


class Answerer:
    """The framework-free answering core; the service, the CLI and eval all call it.

    :meth:`stream` is a pipeline of small stages, each testable on its own:
    :meth:`prepare` → :meth:`retrieve` → :meth:`decide` → :meth:`measure` → compose
    (:meth:`compose_quote`, :meth:`compose_rendered` or :meth:`compose_generated`, each
    checking every line it shows) → :meth:`score`.
    """

    #: Curated answers to try before retrieval (the service sets it; None: none).
    curated: CuratedMatcher | None = None

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        *,
        calibration: Calibration | None = None,
        deadline: float = 25.0,
        max_sources: int = 3,
        max_source_chars: int = 320,
        max_tokens: int = 256,
        style: Style = "quote",
        quote_chars: int = 400,
        render_chars: int = 160,
        official_domains: Sequence[str] = DEFAULT_OFFICIAL_DOMAINS,
    ) -> None:
        if deadline <= 0 or max_sources <= 0 or quote_chars <= 0 or render_chars <= 0:
            raise ValueError("deadline, max_sources, quote_chars and render_chars must be above 0")
        if style not in ("quote", "generate"):
            raise ValueError("style must be 'quote' or 'generate'")
        self.retriever = retriever
        self.generator = generator
        self.calibration = calibration or Calibration()
        self.deadline = deadline
        self.max_sources = max_sources
        self.max_source_chars = max_source_chars
        self.max_tokens = max_tokens
        self.style: Style = style
        self.quote_chars = quote_chars
        self.render_chars = render_chars
        self.official_domains = tuple(official_domains)
        self._sentences: RememberedSentences | None = None

    def with_parts(
        self, *, retriever: Retriever | None = None, generator: Generator | None = None,
        curated: CuratedMatcher | None = None,
    ) -> Answerer:  # fmt: skip
        """A new answerer with this one's settings over other parts (the index a reindex made, the
        service's gated generator, its curated answers); the sentences it remembers go along."""
        fresh = Answerer(
            retriever or self.retriever, generator or self.generator, calibration=self.calibration,
            deadline=self.deadline, max_sources=self.max_sources, max_source_chars=self.max_source_chars,
            max_tokens=self.max_tokens, style=self.style, quote_chars=self.quote_chars,
            render_chars=self.render_chars, official_domains=self.official_domains,
        )  # fmt: skip
        fresh.curated = curated or self.curated
        fresh._sentences = self._sentences  # rebuilt by `sentences` if the embedder differs
        return fresh

    @property
    def sentences(self) -> RememberedSentences:
        """The retriever's plain model, remembering the help-center sentences it embedded."""
        plain = self.retriever.plain_embedder
        if self._sentences is None or self._sentences.embedder is not plain:
            self._sentences = RememberedSentences(plain)
        return self._sentences

    def _shown(self, text: str, sources: Sequence[str], lang: str) -> SafetyResult:
        """The one output check, on whatever text is about to be shown (service.safety.check_shown)."""
        return check_shown(text, sources, lang=lang, official_domains=self.official_domains)

    async def answer(
        self,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        lang: str | None = None,
        mode: Mode = "answer",
    ) -> AnswerResult:
        """The whole answer at once (the stream, collected)."""
        result = None
        async for event in self.stream(question, history, lang=lang, mode=mode, streaming=False):
            if event.type == "final":
                result = event.result
        assert result is not None
        return result

    def rule_reasons(self, question: str, history: Sequence[tuple[str, str]] = ()) -> list[str]:
        """The reasons the rules hand this question off for, whatever the score (no search, no LLM)."""
        redactor = Redactor()
        red = redactor.redact(question)
        user_turns = [redactor.redact(text).text for role, text in history if role == "user"]
        return _rule_reasons(red.text, red.counts, user_turns)[1]

    async def stream(
        self,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        lang: str | None = None,
        mode: Mode = "answer",
        streaming: bool = True,
    ) -> AsyncIterator[AnswerEvent]:
        """Answer text as it becomes safe to show, then one ``final`` event with the result.

        ``history`` is the conversation so far as (role, text) pairs, role "user" or
        "assistant"; it is redacted here too. ``streaming``: the caller shows the text events
        as they come (else only the final result's answer reaches the user).
        """
        turn = self.prepare(question, history, lang=lang, mode=mode, streaming=streaming)
        result = await self.curated_answer(turn)
        if result is None:
            found = await self.retrieve(turn)
            reason = self.decide(turn, found)
            if reason is not None:
                result = self.handoff(turn, found, reason)
            else:
                measured = await self.measure(turn, found)
                quote = quote_answer(measured.selected, turn.lang) if self.style == "quote" else None
                result = self._uncomposed(turn, found, measured, quote)
                if result is None:
                    async for event in self._compose_and_score(turn, found, measured, quote):
                        yield event
                    return
        # Decided before anything was composed: a curated answer or a handoff, all at once.
        yield AnswerEvent("token", text=result.answer)
        yield AnswerEvent("final", result=result)

    def _uncomposed(self, turn: Turn, found: Found, measured: Measured, quote: str | None) -> AnswerResult | None:
        """Even a perfectly supported answer could not clear the threshold, or a scam question
        has nothing of the help center left to quote beside its warning: compose nothing.
        (A quote costs nothing, so the agent still gets it as a draft.)"""
        best_case = self.calibration.best_case(measured.retrieval)
        nothing_left = turn.fraud is not None and self.style == "quote" and not measured.selected.sources
        if best_case >= self.calibration.threshold and not nothing_left:
            return None
        evidence = Evidence(**measured.retrieval)
        if turn.fraud:
            return self.warning_only(turn, found, evidence, best_case)
        draft_sources = measured.selected.sources if quote else measured.sources
        return self.handoff(turn, found, "low_confidence", draft=quote, sources=draft_sources,
                            evidence=evidence, confidence=best_case)  # fmt: skip

    async def _compose_and_score(
        self, turn: Turn, found: Found, measured: Measured, quote: str | None
    ) -> AsyncIterator[AnswerEvent]:  # fmt: skip
        lead = self._warning(turn)
        composed = Composed()
        if quote is not None:
            composed = self.compose_quote(lead + quote, turn, measured)
        else:
            if lead:
                yield AnswerEvent("token", text=lead)
            compose = (
                self.compose_rendered(turn, measured, composed)
                if self.style == "quote" and measured.selected.sources
                else self.compose_generated(turn, measured, composed)
            )
            async for text in compose:
                yield AnswerEvent("token", text=text)
            if lead:
                composed.text, composed.streamed = lead + composed.text, True
        result = self.score(turn, found, measured, composed)
        if result.action == "answer" and not composed.streamed:
            turn.timings["first_token"] = turn.elapsed() * 1000
            for line in result.answer.splitlines(keepends=True):
                yield AnswerEvent("token", text=line)
        elif result.action == "handoff":
            yield AnswerEvent("token", text=("\n" if composed.streamed and composed.text else "") + result.answer)
        turn.timings["total"] = turn.elapsed() * 1000
        yield AnswerEvent("final", result=result)

    # -- stages ---------------------------------------------------------------------------

    def prepare(
        self, question: str, history: Sequence[tuple[str, str]] = (), *, lang: str | None = None,
        mode: Mode = "answer", streaming: bool = True,
    ) -> Turn:  # fmt: skip
        """Validate, redact (the question and the history), detect the language, run the rules."""
        started = time.perf_counter()
        if not question or not visible(question):
            raise BadInputError("question: must not be empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise BadInputError(f"question: longer than {MAX_QUESTION_CHARS} characters")
        if mode not in ("answer", "suggest"):
            raise BadInputError("mode: must be 'answer' or 'suggest'")
        redactor = Redactor()
        red = redactor.redact(question)
        turns = [(role, redactor.redact(text).text) for role, text in history]
        user_turns = [text for role, text in turns if role == "user"]
        rule_hits, reasons = _rule_reasons(red.text, red.counts, user_turns)
        return Turn(
            question=red.text, standalone=standalone_question(red.text, user_turns),
            lang=lang if lang in ("zh", "en") else detect_language(question), mode=mode, history=turns,
            rule_hits=rule_hits, reasons=reasons, sentiment=detect_sentiment(red.text),
            redactions=dict(red.counts), fraud=detect_fraud(red.text), streaming=streaming, started=started,
        )  # fmt: skip

    async def curated_answer(self, turn: Turn) -> AnswerResult | None:
        """An admin's curated answer to this question, as written (service/curated.py), before
        any search; never over a handoff rule (a pasted secret, stolen funds), never to an agent."""
        if self.curated is None or turn.reasons or turn.mode != "answer":
            return None
        matched = await asyncio.to_thread(self.curated.match, turn.standalone, turn.lang)
        if matched is None:
            return None
        return curated_result(
            matched, index=self.retriever.index, question=turn.question, standalone=turn.standalone,
            redactions=turn.redactions, elapsed_ms=turn.elapsed() * 1000,
        )  # fmt: skip

    async def retrieve(self, turn: Turn) -> Found:
        """The help-center passages for the question (and, for an agent, similar past tickets)."""
        t = time.perf_counter()
        # A reply goes to a customer: it draws on the help center, never on what other
        # customers wrote in past tickets (the agent sees those apart, as similar tickets).
        hits: list[DocumentHit] = []
        similar: list[DocumentHit] = []
        query = turn.standalone
        try:
            search = await asyncio.to_thread(
                self.retriever.search, turn.standalone, k=5, filters=SearchFilters(kind="article")
            )
            hits, query = search.hits, " ".join([search.query, *search.expansion])
            hits = await asyncio.to_thread(in_language, self.retriever, turn.standalone, hits, turn.lang)
            if turn.mode == "suggest":
                tickets = SearchFilters(kind="ticket")
                similar = (await asyncio.to_thread(self.retriever.search, turn.standalone, k=3, filters=tickets)).hits
        except BadInputError:
            pass
        turn.mark("retrieve", t)
        category = detect_category(turn.standalone) or (hits[0].category if hits else None)
        priority = detect_priority(turn.rule_hits, turn.sentiment)
        if turn.fraud is not None and priority in ("low", "normal"):
            priority = "high"
        return Found(hits=hits, similar=similar, query=query, category=category, priority=priority)

    def decide(self, turn: Turn, found: Found) -> str | None:
        """The reason to hand off before any answer is composed (a rule, or nothing found)."""
        if turn.reasons:
            return turn.reasons[0]
        if not found.hits:
            return "no_sources"
        return None

    async def measure(self, turn: Turn, found: Found) -> Measured:
        """Retrieval evidence for the score, and the source sentences closest to the question
        (the answer itself when quoting; embedding them costs ~0.1-0.4 s)."""
        hits = found.hits
        # What an answer may show: the top hit and those search scores near it (the rest read as
        # clutter in review); the retrieval evidence below reads every hit.
        shown = contenders(hits)
        sources = select_sources(shown, turn.standalone, max_sources=self.max_sources, max_chars=self.max_source_chars)
        plain = self.retriever.plain_embedder
        top_cosine = None
        if plain is not self.retriever.embedder:
            # An adapted index (`kefu ingest --adapt`): its cosines are on another scale than
            # the one the confidence was calibrated on; measure the top passage with the plain model.
            t = time.perf_counter()
            top_cosine = await asyncio.to_thread(plain_cosine, plain, found.query, hits[0])
            turn.mark("plain_cosine", t)
        retrieval = retrieval_evidence(hits, turn.lang, top_cosine)
        selected = SelectedEvidence(sources=[], best_match=0.0, has_top=False)
        if self.style == "quote" or self.calibration.weights.get("evidence_match"):
            t = time.perf_counter()
            # An English question over Chinese articles is rendered by the LLM: fewer
            # characters in, so the rendering comes back within seconds.
            # The article's language, not its passage's: a Chinese passage full of product names
            # ("WalletConnect 会话") reads as English, and an English user was quoted Chinese.
            quoted = hits[0].lang == turn.lang
            budget = self.quote_chars if quoted else self.render_chars
            if quoted:
                selected = await asyncio.to_thread(
                    select_evidence, shown, turn.standalone, self.sentences, max_sources=self.max_sources,
                    budget=budget, other_floor=OTHER_SOURCE_FLOOR,
                    top_sections=document_sections(self.retriever.index, hits[0]),
                )  # fmt: skip
            else:
                # Across languages the closest sentences, wherever they stand, carried the
                # facts more often than one section (docs/answers.md).
                selected = await asyncio.to_thread(
                    select_sentences, shown, turn.standalone, self.sentences, max_sources=self.max_sources,
                    budget=budget, other_floor=OTHER_SOURCE_FLOOR,
                )  # fmt: skip
            turn.mark("select", t)
            retrieval["evidence_match"] = evidence_match(selected.best_match)
            if turn.fraud is not None:
                selected = about_scams(without_secret_entry(selected))
        return Measured(retrieval=retrieval, selected=selected, sources=sources)

    def compose_quote(self, quote: str, turn: Turn, measured: Measured) -> Composed:
        """The help center's own sentences, in the user's language: nothing to invent, no LLM.

        Measured on tp-cn, these carry the expected facts more often than the embedded
        model's rewrites of the same passages."""
        sources = measured.selected.sources
        safe = self._shown(quote, [s.text for s in sources], turn.lang)
        # The check cut every quoted line (a link outside the official domains...): only the
        # lead ("帮助中心的相关说明：") would be left, which answers nothing.
        text = safe.text if any(f"[{s.n}]" in safe.text for s in sources) else ""
        ev = Evidence(
            **measured.retrieval, grounded=1.0, cited=1.0, copy_rate=1.0,
            cites_top=1.0 if measured.selected.has_top else 0.0,
        )  # fmt: skip
        return Composed(
            text=text, mode="quoted", sources=sources, evidence=ev, violations=[v.kind for v in safe.violations]
        )

    async def compose_rendered(self, turn: Turn, measured: Measured, out: Composed) -> AsyncIterator[str]:
        """The source sentences the quote would show, rendered by the LLM in the user's
        language line by line (a faithful translation, which a small model does far better
        than free writing), each line cited to its source. Should the LLM fail or be late,
        the sentences themselves, said to be in the help center's language."""
        sources = measured.selected.sources
        texts = [" ".join(s.text.split("\n")).strip() for s in sources]
        out.sources, out.mode, out.model = sources, "rendered", self.generator.name
        out.evidence = Evidence(
            **measured.retrieval, grounded=1.0, cited=1.0, copy_rate=1.0,
            cites_top=1.0 if measured.selected.has_top else 0.0,
        )  # fmt: skip
        t = time.perf_counter()
        tokens = min(self.max_tokens, 24 + sum(len(x) for x in texts))
        shown: list[str] = []
        line = _RenderedLine()
        pending = ""
        try:
            options = GenerationOptions(max_tokens=tokens, temperature=0.0)
            glossary = self.retriever.glossary
            names = glossary.chain_names("\n".join(texts)) if glossary is not None and turn.lang == "en" else []
            stream = self._generation(render_messages(texts, turn.lang, names), options, turn, out, "the rendering")
            # Closed at once when the model copies instead of translating: the worker stops.
            async with aclosing(stream):
                async for chunk_text in stream:
                    ready, pending = _complete_sentences(pending + chunk_text)
                    for part in ready:
                        async for text in self._rendered(part, line, turn, sources, out, any_shown=bool(shown)):
                            shown.append(text)
                            yield text
                    if line.untranslated >= UNTRANSLATED_LIMIT:
                        pending = ""
                        break
            async for text in self._rendered(pending + "\n", line, turn, sources, out, any_shown=bool(shown)):
                shown.append(text)
                yield text
        except (BackendUnavailableError, BackendTimeoutError, NotReadyError) as exc:
            out.failure = type(exc).__name__
        turn.mark("render", t)
        out.text = "".join(shown).strip()
        out.streamed = bool(shown)
        if out.failure is None and out.text and detect_language(out.text) == turn.lang:
            return
        if (extra := self._unrendered(turn, texts, sources, out, any_shown=bool(shown))) is not None:
            yield extra

    def _unrendered(
        self, turn: Turn, texts: list[str], sources: list[Source], out: Composed, *, any_shown: bool
    ) -> str | None:
        """Nothing (or nothing in the user's language) came back in time: the sentences as the
        help center wrote them, as the text to add after what was already shown (``None``: none safe)."""
        lead = _UNRENDERED_LEAD.get(turn.lang, _UNRENDERED_LEAD["en"])
        body = "\n".join(f"{x} [{s.n}]" for x, s in zip(texts, sources, strict=True))
        safe = self._shown(body, [s.text for s in sources], turn.lang)
        out.violations += [v.kind for v in safe.violations]
        out.mode = "extractive"
        if not safe.text.strip():
            return None
        extra = ("\n" if any_shown else "") + lead + "\n" + safe.text
        out.text = (out.text + extra).strip()
        out.streamed = True
        return extra

    async def _generation(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, turn: Turn, out: Composed, what: str
    ) -> AsyncGenerator[str, None]:
        """The LLM's text as it streams, within what the deadline leaves of the turn; its token
        usage goes to ``out``."""
        # The LLM gets what retrieval left of the deadline, less a reserve for scoring what it wrote.
        budget = max(0.5, self.deadline * (1 - DEADLINE_RESERVE) - turn.elapsed())
        # Closed with this generator, so a caller that stops reading stops the model too.
        async with aclosing(with_deadline(self.generator.stream(messages, options), budget, what)) as chunks:
            async for chunk in chunks:
                if chunk.done and chunk.usage:
                    out.usage = {
                        "prompt_tokens": chunk.usage.prompt_tokens, "completion_tokens": chunk.usage.completion_tokens
                    }  # fmt: skip
                yield chunk.text

    async def _rendered(
        self, part: str, line: _RenderedLine, turn: Turn, sources: list[Source], out: Composed, *, any_shown: bool
    ) -> AsyncIterator[str]:  # fmt: skip
        """A rendered sentence, checked, as the text to show; a line's end brings the marker of
        the source it renders (:meth:`_line_source`), so text streams a sentence at a time."""
        sentence = clean_rendering(part)
        if turn.lang == "en" and self.retriever.glossary is not None:
            sentence = self.retriever.glossary.in_english(sentence)  # "a正版 one" -> "a genuine one"
        # A sentence the model left untranslated is not shown; a step's number ("2.") goes with
        # the sentence after it, never alone.
        if sentence and not any(ch.isalpha() for ch in sentence):
            line.marker += sentence + " "
        elif sentence and detect_language(sentence) != turn.lang:
            line.untranslated += 1
            line.marker = ""
        elif sentence:
            line.untranslated = 0
            sentence, line.marker = line.marker + sentence, ""
            for text in self._shown_rendering(sentence, line, turn, sources, out, any_shown=any_shown):
                yield text
        if part.endswith("\n"):
            line.marker = ""
            if line.shown:
                # Embedding waits on the shared query batcher: never on the event loop.
                source = await asyncio.to_thread(self._line_source, line, sources) if len(sources) > 1 else sources[0]
                yield f" [{source.n}]"
            line.index += 1 if line.shown else 0
            line.shown, line.text = False, ""

    def _line_source(self, line: _RenderedLine, sources: list[Source]) -> Source:
        """The source a rendered line renders: line i renders source i, unless another source is
        plainly closer in meaning to what the line says (a model that splits or skips a line
        would shift a cite-by-position onto the next source). Blocking: call it in a thread."""
        here = min(line.index, len(sources) - 1)
        if line.vectors is None:
            line.vectors = self.sentences.embed_passages([s.text for s in sources])
        cosines = line.vectors @ self.sentences.embed_queries([line.text])[0]
        cosines[here] += LINE_SOURCE_MARGIN
        return sources[int(cosines.argmax())]

    def _shown_rendering(
        self, sentence: str, line: _RenderedLine, turn: Turn, sources: list[Source], out: Composed, *, any_shown: bool
    ) -> list[str]:  # fmt: skip
        """A rendered sentence once checked against its source, as the text to show (none when unsafe)."""
        safe = self._shown(sentence, [s.text for s in sources], turn.lang)
        out.violations += [v.kind for v in safe.violations]
        if not safe.text.strip():
            return []
        lead = " " if line.shown else ("\n" if any_shown else "")
        line.shown, line.text = True, line.text + " " + safe.text.strip()
        turn.timings.setdefault("first_token", turn.elapsed() * 1000)
        return [lead + safe.text.strip()]

    async def compose_generated(self, turn: Turn, measured: Measured, out: Composed) -> AsyncIterator[str]:
        """The LLM's own answer from the best passages (the ``generate`` style), released a
        sentence at a time once it is cited and safe; the best passage itself when the LLM
        fails or says nothing usable."""
        sources = measured.sources
        source_texts = {s.n: s.text for s in sources}
        plain = self.retriever.plain_embedder
        out.sources, out.mode, out.model = sources, "generated", self.generator.name
        t = time.perf_counter()
        cites = CitationStream(source_texts)
        aligner = CitationAligner(source_texts, plain, turn.standalone)
        shown: list[str] = []
        pending = ""

        async def release(raw: str) -> str | None:
            sentence = await asyncio.to_thread(aligner.attach, raw)
            safe = self._shown(sentence, list(source_texts.values()), turn.lang)
            out.violations += [v.kind for v in safe.violations]
            if not safe.text.strip():
                return None
            if "first_token" not in turn.timings:
                turn.timings["first_token"] = turn.elapsed() * 1000
            shown.append(safe.text)
            return safe.text

        try:
            messages = build_messages(turn.standalone, sources, turn.lang)
            options = GenerationOptions(max_tokens=self.max_tokens)
            async for chunk_text in self._generation(messages, options, turn, out, "the answer"):
                pending += cites.feed(chunk_text)
                ready, pending = _complete_sentences(pending)
                for raw in ready:
                    if (text := await release(raw)) is not None:
                        yield text
        except (BackendUnavailableError, BackendTimeoutError, NotReadyError) as exc:
            out.failure = type(exc).__name__
        pending += cites.flush()
        if pending.strip() and out.failure is None and (text := await release(pending)) is not None:
            yield text
        turn.mark("generate", t)
        out.text = "".join(shown).strip()
        out.streamed = bool(shown)
        if out.failure is None and out.text and not is_no_answer(out.text):
            t = time.perf_counter()
            out.evidence = await asyncio.to_thread(self._generated_evidence, turn, measured, out.text)
            turn.mark("grounding", t)
            return
        if (text := self._extracted(turn, measured, out, any_shown=bool(shown))) is not None:
            yield text

    def _extracted(self, turn: Turn, measured: Measured, out: Composed, *, any_shown: bool) -> str | None:
        """The LLM failed or had nothing: the best passage itself, if retrieval is sure, as the
        text to add (``None``: mode ``extractive_failed``, the passage kept in ``out.text``)."""
        sources = measured.sources
        extract = self._shown(_extractive(sources[0], turn.standalone, turn.lang), [sources[0].text], turn.lang).text
        out.evidence = Evidence(**measured.retrieval, grounded=1.0, cited=1.0, copy_rate=1.0, cites_top=1.0)
        conf = self.calibration.score(self._with_overlap(turn, out.evidence, extract))
        if out.failure and conf >= self.calibration.threshold and extract.strip():
            text = ("\n" if any_shown else "") + extract
            out.text, out.mode, out.sources, out.streamed = (out.text + text).strip(), "extractive", sources[:1], True
            return text
        out.mode = "extractive_failed"
        out.text = extract
        return None

    def _with_overlap(self, turn: Turn, evidence: Evidence, text: str) -> Evidence:
        """``evidence`` with how much of the question ``text`` holds (its ``word_overlap``)."""
        return replace(evidence, word_overlap=word_overlap(turn.standalone, text, self.retriever.word_rarity))

    def _generated_evidence(self, turn: Turn, measured: Measured, text: str) -> Evidence:
        """How well the sources support what the LLM wrote (sentence by sentence), and its citations."""
        source_texts = {s.n: s.text for s in measured.sources}
        supports = sentence_support(text, source_texts, self.retriever.plain_embedder, turn.standalone)
        _, cited = normalise_markers(text, source_texts)
        return Evidence(
            **measured.retrieval, grounded=groundedness(supports), cited=1.0 if cited else 0.0,
            copy_rate=copy_rate(text, [source_texts[n] for n in cited] or list(source_texts.values())),
            cites_top=1.0 if 1 in cited else 0.0,
        )  # fmt: skip

    def score(self, turn: Turn, found: Found, measured: Measured, composed: Composed) -> AnswerResult:
        """Score the composed answer and decide: answer, or hand off (with it as the agent's draft)."""
        ev = self._with_overlap(turn, composed.evidence, composed.text)
        conf = self.calibration.score(ev)
        extra: dict[str, Any] = {
            "violations": composed.violations, "usage": composed.usage, "model": composed.model,
        }  # fmt: skip
        if composed.mode == "extractive_failed":
            reason = "llm_unavailable" if composed.failure else "no_answer"
            return self.handoff(turn, found, reason, draft=composed.text or None, sources=composed.sources,
                                evidence=ev, confidence=conf, **extra)  # fmt: skip
        unsafe = any(v in ("asks_for_secret", "promises_recovery", "leaks_secret") for v in composed.violations)
        if composed.mode == "generated" and unsafe and len(composed.text) < 20:
            return self.handoff(turn, found, "unsafe_answer", sources=composed.sources, evidence=ev,
                                confidence=conf, **extra)  # fmt: skip
        if not composed.text.strip() or not self.calibration.answers(ev, conf):
            if turn.fraud:  # the warning stands, whatever the score of what follows it
                return self.warning_only(turn, found, ev, conf, **extra)
            # Not grounded enough to stand on its own: the agent gets it as a draft. A user who has
            # read it streamed is told it may fall short; one who gets only the final text, the handoff.
            shown = turn.streaming and composed.streamed and bool(composed.text)
            return self.handoff(turn, found, "low_confidence", draft=composed.text or None, sources=composed.sources,
                                evidence=ev, confidence=conf,
                                message="low_confidence_after_answer" if shown else None, **extra)  # fmt: skip
        # A line the safety check removed takes its marker with it: cite what is shown.
        if composed.mode == "generated":
            _, cited = normalise_markers(composed.text, {s.n: s.text for s in composed.sources})
        else:
            cited = [s.n for s in composed.sources if f"[{s.n}]" in composed.text]
        reason = "extractive_fallback" if composed.mode == "extractive" else "grounded"
        turn.timings["total"] = turn.elapsed() * 1000
        return AnswerResult(
            **self._base(turn, found), answer=composed.text, citations=_citations(composed.sources, cited),
            confidence=round(conf, 4), action="answer", reason=reason, mode=composed.mode, evidence=ev,
            sources=composed.sources, timings_ms=turn.timings, **extra,
        )  # fmt: skip

    def handoff(
        self,
        turn: Turn,
        found: Found,
        reason: str,
        *,
        draft: str | None = None,
        sources: list[Source] | None = None,
        evidence: Evidence | None = None,
        confidence: float = 0.0,
        message: str | None = None,
        **extra: Any,
    ) -> AnswerResult:
        """A handoff for ``reason``, with the answer (if any) as the agent's draft; the user is
        told the brand's text for ``message`` (default: the reason's)."""
        prio = found.priority
        if reason not in turn.reasons:  # a score, not a rule: no more urgent than the message itself
            prio = "normal" if prio in ("low", "normal") else prio
        if draft is not None:  # an agent reads it, and may send it on
            draft = self._shown(draft, [s.text for s in sources or []], turn.lang).text or None
        info = build_handoff(
            reason=reason, question=turn.question, history=turn.history, lang=turn.lang, hits=found.hits,
            category=found.category, priority=prio, sentiment=turn.sentiment, draft=draft, rules=turn.reasons,
        )  # fmt: skip
        turn.timings["total"] = turn.elapsed() * 1000
        return AnswerResult(
            **self._base(turn, found), answer=user_message(message or reason, turn.lang, self._said(turn)),
            citations=[],
            confidence=round(confidence, 4), action="handoff", reason=reason, mode="handoff", handoff=info,
            evidence=evidence or Evidence(), sources=sources or [], timings_ms=turn.timings, **extra,
        )  # fmt: skip

    def _warning(self, turn: Turn) -> str:
        """The scam warning an answer opens with (a line of its own), or ""."""
        if turn.fraud is None:
            return ""
        text = warning(turn.fraud.kind, turn.lang)
        # The brand file's text is its own source: a link to its official site stays, any other goes.
        return self._shown(text, [text], turn.lang).text.strip() + "\n"

    def warning_only(
        self, turn: Turn, found: Found, evidence: Evidence, confidence: float, **extra: Any
    ) -> AnswerResult:  # fmt: skip
        """A question about a scam that no article answers well enough: the warning alone,
        now, at high priority (a scam warning is right whatever the articles say)."""
        text = self._warning(turn).strip()
        turn.timings.setdefault("first_token", turn.elapsed() * 1000)
        turn.timings["total"] = turn.elapsed() * 1000
        return AnswerResult(
            **self._base(turn, found), answer=text, citations=[], confidence=round(confidence, 4), action="answer",
            reason="fraud_warning", mode="warning", evidence=evidence, timings_ms=turn.timings,
            **{k: v for k, v in extra.items() if k in ("violations", "usage", "model")},
        )  # fmt: skip

    @staticmethod
    def _said(turn: Turn) -> list[str]:
        """What the user wrote (redacted), for the kind of secret they pasted."""
        return [turn.question, *(text for role, text in turn.history if role == "user")]

    @staticmethod
    def _base(turn: Turn, found: Found) -> dict[str, Any]:
        return {
            "question": turn.question, "standalone_question": turn.standalone, "lang": turn.lang,
            "hits": found.hits, "similar_tickets": found.similar, "category": found.category,
            "priority": found.priority, "sentiment": turn.sentiment, "rules": turn.reasons,
            "redactions": turn.redactions, "intent": f"fraud:{turn.fraud.kind}" if turn.fraud else None,
        }  # fmt: skip


@dataclass
class _RenderedLine:
    """Where a streamed rendering is: which line (so which source), and whether any of it was shown."""

    index: int = 0
    shown: bool = False
    #: Sentences in a row the model gave back in the source's language instead of translating.
    untranslated: int = 0
    #: A step's number waiting for the sentence it numbers.
    marker: str = ""
    #: What of the line was shown, and the sources' vectors (None: not embedded yet) to cite it by.
    text: str = ""
    vectors: Any = None


_UNRENDERED_LEAD = {"en": "From the help center (in Chinese):", "zh": "帮助中心的相关说明（原文）："}


def _rule_reasons(
    question: str, redactions: Mapping[str, int], user_turns: list[str]
) -> tuple[list[RuleHit], list[str]]:
    """The rules that fire on a redacted question, and their reasons (a pasted secret first)."""
    hits_rules = check_rules(question, user_turns)
    reasons = [h.reason for h in hits_rules]
    pasted = redactions.get("seed_phrase") or redactions.get("private_key") or redactions.get("keystore")
    if pasted and "secret_shared" not in reasons:
        reasons.insert(0, "secret_shared")
    return hits_rules, reasons


def _complete_sentences(text: str) -> tuple[list[str], str]:
    """Split off the sentences that are complete; keep the unfinished tail."""
    parts = split_outside_links(text, _SENTENCE_END, streaming=True)
    if len(parts) == 1:
        return [], text
    *done, tail = parts
    # Keep a sentence's own trailing marker ("...即可。 [1]") with it: move it out of the tail.
    m = re.match(r"^\s*(\[\d+\])+", tail)
    if m and done:
        done[-1] += m.group(0)
        tail = tail[m.end() :]
    return [p for p in done if p], tail


def _citations(sources: list[Source], cited: list[int]) -> list[Citation]:
    by_n = {s.n: s for s in sources}
    return [
        Citation(
            n=n,
            source=by_n[n].doc_id,
            title=by_n[n].title,
            url=by_n[n].url,
            snippet=by_n[n].snippet,
            kind=by_n[n].kind,
        )
        for n in cited
        if n in by_n
    ]


def _extractive(source: Source, question: str, lang: str) -> str:
    body = trim_passage(source.text, question, 200).replace("\n", " ")
    if lang == "en":
        return f"From the help center article \u201c{source.title}\u201d: {body} [1]"
    return f"以下内容摘自帮助中心文章《{source.title}》：{body} [1]"


def answerer_from_settings(settings: Any, index_name: str | None = None, *, retriever: HybridRetriever | None = None,
                           generator: Generator | None = None) -> Answerer:  # fmt: skip
    """The configured answerer: the index's retriever, the configured LLM, the calibration."""
    from kefu.generators import generator_from_settings
    from service.confidence import calibration_for
    from service.retriever import retriever_from_settings

    retriever = retriever or retriever_from_settings(settings, index_name)
    warn_of_foreign_links(retriever.index, settings.official_domains)
    return Answerer(
        retriever,
        generator or generator_from_settings(settings),
        calibration=calibration_for(settings.data_dir, settings.calibration_path),
        deadline=settings.answer_deadline,
        style=settings.answer_style,
        official_domains=settings.official_domains,
    )


def warn_of_foreign_links(index: Any, official_domains: Sequence[str]) -> Counter[str]:
    """Log (and return) the hosts the index's articles link to that ``official_domains`` lack.

    Ingest keeps only links to the domains it was given; an index served with other domains
    (another KEFU_BRAND_FILE than at ingest) has every quote of those lines cut by the answer
    check, which reads as a help center that lost them."""
    from ingest.screen import foreign_link_hosts

    kinds = [d.kind for d in index.documents]
    hosts = foreign_link_hosts((c.text for c in index.chunks if kinds[c.doc] == "article"), official_domains)
    if hosts:
        named = ", ".join(f"{h} ({n})" for h, n in hosts.most_common(5))
        more = f" and {len(hosts) - 5} more" if len(hosts) > 5 else ""
        log.warning(
            "index %s links to hosts outside the official domains: %s%s; answers will cut those links. "
            "Serve it with the KEFU_BRAND_FILE (or KEFU_OFFICIAL_DOMAINS) it was ingested with.",
            index.manifest.name, named, more,
        )  # fmt: skip
    return hosts


def result_dict(result: AnswerResult) -> dict[str, Any]:
    """The result as plain JSON-able data (what `kefu ask --json` prints and the API returns)."""
    from dataclasses import asdict

    out: dict[str, Any] = {
        "question": result.question,
        "standalone_question": result.standalone_question,
        "lang": result.lang,
        "answer": result.answer,
        "citations": [asdict(c) for c in result.citations],
        "confidence": result.confidence,
        "action": result.action,
        "reason": result.reason,
        "mode": result.mode,
        "category": result.category,
        "priority": result.priority,
        "sentiment": result.sentiment,
        "rules": result.rules,
        "evidence": asdict(result.evidence),
        "violations": result.violations,
        "redactions": result.redactions,
        "usage": result.usage,
        "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()},
        "model": result.model,
        "intent": result.intent,
        "handoff": asdict(result.handoff) if result.handoff else None,
    }
    return out
