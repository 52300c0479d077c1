"""What the gateway owes Salesforce after a platform write: field updates (link, status) and `Sync_Result__c` rows.

Guarantees: an entry is queued in Redis in the same transaction that marks its record's version as synced
(`record_synced`), so a crash can never leave a platform write with neither its version mark nor its write-back;
`flush()` writes pending entries to Salesforce in bulk (sObject Collections, 200 a call) and removes them only
after Salesforce answered, so a Salesforce outage delays the write-back, it never loses it. One flusher runs at a
time: its lock is a fence (`fencing`) of `LOCK_SECONDS`, renewed with each batch's removal, so a frozen flusher
holds the write-back up for at most that long, and when it wakes it removes nothing (the next flusher owns the
list by then) and writes nothing more. A crash (or a freeze past the lock) between Salesforce's answer and the
removal can repeat a batch: updates are idempotent, and each log row is upserted by its entry's key, so it is still
one row. A record whose update Salesforce refuses (`INVALID_CROSS_REFERENCE_KEY`, `ENTITY_IS_DELETED`, a validation
rule…) gets a `Failure` row carrying Salesforce's error code and message (`salesforce-rejected`), whatever its sync
had reached: the link or status it owes the record is not there. A record Salesforce keeps locked past the client's
own retries (`UNABLE_TO_LOCK_ROW`) is no refusal: its entry (and its log row) goes back to the end of the list, for
a later flush, and is logged as refused only once the record has stayed locked `LOCKED_FOR`. An entry queued by an
older gateway reads as before; one queued by this gateway carries fields an older worker's `WriteBack.from_json`
does not know: upgrade every worker together (docs/deploy.md).

A status an entry owes its record never lands over the person's opt-out recorded on it after its sync read the
record (a STOP, written at once in the opt-out lane while the entry waited for budget, the lock or Salesforce): the
entry's status fields are left out and its log row says so; its other fields (links, ids) are written. The STOP's
mark is stored in Redis with the STOP's own (`state.record_opted_out`), so this holds across crashes and restarts,
and costs no Salesforce call. The mark is the gateway's time once Salesforce accepted the STOP, the entry's version
Salesforce's `SystemModstamp`: clocks apart by less than the time from the read to the STOP are assumed. Not
covered: a STOP written during the flush's own update call of that record (its mark comes after the flush read the
marks), a window of one Salesforce round trip.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from redis import Redis

from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.domain.freshness import parse_timestamp
from gateway.domain.opt_status import keep_recorded_opt_out
from gateway.salesforce.client import SalesforceClient
from gateway.salesforce.results import COLLECTION_SIZE
from gateway.salesforce.sync_results import Direction, Status, SyncResultEntry, write_sync_results
from gateway.sync import fencing, state, status

log = logging.getLogger(__name__)

PENDING_KEY = "gateway:salesforce:writeback"
LOCK_KEY = "gateway:salesforce:writeback:lock"
WANTED_KEY = "gateway:salesforce:writeback:wanted"  # a flush found the lock taken: the holder writes its entries
LOCK_SECONDS = 60
BATCH = 2000
ROUNDS = 5  # rounds a flusher serves in a row for callers that found the lock taken (see `flush`)


@dataclass(frozen=True)
class WriteBack:
    """One record's debt to Salesforce: `fields` to update on `object_name`/`record_id`, and its log row (upserted
    by `key`, so a batch written twice leaves one row per entry). `status_fields` names those of `fields` that state
    the person's opt status, true of the record's `version` (ISO `SystemModstamp`) the sync read: they are left out
    when the person's opt-out was recorded on the record since (`flush`)."""

    result: dict[str, Any]  # SyncResultEntry as JSON-able values
    object_name: str | None = None
    record_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: str | None = None
    status_fields: tuple[str, ...] = ()
    locked_since: str | None = None  # ISO: when Salesforce first kept the record locked past the client's retries

    def to_json(self) -> str:
        # `asdict`'s object, built directly: asdict deep-copies both dicts first (2.5 % of a syncing worker's CPU)
        entry = {
            "result": self.result,
            "object_name": self.object_name,
            "record_id": self.record_id,
            "fields": self.fields,
            "key": self.key,
            "version": self.version,
            "status_fields": self.status_fields,
            "locked_since": self.locked_since,
        }
        return json.dumps(entry, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, raw: bytes | str) -> WriteBack:
        entry = json.loads(raw)  # an entry queued before versions were kept has neither `version` nor `status_fields`
        return cls(**{**entry, "status_fields": tuple(entry.get("status_fields") or ())})


