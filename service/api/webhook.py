"""Calls the webhook for each event of a handoff, from the store's outbox, with retries.

Events: ``handoff.created``, ``handoff.claimed``, ``message.created`` (the user wrote
while a human has the conversation, or an agent replied), ``handoff.resolved``, and
``csat.submitted`` (a user rated a conversation; it carries no handoff). Each
change and its pending delivery are written in one transaction (the outbox); this
worker takes due deliveries (leased, so two workers never call twice at once), POSTs
them, and marks each delivered or failed. The store schedules retries with exponential
backoff and gives up after its last attempt; a delivery whose worker died comes back
when its lease runs out. The worker wakes at once when a handoff is stored, and polls
for retries that come due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import KW_ONLY, dataclass
from typing import Any

import anyio.to_thread
import httpx

from kefu import __version__
from kefu.errors import KefuError
from service.api.metrics import Metrics
from service.store import DueDelivery, HandoffRecord, Store

log = logging.getLogger("kefu.webhook")

#: Seconds a webhook has to answer.
TIMEOUT = 10.0
BATCH = 20


def webhook_body(
    handoff: HandoffRecord | None, event: str = "handoff.created", extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the webhook receives: the event, the handoff without the conversation
    (redacted anyway) and, for ``message.created``, the message; for ``csat.submitted``,
    the rating (``handoff`` is then null).

    ``text`` makes Slack and Teams incoming webhooks show something readable as is.
    """
    extra = extra or {}
    message = extra.get("message") or {}
    if handoff is None:
        csat = extra.get("csat") or {}
        stars = int(csat.get("score") or 0)
        comment = f": {csat['comment']}" if csat.get("comment") else ""
        return {
            "event": event,
            "text": f"[kefu] a user rated a conversation {stars}/5 ({csat.get('handled_by', '?')}){comment}",
            "handoff": None,
            "csat": csat,
        }
    if event == "handoff.created":
        text = f"[kefu] {handoff.priority} handoff ({handoff.reason}): {handoff.summary or ''}"
    elif event == "handoff.claimed":
        text = f"[kefu] handoff {handoff.id} claimed by {handoff.claimed_by or '?'}"
    elif event == "handoff.resolved":
        text = f"[kefu] handoff {handoff.id} resolved by {handoff.claimed_by or '?'}"
    else:
        who = "the user" if message.get("role") == "user" else (message.get("author") or "an agent")
        text = f"[kefu] {who} wrote in handoff {handoff.id}: {message.get('text', '')}"
    body: dict[str, Any] = {
        "event": event,
        "text": text.strip(),
        "handoff": {
            "id": handoff.id,
            "conversation_id": handoff.conversation_id,
            "answer_id": handoff.answer_id,
            "status": handoff.status,
            "reason": handoff.reason,
            "priority": handoff.priority,
            "category": handoff.category,
            "lang": handoff.lang,
            "sentiment": handoff.sentiment,
            "summary": handoff.summary,
            "claimed_by": handoff.claimed_by,
            "created_at": handoff.created_at.isoformat(),
        },
    }
    if message:
        body["message"] = message
    return body


@dataclass(eq=False)
class WebhookWorker:
    """Delivers the outbox's due webhook calls, woken by ``wake`` or every ``poll`` seconds."""

    store: Store
    metrics: Metrics
    wake: asyncio.Event
    _: KW_ONLY
    poll: float = 2.0
    timeout: float = TIMEOUT
    transport: httpx.AsyncBaseTransport | None = None

    async def run(self) -> None:
        async with httpx.AsyncClient(
            timeout=self.timeout,
            follow_redirects=False,
            transport=self.transport,
            headers={"User-Agent": f"kefu/{__version__}"},
        ) as client:
            while True:
                # Cleared before reading the outbox, so a handoff stored meanwhile wakes the wait.
                self.wake.clear()
                try:
                    due = await anyio.to_thread.run_sync(lambda: self.store.due_deliveries(limit=BATCH))
                except KefuError as exc:
                    log.warning("webhook outbox unreadable, retrying: %s", exc)
                    due = []
                for delivery in due:
                    await self.deliver(client, delivery)
                if len(due) < BATCH:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
                    # cancellation that stops the worker when the wake comes at the same moment.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll):
                            await self.wake.wait()

    async def deliver(self, client: httpx.AsyncClient, due: DueDelivery) -> None:
        delivery = due.delivery
        error: str | None = None
        try:
            response = await client.post(
                delivery.url,
                json=webhook_body(due.handoff, delivery.event, delivery.body),
                headers={"X-Kefu-Delivery": str(delivery.id), "X-Kefu-Event": delivery.event},
            )
            if not response.is_success:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        try:
            if error is None:
                await anyio.to_thread.run_sync(lambda: self.store.mark_delivered(delivery.id))
                self.metrics.webhook.labels("delivered").inc()
                log.info("webhook %s delivered for %s", delivery.event, _subject(due))
            else:
                record = await anyio.to_thread.run_sync(lambda: self.store.mark_failed(delivery.id, error or ""))
                outcome = "gave_up" if record.status == "failed" else "retry"
                self.metrics.webhook.labels(outcome).inc()
                log.warning(
                    "webhook for %s failed (attempt %d, %s): %s",
                    _subject(due),
                    record.attempts,
                    outcome,
                    error,
                )
        except KefuError as exc:
            # The lease runs out and the delivery comes back: nothing is lost.
            log.warning("could not record the webhook outcome for delivery %d: %s", delivery.id, exc)


def _subject(due: DueDelivery) -> str:
    if due.handoff is not None:
        return f"handoff {due.handoff.id}"
    return f"conversation {due.delivery.conversation_id}"
