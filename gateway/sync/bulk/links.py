"""What a Salesforce → platform run owes Salesforce (platform ids, statuses, last-synced times), kept per run and
object in Redis and written in large batches (Bulk API 2.0 ingest above the client's threshold), never one call
per record.

Guarantees: an entry is removed only after Salesforce answered for it, so a crash repeats a batch (updates are
idempotent); one flusher per run at a time (a Redis lock); a refused update is counted as the run's
`salesforce-writeback:<code>` error. An entry is true of the record version the run synced: when a newer version
of the record was synced since (by real time, while the run went on), the entry is dropped unwritten — that sync
owes the record its own write-back, and the run's older status, phone or link must not land over it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.domain.freshness import is_newer, parse_timestamp
from gateway.redis_client import text
from gateway.salesforce.errors import ApiBudgetExhausted
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


def owed(redis: Any, run_id: str, object_name: str) -> int:
    """How many records of `object_name` the run owes an update."""
    return int(redis.hlen(key(run_id, f"links:{object_name}")))


def flush(context: SyncContext, run_id: str, *, everything: bool = False, at_least: int | None = None) -> int:
    """Write the links and statuses a run owes Salesforce, a large batch at a time: all of them with `everything`,
    else batches of at least `at_least` (default: full batches, `GATEWAY_BULK_LINK_BATCH`), so that entries still
    arriving from running chunks are left for a later flush instead of written a few at a time; returns how many
    were written."""
    redis = context.redis
    redis.delete(key(run_id, "flush_queued"))
    lock = fencing.claim(redis, key(run_id, "flush_lock"), 3600)
    if lock is None:
        raise FlushBusy(run_id)  # another job is writing this run's links; two would send the same batch twice
    try:
        batch_size = context.settings.bulk.link_batch
        return _flush_locked(context, run_id, 1 if everything else min(batch_size, at_least or batch_size))
    finally:
        fencing.release(redis, lock)


def _flush_locked(context: SyncContext, run_id: str, smallest: int) -> int:
    redis = context.redis
    batch_size = context.settings.bulk.link_batch
    written = 0
    for raw_name in list(redis.scan_iter(match=key(run_id, "links:*"))):
        name = text(raw_name)
        object_name = name.rsplit(":", 1)[1]
        while True:
            batch: dict[str, tuple[dict[str, Any], datetime | None]] = {}
            for field_, value in redis.hscan_iter(name, count=1000):
                batch[text(field_)] = _entry(value)
                if len(batch) >= batch_size:
                    break
            if len(batch) < smallest:  # at least 1: an empty batch always stops
                break
            stale = _superseded(redis, object_name, batch)
            if stale:
                log.info("bulk run %s: %d %s update(s) superseded by newer syncs", run_id, len(stale), object_name)
                redis.hdel(name, *stale)
                for rid in stale:
                    del batch[rid]
                if not batch:
                    continue
            ids = list(batch)
            context.check_fence()
            results = context.salesforce.update(object_name, [{"Id": rid, **batch[rid][0]} for rid in ids])
            for result in results:
                if result.success:
                    continue
                code = result.errors[0].status_code if result.errors else "UNPROCESSED"
                reasons = "; ".join(f"{e.status_code}: {e.message}" for e in result.errors)
                log.warning("bulk run %s: link to %s %s refused: %s", run_id, object_name, ids[result.index], reasons)
                redis.hincrby(key(run_id, "errors"), f"salesforce-writeback:{code}", 1)
            redis.hdel(name, *ids)
            written += len(ids)
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
