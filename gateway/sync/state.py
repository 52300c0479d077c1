"""The sync's memory of what it already did: the one owner of versions, echo fingerprints and their Redis keys.

Two directions, five kinds of mark, each kept `STATE_TTL` seconds after it was last written:
- a Salesforce record's last synced version (`SystemModstamp`) and what was last reconciled with the platform for
  it (`RecordState`): a digest of each mapped field's value, and the fingerprint of them all when every field was
  reconciled. A change not newer than the version, or mapping to the same values, is done; a field whose value
  differs from its digest changed since, whether or not an event said so;
- when the person's opt-out (a STOP from the platform) was last recorded on a Salesforce record
  (`record_opted_out`): a status owed to the record by a sync that read an older version of it must not land;
- a platform contact's last synced version, and the fingerprint of what the gateway itself last wrote to that
  contact (`already_synced`): a contact not newer than its version, or equal to our own write, is done (an echo).

Guarantees: nothing outside this module formats these keys; every read asks Redis once per batch (a pipeline or an
MGET), never once per record, but for the record a sync is about to write, whose state is read again in the round
trip that claims it (`claim_record`: one sync writes a record at a time, and it decides on the state as it is then,
not as it was when a bulk chunk read its window); a mark is a value (`Mark`) that callers store inside their own
transaction, together with what they owe Salesforce, so a crash never keeps a mark without its write-back nor the
reverse. That transaction is fenced (`SyncContext.commit`, `gateway.sync.fencing`): a job whose execution was handed
to another worker while its own was frozen stores no mark when it wakes, so no version goes backwards and nothing is
owed twice.

No version from the future: a version later than now + `MAX_FUTURE` is stored as now, and a stored one later than
that is not believed (read as no mark at all). The webhook door already refuses such Salesforce timestamps; this is
the backstop for every other source (a platform's clock, an event queued before the door checked, a mark stored by
an older gateway), since one such mark would make every genuine change of its record look stale for `STATE_TTL`.
Re-syncing a change because its mark was clamped is harmless (the echo fingerprints skip what is unchanged).

Also here: which people the sync could not place were reported in the last day (`reported`, `report`), so that a
phone nobody knows leaves one `Sync_Result__c` or log line a day, not one per webhook call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis

from gateway.domain.contact import Contact
from gateway.domain.freshness import contact_fingerprint, is_newer, parse_timestamp
from gateway.redis_client import script, text
from gateway.sync.fencing import Fence

log = logging.getLogger(__name__)

STATE_TTL = 90 * 24 * 3600
MAX_FUTURE = timedelta(seconds=300)  # the door's default GATEWAY_MAX_CLOCK_SKEW_SECONDS
REPORT_TTL = 24 * 3600

_RECORD_VERSION = "gateway:version:{}:{}"  # object, 15-char record id -> last synced SystemModstamp (ISO)
# object, 15-char record id -> what was reconciled: JSON {"fp": fingerprint or null, "fields": {field: digest}}
# (a plain fingerprint from before per-field digests is read as {"fp": it, "fields": unknown})
_RECORD_FINGERPRINT = "gateway:fingerprint:to-platform:{}:{}"
_RECORD_CLAIM = "gateway:claim:to-platform:{}:{}"  # object, 15-char record id -> token of the sync writing it now
# object, 15-char record id -> when the gateway last recorded the person's opt-out on it from the platform (ISO)
_RECORD_OPTED_OUT = "gateway:opted-out:{}:{}"
_CONTACT_VERSION = "gateway:version:platform:{}"  # platform id or phone -> last synced platform version (ISO)
_OUR_WRITE = "gateway:fingerprint:platform:{}"  # platform id -> fingerprint of what the gateway wrote there
_REPORTED = "gateway:reported:{}:{}"  # what, sha256 of platform id or phone -> reported in the last day


@dataclass(frozen=True, slots=True)
class Mark:
    """One thing to remember, stored by `mark()` inside the caller's transaction."""

    key: str
    value: str
    ttl: int = STATE_TTL


def mark(pipe: Any, marks: Iterable[Mark | None]) -> None:
    """Queue `marks` (None entries are skipped) on the caller's transaction (`SyncContext.commit`)."""
    for item in marks:
        if item is not None:
            pipe.set(item.key, item.value, ex=item.ttl)


def _stored_version(what: str, version: datetime, now: datetime | None = None) -> str:
    """`version` as a mark stores it: never later than now + `MAX_FUTURE` (a later one is stored as now)."""
    now = now or datetime.now(UTC)
    if version > now + MAX_FUTURE:
        log.warning("%s carries a version from the future (%s): remembered as synced up to now", what, version)
        return now.isoformat()
    return version.isoformat()


def _believed_version(raw: Any, now: datetime | None = None) -> datetime | None:
    """A stored version mark, or None when there is none or it lies in the future (no mark believed)."""
    if raw is None:
        return None
    version = parse_timestamp(text(raw))
    return None if version > (now or datetime.now(UTC)) + MAX_FUTURE else version


