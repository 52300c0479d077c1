"""Whole-database syncs: the initial sync of two databases that never met, and the nightly incremental pull.

A run is planned into chunks and each chunk is one RQ job on the `bulk` queue, so any number of workers share it.

* Salesforce → platform: the planner reads only record ids (REST pages of 2,000, or Bulk API 2.0 above the client's
  threshold) and cuts them into id windows `(after, upto]`; a chunk job reads its window's records (one REST page),
  maps, matches and writes each on the platform (a small thread pool: the platform API is per person), and queues the
  links/statuses it owes Salesforce in Redis; they are written in large batches (Bulk API 2.0 ingest above the
  client's threshold) by `flush_links`, never one call per record.
* Platform → Salesforce: the planner first indexes the Salesforce side (ids, platform ids, phones, emails; one
  streamed read) in Redis, then streams the platform's people into chunks; a chunk job matches them against the
  index (reading only the matched rows), writes Salesforce in bulk (creates are upserts by `Messaging_Contact_Id__c`,
  so a repeated chunk never creates twice) and writes the new CRM ids back to the platform.

Guarantees:
- Memory is bounded by the chunk size, never by the number of records (ids and people are streamed).
- Resumable: each record's outcome is claimed once per run in Redis together with its version mark (the same marks
  the real-time flows use), so a chunk repeated after a crash, a `REQUEST_LIMIT_EXCEEDED` or a stop skips what was
  done, sends nothing twice and counts nothing twice; the planner's cursor advances in the same transaction that
  enqueues a chunk.
- When the API budget (or the bulk share of it, see `budget.py`) is spent, chunks re-enqueue themselves for later and
  the run shows `paused`; it resumes by itself.
- Failures leave one `Sync_Result__c` per failed record (with the run id); every run leaves one summary row.
- `dry_run` plans and counts what would change and writes nothing (no platform write, no Salesforce write, no mark).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Protocol

from gateway.config import BulkConfig, load_settings
from gateway.domain import platform_fields
from gateway.domain.contact import Contact
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.domain.freshness import parse_timestamp
from gateway.domain.mapping import map_record_to_contact, record_skip_reason, salesforce_datetime
from gateway.domain.matching import match_salesforce_record
from gateway.domain.opt_status import status_label
from gateway.domain.phones import normalize_phone
from gateway.domain.plans import SyncPlan, SyncStatus, plan_to_platform, plan_to_salesforce
from gateway.domain.sync_config import LAST_SYNCED_AT_FIELD, SyncObjectConfig
from gateway.redis_client import text
from gateway.salesforce import queries
from gateway.salesforce.errors import ApiBudgetExhausted
from gateway.salesforce.sync_results import Direction as ResultDirection
from gateway.salesforce.sync_results import write_sync_results
from gateway.sync import budget, reports, state, to_salesforce, writeback
from gateway.sync.context import SyncContext
from gateway.sync.to_platform import (
    apply_platform_write,
    match_on_platform,
    record_phone,
)

log = logging.getLogger(__name__)

TO_PLATFORM, TO_SALESFORCE = "to-platform", "to-salesforce"
RUNS_KEY = "gateway:bulk:runs"  # zset run id -> created epoch
HWM_KEY = "gateway:bulk:hwm:{}:{}"  # direction, object -> ISO time every change before which is synced
RUN_TTL = 14 * 24 * 3600
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
IN_BATCH = 300  # ids per `Id IN (...)` query: keeps the GET URL well under Salesforce's limit

# Claim a record's outcome for the run once; count it and queue its failure row only the first time.
_CLAIM_OUTCOME = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  if ARGV[3] ~= '' then redis.call('HINCRBY', KEYS[3], ARGV[3], 1) end
  if ARGV[4] ~= '' then redis.call('RPUSH', KEYS[4], ARGV[4]) end
  return 1
end
return 0
"""


def key(run_id: str, part: str) -> str:
    return f"gateway:bulk:{run_id}:{part}"


BulkSettings = BulkConfig  # tuning of bulk runs: `GATEWAY_BULK_*` / `GATEWAY_INCREMENTAL_*`, in `gateway.config`


def bulk_settings() -> BulkSettings:
    """The bulk settings of the environment, validated by `gateway.config` (ConfigError names a bad variable)."""
    return load_settings().bulk


class BulkJobs(Protocol):
    """How the sync layer asks for RQ jobs (implemented in `gateway.jobs`, which owns queues and retry policy)."""

    def chunk(self, pipe: Any, run_id: str, chunk_id: str) -> None:
        """Enqueue one chunk job inside the caller's MULTI pipeline."""

    def later(self, delay: float, function: str, *args: Any) -> None:
        """Enqueue `gateway.jobs.<function>(*args)` on the bulk queue after `delay` seconds."""

    def now(self, function: str, *args: Any) -> None:
        """Enqueue `gateway.jobs.<function>(*args)` on the bulk queue."""


class RunStopped(Exception):
    """The run was stopped by an operator; its chunk jobs end without doing anything."""


# -- runs ------------------------------------------------------------------------------------------------------------


def create_run(
    redis: Any,
    *,
    direction: str,
    object_name: str,
    kind: str = "initial",
    since: datetime | None = None,
    dry_run: bool = False,
) -> str:
    """Record a new run (status `planning`) and return its id; the caller enqueues `plan_run`."""
    if direction not in (TO_PLATFORM, TO_SALESFORCE):
        raise ValueError(f"direction must be {TO_PLATFORM} or {TO_SALESFORCE}, not {direction!r}")
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    now = time.time()
    pipe = redis.pipeline(transaction=True)
    pipe.hset(
        key(run_id, "meta"),
        mapping={
            "run_id": run_id,
            "kind": kind,
            "direction": direction,
            "object": object_name,
            "since": since.isoformat() if since else "",
            "dry_run": "1" if dry_run else "0",
            "status": "planning",
            "created_at": now,
            "total": 0,
            "chunks_total": 0,
        },
    )
    pipe.expire(key(run_id, "meta"), RUN_TTL)
    pipe.zadd(RUNS_KEY, {run_id: now})
    pipe.execute()
    return run_id


