"""The end of a bulk run: what it still owes Salesforce, its summary row, its high-water mark, the next run.

Guarantees: `finish_run` is safe to repeat: the summary row is written once, the high-water mark moves to the
run's start only after everything was written, and a chained run is started once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from gateway.salesforce.errors import ApiBudgetExhausted
from gateway.salesforce.sync_results import write_sync_results
from gateway.sync import reports, writeback
from gateway.sync.bulk import links
from gateway.sync.bulk.runs import RUN_TTL, BulkJobs, key, meta, pause, progress, set_high_water_mark, set_meta
from gateway.sync.context import SyncContext

# How long the run's end waits in its job for a mid-run flush to finish before it looks again in a later job: a tail
# flush (a few Collections calls) usually ends within it, and a later job starts a second or more afterwards (RQ's
# scheduler looks once a second). A flush running longer (a Bulk job, or a dead flusher's lock) is not waited for.
FLUSH_WAIT_SECONDS = 10.0


def finish_run(context: SyncContext, jobs: BulkJobs, run_id: str) -> dict[str, Any]:
    """Write what the run still owes Salesforce (links, failure rows, the summary row), then advance the
    high-water mark to the run's start and mark it done. Safe to repeat."""
    redis = context.redis
    found = meta(redis, run_id)
    settings = context.settings.bulk
    dry_run = found.get("dry_run") == "1"
    try:
        if not dry_run:
            links.flush(context, run_id, everything=True, wait=FLUSH_WAIT_SECONDS)
            writeback.flush(context.redis, context.salesforce)
        if found.get("summary_written") != "1":
            set_meta(redis, run_id, status="done", finished_at=time.time())
            run = progress(redis, run_id)
            if run["processed"] or found.get("kind") != "incremental":  # a night without changes costs no call
                write_sync_results(context.salesforce, [reports.summary_entry(run, platform=context.platform.name)])
            set_meta(redis, run_id, summary_written="1")
    except links.FlushBusy:  # a mid-run flush is still writing: the run is done only once every link is written
        # looked at again each second (a retry that finds it still busy costs one job and no Salesforce call; it
        # waits in its job only for a flush that began within FLUSH_WAIT_SECONDS)
        jobs.later(1.0, "bulk_finish", run_id)
        return progress(redis, run_id)
    except ApiBudgetExhausted as exc:
        set_meta(redis, run_id, status="paused")
        pause(redis, jobs, run_id, exc.detail, exc.retry_after, settings, "bulk_finish", run_id)
        return progress(redis, run_id)
    if not dry_run:
        started = datetime.fromtimestamp(float(found.get("started_at") or found["created_at"]), UTC)
        set_high_water_mark(redis, found["direction"], found["object"], started)
    set_meta(redis, run_id, status="done", finished_at=found.get("finished_at") or time.time())
    if found.get("next_run") and redis.set(key(run_id, "next_started"), "1", nx=True, ex=RUN_TTL):
        jobs.now("bulk_plan", found["next_run"])  # `--to both`: the other direction starts once this one is done
    return progress(redis, run_id)
