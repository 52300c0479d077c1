"""Whole-database syncs: the initial sync of two databases that never met, and the nightly incremental pull.

A run is planned into chunks (`planning`, with the Salesforce side's matching `index` for platform → Salesforce
initial runs) and each chunk is one RQ job on the `bulk` queue (`chunks`), so any number of workers share it. A
chunk syncs each record through the same per-record path as real time; what differs is its sink: a run counts
outcomes per record once, logs only failures, and owes Salesforce its links in large batches (`links`). A run's
records, progress, stop/resume and high-water marks are in `runs`; its end in `finish`; when it runs, in
`gateway.sync.schedule`.

Guarantees (each module states its own): memory bounded by the chunk size; resumable after a crash, a
`REQUEST_LIMIT_EXCEEDED` or a stop without sending or counting anything twice; paused, not failed, when the API
budget is spent; one `Sync_Result__c` per failed record and one summary row per run; a dry run writes nothing.
"""

from gateway.sync.bulk.chunks import run_chunk
from gateway.sync.bulk.finish import finish_run
from gateway.sync.bulk.links import flush_when_allowed as flush_links_when_allowed
from gateway.sync.bulk.planning import plan_run
from gateway.sync.bulk.runs import (
    TO_PLATFORM,
    TO_SALESFORCE,
    BulkJobs,
    RunStopped,
    chain_runs,
    create_run,
    progress,
    recent_runs,
    resume_run,
    start_incremental,
    stop_run,
)

__all__ = [
    "TO_PLATFORM",
    "TO_SALESFORCE",
    "BulkJobs",
    "RunStopped",
    "chain_runs",
    "create_run",
    "finish_run",
    "flush_links_when_allowed",
    "plan_run",
    "progress",
    "recent_runs",
    "resume_run",
    "run_chunk",
    "start_incremental",
    "stop_run",
]
