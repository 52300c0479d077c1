"""What the platform tells us: pushed webhooks (mData texts, STOP/START) and polled changes, turned into contacts
for `to_salesforce`.

Guarantees: a pushed event is resolved to the platform's current view of the person (so a STOP carries the
platform's own opt-out time and ids); polling covers [cursor - overlap, now] and advances the cursor only after the
changes were queued, so a crash repeats a window (harmless: versions dedupe) and never skips one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.freshness import parse_timestamp
from gateway.platforms.base import InboundEvent, InboundKind
from gateway.redis_client import text
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)

CURSOR_KEY = "gateway:poll:cursor:{}"
INBOUND_KEY = "gateway:inbound:{}"  # platform -> list of pushed events (JSON) waiting for a drain
DRAIN_SCHEDULED_KEY = "gateway:inbound:{}:drain-scheduled"
DRAIN_LOCK_KEY = "gateway:inbound:{}:drain-lock"
DRAIN_BATCH = 200
OVERLAP = timedelta(minutes=2)
FIRST_LOOKBACK = timedelta(minutes=10)


def push_inbound(connection: Redis, platform: str, events: list[dict[str, Any]]) -> None:
    connection.rpush(INBOUND_KEY.format(platform), *(json.dumps(e) for e in events))


def claim_drain(connection: Redis, platform: str) -> bool:
    """True when the caller should queue a drain job (none is queued yet)."""
    return bool(connection.set(DRAIN_SCHEDULED_KEY.format(platform), "1", nx=True, ex=300))


@dataclass
class InboundBatch:
    events: list[dict[str, Any]]
    _connection: Redis
    _platform: str

    def done(self) -> None:
        """Remove the batch from the pending list (after its Salesforce writes)."""
        self._connection.ltrim(INBOUND_KEY.format(self._platform), len(self.events), -1)


def has_pending(connection: Redis, platform: str) -> bool:
    return bool(connection.llen(INBOUND_KEY.format(platform)))


def pending_inbound(connection: Redis, platform: str) -> Iterator[InboundBatch]:
    """Batches of pending pushed events, oldest first, for one drainer at a time (a Redis lock); each batch stays
    pending until its `done()`. A drain that finds the lock taken leaves the events to the lock holder."""
    connection.delete(DRAIN_SCHEDULED_KEY.format(platform))  # events arriving from now on schedule a new drain
    lock = DRAIN_LOCK_KEY.format(platform)
    if not connection.set(lock, "1", nx=True, ex=300):
        claim_drain(connection, platform)
        return
    try:
        while True:
            raw = connection.lrange(INBOUND_KEY.format(platform), 0, DRAIN_BATCH - 1)
            if not raw:
                return
            yield InboundBatch([json.loads(r) for r in raw], connection, platform)
    finally:
        connection.delete(lock)


LOOKUP_CONCURRENCY = 8


def contacts_for_events(context: SyncContext, events: list[InboundEvent]) -> list[Contact]:
    """The people the events are about, as the platform holds them now (plain messages change nobody)."""
    relevant = [e for e in events if e.kind is not InboundKind.MESSAGE and e.phone]
    with ThreadPoolExecutor(max_workers=max(1, min(LOOKUP_CONCURRENCY, len(relevant)))) as pool:
        views = list(pool.map(lambda e: context.platform.find_contact(phone=e.phone), relevant))
    contacts: list[Contact] = []
    for event, view in zip(relevant, views, strict=True):
        person = view or event.contact or Contact(phone=event.phone)
        if event.kind is InboundKind.OPT_OUT and person.sms_status is not SmsStatus.UNSUBSCRIBED:
            person = person.with_changes(sms_status=SmsStatus.UNSUBSCRIBED, opted_out_at=event.occurred_at)
        if person.version is None or person.version < event.occurred_at:
            person = person.with_changes(version=event.occurred_at)
        contacts.append(person)
    return contacts


def poll_window(context: SyncContext, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The window the next poll covers."""
    now = now or datetime.now(UTC)
    raw = context.redis.get(CURSOR_KEY.format(context.platform.name))
    since = parse_timestamp(text(raw)) - OVERLAP if raw else now - FIRST_LOOKBACK
    return since, now


def changed_contacts(context: SyncContext, since: datetime, until: datetime) -> Iterator[Contact]:
    return context.platform.changed_since(since, until)


def advance_cursor(context: SyncContext, until: datetime) -> None:
    context.redis.set(CURSOR_KEY.format(context.platform.name), until.isoformat())
