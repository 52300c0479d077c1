"""Planning a bulk run: cutting the whole database into chunk jobs on the `bulk` queue, so any number of workers
share it.

* Salesforce → platform: the planner reads only record ids (REST pages of 2,000, or Bulk API 2.0 above the client's
  threshold) and cuts them into id windows `(after, upto]` of `read_chunk` records.
* Platform → Salesforce: an initial run first indexes the Salesforce side (`index`), then the platform's people
  are streamed into chunks of `write_chunk` people (each chunk holds the people themselves).

Guarantees: memory is bounded by the chunk size (ids and people are streamed); the planner's cursor advances in the
same transaction that enqueues a chunk, so a planner repeated after a crash neither skips nor doubles a chunk; out
of API budget, the planner pauses the run and comes back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.config import BulkConfig
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.domain.freshness import parse_timestamp
from gateway.domain.sync_config import SyncObjectConfig
from gateway.redis_client import text
from gateway.salesforce import queries
from gateway.salesforce.errors import ApiBudgetExhausted
from gateway.sync import budget, to_salesforce
from gateway.sync.bulk import index
from gateway.sync.bulk.runs import (
    RUN_TTL,
    TO_PLATFORM,
    BulkJobs,
    check_running,
    key,
    maybe_finish,
    pause,
    progress,
    set_meta,
)
from gateway.sync.context import SyncContext

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


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
    found = check_running(redis, run_id)
    if not found.get("started_at"):
        set_meta(redis, run_id, started_at=time.time(), status="planning")
    if resume:
        done = {text(c) for c in redis.smembers(key(run_id, "chunks_done"))}
        for chunk_id in sorted(text(c) for c in redis.hkeys(key(run_id, "chunks"))):
            if chunk_id not in done:
                pipe = redis.pipeline(transaction=True)
                pipe.multi()
                jobs.chunk(pipe, run_id, chunk_id)
                pipe.execute()
    settings = context.settings.bulk
    try:
        if found.get("plan_done") != "1":
            if found["kind"] == "initial":
                budget.prime_org_allocation(context.salesforce)
            if found["direction"] == TO_PLATFORM:
                _plan_to_platform(context, jobs, run_id, found, settings)
            else:
                _plan_to_salesforce(context, jobs, run_id, found, settings)
            set_meta(redis, run_id, plan_done="1", status="running")
    except ApiBudgetExhausted as exc:
        pause(redis, jobs, run_id, exc.detail, exc.retry_after, settings, "bulk_plan", run_id)
        return progress(redis, run_id)
    maybe_finish(redis, jobs, run_id)
    return progress(redis, run_id)


def _plan_to_platform(
    context: SyncContext, jobs: BulkJobs, run_id: str, meta: Mapping[str, str], settings: BulkConfig
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
            set_meta(redis, run_id, total=int(meta.get("planned") or 0))
            return
    obj = object_config(context, object_name)
    stream = context.salesforce.iter_query(soql, estimate=estimate)
    planned = int(meta.get("planned") or 0)
    if stream.total is not None:
        set_meta(redis, run_id, total=planned + stream.total)
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
    set_meta(redis, run_id, total=planned)


def _plan_to_salesforce(
    context: SyncContext, jobs: BulkJobs, run_id: str, meta: Mapping[str, str], settings: BulkConfig
) -> None:
    redis = context.redis
    if not context.platform.capabilities.change_feed:
        raise SyncFailure(
            SyncError(SyncErrorCode.CONFIGURATION, f"{context.platform.name} cannot list its people for a bulk run.")
        )
    use_index = meta["kind"] == "initial"
    if use_index and meta.get("index_done") != "1":
        index.build_index(context, run_id, context.sync_config().active_objects)
        set_meta(redis, run_id, index_done="1")
    since = parse_timestamp(meta["since"]) if meta.get("since") else EPOCH
    until = datetime.now(UTC)
    # People already in enqueued chunks. Skipping them on a repeated pass is right only if the feed lists people in
    # the same order each time; otherwise they are listed and queued again (their sync is skipped by version).
    planned = int(meta.get("planned") or 0)
    skip = planned if context.platform.capabilities.ordered_change_feed else 0
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
    set_meta(redis, run_id, total=max(seen, planned), platform_until=until.isoformat())


def object_config(context: SyncContext, object_name: str) -> SyncObjectConfig:
    obj = context.sync_config().for_object(object_name)
    if obj is None or not obj.active:
        raise SyncFailure(
            SyncError(SyncErrorCode.CONFIGURATION, f"{object_name} is not an active Messaging_Sync_Object__mdt.")
        )
    return obj
