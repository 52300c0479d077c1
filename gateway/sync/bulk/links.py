"""What a Salesforce → platform run owes Salesforce (platform ids, statuses, last-synced times), kept per run and
object in Redis and written in large batches (Bulk API 2.0 ingest above the client's threshold), never one call
per record.

Guarantees: an entry is removed only after Salesforce answered for it, so a crash repeats a batch (updates are
idempotent); one flusher per run at a time (a Redis lock); a refused update is counted as the run's
`salesforce-writeback:<code>` error. A record Salesforce keeps locked after the client's own retries
(`UNABLE_TO_LOCK_ROW`) is no refusal: its entry stays for a later flush, and only the run's last flush (`everything`)
counts it as an error. An entry is true of the record version the run synced: when a newer version
of the record was synced since (by real time, while the run went on), the entry is dropped unwritten — that sync
owes the record its own write-back, and the run's older status, phone or link must not land over it. When the
person's opt-out was recorded on the record since (a STOP drained while the run went on, which syncs no record
version), the entry's status fields are left out and its other fields (the link) are written: the run's older
"subscribed" must not land over the STOP (`opt_status.keep_recorded_opt_out`; the STOP's mark is in Redis,
`state.record_opted_out`, so this costs no Salesforce call).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.domain.freshness import is_newer, parse_timestamp
from gateway.domain.opt_status import keep_recorded_opt_out, opted_out_since
from gateway.domain.sync_config import DEFAULT_STATUS_FIELD, OPTED_OUT_AT_FIELD
from gateway.redis_client import text
from gateway.salesforce.errors import ApiBudgetExhausted
from gateway.salesforce.results import COLLECTION_SIZE
from gateway.sync import fencing, state
from gateway.sync.bulk.runs import key
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)


class FlushBusy(Exception):
    """Another job is writing this run's links right now."""


@dataclass(frozen=True, slots=True)
class Owed:
    """Salesforce fields a run owes a record, true of the record's `version` (its `SystemModstamp` synced)."""

    object_name: str
    record_id: str
    fields: dict[str, Any]
    version: datetime | None = None


def owe(pipe: Any, run_id: str, owed: Owed) -> None:
    """Remember, inside the caller's transaction, what the run owes the record."""
    entry = {"fields": owed.fields, "version": owed.version.isoformat() if owed.version else None}
    pipe.hset(key(run_id, f"links:{owed.object_name}"), owed.record_id, json.dumps(entry, default=str))


def _entry(raw: Any) -> tuple[dict[str, Any], datetime | None]:
    """An owed entry's fields and version (entries stored before versions were kept are the bare fields)."""
    data = json.loads(raw)
    if isinstance(data, dict) and isinstance(data.get("fields"), dict) and set(data) == {"fields", "version"}:
        version = data["version"]
        return data["fields"], parse_timestamp(version) if version else None
    return data, None


def _superseded(redis: Any, object_name: str, batch: dict[str, tuple[dict[str, Any], datetime | None]]) -> list[str]:
    """The records of `batch` of which a newer version than the entry's was synced since (one MGET)."""
    ids = list(batch)
    now = state.record_states(redis, object_name, ids)
    return [
        rid
        for rid, current in zip(ids, now, strict=True)
        if (version := batch[rid][1]) is not None and current.version is not None and is_newer(current.version, version)
    ]


def _keep_recorded_opt_outs(
    context: SyncContext, object_name: str, batch: dict[str, tuple[dict[str, Any], datetime | None]]
) -> list[str]:
    """Leave out, in place, the status fields of the entries of `batch` whose record had the person's opt-out
    recorded after the version the entry is true of; returns the records left with nothing to write. One MGET; the
    sync configuration (which fields hold the status) is read only when such an opt-out is found."""
    ids = list(batch)
    marks = state.opted_out_at(context.redis, [(object_name, rid) for rid in ids])
    later = [(rid, at) for rid, at in zip(ids, marks, strict=True) if opted_out_since(batch[rid][1], at)]
    if not later:
        return []
    obj = context.sync_config().for_object(object_name)
    # an object no longer configured is read with the default fields, so the STOP still stands
    status_fields = obj.opt_status_fields() if obj else (DEFAULT_STATUS_FIELD, OPTED_OUT_AT_FIELD)
    emptied = []
    for rid, opted_out_at in later:
        fields, version = batch[rid]
        kept = keep_recorded_opt_out(fields, status_fields, planned_on=version, opted_out_at=opted_out_at)
        if kept != fields:
            log.info("bulk run link to %s %s: its status left out, an opt-out was recorded since", object_name, rid)
            batch[rid] = (kept, version)
            if not kept:
                emptied.append(rid)
    return emptied


