"""``kefu eval --url``: judge a running deployment through its HTTP API, not in-process.

:class:`RemoteAnswerer` stands in for :class:`service.answerer.Answerer` in
:func:`eval.answers.run_item`: ``await remote.answer(question)`` asks the deployment's
``POST /v1/ask`` and turns the reply back into an :class:`AnswerResult`.

It asks with ``details: true`` (so the reply carries the documents found and the numbered
sources with every corpus path of each, the matched rules, the confidence evidence, the
handoff's draft for the agent and token usage) and with ``Accept: text/event-stream``, so
the time to the first answer text is measured here, as a client sees it: the API reports
no timings of its own. ``timings_ms`` holds ``first_token`` (when the first ``token`` event
arrived, counted from the request; left out when the stream carried only a handoff's
message to the user, as in-process) and ``total`` (until the ``final`` event).

The deployment stores every question like any other: each eval item becomes a
conversation on channel ``eval``, and each handoff opens one in its queue.

Errors are kefu's own: nothing listening or an unknown host is a
:class:`BackendUnavailableError` naming the URL; a missing or refused API key an
:class:`AuthError`; 429 and 503 are retried up to 3 times, waiting as Retry-After says;
any other error status names the status and the API's message. The API key is sent in
the ``Authorization`` header only and never appears in a message or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import fields
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from kefu import __version__
from kefu.errors import (
    AuthError,
    BackendTimeoutError,
    BackendUnavailableError,
    ConfigError,
    ForbiddenError,
    KefuError,
    error_from_reply,
)
from kefu.redaction import Redactor
from service.answerer import AnswerResult, Citation
from service.confidence import Evidence
from service.handoff import Handoff
from service.prompting import Source
from service.retriever import DocumentHit

log = logging.getLogger("kefu.eval")

ASK_PATH = "/v1/ask"
#: Retries of a 429 or 503 answer before giving up.
RETRIES = 3
#: The first wait when a 429 or 503 comes without Retry-After; it doubles each time.
BACKOFF_SECONDS = 1.0
#: The longest wait between retries, whatever Retry-After says.
MAX_WAIT_SECONDS = 60.0
CHANNEL = "eval"

_EVIDENCE_FIELDS = frozenset(f.name for f in fields(Evidence))


class RemoteAnswerer:
    """Answers questions by asking a kefu deployment at ``base_url``.

    ``index`` is accepted for symmetry with the in-process eval and not sent: the API
    answers from the one index the deployment serves.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float = 120.0,
        index: str | None = None,
        *,
        retries: int = RETRIES,
        backoff: float = BACKOFF_SECONDS,
    ) -> None:
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be above 0, retries and backoff 0 or more")
        self.base_url = _base_url(base_url)
        self.index = index
        self.retries = retries
        self.backoff = backoff
        self._api_key = api_key.strip() if api_key and api_key.strip() else None
        headers = {"Accept": "text/event-stream", "User-Agent": f"kefu-eval/{__version__}"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )

    def __repr__(self) -> str:  # the key stays out
        return f"RemoteAnswerer({self.base_url!r}, api_key={'***' if self._api_key else None})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def url(self) -> str:
        return self.base_url + ASK_PATH

    async def answer(self, question: str, lang: str | None = None) -> AnswerResult:
        """The deployment's answer to ``question``, as the in-process answerer gives it."""
        body: dict[str, Any] = {"question": question, "channel": CHANNEL, "details": True}
        if lang is not None:
            body["lang"] = lang
        for attempt in range(self.retries + 1):
            start = time.perf_counter()
            try:
                async with self._client.stream("POST", ASK_PATH, json=body) as response:
                    if response.status_code == 200:
                        final, first = await self._read(response, start)
                        total = (time.perf_counter() - start) * 1000
                        return result_from_body(question, final, first_token_ms=first, total_ms=total)
                    await response.aread()
                    retryable = response.status_code in (429, 503)
                    if not retryable or attempt == self.retries:
                        raise self._http_error(response, retried=attempt if retryable else 0)
                    wait = _retry_wait(response, self.backoff * 2**attempt)
            except httpx.TimeoutException as exc:
                raise self._timeout_error(exc) from exc
            except httpx.TransportError as exc:
                raise self._transport_error(exc) from exc
            log.info(
                "%s answered %d; retry %d of %d in %.1f s", self.url, response.status_code, attempt + 1,
                self.retries, wait,
            )  # fmt: skip
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- reading the answer ---------------------------------------------------------------

    async def _read(self, response: httpx.Response, start: float) -> tuple[dict[str, Any], float | None]:
        """The final body and the time to the first answer text (ms), from a 200 response."""
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            return _json_object(await response.aread(), self.url), None
        first: float | None = None
        streamed: list[str] = []
        async for name, data in _sse_events(response):
            if name == "token":
                text = str(_json_object(data, self.url).get("text") or "")
                if text and first is None:
                    first = (time.perf_counter() - start) * 1000
                streamed.append(text)
            elif name == "final":
                final = _json_object(data, self.url)
                only_handoff = final.get("action") == "handoff" and "".join(streamed).strip() == str(
                    final.get("answer") or ""
                ).strip()  # fmt: skip
                return final, None if only_handoff else first
            elif name == "error":
                info = _json_object(data, self.url).get("error") or {}
                raise error_from_reply(
                    str(info.get("code") or ""),
                    f"{self.url} failed after the answer began: {info.get('message') or 'no message'}",
                    status=500,
                )
        raise BackendUnavailableError(f"{self.url} ended the answer's event stream without a final event")

    # --- errors -----------------------------------------------------------------------------

    def _http_error(self, response: httpx.Response, *, retried: int) -> KefuError:
        status = response.status_code
        code, message = _error_info(response)
        if status == 401:
            if self._api_key is None:
                return AuthError(f"{self.base_url} needs an API key and none was given: set KEFU_API_KEY")
            return AuthError(f"{self.base_url} refused the API key (HTTP 401): it is unknown or revoked")
        if status == 403:
            return ForbiddenError(f"{self.base_url} refused the API key (HTTP 403): {self._scrub(message)}")
        after = f" after {retried} retries" if retried else ""
        text = f"POST {self.url} failed{after}: HTTP {status}" + (f" ({code})" if code else "")
        if message:
            text += f": {self._scrub(message)}"
        retry_after = _retry_after(response)
        return error_from_reply(code, text, status=status, retry_after=retry_after)

    def _timeout_error(self, exc: httpx.TimeoutException) -> KefuError:
        if isinstance(exc, httpx.ConnectTimeout):
            return BackendUnavailableError(f"cannot reach the kefu API at {self.base_url}: the connection timed out")
        return BackendTimeoutError(f"the kefu API at {self.base_url} did not answer in time ({type(exc).__name__})")

    def _transport_error(self, exc: httpx.TransportError) -> KefuError:
        reason = self._scrub(str(exc) or type(exc).__name__)
        if isinstance(exc, httpx.ConnectError):
            return BackendUnavailableError(f"cannot reach the kefu API at {self.base_url}: {reason}")
        return BackendUnavailableError(f"the connection to the kefu API at {self.base_url} failed: {reason}")

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