def result_values(
    *,
    direction: Direction,
    status: str,
    object_name: str | None,
    record_id: str | None,
    error_code: str | None,
    message: str | None,
    request_endpoint: str | None,
    request_body: Mapping[str, Any] | None,
    platform: str | None,
    platform_contact_id: str | None,
    run_id: str | None = None,
) -> dict[str, Any]:
    return {
        "direction": str(direction),
        "status": status,
        "object_name": object_name,
        "record_id": record_id,
        "error_code": error_code,
        "message": message,
        "request_endpoint": request_endpoint,
        "request_body": dict(request_body) if request_body is not None else None,
        "platform": platform,
        "platform_contact_id": platform_contact_id,
        "run_id": run_id,
    }


def queue_entries(pipe: Any, entries: Sequence[WriteBack]) -> None:
    """Add entries to the pending list inside the caller's transaction (and count them for the status summary)."""
    if entries:
        pipe.rpush(PENDING_KEY, *(e.to_json() for e in entries))
        status.count_results(pipe, [e.result for e in entries])


def pending_count(connection: Redis) -> int:
    return int(connection.llen(PENDING_KEY))


def _refused(values: dict[str, Any], entry: WriteBack, reasons: str) -> dict[str, Any]:
    """The log row of a sync whose write-back Salesforce refused: a Failure with Salesforce's error first, then what
    the sync itself had to say."""
    error = SyncError(
        SyncErrorCode.SALESFORCE_REJECTED,
        f"The platform side of this sync was done, but Salesforce refused the gateway's update of the record "
        f"({', '.join(sorted(entry.fields))}): {reasons}.",
    )
    earlier = values.get("message") or ""
    return {
        **values,
        "status": Status.FAILURE.value,
        "error_code": error.code.value,
        "message": f"{error.message}\n{earlier}".strip(),
    }


def _entry(values: dict[str, Any], key: str | None = None) -> SyncResultEntry:
    code = values.get("error_code")
    error = None
    if code:
        try:
            error = SyncError(SyncErrorCode(code), values.get("message") or "")
        except ValueError:
            error = None
    return SyncResultEntry(
        direction=Direction(values["direction"]),
        status=Status(values["status"]),
        object_name=values.get("object_name"),
        record_id=values.get("record_id"),
        error=error,
        message=values.get("message") or None,
        request_endpoint=values.get("request_endpoint"),
        request_body=values.get("request_body"),
        platform=values.get("platform"),
        platform_contact_id=values.get("platform_contact_id"),
        run_id=values.get("run_id"),
        key=key,
    )


def flush(connection: Redis, client: SalesforceClient, *, lock_seconds: int = LOCK_SECONDS) -> int:
    """Write pending entries to Salesforce, oldest first; returns how many this call wrote (0 when another flusher
    holds the lock, or took it over). Raises the client's transient errors (the entries stay pending for the next
    flush).

    Every entry pending when a flush is called gets written, by this call or by the flusher holding the lock: a
    caller that finds the lock taken leaves a request (`WANTED_KEY`, kept as long as the lock), which the holder
    looks for once it has released the lock (a caller that comes later takes the lock itself), and serves, up to
    `ROUNDS` times in a row; past them (a burst that keeps asking) the next flush serves it: the next sync's own, or
    the cron's within 30 s. Entries queued after a round began, by syncs still running, are written in full batches
    only: each of those syncs flushes at its end, so the holder does not chase a burst a few records at a time
    (`scripts/bench/e2e --only burst`: a 1,000-record burst cost 50 to 76 Salesforce calls in all that way, 14
    now)."""
    written = 0
    for _ in range(ROUNDS):
        connection.set(WANTED_KEY, 1, ex=lock_seconds)
        lock = fencing.claim(connection, LOCK_KEY, lock_seconds)
        if lock is None:
            return written  # the holder writes this caller's entries: it finds the request when it lets go
        try:
            written += _flush_locked(connection, client, lock, lock_seconds)
        except fencing.Superseded:
            log.warning("write-back: the flush passed to another process after %d entries", written)
            return written
        finally:
            fencing.release(connection, lock)
        if not connection.exists(WANTED_KEY):  # nobody asked while this round was deciding to stop
            return written
    return written


def _flush_locked(connection: Redis, client: SalesforceClient, lock: fencing.Fence, lock_seconds: int) -> int:
    """One round under the lock: everything pending when it began, then full batches (see `flush`)."""
    written = 0
    connection.delete(WANTED_KEY)  # served now: everything pending is counted next
    owed = int(connection.llen(PENDING_KEY))
    put_back: set[str] = set()  # entries this round put back at the end (a locked record): a later round's
    while True:
        raw = connection.lrange(PENDING_KEY, 0, BATCH - 1)
        if not raw or (written >= owed and len(raw) < COLLECTION_SIZE):
            return written  # nothing, or newer entries of syncs still running, which flush at their end
        entries = [WriteBack.from_json(r) for r in raw]
        if entries[0].key in put_back:
            return written  # what is left was tried by this round, or came after it
        entries = _keep_recorded_opt_outs(connection, entries)
        lock.check(connection)
        later = _write(client, entries)
        remove = partial(_remove_written, count=len(raw), lock_seconds=lock_seconds, later=later)
        fencing.commit(connection, lock, remove)
        put_back.update(entry.key for entry in later)
        written += len(raw) - len(later)


