"""What the platform tells us, pushed (webhooks: texts, STOP/START, "look at this person now") or polled (changes
since a cursor, for what a platform does not push), until it reaches `to_salesforce`.

Pushed events are accepted once per idempotency key into a pending list in Redis, in the transaction that claims
their keys; one `realtime` drain job at a time works through the list in batches, opt-outs first, and removes a
batch only after its Salesforce writes, so a burst of STOPs costs a few Salesforce calls and a crash repeats a
batch (harmless: versions dedupe) instead of losing it. The drain lock is a fence (`fencing`): a drainer frozen
past it holds the events up for `DRAIN_LOCK_SECONDS` at most and, when it wakes, removes nothing.

Guarantees: a pushed event only says "look at this person now" (`contacts_for_events`): where the adapter can read
the person (the `lookup_by_*` flag for a key the event carries), the platform's own view decides what is written to
Salesforce, the opt status included, so a forged STOP sent to the webhook URL changes nothing the platform does not
hold; a person the platform, asked, does not know is dropped (and logged once a day). Only a platform that pushes
opt-outs itself (`opt_out_webhooks`, verified the way it signs) has its pushed STOP kept, even over a view that does
not show it yet (a read lagging behind the push must never lose a STOP), and one that cannot be asked keeps what the
event says. Polling covers [cursor - overlap, now] and advances the cursor only after the changes were queued, so a
crash repeats a window and never skips one; a platform without a change feed is not polled. A polled person waits in
a job, which may run late (a retry, a stopped worker's job taken over): where the adapter reads people in batches,
the job reads them again right before it writes (`current_views`), so a view older than the job (a name Salesforce
changed and the sync wrote to the platform meanwhile) never overwrites Salesforce.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from redis import Redis

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.freshness import parse_timestamp
from gateway.platforms.base import PHONE_BATCH, Capabilities, InboundEvent, InboundKind
from gateway.redis_client import script, text
from gateway.sync import fencing, state, to_salesforce, writeback
from gateway.sync.context import SyncContext
from gateway.sync.to_platform import parallel

log = logging.getLogger(__name__)

SEEN_KEY = "gateway:events:seen:{}:{}"  # platform, idempotency key -> claimed (kept the dedup TTL)
CURSOR_KEY = "gateway:poll:cursor:{}"
INBOUND_KEY = "gateway:inbound:{}"  # platform -> list of pushed events (JSON) waiting for a drain
DRAIN_SCHEDULED_KEY = "gateway:inbound:{}:drain-scheduled"
DRAIN_LOCK_KEY = "gateway:inbound:{}:drain-lock"
DRAIN_LOCK_SECONDS = 60  # renewed with each batch; a frozen drainer holds the events up this long at most
DRAIN_BATCH = 200
POLL_BATCH = 200
LOOKUP_CONCURRENCY = 8
OVERLAP = timedelta(minutes=2)
FIRST_LOOKBACK = timedelta(minutes=10)


class FollowUp(Protocol):
    """How this module asks for `realtime` jobs (implemented in `gateway.jobs`, on `gateway.queues`' queue and
    retry policy)."""

    def drain(self, platform: str) -> None:
        """Queue a drain of the platform's pending pushed events."""

    def sync_contacts(self, contacts: list[dict[str, Any]]) -> None:
        """Queue platform contacts (`to_salesforce.contact_to_json`) for Salesforce."""


# -- pushed events ------------------------------------------------------------------------------------------------


# KEYS: the pending list, then each event's idempotency key. ARGV: the keys' TTL, then each event (JSON), in the
# order of KEYS. An event whose key is new (and not repeated earlier in the call) is pushed, then every new key is
# claimed: the push, the only command that can fail (a list key of another type), runs before any claim, so a call
# pushes and claims all of its new events or, failing, none. Returns how many were new.
_CLAIM_AND_PUSH = script(
    """
local fresh, claims, seen = {}, {}, {}
for i = 2, #KEYS do
  if not seen[KEYS[i]] and redis.call('EXISTS', KEYS[i]) == 0 then
    seen[KEYS[i]] = true
    fresh[#fresh + 1] = ARGV[i]
    claims[#claims + 1] = KEYS[i]
  end
end
for i = 1, #fresh, 1000 do  -- unpack's stack holds about 8,000 values
  redis.call('RPUSH', KEYS[1], unpack(fresh, i, math.min(i + 999, #fresh)))
end
for _, claim in ipairs(claims) do redis.call('SET', claim, '1', 'EX', ARGV[1]) end
return #fresh
"""
)


