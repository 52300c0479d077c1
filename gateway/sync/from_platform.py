"""What the platform tells us, pushed (webhooks: texts, STOP/START, "look at this person now") or polled (changes
since a cursor, for what a platform does not push), until it reaches `to_salesforce`.

Pushed events are accepted once per idempotency key into a pending list in Redis, in the transaction that claims
their keys; one `realtime` drain job at a time works through the list in batches, opt-outs first, and removes a
batch only after its Salesforce writes, so a burst of STOPs costs a few Salesforce calls and a crash repeats a
batch (harmless: versions dedupe) instead of losing it.

Guarantees: a pushed event is resolved to the platform's current view of the person, looked up by the keys its
capabilities allow (so a STOP carries the platform's own opt-out time and ids); polling covers
[cursor - overlap, now] and advances the cursor only after the changes were queued, so a crash repeats a window and
never skips one; a platform without a change feed is not polled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from redis import Redis

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.freshness import parse_timestamp
from gateway.platforms.base import InboundEvent, InboundKind
from gateway.redis_client import text
from gateway.sync import to_salesforce
from gateway.sync.context import SyncContext
from gateway.sync.to_platform import parallel

log = logging.getLogger(__name__)

SEEN_KEY = "gateway:events:seen:{}:{}"  # platform, idempotency key -> claimed (kept the dedup TTL)
CURSOR_KEY = "gateway:poll:cursor:{}"
INBOUND_KEY = "gateway:inbound:{}"  # platform -> list of pushed events (JSON) waiting for a drain
DRAIN_SCHEDULED_KEY = "gateway:inbound:{}:drain-scheduled"
DRAIN_LOCK_KEY = "gateway:inbound:{}:drain-lock"
DRAIN_BATCH = 200
POLL_BATCH = 200
LOOKUP_CONCURRENCY = 8
OVERLAP = timedelta(minutes=2)
FIRST_LOOKBACK = timedelta(minutes=10)


class FollowUp(Protocol):
    """How this module asks for `realtime` jobs (implemented in `gateway.jobs`, which owns queues and retries)."""

    def drain(self, platform: str) -> None:
        """Queue a drain of the platform's pending pushed events."""

    def sync_contacts(self, contacts: list[dict[str, Any]]) -> None:
        """Queue platform contacts (`to_salesforce.contact_to_json`) for Salesforce."""


# -- pushed events ------------------------------------------------------------------------------------------------


def accept(connection: Redis, platform: str, events: list[InboundEvent], dedup_ttl: int, follow_up: FollowUp) -> int:
    """Queue pushed events once per idempotency key (kept `dedup_ttl` s) and make sure a drain is queued; returns
    how many were new."""
    pipe = connection.pipeline(transaction=True)
    for event in events:
        pipe.set(SEEN_KEY.format(platform, event.idempotency_key), "1", nx=True, ex=dedup_ttl)
    claimed = pipe.execute()
    fresh = [e for e, ok in zip(events, claimed, strict=True) if ok]
    if fresh:
        connection.rpush(INBOUND_KEY.format(platform), *(json.dumps(event_to_json(e)) for e in fresh))
        if _claim_drain(connection, platform):
            follow_up.drain(platform)
    return len(fresh)


def event_to_json(event: InboundEvent) -> dict[str, Any]:
    """A pushed event as it waits in Redis (the platform's view is read again when it is drained)."""
    return {
        "kind": event.kind.value,
        "phone": event.phone,
        "idempotency_key": event.idempotency_key,
        "occurred_at": event.occurred_at.isoformat(),
        "body": event.body,
        "platform_id": event.platform_id,
    }


def event_from_json(data: dict[str, Any]) -> InboundEvent:
    return InboundEvent(
        kind=InboundKind(data["kind"]),
        phone=data["phone"],
        idempotency_key=data["idempotency_key"],
        occurred_at=parse_timestamp(data["occurred_at"]),
        body=data.get("body"),
        platform_id=data.get("platform_id"),
    )


def _claim_drain(connection: Redis, platform: str) -> bool:
    """True when the caller should queue a drain job (none is queued yet)."""
    return bool(connection.set(DRAIN_SCHEDULED_KEY.format(platform), "1", nx=True, ex=300))


@dataclass
class _Batch:
    events: list[dict[str, Any]]
    _connection: Redis
    _platform: str

    def done(self) -> None:
        """Remove the batch from the pending list (after its Salesforce writes)."""
        self._connection.ltrim(INBOUND_KEY.format(self._platform), len(self.events), -1)