@dataclass(frozen=True, slots=True)
class Due:
    """A flush to queue: the smallest batch it writes; `early` for the run's one early Bulk flush near its end."""

    smallest: int
    early: bool = False


def due(*, owed: int, left: int, link_batch: int, bulk_threshold: int, early_spent: bool) -> Due | None:
    """Whether a run that owes `owed` links, with `left` records still to sync, should write some now, and the
    smallest batch to write; None to leave them (for a later look, or the run's finish when none are left).

    - A full batch (`GATEWAY_BULK_LINK_BATCH`) is always written.
    - Once in a run, near its end — when the records owed are more than a Bulk-sized batch
      (`SALESFORCE_BULK_INGEST_THRESHOLD`, so they go as one Bulk job) and at least as many as the records still to
      sync — they are written while the other chunks still run: the run's last flush, which comes after its last
      platform call with nothing left to overlap it, then holds only what those chunks add, about half as much. It
      costs one Bulk job more per run. Measured with `scripts/bench/throughput` (5,000 records, 4 workers): the run's
      end (last platform call to done) went from 1.8 to 1.0 s, for 8 to 10 Salesforce calls more (16 to 24 or 26).
    - The run's tail: once the records still to sync are no more than a Bulk-sized batch (their links go through
      sObject Collections, 200 a call, whenever they are written), every whole call's worth is written as soon as it
      is owed (`flush` cuts such batches to whole calls), so the run's last flush holds less than one call plus what
      its last moments add: about the same calls, made while the platform calls go on instead of after them.
      Measured with `scripts/bench/throughput` (two runs): the run's end went from 1.26 / 1.37 s to 0.54 / 0.53 s,
      for 3 Salesforce calls more (29 against 26 and 27): the early Bulk job, now queued at the first look that finds
      it due rather than at a chunk's end, goes sooner and holds fewer links, so more go 200 a call."""
    if owed >= link_batch:
        return Due(link_batch)
    if owed < COLLECTION_SIZE or left <= 0:
        return None
    if owed > bulk_threshold and left <= owed and not early_spent:
        return Due(bulk_threshold + 1, early=True)
    if left <= bulk_threshold:
        return Due(COLLECTION_SIZE)
    return None


def owed(redis: Any, run_id: str, object_name: str) -> int:
    """How many records of `object_name` the run owes an update."""
    return int(redis.hlen(key(run_id, f"links:{object_name}")))


LOCK_SECONDS = 3600  # a flusher's lock (its Bulk job can take long); a dead flusher's lapses after it
LOCK_POLL_SECONDS = 0.05