def accept(connection: Redis, platform: str, events: list[InboundEvent], dedup_ttl: int, follow_up: FollowUp) -> int:
    """Queue pushed events once per idempotency key (kept `dedup_ttl` s) and make sure a drain is queued; returns
    how many were new.

    Claiming an event's key and queueing the event are one script (atomic, one round trip): a failure or a crash
    leaves either both or neither, so a platform redelivering an event whose first delivery failed (the webhook
    answered 5xx or nothing) finds it new, never a duplicate of an event that was not queued."""
    if not events:
        return 0
    keys = [INBOUND_KEY.format(platform), *(SEEN_KEY.format(platform, e.idempotency_key) for e in events)]
    bodies = [json.dumps(event_to_json(e)) for e in events]
    fresh = int(_CLAIM_AND_PUSH(keys=keys, args=[dedup_ttl, *bodies], client=connection))
    if fresh and _claim_drain(connection, platform):
        follow_up.drain(platform)
    return fresh


def event_to_json(event: InboundEvent) -> dict[str, Any]:
    """A pushed event as it waits in Redis, the person it carries included: where the platform can be asked, its
    view is read again when the event is drained; where it cannot (no `lookup_*` flag), the pushed person and their
    opt status are all there is, so they must survive the queue (a START would otherwise be lost)."""
    return {
        "kind": event.kind.value,
        "phone": event.phone,
        "idempotency_key": event.idempotency_key,
        "occurred_at": event.occurred_at.isoformat(),
        "body": event.body,
        "platform_id": event.platform_id,
        "contact": to_salesforce.contact_to_json(event.contact) if event.contact is not None else None,
    }