def _pending(connection: Redis, platform: str) -> Iterator[_Batch]:
    """Batches of pending pushed events, oldest first, for one drainer at a time (a Redis lock); each batch stays
    pending until its `done()`. A drain that finds the lock taken leaves the events to the lock holder."""
    connection.delete(DRAIN_SCHEDULED_KEY.format(platform))  # events arriving from now on schedule a new drain
    lock = DRAIN_LOCK_KEY.format(platform)
    if not connection.set(lock, "1", nx=True, ex=300):
        _claim_drain(connection, platform)
        return
    try:
        while True:
            raw = connection.lrange(INBOUND_KEY.format(platform), 0, DRAIN_BATCH - 1)
            if not raw:
                return
            yield _Batch([json.loads(r) for r in raw], connection, platform)
    finally:
        connection.delete(lock)


def drain(context: SyncContext, follow_up: FollowUp, platform: str | None = None) -> dict[str, int]:
    """Pushed events → Salesforce, in batches, opt-outs first; returns counts by outcome. Events leave the pending
    list only after their batch is written; a replay is skipped by platform version."""
    name = platform or context.platform.name
    totals = {"synced": 0, "skipped": 0, "failed": 0}
    for batch in _pending(context.redis, name):
        events = sorted((event_from_json(e) for e in batch.events), key=lambda e: e.kind is not InboundKind.OPT_OUT)
        counts = to_salesforce.sync_contacts(context, contacts_for_events(context, events))
        batch.done()
        for outcome, value in counts.items():
            totals[outcome] += value
    if context.redis.llen(INBOUND_KEY.format(name)) and _claim_drain(context.redis, name):
        follow_up.drain(name)  # arrived while another drain ran
    return totals


def contacts_for_events(context: SyncContext, events: list[InboundEvent]) -> list[Contact]:
    """The people the events are about, as the platform holds them now (plain messages change nobody)."""
    relevant = [e for e in events if e.kind is not InboundKind.MESSAGE and (e.phone or e.platform_id)]
    views = parallel(LOOKUP_CONCURRENCY, lambda e: _current_view(context, e), relevant, name="lookup")
    contacts: list[Contact] = []
    for event, view in zip(relevant, views, strict=True):
        person = view or event.contact or Contact(phone=event.phone, platform_id=event.platform_id)
        if event.kind is InboundKind.OPT_OUT and person.sms_status is not SmsStatus.UNSUBSCRIBED:
            person = person.with_changes(sms_status=SmsStatus.UNSUBSCRIBED, opted_out_at=event.occurred_at)
        if person.version is None or person.version < event.occurred_at:
            person = person.with_changes(version=event.occurred_at)
        contacts.append(person)
    return contacts


def _current_view(context: SyncContext, event: InboundEvent) -> Contact | None:
    caps = context.platform.capabilities
    if event.platform_id and caps.lookup_by_platform_id:
        return context.platform.find_contact(platform_id=event.platform_id)
    if event.phone and caps.lookup_by_phone:
        return context.platform.find_contact(phone=event.phone)
    return None


# -- polled changes -----------------------------------------------------------------------------------------------


def poll(context: SyncContext, follow_up: FollowUp, now: datetime | None = None) -> int:
    """Queue the platform's changes since the cursor (minus the overlap), `POLL_BATCH` people a job, then advance
    the cursor; returns how many were queued (0 for a platform without a change feed)."""
    if not context.platform.capabilities.change_feed:
        return 0
    since, until = poll_window(context, now)
    batch: list[dict[str, Any]] = []
    queued = 0
    for contact in context.platform.changed_since(since, until):
        batch.append(to_salesforce.contact_to_json(contact))
        if len(batch) >= POLL_BATCH:
            follow_up.sync_contacts(batch)
            queued, batch = queued + len(batch), []
    if batch:
        follow_up.sync_contacts(batch)
        queued += len(batch)
    context.redis.set(CURSOR_KEY.format(context.platform.name), until.isoformat())
    return queued


def poll_window(context: SyncContext, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The window the next poll covers."""
    now = now or datetime.now(UTC)
    raw = context.redis.get(CURSOR_KEY.format(context.platform.name))
    since = parse_timestamp(text(raw)) - OVERLAP if raw else now - FIRST_LOOKBACK
    return since, now