def _meta(redis: Any, run_id: str) -> dict[str, str]:
    raw = redis.hgetall(key(run_id, "meta"))
    if not raw:
        raise KeyError(f"no bulk run {run_id!r} (runs are kept {RUN_TTL // 86400} days)")
    return {text(k): text(v) for k, v in raw.items()}


def _set_meta(redis: Any, run_id: str, **values: Any) -> None:
    redis.hset(key(run_id, "meta"), mapping={k: ("" if v is None else v) for k, v in values.items()})


def progress(redis: Any, run_id: str) -> dict[str, Any]:
    """The run as the CLI, the status API and reports show it: counts, errors, rate and ETA."""
    meta = _meta(redis, run_id)
    counts = {text(k): int(v) for k, v in (redis.hgetall(key(run_id, "counts")) or {}).items()}
    errors = {text(k): int(v) for k, v in (redis.hgetall(key(run_id, "errors")) or {}).items()}
    processed = sum(counts.get(name, 0) for name in reports.OUTCOMES)
    total = max(int(float(meta.get("total") or 0)), processed)
    started = float(meta.get("started_at") or 0)
    end = float(meta.get("finished_at") or 0) or time.time()
    elapsed = max(0.0, end - started) if started else 0.0
    rate = processed / elapsed if elapsed > 0 else 0.0
    eta = (total - processed) / rate if rate > 0 and meta.get("status") not in ("done", "stopped") else None
    return {
        "run_id": run_id,
        "kind": meta.get("kind"),
        "direction": meta.get("direction"),
        "object": meta.get("object"),
        "since": meta.get("since") or None,
        "dry_run": meta.get("dry_run") == "1",
        "status": meta.get("status"),
        "pause_reason": meta.get("pause_reason") or None,
        "total": total,
        "processed": processed,
        "counts": counts,
        "errors": errors,
        "chunks_total": int(meta.get("chunks_total") or 0),
        "chunks_done": int(redis.scard(key(run_id, "chunks_done"))),
        "elapsed_seconds": round(elapsed, 3),
        "rate": round(rate, 1),
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "started_at": meta.get("started_at") or None,
        "finished_at": meta.get("finished_at") or None,
    }