def _keep_recorded_opt_outs(connection: Redis, entries: Sequence[WriteBack]) -> list[WriteBack]:
    """The entries as they may still land: an entry's status fields are left out when the person's opt-out was
    recorded on its record after the version its sync read (`opt_status.keep_recorded_opt_out`), and its log row
    says so. One MGET of the marks a STOP leaves in Redis (`state.opted_out_at`), for the entries that carry a
    status only: no Salesforce call."""
    carrying = [i for i, e in enumerate(entries) if e.status_fields and e.object_name and e.record_id]
    records = [(str(entries[i].object_name), str(entries[i].record_id)) for i in carrying]
    kept = list(entries)
    for i, record, opted_out_at in zip(carrying, records, state.opted_out_at(connection, records), strict=True):
        entry = entries[i]
        planned_on = parse_timestamp(entry.version) if entry.version else None
        fields = keep_recorded_opt_out(
            entry.fields, entry.status_fields, planned_on=planned_on, opted_out_at=opted_out_at
        )
        if fields != entry.fields:
            log.info("write-back to %s %s: its status left out, an opt-out was recorded since", *record)
            kept[i] = replace(entry, fields=fields, result=_opt_out_kept(entry))
    return kept


def _opt_out_kept(entry: WriteBack) -> dict[str, Any]:
    """The log row of an entry whose status was left out: what the sync said, and why the record says otherwise."""
    note = (
        "The person opted out after this sync read the record: Salesforce keeps the opt-out, and this sync's "
        f"{', '.join(sorted(n for n in entry.status_fields if n in entry.fields))} was not written."
    )
    earlier = entry.result.get("message") or ""
    return {**entry.result, "message": f"{earlier}\n{note}".strip()}


def _remove_written(pipe: Any, count: int, lock_seconds: int, later: Sequence[WriteBack] = ()) -> None:
    pipe.ltrim(PENDING_KEY, count, -1)
    if later:  # records Salesforce kept locked: at the end, for a later flush
        pipe.rpush(PENDING_KEY, *(entry.to_json() for entry in later))
    pipe.expire(LOCK_KEY, lock_seconds)
    pipe.expire(WANTED_KEY, lock_seconds)  # a request lives as long as the lock it waits for (no-op without one)


# A record Salesforce keeps locked this long is given up on: its write-back, or a pushed event's person
# (`from_platform.drain`), is logged as failed, to be resent.
LOCKED_FOR = timedelta(minutes=15)


def _write(client: SalesforceClient, entries: Sequence[WriteBack], now: datetime | None = None) -> list[WriteBack]:
    """Update the entries' records and write their log rows; returns the entries to try again later: those whose
    record Salesforce kept locked past the client's own retries (`UNABLE_TO_LOCK_ROW`), for up to `LOCKED_FOR`
    (then they are logged as refused, to be resent). Their log rows wait with them."""
    moment = now or datetime.now(UTC)
    by_object: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        if entry.object_name and entry.record_id and entry.fields:
            fields = by_object.setdefault(entry.object_name, {}).setdefault(entry.record_id, {})
            fields.update(entry.fields)
    failures: dict[str, str] = {}
    locked: set[str] = set()
    for object_name, records in by_object.items():
        ids = list(records)
        results = client.update(object_name, [{"Id": rid, **records[rid]} for rid in ids])
        for result in results:
            if not result.success:
                reasons = "; ".join(f"{e.status_code}: {e.message}" for e in result.errors)
                failures[ids[result.index]] = reasons
                if result.retryable:
                    locked.add(ids[result.index])
                log.warning("write-back to %s %s refused: %s", object_name, ids[result.index], reasons)
    rows, later = [], []
    for entry in entries:
        if entry.record_id in locked:
            since = parse_timestamp(entry.locked_since) if entry.locked_since else moment
            if moment - since < LOCKED_FOR:
                later.append(replace(entry, locked_since=since.isoformat()))
                continue
        values = dict(entry.result)
        if entry.record_id in failures:
            values = _refused(values, entry, failures[entry.record_id])
        rows.append(_entry(values, entry.key))
    if rows:
        write_sync_results(client, rows)
    return later