# -- Salesforce records (Salesforce → platform) ------------------------------------------------------------------


def _short(record_id: str) -> str:
    return str(record_id)[:15]


@dataclass(frozen=True, slots=True)
class RecordState:
    """What was last synced for one Salesforce record: its version, the fingerprint of the values sent (None unless
    every mapped field was reconciled with the platform) and each reconciled field's digest (`sent`; None when not
    known: never synced, or synced by a gateway that kept the fingerprint only)."""

    version: datetime | None = None
    fingerprint: str | None = None
    sent: Mapping[str, str] | None = None

    def is_stale(self, version: datetime) -> bool:
        """`version` is not newer than the one already synced."""
        return self.version is not None and not is_newer(version, self.version)

    def is_echo(self, fingerprint: str) -> bool:
        """The record maps to exactly the values last sent for it."""
        return self.fingerprint is not None and self.fingerprint == fingerprint

    def already_synced(self, version: datetime, fingerprint: str | None = None) -> bool:
        """Stale, or (when the mapped `fingerprint` is known) an echo of what was sent."""
        return self.is_stale(version) or (fingerprint is not None and self.is_echo(fingerprint))


def record_states(redis: Redis, object_name: str, record_ids: Sequence[str]) -> list[RecordState]:
    """The state of each record, in order (one MGET)."""
    if not record_ids:
        return []
    keys: list[str] = []
    for record_id in record_ids:
        keys += [
            _RECORD_VERSION.format(object_name, _short(record_id)),
            _RECORD_FINGERPRINT.format(object_name, _short(record_id)),
        ]
    values = redis.mget(keys)
    now = datetime.now(UTC)
    return [_record_state(values[i], values[i + 1], now) for i in range(0, len(values), 2)]


def _record_state(version: Any, reconciled: Any, now: datetime | None = None) -> RecordState:
    if reconciled is None:
        return RecordState(version=_believed_version(version, now))
    raw = text(reconciled)
    if not raw.startswith("{"):
        return RecordState(version=_believed_version(version, now), fingerprint=raw)
    stored = json.loads(raw)
    fields = stored.get("fields")
    return RecordState(
        version=_believed_version(version, now),
        fingerprint=stored.get("fp"),
        sent=dict(fields) if isinstance(fields, dict) else None,
    )


def record_state(redis: Redis, object_name: str, record_id: str) -> RecordState:
    return record_states(redis, object_name, [record_id])[0]


