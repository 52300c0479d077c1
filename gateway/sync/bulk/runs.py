"""Bulk runs as records: their metadata, progress, stop and resume, pauses, high-water marks and the chaining of
runs. The one owner of a run's keys (`key()`); the other bulk modules ask it for theirs.

Guarantees: a run is a Redis hash kept `RUN_TTL` seconds; `progress()` computes counts, rate and ETA from it
without any outside call; a stopped run's chunks end at their next record.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Protocol

from gateway.config import BulkConfig, Settings
from gateway.domain.freshness import parse_timestamp
from gateway.redis_client import text
from gateway.sync import reports

log = logging.getLogger(__name__)

TO_PLATFORM, TO_SALESFORCE = "to-platform", "to-salesforce"
RUNS_KEY = "gateway:bulk:runs"  # zset run id -> created epoch
HWM_KEY = "gateway:bulk:hwm:{}:{}"  # direction, object -> ISO time every change before which is synced
RUN_TTL = 14 * 24 * 3600


def key(run_id: str, part: str) -> str:
    """The Redis key of one part of a run (`meta`, `counts`, `chunks`, `idx:phone`, `links:Contact`, …)."""
    return f"gateway:bulk:{run_id}:{part}"


class BulkJobs(Protocol):
    """How the sync layer asks for RQ jobs (implemented in `gateway.queues`, which owns queues and retry policy)."""

    def chunk(self, pipe: Any, run_id: str, chunk_id: str) -> None:
        """Enqueue one chunk job inside the caller's MULTI pipeline."""

    def later(self, delay: float, function: str, *args: Any) -> None:
        """Enqueue `gateway.jobs.<function>(*args)` on the bulk queue after `delay` seconds."""

    def now(self, function: str, *args: Any) -> None:
        """Enqueue `gateway.jobs.<function>(*args)` on the bulk queue."""


class RunStopped(Exception):
    """The run was stopped by an operator; its chunk jobs end without doing anything."""


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


def meta(redis: Any, run_id: str) -> dict[str, str]:
    raw = redis.hgetall(key(run_id, "meta"))
    if not raw:
        raise KeyError(f"no bulk run {run_id!r} (runs are kept {RUN_TTL // 86400} days)")
    return {text(k): text(v) for k, v in raw.items()}


def set_meta(redis: Any, run_id: str, **values: Any) -> None:
    redis.hset(key(run_id, "meta"), mapping={k: ("" if v is None else v) for k, v in values.items()})


def status_of(redis: Any, run_id: str) -> str:
    raw = redis.hget(key(run_id, "meta"), "status")
    return text(raw) if raw else ""


def check_running(redis: Any, run_id: str) -> dict[str, str]:
    """The run's metadata; `RunStopped` when an operator stopped it."""
    found = meta(redis, run_id)
    if found.get("status") == "stopped":
        raise RunStopped(run_id)
    return found


def processed(redis: Any, run_id: str) -> int:
    """How many records the run has finished with, whatever their outcome."""
    return _processed(_tally(redis, run_id, "counts"))


def _processed(counts: dict[str, int]) -> int:
    return sum(counts.get(name, 0) for name in reports.OUTCOMES)


def _tally(redis: Any, run_id: str, part: str) -> dict[str, int]:
    """One of the run's counters (`counts` by outcome, `errors` by code), as text -> int."""
    return {text(k): int(v) for k, v in (redis.hgetall(key(run_id, part)) or {}).items()}