# --- the reply as an AnswerResult ---------------------------------------------------------------


def result_from_body(
    question: str, body: dict[str, Any], *, first_token_ms: float | None = None, total_ms: float | None = None
) -> AnswerResult:
    """An ``/v1/ask`` response body (asked with ``details: true``) as an :class:`AnswerResult`.

    Without ``details`` (a deployment that predates them) the documents, sources, rules,
    evidence and draft are empty, and citations fall back to their ``source`` path.
    """
    details: dict[str, Any] = body.get("details") or {}
    sources = _sources(details, body)
    rules = [str(r) for r in details.get("rules") or []]
    lang = str(body.get("lang") or "zh")
    ref: dict[str, Any] | None = body.get("handoff")
    evidence_body: dict[str, Any] = details.get("evidence") or {}
    action: Literal["answer", "handoff"] = "handoff" if body.get("action") == "handoff" else "answer"
    redacted = Redactor().redact(question).text
    return AnswerResult(
        question=redacted,
        standalone_question=redacted,
        lang=lang,
        answer=str(body.get("answer") or ""),
        citations=_citations(body, sources),
        confidence=float(body.get("confidence") or 0.0),
        action=action,
        reason=str(body.get("reason") or ""),
        mode=str(body.get("mode") or ""),
        handoff=_handoff(body, details, lang=lang, rules=rules),
        evidence=Evidence(**{k: float(v) for k, v in evidence_body.items() if k in _EVIDENCE_FIELDS}),
        hits=[_hit(d) for d in details.get("documents") or []],
        sources=sources,
        category=ref.get("category") if ref else None,
        priority=str(ref.get("priority") or "normal") if ref else "normal",
        rules=rules,
        usage=_usage(details),
        timings_ms=_timings(first_token_ms, total_ms),
    )