# Take the record's claim when it is free or its holder's job execution lost its lease (a worker that died or froze:
# the job's next execution, or whoever waits, takes over), and read the record's state in the same step.
_CLAIM_RECORD = script(
    """
local held = redis.call('GET', KEYS[1])
local took = 0
if not held then
  took = 1
else
  local lease, token = string.match(held, '^(.-)\\n(.-)\\n')
  if lease and lease ~= '' and redis.call('GET', lease) ~= token then took = 1 end
end
if took == 1 then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return {took, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""
)


def claim_record(
    redis: Redis, object_name: str, record_id: str, seconds: int, owner: Fence | None = None
) -> tuple[Fence | None, RecordState]:
    """Claim the record for one sync and read its state in the same step: (the claim, None when another sync holds
    it; the record's state now). Real time and bulk chunks both sync a record under its claim, so neither applies a
    version older than one the other has synced meanwhile. The claim lapses after `seconds`, or as soon as `owner`
    (the lease of the job execution taking it) no longer holds: a claim never outlives the execution that took it
    by more than the worker's own hand-over of its job."""
    short = _short(record_id)
    lease = f"{owner.key}\n{owner.token}" if owner is not None else "\n"
    claim = Fence(_RECORD_CLAIM.format(object_name, short), f"{lease}\n{uuid.uuid4().hex}")
    keys = [claim.key, _RECORD_VERSION.format(object_name, short), _RECORD_FINGERPRINT.format(object_name, short)]
    took, version, reconciled = _CLAIM_RECORD(keys=keys, args=[claim.token, seconds], client=redis)
    return (claim if took else None), _record_state(version, reconciled)


_RENEW_CLAIM = script(
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local lease, token = string.match(ARGV[1], '^(.-)\\n(.-)\\n')
if lease and lease ~= '' and redis.call('GET', lease) ~= token then return -1 end
return redis.call('EXPIRE', KEYS[1], ARGV[2])
"""
)

CLAIM_HELD, CLAIM_LAPSED, OWNER_SUPERSEDED = 1, 0, -1


def renew_claim(redis: Redis, claim: Fence, seconds: int) -> int:
    """Extend a record's claim by `seconds` from now, in one round trip: `CLAIM_HELD`; `CLAIM_LAPSED` when it lapsed
    and another sync may have taken the record; `OWNER_SUPERSEDED` when the job execution that took it was handed to
    another worker (the claim is then no longer this sync's either, whatever its key still says)."""
    return int(_RENEW_CLAIM(keys=[claim.key], args=[claim.token, seconds], client=redis))


def record_synced(object_name: str, record_id: str, version: datetime) -> Mark:
    """The record is done up to `version` (at most now + `MAX_FUTURE`)."""
    stored = _stored_version(f"{object_name} {record_id}", version)
    return Mark(_RECORD_VERSION.format(object_name, _short(record_id)), stored)


def record_sent(
    object_name: str, record_id: str, fingerprint: str | None, fields: Mapping[str, str] | None = None
) -> Mark:
    """These mapped values were reconciled with the platform for the record: `fields` (field -> digest) those
    compared or sent, `fingerprint` all of them when every mapped field was (the next identical mapping is an echo;
    None: no echo can be told)."""
    value = json.dumps({"fp": fingerprint, "fields": dict(fields or {})}, sort_keys=True, separators=(",", ":"))
    return Mark(_RECORD_FINGERPRINT.format(object_name, _short(record_id)), value)


def record_opted_out(object_name: str, record_id: str) -> Mark:
    """The person's opt-out (a STOP from the platform) stands on the record as of now: store it in the transaction
    that marks the STOP synced, once Salesforce accepted it. A status owed to the record by a sync that read it
    before then (a write-back still queued) is not written over it (`opted_out_at`)."""
    return Mark(_RECORD_OPTED_OUT.format(object_name, _short(record_id)), datetime.now(UTC).isoformat())


def opted_out_at(redis: Redis, records: Sequence[tuple[str, str]]) -> list[datetime | None]:
    """For each (object, record id): when the person's opt-out was last recorded on it (`record_opted_out`), None
    when it was not (one MGET). A mark from the future is believed: it keeps an opt-out, never undoes one."""
    if not records:
        return []
    values = redis.mget([_RECORD_OPTED_OUT.format(obj, _short(rid)) for obj, rid in records])
    return [parse_timestamp(text(value)) if value is not None else None for value in values]


def platform_written(view: Contact) -> Mark | None:
    """The platform now holds `view` because the gateway wrote it (its return as a change is an echo)."""
    if not view.platform_id:
        return None
    return Mark(_OUR_WRITE.format(view.platform_id), contact_fingerprint(view))


# -- platform contacts (platform → Salesforce) -------------------------------------------------------------------


def contact_key(contact: Contact) -> str:
    """How a platform contact is known here: its platform id, else its phone ('' when it has neither)."""
    return contact.platform_id or contact.phone or ""


def already_synced(redis: Redis, contacts: Sequence[Contact]) -> list[bool]:
    """For each contact: its version is not newer than the last one synced, or it is the gateway's own write."""
    if not contacts:
        return []
    keys = [_CONTACT_VERSION.format(contact_key(c)) for c in contacts]
    keys += [_OUR_WRITE.format(c.platform_id) for c in contacts if c.platform_id]
    values = iter(redis.mget(keys))
    now = datetime.now(UTC)
    versions = [_believed_version(next(values), now) for _ in contacts]
    done = []
    for contact, last in zip(contacts, versions, strict=True):
        ours = next(values) if contact.platform_id else None
        echo = ours is not None and text(ours) == contact_fingerprint(contact)
        stale = last is not None and contact.version is not None and not is_newer(contact.version, last)
        done.append(echo or stale)
    return done


def contact_synced(contact: Contact) -> Mark | None:
    """The contact is done up to its version, at most now + `MAX_FUTURE` (None: it has no version or no key to
    remember it by)."""
    if contact.version is None or not contact_key(contact):
        return None
    stored = _stored_version("a platform contact", contact.version)
    return Mark(_CONTACT_VERSION.format(contact_key(contact)), stored)


# -- people the sync cannot place (reported once a day) ----------------------------------------------------------

UNMATCHED = "unmatched"  # no Salesforce record holds the person (none matched, none created)
UNKNOWN_TO_PLATFORM = "unknown-to-platform"  # a pushed event names a person the platform, asked, does not know


def _report_key(what: str, contact: Contact) -> str:
    digest = hashlib.sha256(contact_key(contact).encode()).hexdigest()[:32]  # no phone in a key name
    return _REPORTED.format(what, digest)


def reported(redis: Redis, what: str, contacts: Sequence[Contact]) -> list[bool]:
    """For each contact: that it was `what` (`UNMATCHED`, `UNKNOWN_TO_PLATFORM`) was reported in the last day."""
    if not contacts:
        return []
    return [value is not None for value in redis.mget([_report_key(what, c) for c in contacts])]


def report(what: str, contact: Contact) -> Mark:
    """That the contact was `what` is reported now (remembered `REPORT_TTL`); store it with the report itself."""
    return Mark(_report_key(what, contact), "1", ttl=REPORT_TTL)