def recent_runs(redis: Any, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs first (for `gateway sync status` and the status API)."""
    out = []
    for raw in redis.zrevrange(RUNS_KEY, 0, limit - 1):
        try:
            out.append(progress(redis, text(raw)))
        except KeyError:
            redis.zrem(RUNS_KEY, raw)
    return out


def stop_run(redis: Any, run_id: str) -> None:
    """Stop a run: chunk jobs not yet started end at once, running ones at their next record; `resume_run` goes on."""
    _meta(redis, run_id)
    _set_meta(redis, run_id, status="stopped")


def resume_run(redis: Any, jobs: BulkJobs, run_id: str) -> None:
    """Go on with a stopped or failed run from its checkpoints: the planner re-enqueues every chunk not done."""
    _meta(redis, run_id)
    _set_meta(redis, run_id, status="planning", pause_reason="")
    redis.delete(key(run_id, "finishing"))
    jobs.now("bulk_plan", run_id, True)


def _check_running(redis: Any, run_id: str) -> dict[str, str]:
    meta = _meta(redis, run_id)
    if meta.get("status") == "stopped":
        raise RunStopped(run_id)
    return meta


def high_water_mark(redis: Any, direction: str, object_name: str) -> datetime | None:
    raw = redis.get(HWM_KEY.format(direction, object_name))
    return parse_timestamp(text(raw)) if raw else None


def set_high_water_mark(redis: Any, direction: str, object_name: str, moment: datetime) -> None:
    redis.set(HWM_KEY.format(direction, object_name), moment.isoformat())


def incremental_since(redis: Any, direction: str, object_name: str, overlap: timedelta) -> datetime | None:
    """Where an incremental pull starts: the high-water mark minus the overlap (None: no run yet, pull all)."""
    mark = high_water_mark(redis, direction, object_name)
    return mark - overlap if mark is not None else None


# -- planning --------------------------------------------------------------------------------------------------------


def _enqueue_chunk(
    redis: Any, jobs: BulkJobs, run_id: str, n: int, spec: Mapping[str, Any], cursor: Mapping[str, Any]
) -> None:
    """Store chunk `n` and enqueue its job, advancing the planner's cursor in the same transaction."""
    chunk_id = f"{n:06d}"
    pipe = redis.pipeline(transaction=True)
    pipe.multi()
    pipe.hset(key(run_id, "chunks"), chunk_id, json.dumps(spec, separators=(",", ":")))
    pipe.expire(key(run_id, "chunks"), RUN_TTL)
    pipe.hset(key(run_id, "meta"), mapping={"chunks_total": n + 1, **cursor})
    jobs.chunk(pipe, run_id, chunk_id)
    pipe.execute()


def plan_run(context: SyncContext, jobs: BulkJobs, run_id: str, resume: bool = False) -> dict[str, Any]:
    """Cut the run into chunk jobs (or, with `resume`, re-enqueue those not done); idempotent after a crash."""
    redis = context.redis
    meta = _check_running(redis, run_id)
    if not meta.get("started_at"):
        _set_meta(redis, run_id, started_at=time.time(), status="planning")
    if resume:
        done = {text(c) for c in redis.smembers(key(run_id, "chunks_done"))}
        for chunk_id in sorted(text(c) for c in redis.hkeys(key(run_id, "chunks"))):
            if chunk_id not in done:
                pipe = redis.pipeline(transaction=True)
                pipe.multi()
                jobs.chunk(pipe, run_id, chunk_id)
                pipe.execute()
    settings = bulk_settings()
    try:
        if meta.get("plan_done") != "1":
            if meta["kind"] == "initial":
                budget.prime_org_allocation(context.salesforce)
            if meta["direction"] == TO_PLATFORM:
                _plan_to_platform(context, jobs, run_id, meta, settings)
            else:
                _plan_to_salesforce(context, jobs, run_id, meta, settings)
            _set_meta(redis, run_id, plan_done="1", status="running")
    except ApiBudgetExhausted as exc:
        _pause(redis, jobs, run_id, exc.detail, exc.retry_after, settings, "bulk_plan", run_id)
        return progress(redis, run_id)
    _maybe_finish(redis, jobs, run_id)
    return progress(redis, run_id)


def _plan_to_platform(
    context: SyncContext, jobs: BulkJobs, run_id: str, meta: Mapping[str, str], settings: BulkSettings
) -> None:
    redis = context.redis
    object_name = meta["object"]
    cursor = meta.get("plan_cursor") or ""
    n = int(meta.get("chunks_total") or 0)
    since = parse_timestamp(meta["since"]) if meta.get("since") else None
    soql = queries.record_ids(object_name, since=since, after=cursor)
    estimate = None
    if meta.get("kind") == "incremental":
        # one COUNT() first: a night without changes costs this one call per object and nothing else
        estimate = context.salesforce.count(soql)
        if estimate == 0:
            _set_meta(redis, run_id, total=int(meta.get("planned") or 0))
            return
    obj = _object_config(context, object_name)
    stream = context.salesforce.iter_query(soql, estimate=estimate)
    planned = int(meta.get("planned") or 0)
    if stream.total is not None:
        _set_meta(redis, run_id, total=planned + stream.total)
    count, last = 0, cursor
    for row in stream:
        count += 1
        last = str(row["Id"])
        if count == settings.read_chunk:
            spec: dict[str, Any] = {"object": obj.object_name, "after": cursor, "upto": last}
            _enqueue_chunk(redis, jobs, run_id, n, spec, {"plan_cursor": last, "planned": planned + count})
            n, planned, cursor, count = n + 1, planned + count, last, 0
    if count:  # the last window is open-ended: records created meanwhile are read too
        spec = {"object": obj.object_name, "after": cursor, "upto": None}
        _enqueue_chunk(redis, jobs, run_id, n, spec, {"plan_cursor": last, "planned": planned + count})
        planned += count
    _set_meta(redis, run_id, total=planned)


def _plan_to_salesforce(
    context: SyncContext, jobs: BulkJobs, run_id: str, meta: Mapping[str, str], settings: BulkSettings
) -> None:
    redis = context.redis
    use_index = meta["kind"] == "initial"
    if use_index and meta.get("index_done") != "1":
        _build_index(context, run_id, context.sync_config().active_objects)
        _set_meta(redis, run_id, index_done="1")
    since = parse_timestamp(meta["since"]) if meta.get("since") else EPOCH
    until = datetime.now(UTC)
    skip = int(meta.get("planned") or 0)  # people already in enqueued chunks (the platform lists in a stable order)
    n = int(meta.get("chunks_total") or 0)
    batch: list[dict[str, Any]] = []
    seen = 0
    for contact in context.platform.changed_since(since, until):
        seen += 1
        if seen <= skip:
            continue
        batch.append(to_salesforce.contact_to_json(contact))
        if len(batch) >= settings.write_chunk:
            spec = {"contacts": batch, "index": use_index}
            _enqueue_chunk(redis, jobs, run_id, n, spec, {"planned": seen, "total": seen})
            n, batch = n + 1, []
    if batch:
        _enqueue_chunk(redis, jobs, run_id, n, {"contacts": batch, "index": use_index}, {"planned": seen})
    _set_meta(redis, run_id, total=max(seen, skip), platform_until=until.isoformat())


def _object_config(context: SyncContext, object_name: str) -> SyncObjectConfig:
    obj = context.sync_config().for_object(object_name)
    if obj is None or not obj.active:
        raise SyncFailure(
            SyncError(SyncErrorCode.CONFIGURATION, f"{object_name} is not an active Messaging_Sync_Object__mdt.")
        )
    return obj


# -- the Salesforce side's matching index (platform → Salesforce initial runs) ----------------------------------------


def _index_values(kind: str, value: Any, region: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    if kind == "phone":
        try:
            return normalize_phone(value, region)
        except ValueError:
            return None
    return value.strip().casefold()


def _build_index(context: SyncContext, run_id: str, objects: Sequence[SyncObjectConfig]) -> None:
    """Index every record of the active objects by platform id, phone and email (streamed, page by page)."""
    redis = context.redis
    region = context.settings.phone_default_region
    for obj in objects:
        fields: dict[str, str] = {obj.platform_id_field: "pid"}
        for mapping in obj.matching_mappings:
            kind = "phone" if mapping.platform_field == platform_fields.PHONE else mapping.platform_field
            for name in mapping.salesforce_fields:
                fields.setdefault(name, kind)
        stream = context.salesforce.iter_query(queries.all_records(obj.object_name, fields))
        page: list[dict[str, Any]] = []
        for row in stream:
            page.append(row)
            if len(page) >= 2000:
                _index_page(redis, run_id, obj.object_name, page, fields, region)
                page = []
        _index_page(redis, run_id, obj.object_name, page, fields, region)


def _index_page(
    redis: Any, run_id: str, object_name: str, rows: Sequence[Mapping[str, Any]], fields: Mapping[str, str], region: str
) -> None:
    if not rows:
        return
    entries: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        ref = f"{object_name}:{row['Id']}"
        for name, kind in fields.items():
            value = _index_values(
                kind, next((v for k, v in row.items() if k.casefold() == name.casefold()), None), region
            )
            if value is not None:
                entries[(kind, value)].add(ref)
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, value in entries:
        by_kind[kind].append(value)
    pipe = redis.pipeline(transaction=False)
    for kind, values in by_kind.items():
        pipe.hmget(key(run_id, f"idx:{kind}"), values)
    existing = pipe.execute()
    pipe = redis.pipeline(transaction=False)
    for (kind, values), found in zip(by_kind.items(), existing, strict=True):
        merged = {}
        for value, old in zip(values, found, strict=True):
            refs = entries[(kind, value)] | (set(text(old).split(",")) if old else set())
            merged[value] = ",".join(sorted(refs))
        pipe.hset(key(run_id, f"idx:{kind}"), mapping=merged)
        pipe.expire(key(run_id, f"idx:{kind}"), RUN_TTL)
    pipe.execute()


# -- chunk jobs ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Done:
    """One record's outcome and what marking it done stores."""

    record_key: str
    outcome: str  # created | updated | skipped | failed
    error_code: str | None = None
    failure: writeback.WriteBack | None = None
    marks: tuple[state.Mark | None, ...] = ()  # versions and fingerprints to remember
    link: tuple[str, str, dict[str, Any]] | None = None  # object, record id, Salesforce fields owed


class _Marker:
    def __init__(self, context: SyncContext, run_id: str, dry_run: bool) -> None:
        self.redis = context.redis
        self.run_id = run_id
        self.dry_run = dry_run
        self.claim = context.redis.register_script(_CLAIM_OUTCOME)

    def done(self, items: Sequence[_Done]) -> None:
        """Store outcomes, marks and owed links of these records in one transaction."""
        if not items:
            return
        pipe = self.redis.pipeline(transaction=True)
        for item in items:
            failure = item.failure.to_json() if item.failure is not None and not self.dry_run else ""
            self.claim(
                keys=[
                    key(self.run_id, "outcomes"),
                    key(self.run_id, "counts"),
                    key(self.run_id, "errors"),
                    writeback.PENDING_KEY,
                ],
                args=[item.record_key, item.outcome, item.error_code or "", failure],
                client=pipe,
            )
            if self.dry_run:
                continue
            state.mark(pipe, item.marks)
            if item.link is not None:
                object_name, record_id, fields = item.link
                pipe.hset(key(self.run_id, f"links:{object_name}"), record_id, json.dumps(fields, default=str))
        pipe.expire(key(self.run_id, "outcomes"), RUN_TTL)
        pipe.expire(key(self.run_id, "counts"), RUN_TTL)
        pipe.expire(key(self.run_id, "errors"), RUN_TTL)
        pipe.execute()


def run_chunk(context: SyncContext, jobs: BulkJobs, run_id: str, chunk_id: str) -> dict[str, int]:
    """Sync one chunk; a chunk already done returns at once. Raises for RQ's retry on transient failures."""
    redis = context.redis
    try:
        meta = _check_running(redis, run_id)
    except RunStopped:
        return {"stopped": 1}
    if redis.sismember(key(run_id, "chunks_done"), chunk_id):
        return {"already_done": 1}
    raw = redis.hget(key(run_id, "chunks"), chunk_id)
    if raw is None:
        raise KeyError(f"bulk run {run_id} has no chunk {chunk_id}")
    spec = json.loads(raw)
    settings = bulk_settings()
    allowance = budget.bulk_allowance(context.salesforce.usage(), reserve=settings.budget_reserve, now=time.time())
    if not allowance.allowed:
        _pause(redis, jobs, run_id, allowance.reason, allowance.retry_after, settings, "bulk_chunk", run_id, chunk_id)
        return {"paused": 1}
    if meta.get("status") == "paused":
        _set_meta(redis, run_id, status="running", pause_reason="")
    marker = _Marker(context, run_id, meta.get("dry_run") == "1")
    try:
        if meta["direction"] == TO_PLATFORM:
            result = _chunk_to_platform(context, meta, spec, chunk_id, marker, settings)
        else:
            result = _chunk_to_salesforce(context, meta, spec, chunk_id, marker, settings)
    except ApiBudgetExhausted as exc:
        _pause(redis, jobs, run_id, exc.detail, exc.retry_after, settings, "bulk_chunk", run_id, chunk_id)
        return {"paused": 1}
    except RunStopped:
        return {"stopped": 1}
    pipe = redis.pipeline(transaction=True)
    pipe.sadd(key(run_id, "chunks_done"), chunk_id)
    pipe.expire(key(run_id, "chunks_done"), RUN_TTL)
    pipe.execute()
    owes_links = meta["direction"] == TO_PLATFORM and meta.get("dry_run") != "1"
    if (
        owes_links
        and redis.hlen(key(run_id, f"links:{spec['object']}")) >= settings.link_batch
        and redis.set(key(run_id, "flush_queued"), "1", nx=True, ex=600)
    ):
        jobs.now("bulk_flush_links", run_id)
    _maybe_finish(redis, jobs, run_id)
    return result


def _pause(
    redis: Any,
    jobs: BulkJobs,
    run_id: str,
    reason: str,
    retry_after: float | None,
    settings: BulkSettings,
    function: str,
    *args: Any,
) -> None:
    delay = min(float(retry_after or 60.0), float(settings.max_pause_seconds))
    delay = max(delay, 1.0)
    _set_meta(redis, run_id, status="paused", pause_reason=reason, resume_at=time.time() + delay)
    log.warning("bulk run %s paused for %.0f s: %s", run_id, delay, reason)
    jobs.later(delay, function, *args)


def _maybe_finish(redis: Any, jobs: BulkJobs, run_id: str) -> None:
    meta = _meta(redis, run_id)
    if meta.get("plan_done") != "1" or meta.get("status") in ("stopped", "done"):
        return
    if int(redis.scard(key(run_id, "chunks_done"))) < int(meta.get("chunks_total") or 0):
        return
    if redis.set(key(run_id, "finishing"), "1", nx=True, ex=RUN_TTL):
        _set_meta(redis, run_id, status="finishing")
        jobs.now("bulk_finish", run_id)


def _in_batches(items: Sequence[str], size: int = IN_BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _parallel(settings: BulkSettings, fn: Callable[[Any], Any], groups: Iterable[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="bulk") as pool:
        return list(pool.map(fn, groups))


# Salesforce → platform ----------------------------------------------------------------------------------------------


def _chunk_to_platform(
    context: SyncContext,
    meta: Mapping[str, str],
    spec: Mapping[str, Any],
    chunk_id: str,
    marker: _Marker,
    settings: BulkSettings,
) -> dict[str, int]:
    obj = _object_config(context, spec["object"])
    since = parse_timestamp(meta["since"]) if meta.get("since") else None
    soql = queries.record_window(obj, after=spec.get("after"), upto=spec.get("upto"), since=since)
    records = list(context.salesforce.iter_query(soql, api="rest"))
    region = context.settings.phone_default_region

    # Records sharing a phone go through one thread, in order: the second then meets the first's platform contact
    # and is refused as a duplicate instead of racing it into the same profile.
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        phone = record_phone(record, obj, region)
        groups[phone or f"id:{record['Id']}"].append(record)
    transient: list[SyncError] = []
    run_id = marker.run_id
    prefetched = _prefetch_by_phone(context, _phones_to_look_up(context, obj, groups), settings)

    def work(group: list[dict[str, Any]]) -> None:
        for position, record in enumerate(group):
            if _meta_status(context.redis, run_id) == "stopped":
                raise RunStopped(run_id)
            try:
                # after the first record of a phone, the platform may hold what that record just wrote: ask again
                known = prefetched if position == 0 else None
                item = _record_to_platform(context, obj, record, run_id, marker.dry_run, known)
            except SyncFailure as failure:
                if not failure.error.transient:
                    raise
                transient.append(failure.error)
                continue
            marker.done([item])

    _parallel(settings, work, list(groups.values()))
    if transient:
        raise TransientChunkFailures(transient)
    return {"records": len(records)}


class TransientChunkFailures(Exception):
    """Some records of the chunk failed transiently; the others are marked done. RQ retries the chunk."""

    def __init__(self, errors: list[SyncError]) -> None:
        super().__init__(f"{len(errors)} record(s) failed transiently: " + "; ".join(e.code for e in errors[:5]))
        self.errors = errors


def _phones_to_look_up(
    context: SyncContext, obj: SyncObjectConfig, groups: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[str]:
    """Phones of the records that will reach matching: not already synced at this version, not an echo."""
    keyed = [(phone, group[0]) for phone, group in groups.items() if not phone.startswith("id:")]
    if not keyed:
        return []
    states = state.record_states(context.redis, obj.object_name, [str(record["Id"]) for _, record in keyed])
    phones = []
    for (phone, record), last in zip(keyed, states, strict=True):
        version = parse_timestamp(str(record["SystemModstamp"]))
        if last.is_stale(version) or last.is_echo(map_record_to_contact(record, obj, rules=context.rules).fingerprint):
            continue
        phones.append(phone)
    return phones


def _prefetch_by_phone(
    context: SyncContext, phones: Sequence[str], settings: BulkSettings
) -> Mapping[str, Contact | None] | None:
    """The platform contacts holding these phones, a hundred per call, when the adapter can look up in batches
    and matching needs nothing but the phone there; None otherwise (each record is then looked up on its own)."""
    lookup = getattr(context.platform, "find_contacts_by_phone", None)
    caps = context.platform.capabilities
    if lookup is None or caps.lookup_by_platform_id or caps.lookup_by_crm_id or not phones:
        return None
    batches = [list(phones[i : i + 100]) for i in range(0, len(phones), 100)]
    found: dict[str, Contact | None] = dict.fromkeys(phones)
    for answer in _parallel(settings, lookup, batches):
        found.update(answer)
    return found


def _meta_status(redis: Any, run_id: str) -> str:
    raw = redis.hget(key(run_id, "meta"), "status")
    return text(raw) if raw else ""


def _record_to_platform(
    context: SyncContext,
    obj: SyncObjectConfig,
    record: dict[str, Any],
    run_id: str,
    dry_run: bool,
    known: Mapping[str, Contact | None] | None = None,
) -> _Done:
    redis = context.redis
    record_id = str(record["Id"])
    short = record_id[:15]
    version = parse_timestamp(str(record["SystemModstamp"]))
    last = state.record_state(redis, obj.object_name, record_id)
    record_key = f"{obj.object_name}:{short}"
    if last.is_stale(version):
        return _Done(record_key, "skipped")
    marks = (state.record_synced(obj.object_name, record_id, version),)
    if record_skip_reason(record, obj) is not None:
        return _Done(record_key, "skipped", marks=marks)
    mapped = map_record_to_contact(record, obj, rules=context.rules)
    if last.is_echo(mapped.fingerprint):
        return _Done(record_key, "skipped", marks=marks)
    if mapped.refusal is not None:
        plan = plan_to_platform(mapped, obj, _no_match())
    else:
        phone = mapped.contact.phone
        owner = None
        if phone and not dry_run:
            claim = key(run_id, "phones")
            if redis.hsetnx(claim, phone, short):
                redis.expire(claim, RUN_TTL)
            owner = text(redis.hget(claim, phone) or b"")
        if owner and owner != short:
            error = SyncError(
                SyncErrorCode.PHONE_MATCH_CRM_ID_MISMATCH,
                f"{obj.object_name} {owner} has the same phone {phone} in this run; one platform contact cannot "
                "belong to two Salesforce records.",
                (platform_fields.PHONE,),
            )
            plan = replace(plan_to_platform(mapped, obj, _no_match()), errors=(error,))
        else:
            decision = (
                match_on_platform(context, mapped.contact, obj, known)
                if known is not None and mapped.contact.phone in known
                else match_on_platform(context, mapped.contact, obj)
            )
            plan = plan_to_platform(mapped, obj, decision)
    if plan.status is SyncStatus.FAILURE or plan.platform_write is None:
        return _finish_record(context, obj, record_id, record_key, plan, None, marks, mapped, run_id, dry_run)
    if dry_run:
        return _Done(record_key, "created" if plan.platform_write.is_create else "updated", plan.error_code)
    write = plan.platform_write
    try:
        view = apply_platform_write(context, write)
    except SyncFailure as failure:
        if failure.error.transient:
            raise
        plan = plan.failed(failure.error)
        return _finish_record(context, obj, record_id, record_key, plan, None, marks, mapped, run_id, dry_run)
    if write.is_create and view.platform_id:
        plan = plan.with_created_platform_id(view.platform_id)
    return _finish_record(context, obj, record_id, record_key, plan, view, marks, mapped, run_id, dry_run)


def _no_match() -> Any:
    from gateway.domain.matching import Skip

    return Skip("not matched")


def _finish_record(
    context: SyncContext,
    obj: SyncObjectConfig,
    record_id: str,
    record_key: str,
    plan: SyncPlan,
    view: Contact | None,
    marks: tuple[state.Mark, ...],
    mapped: Any,
    run_id: str,
    dry_run: bool,
) -> _Done:
    failed = plan.status is SyncStatus.FAILURE
    if failed:
        outcome = "failed"
    elif plan.platform_write is None:
        outcome = "skipped"
    else:
        outcome = "created" if plan.platform_write.is_create else "updated"
    failure = None
    if plan.errors:
        values = writeback.result_values(
            direction=ResultDirection.TO_PLATFORM,
            status=plan.status.value,
            object_name=obj.object_name,
            record_id=record_id,
            error_code=plan.error_code,
            message=plan.message or None,
            request_endpoint=f"{context.platform.name}:bulk",
            request_body={"platformRequest": plan.platform_write.values()} if plan.platform_write else None,
            platform=context.platform.name,
            platform_contact_id=plan.platform_id,
            run_id=run_id,
        )
        failure = writeback.WriteBack(result=values)
    all_marks: list[state.Mark | None] = [] if failed else list(marks)
    link = None
    if not failed:
        fields: dict[str, Any] = dict(plan.salesforce_write.fields) if plan.salesforce_write else {}
        if view is not None:
            if view.sms_status is not mapped.reported_status:
                fields[obj.status_field] = status_label(view.sms_status)
            fields[LAST_SYNCED_AT_FIELD] = salesforce_datetime(datetime.now(UTC))
            all_marks.append(state.platform_written(view))
        if fields:
            link = (obj.object_name, record_id, fields)
        all_marks.append(state.record_sent(obj.object_name, record_id, mapped.fingerprint))
    if dry_run:
        return _Done(record_key, outcome, plan.error_code)
    return _Done(record_key, outcome, plan.error_code, failure, tuple(all_marks), link)


def flush_links(context: SyncContext, run_id: str, *, everything: bool = False) -> int:
    """Write the links and statuses a run owes Salesforce, a large batch at a time; returns how many were written.

    An entry is removed only after Salesforce answered for it, so a crash repeats a batch (updates are idempotent).
    """
    redis = context.redis
    redis.delete(key(run_id, "flush_queued"))
    lock = key(run_id, "flush_lock")
    token = uuid.uuid4().hex
    if not redis.set(lock, token, nx=True, ex=3600):
        raise FlushBusy(run_id)  # another job is writing this run's links; two would send the same batch twice
    try:
        return _flush_links_locked(context, run_id, everything)
    finally:
        if redis.get(lock) in (token.encode(), token):
            redis.delete(lock)


class FlushBusy(Exception):
    """Another job is writing this run's links right now."""


def _flush_links_locked(context: SyncContext, run_id: str, everything: bool) -> int:
    redis = context.redis
    settings = bulk_settings()
    written = 0
    for raw_name in list(redis.scan_iter(match=key(run_id, "links:*"))):
        name = text(raw_name)
        object_name = name.rsplit(":", 1)[1]
        while True:
            batch: dict[str, dict[str, Any]] = {}
            for field_, value in redis.hscan_iter(name, count=1000):
                batch[text(field_)] = json.loads(value)
                if len(batch) >= settings.link_batch:
                    break
            if not batch or (not everything and len(batch) < settings.link_batch):
                break
            ids = list(batch)
            results = context.salesforce.update(object_name, [{"Id": rid, **batch[rid]} for rid in ids])
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


def flush_links_when_allowed(context: SyncContext, run_id: str) -> int:
    """`flush_links` for the mid-run job: out of budget, it leaves the entries for later (the run's end flushes)."""
    try:
        return flush_links(context, run_id)
    except FlushBusy:
        return 0
    except ApiBudgetExhausted as exc:
        log.warning("bulk run %s: links left for later: %s", run_id, exc.detail)
        return 0


# platform → Salesforce ----------------------------------------------------------------------------------------------


def _chunk_to_salesforce(
    context: SyncContext,
    meta: Mapping[str, str],
    spec: Mapping[str, Any],
    chunk_id: str,
    marker: _Marker,
    settings: BulkSettings,
) -> dict[str, int]:
    redis = context.redis
    run_id = marker.run_id
    config = context.sync_config()
    contacts = [to_salesforce.contact_from_json(c) for c in spec["contacts"]]
    keyed = [(c, _platform_key(c)) for c in contacts if _platform_key(c)]
    # one chunk owns each person for the run: a re-planned duplicate chunk leaves them alone
    claims_key = key(run_id, "claims")
    pipe = redis.pipeline(transaction=False)
    for _, k in keyed:
        pipe.hsetnx(claims_key, k, chunk_id)
    pipe.expire(claims_key, RUN_TTL)
    pipe.execute()
    owners = redis.hmget(claims_key, [k for _, k in keyed]) if keyed else []
    mine = [
        (c, k) for (c, k), owner in zip(keyed, owners, strict=True) if owner is not None and text(owner) == chunk_id
    ]
    # done before (this run or an earlier one): version mark not older, or our own echo
    fresh: list[tuple[Contact, str]] = []
    skipped: list[_Done] = []
    done_before = state.already_synced(redis, [c for c, _ in mine])
    for (c, k), done in zip(mine, done_before, strict=True):
        if done:
            skipped.append(_Done(f"platform:{k}", "skipped"))
        else:
            fresh.append((c, k))
    marker.done(skipped)
    if _meta_status(redis, run_id) == "stopped":
        raise RunStopped(run_id)
    if not fresh:
        return {"records": len(contacts)}
    candidates = _candidates_by_contact(context, run_id, [c for c, _ in fresh], bool(spec.get("index")))
    region = context.settings.phone_default_region
    plans = [
        plan_to_salesforce(
            c, config, match_salesforce_record(c, rows, config, default_region=region), rules=context.rules
        )
        for (c, _), rows in zip(fresh, candidates, strict=True)
    ]
    dry_run = marker.dry_run
    if not dry_run:
        plans = to_salesforce.write_plans(context, plans)
    items: list[_Done] = []
    relink: list[tuple[Contact, str]] = []
    for (contact, k), plan in zip(fresh, plans, strict=True):
        write = plan.salesforce_write
        failed = plan.status is SyncStatus.FAILURE
        outcome = (
            "failed" if failed else ("skipped" if write is None else ("created" if write.is_create else "updated"))
        )
        if plan.status is SyncStatus.FAILURE and plan.record_id and write is not None and write.is_create:
            outcome = "failed"
        failure = None
        if plan.errors:
            failure = writeback.WriteBack(result=_failure_values(context, contact, plan, run_id))
        marks = () if failed else (state.contact_synced(contact),)
        items.append(_Done(f"platform:{k}", outcome, plan.error_code, failure, marks))
        if (
            not failed
            and not dry_run
            and plan.record_id
            and contact.phone
            and not _same_id(contact.crm_id, plan.record_id)
        ):
            relink.append((contact, plan.record_id))
    if relink:
        _link_platform(context, relink, settings)
    marker.done(items)
    return {"records": len(contacts)}


def _same_id(a: str | None, b: str | None) -> bool:
    from gateway.domain.matching import same_salesforce_id

    return same_salesforce_id(a, b)


def _platform_key(contact: Contact) -> str:
    return contact.platform_id or contact.phone or ""


def _failure_values(context: SyncContext, contact: Contact, plan: SyncPlan, run_id: str) -> dict[str, Any]:
    operation = "create" if plan.salesforce_write and plan.salesforce_write.is_create else "update"
    return writeback.result_values(
        direction=ResultDirection.TO_SALESFORCE,
        status=plan.status.value,
        object_name=plan.object_name,
        record_id=plan.record_id,
        error_code=plan.error_code,
        message=plan.message or None,
        request_endpoint=f"salesforce:bulk-{operation}:{plan.object_name or '-'}",
        request_body={"contact": to_salesforce.contact_to_json(contact)},
        platform=context.platform.name,
        platform_contact_id=contact.platform_id,
        run_id=run_id,
    )


def _candidates_by_contact(
    context: SyncContext, run_id: str, contacts: Sequence[Contact], use_index: bool
) -> list[list[dict[str, Any]]]:
    """For each contact, the Salesforce rows it could match (index lookups, then only matched rows are read)."""
    if not use_index:
        rows: list[dict[str, Any]] = []
        for start in range(0, len(contacts), 100):
            rows.extend(to_salesforce._candidates(context, contacts[start : start + 100]))
        return [rows for _ in contacts]  # the domain picks each contact's own match among them
    redis = context.redis
    region = context.settings.phone_default_region
    lookups: list[list[tuple[str, str]]] = []
    for c in contacts:
        wanted = []
        if c.platform_id:
            wanted.append(("pid", c.platform_id.strip().casefold()))
        if c.phone:
            phone = _index_values("phone", c.phone, region)
            if phone:
                wanted.append(("phone", phone))
        if c.email:
            wanted.append(("email", c.email.strip().casefold()))
        lookups.append(wanted)
    pipe = redis.pipeline(transaction=False)
    flat = [w for wanted in lookups for w in wanted]
    for kind, value in flat:
        pipe.hget(key(run_id, f"idx:{kind}"), value)
    found = iter(pipe.execute())
    refs_per_contact: list[set[str]] = []
    for c, wanted in zip(contacts, lookups, strict=True):
        refs: set[str] = set()
        for _ in wanted:
            hit = next(found)
            if hit:
                refs.update(text(hit).split(","))
        if c.crm_id:
            refs.update(f"{obj.object_name}:{c.crm_id}" for obj in context.sync_config().active_objects)
        refs_per_contact.append(refs)
    by_object: dict[str, set[str]] = defaultdict(set)
    for refs in refs_per_contact:
        for ref in refs:
            object_name, _, record_id = ref.partition(":")
            by_object[object_name].add(record_id)
    fetched: dict[str, dict[str, Any]] = {}
    config = context.sync_config()
    for object_name, ids in by_object.items():
        obj = config.for_object(object_name)
        if obj is None:
            continue
        for batch in _in_batches(sorted(ids)):
            for found_row in context.salesforce.iter_query(queries.records_by_id(obj, batch), api="rest"):
                row = {**found_row, "attributes": {"type": obj.object_name}}
                fetched[f"{obj.object_name}:{row['Id']}"] = row
                fetched[f"{obj.object_name}:{str(row['Id'])[:15]}"] = row
    return [[fetched[r] for r in refs if r in fetched] for refs in refs_per_contact]


def _link_platform(context: SyncContext, pairs: Sequence[tuple[Contact, str]], settings: BulkSettings) -> None:
    """Write each Salesforce id into its platform contact's CRM-id field (and remember the echo)."""
    redis = context.redis

    def link(pair: tuple[Contact, str]) -> state.Mark | None:
        contact, record_id = pair
        try:
            view = context.platform.upsert_contact(Contact(phone=contact.phone, crm_id=record_id), subscribe=False)
        except SyncFailure as failure:
            if failure.error.transient:
                raise
            log.warning(
                "could not store Salesforce id %s on platform contact %s: %s",
                record_id,
                contact.platform_id,
                failure.error.code,
            )
            return None
        return state.platform_written(view)

    marks = [m for m in _parallel(settings, link, pairs) if m is not None]
    if marks:
        pipe = redis.pipeline(transaction=False)
        state.mark(pipe, marks)
        pipe.execute()


# -- finishing -------------------------------------------------------------------------------------------------------


def finish_run(context: SyncContext, jobs: BulkJobs, run_id: str) -> dict[str, Any]:
    """Write what the run still owes Salesforce (links, failure rows, the summary row), then advance the
    high-water mark to the run's start and mark it done. Safe to repeat."""
    redis = context.redis
    meta = _meta(redis, run_id)
    settings = bulk_settings()
    dry_run = meta.get("dry_run") == "1"
    try:
        if not dry_run:
            flush_links(context, run_id, everything=True)
            writeback.flush(context.redis, context.salesforce)
        if meta.get("summary_written") != "1":
            _set_meta(redis, run_id, status="done", finished_at=time.time())
            run = progress(redis, run_id)
            if run["processed"] or meta.get("kind") != "incremental":  # a night without changes costs no call
                write_sync_results(context.salesforce, [reports.summary_entry(run, platform=context.platform.name)])
            _set_meta(redis, run_id, summary_written="1")
    except FlushBusy:  # a mid-run flush is still writing: the run is done only once every link is written
        jobs.later(5.0, "bulk_finish", run_id)
        return progress(redis, run_id)
    except ApiBudgetExhausted as exc:
        _set_meta(redis, run_id, status="paused")
        _pause(redis, jobs, run_id, exc.detail, exc.retry_after, settings, "bulk_finish", run_id)
        return progress(redis, run_id)
    if not dry_run:
        started = datetime.fromtimestamp(float(meta.get("started_at") or meta["created_at"]), UTC)
        set_high_water_mark(redis, meta["direction"], meta["object"], started)
    _set_meta(redis, run_id, status="done", finished_at=meta.get("finished_at") or time.time())
    if meta.get("next_run") and redis.set(key(run_id, "next_started"), "1", nx=True, ex=RUN_TTL):
        jobs.now("bulk_plan", meta["next_run"])  # `--to both`: the other direction starts once this one is done
    return progress(redis, run_id)


def chain_runs(redis: Any, run_ids: Sequence[str]) -> None:
    """Run these one after the other: each run's end starts the next (its planner must not be queued yet)."""
    for first, then in pairwise(run_ids):
        _set_meta(redis, first, next_run=then)
        _set_meta(redis, then, status="waiting")


def start_incremental(redis: Any, jobs: BulkJobs, objects: Sequence[str], directions: Sequence[str]) -> list[str]:
    """Queue an incremental run per object and direction (from each high-water mark minus the overlap)."""
    overlap = timedelta(seconds=bulk_settings().overlap_seconds)
    runs = []
    for direction in directions:
        for object_name in objects if direction == TO_PLATFORM else objects[:1]:
            since = incremental_since(redis, direction, object_name, overlap)
            run_id = create_run(redis, direction=direction, object_name=object_name, kind="incremental", since=since)
            jobs.now("bulk_plan", run_id)
            runs.append(run_id)
    return runs


# -- schedule --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """When the periodic bulk work runs, in the organisation's time zone (`GATEWAY_SYNC_TIMEZONE`, an IANA name).

    `GATEWAY_INCREMENTAL_AT` (default `02:00`) and `GATEWAY_DONATIONS_AT` (default `06:00,18:00`) are local times of
    day; `GATEWAY_INCREMENTAL_OBJECTS` (default `Contact,Lead`) and `GATEWAY_INCREMENTAL_DIRECTIONS` (default both).
    """

    timezone: str = "UTC"
    incremental_at: tuple[str, ...] = ("02:00",)
    donations_at: tuple[str, ...] = ("06:00", "18:00")
    objects: tuple[str, ...] = ("Contact", "Lead")
    directions: tuple[str, ...] = (TO_PLATFORM, TO_SALESFORCE)

    @classmethod
    def from_env(cls) -> Schedule:
        """The schedule from `GATEWAY_SYNC_TIMEZONE`, `GATEWAY_INCREMENTAL_AT`, … validated by `gateway.config`."""
        c = load_settings().schedule
        return cls(
            timezone=c.timezone,
            incremental_at=c.incremental_at,
            donations_at=c.donations_at,
            objects=c.incremental_objects,
            directions=c.incremental_directions,
        )


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"GATEWAY_SYNC_TIMEZONE: {name!r} is not an IANA time zone (e.g. America/New_York)") from None


def _slot_time(slot: str) -> tuple[int, int]:
    try:
        hours, minutes = (int(p) for p in slot.split(":"))
    except ValueError:
        raise ValueError(f"{slot!r} is not a time of day (HH:MM)") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"{slot!r} is not a time of day (HH:MM)")
    return hours, minutes


def due_slot(
    now: datetime, slots: Sequence[str], timezone: str, *, window: timedelta = timedelta(hours=6)
) -> str | None:
    """The slot (`YYYY-MM-DD HH:MM`, local) that is due at `now`: passed today (local time) less than `window` ago."""
    local = now.astimezone(_zone(timezone))
    for slot in sorted(slots, reverse=True):
        hours, minutes = _slot_time(slot)
        at = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        if at <= local < at + window:
            return f"{at:%Y-%m-%d %H:%M}"
    return None


def claim_due_slot(redis: Any, name: str, slots: Sequence[str], timezone: str, now: datetime | None = None) -> bool:
    """True exactly once per due slot across every worker (a Redis claim per slot)."""
    slot = due_slot(now or datetime.now(UTC), slots, timezone)
    if slot is None:
        return False
    return bool(redis.set(f"gateway:bulk:schedule:{name}:{slot}", "1", nx=True, ex=3 * 86400))