def event_from_json(data: dict[str, Any]) -> InboundEvent:
    contact = data.get("contact")  # absent from events queued before the person was kept
    return InboundEvent(
        kind=InboundKind(data["kind"]),
        phone=data["phone"],
        idempotency_key=data["idempotency_key"],
        occurred_at=parse_timestamp(data["occurred_at"]),
        body=data.get("body"),
        contact=to_salesforce.contact_from_json(contact) if contact else None,
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
    _lock: fencing.Fence

    def done(self, again: Sequence[dict[str, Any]] = ()) -> None:
        """Remove the batch from the pending list (after its Salesforce writes), put `again` (events to try later)
        at its end, and renew the drain lock, in one transaction; raises `fencing.Superseded`, changing nothing, when
        the lock lapsed and passed to another drainer."""
        pending, count, lock = INBOUND_KEY.format(self._platform), len(self.events), self._lock.key

        def remove(pipe: Any) -> None:
            pipe.ltrim(pending, count, -1)
            if again:
                pipe.rpush(pending, *(json.dumps(event) for event in again))
            pipe.expire(lock, DRAIN_LOCK_SECONDS)

        fencing.commit(self._connection, self._lock, remove)


def _pending(connection: Redis, platform: str) -> Iterator[_Batch]:
    """Batches of pending pushed events, oldest first, for one drainer at a time (a fenced Redis lock); each batch
    stays pending until its `done()`. A drain that finds the lock taken leaves the events to the lock holder."""
    connection.delete(DRAIN_SCHEDULED_KEY.format(platform))  # events arriving from now on schedule a new drain
    lock = fencing.claim(connection, DRAIN_LOCK_KEY.format(platform), DRAIN_LOCK_SECONDS)
    if lock is None:
        _claim_drain(connection, platform)
        return
    try:
        while True:
            raw = connection.lrange(INBOUND_KEY.format(platform), 0, DRAIN_BATCH - 1)
            if not raw:
                return
            yield _Batch([json.loads(r) for r in raw], connection, platform, lock)
    finally:
        fencing.release(connection, lock)


def drain(
    context: SyncContext, follow_up: FollowUp, platform: str | None = None, *, now: datetime | None = None
) -> dict[str, int]:
    """Pushed events → Salesforce, in batches, opt-outs first; returns counts by outcome. Events leave the pending
    list only after their batch is written; a replay is skipped by platform version.

    The events of a person Salesforce could not write yet (a row still locked after the client's retries:
    `to_salesforce.NotWrittenYet`) go back to the end of the list, in the transaction that removes their batch, with
    the time of their first try: the events behind them are not held up, and a later drain (the cron's, every 30 s,
    or a webhook's) tries them again. Once `writeback.LOCKED_FOR` has passed since their first try, their failure is
    logged instead (`salesforce-unavailable`, to be resent from the log)."""
    name = platform or context.platform.name
    moment = now or datetime.now(UTC)
    totals = {"synced": 0, "skipped": 0, "failed": 0}
    put_back: set[str] = set()  # events this drain put back: a later drain's
    for batch in _pending(context.redis, name):
        if batch.events[0]["idempotency_key"] in put_back:
            break  # what is left was tried by this drain, or came after it
        pairs = sorted(
            ((event_from_json(data), data) for data in batch.events),
            key=lambda pair: pair[0].kind is not InboundKind.OPT_OUT,
        )
        data_of = {id(event): data for event, data in pairs}
        people = people_for_events(context, [event for event, _ in pairs])
        # a person whose only news is a STOP is not created in Salesforce (the domain's rule: `plans`)
        stop_only = {state.contact_key(p) for p in _only_stopped(people)}
        first_tries = {id(e): _first_try(data_of[id(e)], moment) for e, _ in people}
        last = {state.contact_key(p) for e, p in people if moment - first_tries[id(e)] >= writeback.LOCKED_FOR}
        again: list[dict[str, Any]] = []
        try:
            counts = to_salesforce.sync_contacts(
                context,
                [p for _, p in people],
                stop_only=stop_only,
                last_try=partial(_among, last),
            )
        except to_salesforce.NotWrittenYet as exc:
            counts = exc.counts
            unwritten = {state.contact_key(c) for c in exc.contacts}
            again = [
                {**data_of[id(e)], "first_try": first_tries[id(e)].isoformat()}
                for e, p in people
                if state.contact_key(p) in unwritten
            ]
            log.warning("%d pushed event(s) wait for Salesforce to write them: %s", len(again), exc)
        batch.done(again)
        put_back.update(event["idempotency_key"] for event in again)
        for outcome, value in counts.items():
            totals[outcome] += value
    if context.redis.llen(INBOUND_KEY.format(name)) > len(put_back) and _claim_drain(context.redis, name):
        follow_up.drain(name)  # arrived while another drain ran
    return totals


def _among(keys: set[str], person: Contact) -> bool:
    return state.contact_key(person) in keys


def _first_try(event: dict[str, Any], now: datetime) -> datetime:
    """When the drain first tried `event` (as it waits in the list): now, for an event not tried before."""
    first = event.get("first_try")
    return parse_timestamp(first) if first else now


def contacts_for_events(context: SyncContext, events: list[InboundEvent]) -> list[Contact]:
    """The people the events are about, as the platform holds them now (plain messages change nobody); see the
    module's guarantees for whose word decides."""
    return [person for _, person in people_for_events(context, events)]


def _only_stopped(people: list[tuple[InboundEvent, Contact]]) -> list[Contact]:
    """The people of whom every event of the batch is a STOP."""
    kinds: dict[str, set[InboundKind]] = {}
    for event, person in people:
        kinds.setdefault(state.contact_key(person), set()).add(event.kind)
    return [p for _, p in people if kinds[state.contact_key(p)] == {InboundKind.OPT_OUT}]


def people_for_events(context: SyncContext, events: list[InboundEvent]) -> list[tuple[InboundEvent, Contact]]:
    """`contacts_for_events`, each with the event it comes from."""
    relevant = [e for e in events if e.kind is not InboundKind.MESSAGE and (e.phone or e.platform_id)]
    views = parallel(LOOKUP_CONCURRENCY, lambda e: _current_view(context, e), relevant, name="lookup")
    caps = context.platform.capabilities
    contacts: list[tuple[InboundEvent, Contact]] = []
    unknown: list[Contact] = []
    for event, view in zip(relevant, views, strict=True):
        readable = _readable(caps, event)
        # The platform's own view decides where the adapter can read it. A STOP stands on the event's word only
        # where the platform pushes opt-outs itself (a lagging read must not lose it) or cannot be asked; a platform
        # nobody can be looked up on (no `lookup_*` flag) pushes the person with their STOP or START, and that
        # pushed word decides (`event.contact`, kept through the queue).
        kept_stop = event.kind is InboundKind.OPT_OUT and (caps.opt_out_webhooks or not readable)
        if readable and view is None and not kept_stop:
            unknown.append(Contact(phone=event.phone, platform_id=event.platform_id))
            continue
        person = view or event.contact or Contact(phone=event.phone, platform_id=event.platform_id)
        if kept_stop and person.sms_status is not SmsStatus.UNSUBSCRIBED:
            person = person.with_changes(sms_status=SmsStatus.UNSUBSCRIBED, opted_out_at=event.occurred_at)
        elif kept_stop and person.opted_out_at is None:
            person = person.with_changes(opted_out_at=event.occurred_at)
        if person.version is None or person.version < event.occurred_at:
            person = person.with_changes(version=event.occurred_at)  # read after the event: true at least then
        contacts.append((event, person))
    _log_unknown(context, unknown)
    return contacts


def _readable(caps: Capabilities, event: InboundEvent) -> bool:
    """The adapter can be asked about the person this event names (`_current_view` asks)."""
    return bool((event.platform_id and caps.lookup_by_platform_id) or (event.phone and caps.lookup_by_phone))


def _current_view(context: SyncContext, event: InboundEvent) -> Contact | None:
    caps = context.platform.capabilities
    if event.platform_id and caps.lookup_by_platform_id:
        return context.platform.find_contact(platform_id=event.platform_id)
    if event.phone and caps.lookup_by_phone:
        return context.platform.find_contact(phone=event.phone)
    return None


def _log_unknown(context: SyncContext, people: list[Contact]) -> None:
    """Say once a day per person that events about someone the platform does not know were dropped (a webhook
    URL in the wrong hands can send them at any rate; the log must not grow with it)."""
    seen = state.reported(context.redis, state.UNKNOWN_TO_PLATFORM, people)
    fresh = [person for person, said in zip(people, seen, strict=True) if not said]
    if not fresh:
        return
    pipe = context.redis.pipeline(transaction=False)
    state.mark(pipe, [state.report(state.UNKNOWN_TO_PLATFORM, p) for p in fresh])
    pipe.execute()
    for person in fresh:
        log.warning(
            "%s does not know %s: its pushed events about them are dropped (said once a day)",
            context.platform.name,
            person.platform_id or person.phone,
        )


# -- polled changes -----------------------------------------------------------------------------------------------


def current_views(context: SyncContext, contacts: list[Contact]) -> list[Contact]:
    """The polled `contacts` as the platform holds them now, where it reads people in batches (`PHONE_BATCH` a
    call); each person it no longer finds, and every person on a platform that cannot be read so, as polled."""
    if not context.platform.capabilities.lookup_many_by_phone:
        return contacts
    phones = sorted({c.phone for c in contacts if c.phone})
    now: dict[str, Contact] = {}
    for start in range(0, len(phones), PHONE_BATCH):
        now.update(context.platform.find_contacts_by_phone(phones[start : start + PHONE_BATCH]))
    return [now.get(c.phone, c) if c.phone else c for c in contacts]


def poll(context: SyncContext, follow_up: FollowUp, now: datetime | None = None) -> int:
    """Queue the platform's changes since the cursor (minus the overlap), `POLL_BATCH` people a job, then advance
    the cursor; returns how many were queued (0 for a platform without a change feed).

    A person the sync already holds — the gateway's own write read back (an echo), or a version not newer than the
    last one synced (the overlap read again) — is left out here, by the check each job would make first
    (`state.already_synced`, one MGET a page): after a burst or an initial sync, the poll that reads back every
    profile just written queues nothing instead of a job per 200 echoes. A STOP changes the person's status, so it
    is never an echo of the gateway's write."""
    if not context.platform.capabilities.change_feed:
        return 0
    since, until = poll_window(context, now)
    page: list[Contact] = []
    queued = 0
    for contact in context.platform.changed_since(since, until):
        page.append(contact)
        if len(page) >= POLL_BATCH:
            queued += _queue_unsynced(context, follow_up, page)
            page = []
    if page:
        queued += _queue_unsynced(context, follow_up, page)
    context.redis.set(CURSOR_KEY.format(context.platform.name), until.isoformat())
    return queued


def _queue_unsynced(context: SyncContext, follow_up: FollowUp, contacts: list[Contact]) -> int:
    # the newest view of each person first, as the job would take it: an older view of someone the page also holds
    # at the gateway's own write must not pass alone where the job would have skipped the person
    latest = to_salesforce.latest_per_person(contacts)
    done = state.already_synced(context.redis, latest)
    batch = [to_salesforce.contact_to_json(c) for c, synced in zip(latest, done, strict=True) if not synced]
    if batch:
        follow_up.sync_contacts(batch)
    return len(batch)


def poll_window(context: SyncContext, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The window the next poll covers."""
    now = now or datetime.now(UTC)
    raw = context.redis.get(CURSOR_KEY.format(context.platform.name))
    since = parse_timestamp(text(raw)) - OVERLAP if raw else now - FIRST_LOOKBACK
    return since, now