def progress(redis: Any, run_id: str) -> dict[str, Any]:
    """The run as the CLI, the status API and reports show it: counts, errors, rate and ETA."""
    found = meta(redis, run_id)
    counts = _tally(redis, run_id, "counts")
    errors = _tally(redis, run_id, "errors")
    done = _processed(counts)
    total = max(int(float(found.get("total") or 0)), done)
    started = float(found.get("started_at") or 0)
    end = float(found.get("finished_at") or 0) or time.time()
    elapsed = max(0.0, end - started) if started else 0.0
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 and found.get("status") not in ("done", "stopped") else None
    return {
        "run_id": run_id,
        "kind": found.get("kind"),
        "direction": found.get("direction"),
        "object": found.get("object"),
        "since": found.get("since") or None,
        "dry_run": found.get("dry_run") == "1",
        "status": found.get("status"),
        "pause_reason": found.get("pause_reason") or None,
        "total": total,
        "processed": done,
        "counts": counts,
        "errors": errors,
        "chunks_total": int(found.get("chunks_total") or 0),
        "chunks_done": int(redis.scard(key(run_id, "chunks_done"))),
        "elapsed_seconds": round(elapsed, 3),
        "rate": round(rate, 1),
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "started_at": found.get("started_at") or None,
        "finished_at": found.get("finished_at") or None,
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
    meta(redis, run_id)
    set_meta(redis, run_id, status="stopped")


def resume_run(redis: Any, jobs: BulkJobs, run_id: str) -> None:
    """Go on with a stopped or failed run from its checkpoints: the planner re-enqueues every chunk not done."""
    meta(redis, run_id)
    set_meta(redis, run_id, status="planning", pause_reason="")
    redis.delete(key(run_id, "finishing"))
    jobs.now("bulk_plan", run_id, True)


def pause(
    redis: Any,
    jobs: BulkJobs,
    run_id: str,
    reason: str,
    retry_after: float | None,
    settings: BulkConfig,
    function: str,
    *args: Any,
) -> None:
    """Mark the run paused and queue `function(*args)` again once the wait is over (at most `max_pause_seconds`)."""
    delay = min(float(retry_after or 60.0), float(settings.max_pause_seconds))
    delay = max(delay, 1.0)
    set_meta(redis, run_id, status="paused", pause_reason=reason, resume_at=time.time() + delay)
    log.warning("bulk run %s paused for %.0f s: %s", run_id, delay, reason)
    jobs.later(delay, function, *args)


def maybe_finish(redis: Any, jobs: BulkJobs, run_id: str) -> None:
    """Queue the run's end once it is planned and every chunk is done (once)."""
    found = meta(redis, run_id)
    if found.get("plan_done") != "1" or found.get("status") in ("stopped", "done"):
        return
    if int(redis.scard(key(run_id, "chunks_done"))) < int(found.get("chunks_total") or 0):
        return
    if redis.set(key(run_id, "finishing"), "1", nx=True, ex=RUN_TTL):
        set_meta(redis, run_id, status="finishing")
        jobs.now("bulk_finish", run_id)


def high_water_mark(redis: Any, direction: str, object_name: str) -> datetime | None:
    raw = redis.get(HWM_KEY.format(direction, object_name))
    return parse_timestamp(text(raw)) if raw else None


def set_high_water_mark(redis: Any, direction: str, object_name: str, moment: datetime) -> None:
    redis.set(HWM_KEY.format(direction, object_name), moment.isoformat())


def incremental_since(redis: Any, direction: str, object_name: str, overlap: timedelta) -> datetime | None:
    """Where an incremental pull starts: the high-water mark minus the overlap (None: no run yet, pull all)."""
    mark = high_water_mark(redis, direction, object_name)
    return mark - overlap if mark is not None else None


def chain_runs(redis: Any, run_ids: Sequence[str]) -> None:
    """Run these one after the other: each run's end starts the next (its planner must not be queued yet)."""
    for first, then in pairwise(run_ids):
        set_meta(redis, first, next_run=then)
        set_meta(redis, then, status="waiting")


def start_incremental(redis: Any, jobs: BulkJobs, settings: Settings) -> list[str]:
    """Queue an incremental run per configured object and direction (from each high-water mark minus the overlap;
    the platform's people from at least as far back as its registry entry asks: `incremental_lookback_seconds`)."""
    overlap = timedelta(seconds=settings.bulk.overlap_seconds)
    entry = settings.platform_entry
    # A platform whose changes reach its change feed late declares how far back its nightly pull must look.
    platform_overlap = max(overlap, timedelta(seconds=entry.incremental_lookback_seconds if entry else 0))
    objects = settings.schedule.incremental_objects
    runs = []
    for direction in settings.schedule.incremental_directions:
        for object_name in objects if direction == TO_PLATFORM else objects[:1]:
            lookback = overlap if direction == TO_PLATFORM else platform_overlap
            since = incremental_since(redis, direction, object_name, lookback)
            run_id = create_run(redis, direction=direction, object_name=object_name, kind="incremental", since=since)
            jobs.now("bulk_plan", run_id)
            runs.append(run_id)
    return runs
