"""Replay realistic weeks of help-desk traffic through the real HTTP API, for the weekly report.

Questions come from eval datasets (paraphrases of one question share their gold articles and
make one topic) and, for 15% of them, from topics the help center does not cover
(bench/data/week_gaps.jsonl: buying USDT with a bank card, dark mode, price alerts, exporting
the history, address-book notes; several wordings each, Chinese and English, and the replies
agents write to them). Topics are asked with a long-tailed popularity, a few of them rising in
the last week; questions fall on working hours (UTC+8) with quieter weekends. Through the real
app (Litestar's test client, the real store, embedder, index and answerer): users ask
(``POST /v1/ask``), vote on some answers (``POST /v1/feedback``) and rate some conversations
(``POST /v1/conversations/{id}/csat``); agents claim most handoffs, ask for a suggestion
(``POST /v1/suggest``), send it as is, edit or discard it, and resolve the handoff with the
reply sent, after which some users rate the conversation too. A question the help center
lacks gets the agent's own reply (over the suggestion, an edit, or instead of it): what
``kefu learn`` drafts FAQ entries from.

The replay answers with a handoff threshold of its own (``REPLAY_THRESHOLD``, ``--threshold``):
with the hand-set calibration a quoted answer always clears 0.45, so nothing would be handed
off for low confidence and no gap would reach an agent.

The API stamps rows with the store's clock and offers no way to set a time, so the replay
gives the store a clock it moves to each event's moment: every row is written by the API
as in production, only "now" is simulated. Latencies are real.

Answers come out as in production with the default answer style (``quote``: the help
center's own sentences), which calls no LLM; so by default the replay does not load the
embedded model and gives the app an extractive stand-in (the first sentences of source [1],
cited), which the app calls where a quote needs rendering (an English question over Chinese
articles) or with ``KEFU_ANSWER_STYLE=generate``. ``--llm configured`` loads the
configured backend instead.

    KEFU_DATABASE_URL=sqlite:///out/week.sqlite .venv/bin/python bench/replay_week.py
    KEFU_DATABASE_URL=sqlite:///out/week.sqlite .venv/bin/kefu report --since 7d --html out/week.html
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eval.dataset import load_dataset
from eval.jsonl import read_objects
from kefu.errors import BadInputError
from kefu.generators.base import ChatMessage, Chunk, GenerationOptions, GeneratorHealth, Usage
from kefu.settings import Settings
from service.confidence import calibration_for

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = REPO / "eval" / "datasets" / "harbor.jsonl"
#: Questions the demo help center does not answer, in several wordings, with agents' replies.
DEFAULT_GAPS = REPO / "bench" / "data" / "week_gaps.jsonl"
#: The handoff threshold of the replay: with the hand-set calibration (0.45) a quoted answer
#: always clears it, so nothing is handed off for low confidence; 0.88 is the lowest at which
#: the answered Harbor eval questions cite a gold document 90% of the time
#: (bench/handoff_threshold.py, docs/report.md).
REPLAY_THRESHOLD = 0.88
#: Questions per hour of the day (UTC), for a desk in UTC+8: busy 09-23 local.
HOURLY = [6, 7, 8, 8, 7, 7, 6, 6, 7, 8, 9, 10, 11, 12, 8, 4, 2, 1, 1, 1, 1, 1, 2, 4]
_SOURCE = re.compile(r"^\[(\d+)\] (.*)$", re.M)
_SENTENCE = re.compile(r"[^。！？!?.\n]+[。！？!?.]?")

AGENT_REPLY = {
    "zh": "您好，这个问题我们已经核实：请按帮助中心的步骤操作，如仍有问题请回复本工单，我们会继续跟进。",
    "en": "Hello, we have looked into this: please follow the steps in the help center and reply to this "
    "ticket if it still does not work; we will follow up.",
}


class ReplayClock:
    """The store's clock during a replay: the moment of the event being replayed."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class ExtractiveGenerator:
    """Stands in for the LLM: the first sentences of source [1], cited as [1]."""

    name = "extractive:replay"

    async def warm_up(self) -> None:
        return None

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None
    ) -> AsyncIterator[Chunk]:
        prompt = messages[-1].content if messages else ""
        text = ""
        for match in _SOURCE.finditer(prompt):
            if match.group(1) == "1":
                body = re.split(r"[：:]\s*", match.group(2), maxsplit=1)[-1]
                sentences = [s.strip() for s in _SENTENCE.findall(body) if len(s.strip()) > 4]
                text = "".join(sentences[:2])[:240]
                break
        if text:
            yield Chunk(text=f"{text} [1]")
        yield Chunk(text="", done=True, finish_reason="stop", usage=Usage(len(prompt) // 2, len(text) // 2))

    def health(self) -> GeneratorHealth:
        return GeneratorHealth()

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    lang: str
    gold: tuple[str, ...]
    #: For a question the help center lacks: its topic, and what agents reply to it.
    topic: str = ""
    replies: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        """The topic the item's wordings share."""
        return (f"gap:{self.topic}",) if self.topic else self.gold or (self.id,)


@dataclass(order=True)
class Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


def load_items(paths: Sequence[Path]) -> list[Item]:
    return [Item(i.id, i.question, i.lang, tuple(sorted(i.gold))) for path in paths for i in load_dataset(path)]


def load_gaps(path: Path) -> list[Item]:
    """Questions the help center lacks (JSONL: topic, questions and replies by language)."""
    items = []
    for where, row in read_objects(path):
        try:
            for lang, questions in row["questions"].items():
                replies = tuple(row["replies"][lang])
                if not replies:
                    raise KeyError(f"replies.{lang} is empty")
                items.extend(
                    Item(f"{row['topic']}-{lang}-{i}", q, lang, (), topic=row["topic"], replies=replies)
                    for i, q in enumerate(questions, start=1)
                )
        except (KeyError, TypeError, AttributeError) as exc:
            raise SystemExit(f"{where}: not a gap topic row ({exc})") from None
    return items


def _popularity(
    items: Sequence[Item], rng: random.Random, exponent: float
) -> tuple[dict[tuple[str, ...], list[Item]], list[tuple[str, ...]], list[float]]:
    """The items by topic, the topics in a random order, and each one's weight by its rank there."""
    topics: dict[tuple[str, ...], list[Item]] = defaultdict(list)
    for item in items:
        topics[item.key].append(item)
    keys = list(topics)
    rng.shuffle(keys)
    return topics, keys, [1.0 / (rank + 1) ** exponent for rank in range(len(keys))]


def plan_questions(
    items: Sequence[Item],
    *,
    end: datetime,
    days: int,
    per_day: int,
    rng: random.Random,
    gaps: Sequence[Item] = (),
    gap_share: float = 0.0,
) -> list[Event]:
    """When each question is asked: topics by long-tailed popularity, some rising in the last
    week; ``gap_share`` of the questions are about the topics of ``gaps`` (one of them rising)."""
    topics, keys, weights = _popularity(items, rng, 0.9)
    rising = set(rng.sample(range(5, min(25, len(keys))), k=min(3, max(0, len(keys) - 5))))
    gap_topics, gap_keys, gap_weights = _popularity(gaps, rng, 0.5)
    start = end - timedelta(days=days)
    last_week = end - timedelta(days=7)
    events: list[Event] = []
    seq = 0
    for day in range(days):
        midnight = start + timedelta(days=day)
        weekend = midnight.astimezone(UTC).weekday() >= 5
        count = max(1, round(per_day * (0.65 if weekend else 1.0) * rng.uniform(0.85, 1.15)))
        w = [weights[i] * (4.0 if i in rising and midnight >= last_week else 1.0) for i in range(len(keys))]
        # The least asked gap topic triples in the last week: a new gap shows up in the report.
        gw = [g * (3.0 if i == len(gap_keys) - 1 and midnight >= last_week else 1.0) for i, g in enumerate(gap_weights)]
        for _ in range(count):
            hour = rng.choices(range(24), weights=HOURLY)[0]
            at = midnight + timedelta(hours=hour, seconds=rng.randrange(3600))
            if at >= end:
                continue
            if gap_keys and rng.random() < gap_share:
                item = rng.choice(gap_topics[gap_keys[rng.choices(range(len(gap_keys)), weights=gw)[0]]])
            else:
                item = rng.choice(topics[keys[rng.choices(range(len(keys)), weights=w)[0]]])
            events.append(Event(at, seq, "ask", {"item": item}))
            seq += 1
    return events


def replay(
    settings: Settings,
    items: Sequence[Item],
    *,
    days: int,
    per_day: int,
    seed: int,
    llm: str = "extractive",
    embedder: Any = None,
    gaps: Sequence[Item] = (),
    gap_share: float = 0.0,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Replay ``days`` ending at the last full hour into the settings' database (which must
    hold no answers yet); ``gap_share`` of the questions come from ``gaps`` (questions the
    help center lacks, answered by agents with their ``replies``); ``threshold`` replaces the
    calibration's handoff threshold; ``embedder`` replaces the configured one (tests pass theirs)."""
    if threshold is None:
        return _replay(settings, items, days=days, per_day=per_day, seed=seed, llm=llm, embedder=embedder,
                       gaps=gaps, gap_share=gap_share)  # fmt: skip
    calibration = calibration_for(settings.data_dir, settings.calibration_path)
    calibration.threshold = threshold
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calibration.json"
        calibration.save(path)
        summary = _replay(settings.with_overrides(calibration_path=path), items, days=days, per_day=per_day,
                          seed=seed, llm=llm, embedder=embedder, gaps=gaps, gap_share=gap_share)  # fmt: skip
    return {**summary, "threshold": threshold}


def _replay(
    settings: Settings,
    items: Sequence[Item],
    *,
    days: int,
    per_day: int,
    seed: int,
    llm: str,
    embedder: Any,
    gaps: Sequence[Item],
    gap_share: float,
) -> dict[str, Any]:
    from litestar.testing import TestClient

    from service.api.app import create_app
    from service.keys import create_key
    from service.store import Store

    rng = random.Random(seed)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    clock = ReplayClock(end - timedelta(days=days))
    store = Store.from_settings(settings, clock=clock)
    store.migrate()
    if store.counts().answers:
        raise SystemExit(f"{settings.database_url_resolved} already holds answers: replay into an empty database")
    app_key, _ = create_key(store, "app", "replay-app")
    agents = [create_key(store, "agent", name)[0] for name in ("agent-li", "agent-wang", "agent-chen")]
    generator = ExtractiveGenerator() if llm == "extractive" else None
    app = create_app(settings.with_overrides(rate_limit=0), store=store, generator=generator, embedder=embedder)  # type: ignore[arg-type]
    queue = plan_questions(items, end=end, days=days, per_day=per_day, rng=rng, gaps=gaps, gap_share=gap_share)
    t0 = time.perf_counter()
    with TestClient(app, timeout=600) as client:
        week = _Week(client, rng, clock, end, queue, app_key=app_key, agents=agents)
        week.run()
    store.close()
    return {
        "database": settings.database_url_resolved,
        "period": {"start": (end - timedelta(days=days)).isoformat(), "end": end.isoformat()},
        "llm": llm,
        "calls": dict(week.done),
        "seconds": round(time.perf_counter() - t0, 1),
    }


class _Week:
    """The replay's events in time order: questions, the votes and agents' work they lead to."""

    def __init__(
        self,
        client: Any,
        rng: random.Random,
        clock: ReplayClock,
        end: datetime,
        queue: list[Event],
        *,
        app_key: str,
        agents: list[str],
    ) -> None:
        self.client, self.rng, self.clock, self.end = client, rng, clock, end
        self.queue = queue
        heapq.heapify(self.queue)
        self.seq = len(queue)
        self.app_key, self.agents = app_key, agents
        self.done: Counter[str] = Counter()

    def run(self) -> None:
        handlers = {"ask": self.ask, "vote": self.vote, "agent": self.agent, "rate": self.rate}
        while self.queue:
            event = heapq.heappop(self.queue)
            self.clock.now = event.at
            handlers[event.kind](event)

    def later(self, at: datetime, event_kind: str, **data: Any) -> None:
        if at < self.end:
            heapq.heappush(self.queue, Event(at, self.seq, event_kind, data))
            self.seq += 1

    def call(self, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
        if response.status_code >= 300:
            raise SystemExit(f"POST {path} answered {response.status_code}: {response.text[:300]}")
        self.done[re.sub(r"/(handoffs|conversations)/[^/]+/", r"/\1/{id}/", path)] += 1
        return dict(response.json())

    def ask(self, event: Event) -> None:
        rng = self.rng
        item: Item = event.data["item"]
        user = f"u{rng.randrange(10_000)}"
        result = self.call("/v1/ask", self.app_key, {"question": item.question, "user_id": user})
        cited = {c["source"] for c in result["citations"]}
        if item.topic:
            self.done[f"gap_{result['action']}"] += 1
        if result["action"] == "answer":
            self.done["answered"] += 1
            if rng.random() < 0.3:
                right = bool(cited & set(item.gold))
                helpful = rng.random() < (0.85 if right else 0.35)
                self.later(event.at + timedelta(minutes=rng.uniform(0.5, 10)), "vote", answer=result["answer_id"],
                           vote="helpful" if helpful else "not_helpful")  # fmt: skip
            if rng.random() < 0.25:
                score = rng.choice([5, 5, 4, 4, 3, 2] if cited & set(item.gold) else [4, 3, 2, 1])
                self.later(event.at + timedelta(minutes=rng.uniform(1, 15)), "rate", user=user, score=score,
                           conversation=result["conversation_id"])  # fmt: skip
        elif result.get("handoff") and rng.random() < 0.8:
            self.done["handed_off"] += 1
            delay = timedelta(minutes=rng.expovariate(1 / 45) + 2)
            self.later(event.at + delay, "agent", handoff=result["handoff"]["id"], item=item, user=user,
                       conversation=result["conversation_id"], agent=rng.choice(self.agents))  # fmt: skip
        else:
            self.done["handed_off"] += 1

    def vote(self, event: Event) -> None:
        self.call("/v1/feedback", self.app_key, {"answer_id": event.data["answer"], "kind": event.data["vote"]})

    def rate(self, event: Event) -> None:
        self.call(f"/v1/conversations/{event.data['conversation']}/csat", self.app_key,
                  {"score": event.data["score"], "user_id": event.data["user"]})  # fmt: skip

    def agent(self, event: Event) -> None:
        """An agent claims the handoff, acts on the suggestion and (mostly) resolves it."""
        rng = self.rng
        agent, item = event.data["agent"], event.data["item"]
        self.call(f"/v1/handoffs/{event.data['handoff']}/claim", agent, {})
        suggestion = self.call(
            "/v1/suggest",
            agent,
            {"conversation": [{"role": "user", "text": item.question}],
             "conversation_id": event.data["conversation"]},
        )  # fmt: skip
        right = bool({c["source"] for c in suggestion["citations"]} & set(item.gold))
        roll = rng.random()
        if item.replies:
            # The help center lacks it: the agent writes the answer, over the suggestion (an
            # edit) or instead of it; these replies are what `kefu learn` drafts FAQ entries from.
            kind = "edited" if roll < 0.4 else "discarded"
            reply = rng.choice(item.replies)
        elif right and roll < 0.55:
            kind, reply = "sent_as_is", suggestion["reply"]
        elif roll < (0.9 if right else 0.35):
            kind, reply = "edited", suggestion["reply"] + "\n" + AGENT_REPLY[suggestion["lang"]]
        else:
            kind, reply = "discarded", AGENT_REPLY[suggestion["lang"]]
        feedback: dict[str, Any] = {"answer_id": suggestion["answer_id"], "kind": kind}
        if kind == "edited":
            feedback["final_text"] = reply
        self.clock.now = event.at + timedelta(minutes=rng.uniform(1, 8))
        self.call("/v1/feedback", agent, feedback)
        if self.clock.now < self.end and rng.random() < 0.9:
            self.call(f"/v1/handoffs/{event.data['handoff']}/resolve", agent, {"final_reply": reply})
            if rng.random() < 0.4:
                score = rng.choice([5, 5, 4, 4, 3, 1])
                self.later(self.clock.now + timedelta(minutes=rng.uniform(1, 30)), "rate", user=event.data["user"],
                           conversation=event.data["conversation"], score=score)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dataset", type=Path, action="append", help="eval dataset(s) (default: harbor.jsonl)")
    parser.add_argument("--index", help="the index to answer from (default: KEFU_INDEX, else harbor)")
    parser.add_argument(
        "--days", type=int, default=14, help="days to replay, ending now (default 14: a week and the one before)"
    )
    parser.add_argument("--per-day", type=int, default=30, help="questions on a weekday (default 30)")
    parser.add_argument(
        "--gaps",
        type=Path,
        default=DEFAULT_GAPS,
        help="questions the help center lacks, with agents' replies (default: bench/data/week_gaps.jsonl)",
    )
    parser.add_argument(
        "--gap-share", type=float, default=0.15, help="share of the questions taken from --gaps (default 0.15; 0: none)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=REPLAY_THRESHOLD,
        help=f"handoff threshold to answer with instead of the calibration's (default {REPLAY_THRESHOLD}, "
        "chosen in docs/report.md; -1: the calibration's own)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--llm", choices=("extractive", "configured"), default="extractive")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.index:
        settings = settings.with_overrides(index_name=args.index)
    if not 0.0 <= args.gap_share <= 1.0:
        parser.error("--gap-share: give a share between 0 and 1")
    if args.threshold != -1 and not 0.0 <= args.threshold <= 1.0:
        parser.error("--threshold: give a threshold between 0 and 1, or -1 for the calibration's")
    try:
        items = load_items(args.dataset or [DEFAULT_DATASET])
        gaps = load_gaps(args.gaps) if args.gap_share else []
    except BadInputError as exc:
        raise SystemExit(str(exc)) from None
    summary = replay(
        settings,
        items,
        days=args.days,
        per_day=args.per_day,
        seed=args.seed,
        llm=args.llm,
        gaps=gaps,
        gap_share=args.gap_share,
        threshold=None if args.threshold == -1 else args.threshold,
    )
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