def _sources(details: dict[str, Any], body: dict[str, Any]) -> list[Source]:
    """The numbered sources, each with the snippet its citation quoted (the passage is not in the reply)."""
    cited_snippets = {int(c["n"]): str(c.get("snippet") or "") for c in body.get("citations") or []}
    return [
        _numbered(s, kind=str(s.get("kind") or "article"), snippet=cited_snippets.get(int(s["n"]), ""))
        for s in details.get("sources") or []
    ]


def _citations(body: dict[str, Any], sources: list[Source]) -> list[Citation]:
    """The cited sources as citations (as the in-process answerer makes them), each of its source's kind."""
    kind_of = {s.n: s.kind for s in sources}
    cited = [
        _numbered(c, kind=kind_of.get(int(c["n"]), "article"), snippet=str(c.get("snippet") or ""))
        for c in body.get("citations") or []
    ]
    return [Citation(n=s.n, source=s.doc_id, title=s.title, url=s.url, snippet=s.snippet, kind=s.kind) for s in cited]


def _numbered(entry: dict[str, Any], *, kind: str, snippet: str) -> Source:
    """A numbered entry of the reply, a source or a citation: both carry ``n``, ``source``,
    ``title`` and ``url`` alike; the passage itself is never in the reply."""
    return Source(
        n=int(entry["n"]),
        doc_id=str(entry["source"]),
        title=str(entry.get("title") or ""),
        url=entry.get("url"),
        kind=kind,
        text="",
        snippet=snippet,
    )


def _handoff(body: dict[str, Any], details: dict[str, Any], *, lang: str, rules: list[str]) -> Handoff | None:
    """The handoff the reply names, or one its ``action`` implies; ``None`` for an answer."""
    ref: dict[str, Any] | None = body.get("handoff")
    if ref is None and body.get("action") != "handoff":
        return None
    ref = ref or {}
    return Handoff(
        reason=str(ref.get("reason") or body.get("reason") or ""),
        summary="",
        category=ref.get("category"),
        priority=str(ref.get("priority") or "normal"),
        lang=lang,
        sentiment="",
        conversation=[],
        evidence=[],
        suggested_reply=str(details.get("draft") or ""),
        rules=rules,
    )


def _usage(details: dict[str, Any]) -> dict[str, int | None]:
    usage_body: dict[str, Any] = details.get("usage") or {}
    if not any(v is not None for v in usage_body.values()):
        return {}
    return {"prompt_tokens": usage_body.get("prompt_tokens"), "completion_tokens": usage_body.get("completion_tokens")}


def _timings(first_token_ms: float | None, total_ms: float | None) -> dict[str, float]:
    timings: dict[str, float] = {}
    if first_token_ms is not None:
        timings["first_token"] = first_token_ms
    if total_ms is not None:
        timings["total"] = total_ms
    return timings


def _hit(doc: dict[str, Any]) -> DocumentHit:
    source = str(doc["source"])
    return DocumentHit(
        doc_id=source,
        paths=[str(p) for p in doc.get("paths") or [source]],
        title=str(doc.get("title") or ""),
        kind=str(doc.get("kind") or "article"),
        lang=str(doc.get("lang") or ""),
        category=doc.get("category"),
        url=doc.get("url"),
        score=float(doc.get("score") or 0.0),
        dense_score=doc.get("dense_score"),
        sparse_score=doc.get("sparse_score"),
        dense_rank=None,
        sparse_rank=None,
        heading_path=[],
        passage="",
        snippet=str(doc.get("snippet") or ""),
        chunk=0,
    )


# --- HTTP helpers ---------------------------------------------------------------------------------


def _base_url(url: str) -> str:
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigError(f"--url: {url!r} is not a URL ({exc})") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"--url: {url!r} is not an http(s) URL such as http://127.0.0.1:8000")
    if parsed.userinfo:
        raise ConfigError("--url: put the API key in KEFU_API_KEY, not in the URL")
    return str(parsed.copy_with(query=None, fragment=None)).rstrip("/")


async def _sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) of each server-sent event, as they arrive."""
    name = "message"
    data: list[str] = []
    async for raw in response.aiter_lines():
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
    if data:
        yield name, "\n".join(data)


def _json_object(data: str | bytes, url: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise BackendUnavailableError(f"{url} did not answer with the kefu API's JSON (is the URL right?)")
    return value


def _error_info(response: httpx.Response) -> tuple[str, str]:
    """The API's error code and message, from ``{"error": {"code", "message"}}``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    info = body.get("error") if isinstance(body, dict) else None
    if isinstance(info, dict):
        return str(info.get("code") or ""), str(info.get("message") or "")
    return "", response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _retry_wait(response: httpx.Response, fallback: float) -> float:
    after = _retry_after(response)
    return min(MAX_WAIT_SECONDS, after if after is not None else fallback)
