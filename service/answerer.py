"""Answer a question, or hand it to a human: the decision and the grounded answer.

For each question: redact secrets; run the handoff rules; rewrite a follow-up into a
standalone question; search; pick the source sentences closest to the question. In the
default ``quote`` style, when those sentences are in the user's language they are the
answer, each source cited; otherwise (an English question over Chinese articles, or the
``generate`` style) a short prompt from the best passages goes to the LLM, whose answer
streams sentence by sentence through the citation filter and the safety check. Then score
how well the answer is supported and decide: ``answer`` or ``handoff``, with a reason code.
When the LLM is down, too slow or says nothing usable, the answer falls back to an
extractive one from the best passage (marked as such) or to a handoff: never an error.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from kefu.errors import BackendTimeoutError, BackendUnavailableError, BadInputError, NotReadyError
from kefu.generators import GenerationOptions
from kefu.generators.base import with_deadline
from kefu.redaction import Redactor
from kefu.settings import DEFAULT_OFFICIAL_DOMAINS
from kefu.text import detect_language, visible
from service.citations import CitationStream, normalise_markers
from service.confidence import Calibration, Evidence, evidence_match, plain_cosine, retrieval_evidence
from service.curated import curated_result
from service.followup import standalone_question
from service.grounding import CitationAligner, copy_rate, groundedness, sentence_support
from service.handoff import Handoff, build_handoff, user_message
from service.prompting import (
    SelectedEvidence,
    Source,
    build_messages,
    is_no_answer,
    quote_answer,
    select_evidence,
    select_sources,
    trim_passage,
)
from service.retriever import DocumentHit, HybridRetriever, SearchFilters
from service.rules import RuleHit, check_rules
from service.safety import SafetyResult, check_shown
from service.triage import detect_category, detect_priority, detect_sentiment

if TYPE_CHECKING:
    from kefu.generators import Generator
    from service.curated import CuratedMatcher

Mode = Literal["answer", "suggest"]
Style = Literal["quote", "generate"]
MAX_QUESTION_CHARS = 2000
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


@dataclass(frozen=True)
class AnswerEvent:
    """A streamed event: answer text as it is ready, then the final result."""

    type: Literal["token", "final"]
    text: str = ""
    result: AnswerResult | None = None


class Answerer:
    """The framework-free answering core; the service, the CLI and eval all call it."""

    #: Curated answers to try before retrieval (the service sets it; None: none).
    curated: CuratedMatcher | None = None

    def __init__(
        self,
        retriever: HybridRetriever,
        generator: Generator,
        *,
        calibration: Calibration | None = None,
        deadline: float = 25.0,
        max_sources: int = 3,
        max_source_chars: int = 320,
        max_tokens: int = 256,
        style: Style = "generate",
        quote_chars: int = 300,
        official_domains: Sequence[str] = DEFAULT_OFFICIAL_DOMAINS,
    ) -> None:
        if deadline <= 0 or max_sources <= 0 or quote_chars <= 0:
            raise ValueError("deadline, max_sources and quote_chars must be above 0")
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
        self.official_domains = tuple(official_domains)

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
        async for event in self.stream(question, history, lang=lang, mode=mode):
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

    async def stream(  # noqa: PLR0911 - one return per way an answer ends
        self,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        lang: str | None = None,
        mode: Mode = "answer",
    ) -> AsyncIterator[AnswerEvent]:
        """Answer text as it becomes safe to show, then one ``final`` event with the result.

        ``history`` is the conversation so far as (role, text) pairs, role "user" or
        "assistant"; it is redacted here too.
        """
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        if not question or not visible(question):
            raise BadInputError("question: must not be empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise BadInputError(f"question: longer than {MAX_QUESTION_CHARS} characters")
        if mode not in ("answer", "suggest"):
            raise BadInputError("mode: must be 'answer' or 'suggest'")
        redactor = Redactor()
        red = redactor.redact(question)
        q = red.text
        turns = [(role, redactor.redact(text).text) for role, text in history]
        user_turns = [text for role, text in turns if role == "user"]
        lang = lang if lang in ("zh", "en") else detect_language(question)

        hits_rules, reasons = _rule_reasons(q, red.counts, user_turns)
        sentiment = detect_sentiment(q)
        standalone = standalone_question(q, user_turns)

        # --- curated answers (service/curated.py): an admin's answer to this question, as
        # written, before retrieval; any handoff rule (a pasted secret, stolen funds) wins.
        if self.curated is not None and not reasons and mode == "answer":
            matched = await asyncio.to_thread(self.curated.match, standalone, lang)
            if matched is not None:
                curated = curated_result(
                    matched, question=q, standalone=standalone, redactions=red.counts,
                    elapsed_ms=(time.perf_counter() - t0) * 1000,
                )  # fmt: skip
                yield AnswerEvent("token", text=curated.answer)
                yield AnswerEvent("final", result=curated)
                return
        # --- end of curated answers

        t = time.perf_counter()
        # A reply goes to a customer: it draws on the help center, never on what other
        # customers wrote in past tickets (the agent sees those apart, as similar tickets).
        filters = SearchFilters(kind="article")
        try:
            search = await asyncio.to_thread(self.retriever.search, standalone, k=5, filters=filters)
            hits = search.hits
            similar = (
                (
                    await asyncio.to_thread(
                        self.retriever.search, standalone, k=3, filters=SearchFilters(kind="ticket")
                    )
                ).hits
                if mode == "suggest"
                else []
            )
        except BadInputError:
            hits, similar = [], []
        timings["retrieve"] = (time.perf_counter() - t) * 1000
        category = detect_category(standalone) or (hits[0].category if hits else None)
        priority = detect_priority(hits_rules, sentiment)
        base: dict[str, Any] = {
            "question": q,
            "standalone_question": standalone,
            "lang": lang,
            "hits": hits,
            "similar_tickets": similar,
            "category": category,
            "priority": priority,
            "sentiment": sentiment,
            "rules": reasons,
            "redactions": dict(red.counts),
        }

        def handoff(
            reason: str,
            *,
            draft: str | None = None,
            sources: list[Source] | None = None,
            evidence: Evidence | None = None,
            confidence: float = 0.0,
            **extra: Any,
        ) -> AnswerResult:
            prio = priority if reason in reasons else ("normal" if priority in ("low", "normal") else priority)
            if draft is not None:  # an agent reads it, and may send it on
                draft = self._shown(draft, [s.text for s in sources or []], lang).text or None
            info = build_handoff(
                reason=reason, question=q, history=turns, lang=lang, hits=hits, category=category,
                priority=prio, sentiment=sentiment, draft=draft, rules=reasons,
            )  # fmt: skip
            timings["total"] = (time.perf_counter() - t0) * 1000
            return AnswerResult(
                **base, answer=user_message(reason, lang), citations=[], confidence=round(confidence, 4),
                action="handoff", reason=reason, mode="handoff", handoff=info, evidence=evidence or Evidence(),
                sources=sources or [], timings_ms=timings, **extra,
            )  # fmt: skip

        if reasons:
            result = handoff(reasons[0])
            yield AnswerEvent("token", text=result.answer)
            yield AnswerEvent("final", result=result)
            return
        if not hits:
            result = handoff("no_sources")
            yield AnswerEvent("token", text=result.answer)
            yield AnswerEvent("final", result=result)
            return

        sources = select_sources(hits, standalone, max_sources=self.max_sources, max_chars=self.max_source_chars)
        source_texts = {s.n: s.text for s in sources}
        plain = self.retriever.plain_embedder
        top_cosine = None
        if plain is not self.retriever.embedder:
            # An adapted index (`kefu ingest --adapt`): its cosines are on another scale than
            # the one the confidence was calibrated on; measure the top passage with the plain model.
            t = time.perf_counter()
            query = " ".join([search.query, *search.expansion])
            top_cosine = await asyncio.to_thread(plain_cosine, plain, query, hits[0])
            timings["plain_cosine"] = (time.perf_counter() - t) * 1000
        retrieval = retrieval_evidence(hits, lang, top_cosine)
        # The source sentences closest to the question: the answer itself when quoting, and
        # evidence for the score when a calibration weighs it (embedding them costs ~0.1-0.4 s).
        selected = SelectedEvidence(sources=[], best_match=0.0, has_top=False)
        if self.style == "quote" or self.calibration.weights.get("evidence_match"):
            t = time.perf_counter()
            selected = await asyncio.to_thread(
                select_evidence, hits, standalone, plain,
                max_sources=self.max_sources, budget=self.quote_chars,
            )  # fmt: skip
            timings["select"] = (time.perf_counter() - t) * 1000
            retrieval["evidence_match"] = evidence_match(selected.best_match)
        quoted = quote_answer(selected, lang) if self.style == "quote" else None
        # Even a perfectly supported answer could not clear the threshold: skip the LLM.
        # (A quote costs nothing, so the agent still gets it as a draft.)
        best_case = self.calibration.best_case(retrieval)
        if best_case < self.calibration.threshold:
            result = handoff("low_confidence", draft=quoted, sources=selected.sources if quoted else sources,
                             evidence=Evidence(**retrieval), confidence=best_case)  # fmt: skip
            yield AnswerEvent("token", text=result.answer)
            yield AnswerEvent("final", result=result)
            return

        if quoted is not None:
            # The help center's own sentences answer in the user's language: no LLM needed,
            # nothing to invent. Measured on tp-cn, these carry the expected facts more often
            # than the embedded model's rewrites of the same passages.
            q_sources = selected.sources
            safe = self._shown(quoted, [s.text for s in q_sources], lang)
            ev = Evidence(
                **retrieval, grounded=1.0, cited=1.0, copy_rate=1.0, cites_top=1.0 if selected.has_top else 0.0
            )
            conf = self.calibration.score(ev)
            quote_violations: list[str] = [v.kind for v in safe.violations]
            if self.calibration.answers(ev, conf) and safe.text.strip():
                timings["first_token"] = (time.perf_counter() - t0) * 1000
                for line in safe.text.splitlines(keepends=True):
                    yield AnswerEvent("token", text=line)
                timings["total"] = (time.perf_counter() - t0) * 1000
                # A line the safety check removed takes its marker with it: cite what is shown.
                cited = [s.n for s in q_sources if f"[{s.n}]" in safe.text]
                result = AnswerResult(
                    **base, answer=safe.text, citations=_citations(q_sources, cited), confidence=round(conf, 4),
                    action="answer", reason="grounded", mode="quoted", evidence=ev, sources=q_sources,
                    violations=quote_violations, timings_ms=timings, model="",
                )  # fmt: skip
            else:
                result = handoff("low_confidence", draft=safe.text, sources=q_sources, evidence=ev,
                                 confidence=conf, violations=quote_violations)  # fmt: skip
                yield AnswerEvent("token", text=result.answer)
            yield AnswerEvent("final", result=result)
            return

        # Generate, releasing text a sentence at a time once it is cited and safe.
        t = time.perf_counter()
        cites = CitationStream(source_texts)
        aligner = CitationAligner(source_texts, plain, standalone)
        shown: list[str] = []
        violations: list[str] = []
        pending = ""
        usage: dict[str, int | None] = {}
        failure: str | None = None
        first_token: float | None = None
        messages = build_messages(standalone, sources, lang)
        try:
            # The deadline bounds the whole answer: the LLM gets what retrieval left of it,
            # less a reserve for scoring what it wrote.
            spent = time.perf_counter() - t0
            budget = max(0.5, self.deadline * (1 - DEADLINE_RESERVE) - spent)
            stream = with_deadline(
                self.generator.stream(messages, GenerationOptions(max_tokens=self.max_tokens)),
                budget,
                "the answer",
            )
            async for chunk in stream:
                if chunk.done and chunk.usage:
                    usage = {
                        "prompt_tokens": chunk.usage.prompt_tokens,
                        "completion_tokens": chunk.usage.completion_tokens,
                    }
                pending += cites.feed(chunk.text)
                ready, pending = _complete_sentences(pending)
                for raw_sentence in ready:
                    sentence = await asyncio.to_thread(aligner.attach, raw_sentence)
                    safe = self._shown(sentence, list(source_texts.values()), lang)
                    violations += [v.kind for v in safe.violations]
                    if safe.text.strip():
                        if first_token is None:
                            first_token = (time.perf_counter() - t0) * 1000
                        shown.append(safe.text)
                        yield AnswerEvent("token", text=safe.text)
        except (BackendUnavailableError, BackendTimeoutError, NotReadyError) as exc:
            failure = type(exc).__name__
        pending += cites.flush()
        if pending.strip() and failure is None:
            pending = await asyncio.to_thread(aligner.attach, pending)
            safe = self._shown(pending, list(source_texts.values()), lang)
            violations += [v.kind for v in safe.violations]
            if safe.text.strip():
                first_token = first_token or (time.perf_counter() - t0) * 1000
                shown.append(safe.text)
                yield AnswerEvent("token", text=safe.text)
        timings["generate"] = (time.perf_counter() - t) * 1000
        if first_token is not None:
            timings["first_token"] = first_token
        text = "".join(shown).strip()
        generated_ok = failure is None and text and not is_no_answer(text)

        if not generated_ok:
            # The LLM failed or had nothing: the best passage itself, if retrieval is sure.
            extract = self._shown(_extractive(sources[0], standalone, lang), [sources[0].text], lang).text
            ev = Evidence(**retrieval, grounded=1.0, cited=1.0, copy_rate=1.0, cites_top=1.0)
            conf = self.calibration.score(ev)
            reason = "llm_unavailable" if failure else "no_answer"
            if failure and conf >= self.calibration.threshold and extract.strip():
                citation = _citations(sources, [1])
                timings["total"] = (time.perf_counter() - t0) * 1000
                result = AnswerResult(
                    **base, answer=extract, citations=citation, confidence=round(conf, 4), action="answer",
                    reason="extractive_fallback", mode="extractive", evidence=ev, sources=sources,
                    violations=violations, usage=usage, timings_ms=timings, model=self.generator.name,
                )  # fmt: skip
                yield AnswerEvent("token", text=("\n" if shown else "") + extract)
                yield AnswerEvent("final", result=result)
                return
            result = handoff(reason, draft=extract or None, sources=sources, evidence=ev, confidence=conf,
                             violations=violations, usage=usage, model=self.generator.name)  # fmt: skip
            yield AnswerEvent("token", text=("\n" if shown else "") + result.answer)
            yield AnswerEvent("final", result=result)
            return

        _, cited = normalise_markers(text, source_texts)
        t = time.perf_counter()
        supports = await asyncio.to_thread(sentence_support, text, source_texts, plain, standalone)
        timings["grounding"] = (time.perf_counter() - t) * 1000
        ev = Evidence(
            **retrieval,
            grounded=groundedness(supports),
            cited=1.0 if cited else 0.0,
            copy_rate=copy_rate(text, [source_texts[n] for n in cited] or list(source_texts.values())),
            cites_top=1.0 if 1 in cited else 0.0,
        )
        conf = self.calibration.score(ev)
        unsafe = any(v in ("asks_for_secret", "promises_recovery", "leaks_secret") for v in violations)
        if unsafe and len(text) < 20:
            result = handoff("unsafe_answer", draft=None, sources=sources, evidence=ev, confidence=conf,
                             violations=violations, usage=usage, model=self.generator.name)  # fmt: skip
        elif not self.calibration.answers(ev, conf):
            # Not grounded enough to stand on its own: the agent gets it as a draft.
            result = handoff("low_confidence", draft=text, sources=sources, evidence=ev, confidence=conf,
                             violations=violations, usage=usage, model=self.generator.name)  # fmt: skip
        else:
            timings["total"] = (time.perf_counter() - t0) * 1000
            result = AnswerResult(
                **base, answer=text, citations=_citations(sources, cited), confidence=round(conf, 4),
                action="answer", reason="grounded", mode="generated", evidence=ev, sources=sources,
                violations=violations, usage=usage, timings_ms=timings, model=self.generator.name,
            )  # fmt: skip
        if result.action == "handoff":
            yield AnswerEvent("token", text="\n" + result.answer)
        yield AnswerEvent("final", result=result)


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
    parts = _SENTENCE_END.split(text)
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

    return Answerer(
        retriever or retriever_from_settings(settings, index_name),
        generator or generator_from_settings(settings),
        calibration=calibration_for(settings.data_dir, settings.calibration_path),
        deadline=settings.answer_deadline,
        style=settings.answer_style,
        official_domains=settings.official_domains,
    )


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
        "handoff": asdict(result.handoff) if result.handoff else None,
    }
    return out