def flush(
    context: SyncContext, run_id: str, *, everything: bool = False, at_least: int | None = None, wait: float = 0.0
) -> int:
    """Write the links and statuses a run owes Salesforce, a large batch at a time: all of them with `everything`,
    else batches of at least `at_least` (default: full batches, `GATEWAY_BULK_LINK_BATCH`), so that entries still
    arriving from running chunks are left for a later flush instead of written a few at a time; returns how many
    were written. Unless `everything`, a batch small enough for sObject Collections is cut to whole calls (200
    records each): the rest waits for the next flush instead of costing a call of its own.

    One flusher at a time: while another job writes this run's links, this one waits for it up to `wait` seconds
    (looking every `LOCK_POLL_SECONDS`), then raises `FlushBusy`. It waits only for a lock taken less than `wait`
    seconds before (by its time to live): an older one is a long Bulk job, or a flusher that died holding it (its
    lock lapses after `LOCK_SECONDS`), and a waiter would hold its worker for nothing."""
    redis = context.redis
    redis.delete(key(run_id, "flush_queued"))
    lock_key = key(run_id, "flush_lock")
    deadline = time.monotonic() + wait
    while (lock := fencing.claim(redis, lock_key, LOCK_SECONDS)) is None:
        ttl = int(redis.ttl(lock_key))
        if ttl == -2:
            continue  # let go since the claim: take it now
        held = LOCK_SECONDS - ttl if ttl >= 0 else LOCK_SECONDS
        if time.monotonic() >= deadline or held > wait:
            raise FlushBusy(run_id)  # another job is writing this run's links; two would send the same batch twice
        time.sleep(LOCK_POLL_SECONDS)
    try:
        batch_size = context.settings.bulk.link_batch
        return _flush_locked(context, run_id, 1 if everything else min(batch_size, at_least or batch_size))
    finally:
        fencing.release(redis, lock)


def _flush_locked(context: SyncContext, run_id: str, smallest: int) -> int:
    redis = context.redis
    batch_size = context.settings.bulk.link_batch
    by_collections = context.salesforce.settings.bulk_ingest_threshold
    written = 0
    locked: set[str] = set()  # records Salesforce kept locked: a later flush's (the run's last one gives up on them)
    for raw_name in list(redis.scan_iter(match=key(run_id, "links:*"))):
        name = text(raw_name)
        object_name = name.rsplit(":", 1)[1]
        while True:
            batch: dict[str, tuple[dict[str, Any], datetime | None]] = {}
            for field_, value in redis.hscan_iter(name, count=1000):
                if text(field_) in locked:
                    continue
                batch[text(field_)] = _entry(value)
                if len(batch) >= batch_size:
                    break
            if len(batch) < smallest:  # at least 1: an empty batch always stops
                break
            if smallest > 1 and COLLECTION_SIZE < len(batch) <= by_collections:  # whole Collections calls only
                batch = dict(list(batch.items())[: len(batch) // COLLECTION_SIZE * COLLECTION_SIZE])
            stale = _superseded(redis, object_name, batch)
            if stale:
                log.info("bulk run %s: %d %s update(s) superseded by newer syncs", run_id, len(stale), object_name)
                for rid in stale:
                    del batch[rid]
            stale += _keep_recorded_opt_outs(context, object_name, batch)  # those left with nothing to write
            if stale:
                redis.hdel(name, *stale)
                for rid in stale:
                    batch.pop(rid, None)
                if not batch:
                    continue
            ids = list(batch)
            context.check_fence()
            results = context.salesforce.update(object_name, [{"Id": rid, **batch[rid][0]} for rid in ids])
            for result in results:
                if result.success:
                    continue
                if result.retryable and smallest > 1:  # still locked after the client's retries: kept for later
                    locked.add(ids[result.index])
                    continue
                code = result.errors[0].status_code if result.errors else "UNPROCESSED"
                reasons = "; ".join(f"{e.status_code}: {e.message}" for e in result.errors)
                log.warning("bulk run %s: link to %s %s refused: %s", run_id, object_name, ids[result.index], reasons)
                redis.hincrby(key(run_id, "errors"), f"salesforce-writeback:{code}", 1)
            done = [rid for rid in ids if rid not in locked]
            if done:
                redis.hdel(name, *done)
            written += len(done)
    return written


def flush_when_allowed(context: SyncContext, run_id: str, at_least: int | None = None) -> int:
    """`flush` for the mid-run job: out of budget, or busy, it leaves the entries for later (the run's end flushes)."""
    try:
        return flush(context, run_id, at_least=at_least)
    except FlushBusy:
        return 0
    except ApiBudgetExhausted as exc:
        log.warning("bulk run %s: links left for later: %s", run_id, exc.detail)
        return 0


def queue_flush(redis: Any, run_id: str) -> bool:
    """True when the caller should queue a mid-run flush job (none is queued yet)."""
    return bool(redis.set(key(run_id, "flush_queued"), "1", nx=True, ex=600))
