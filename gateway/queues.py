"""The gateway's RQ queues, their retry policy and timeouts, and how bulk runs are queued on them, by the names of the
job functions in `gateway.jobs`. Apart from that module, which imports the whole sync layer (and the Salesforce
client with it): a `gateway` command queues work from here and starts in a quarter of a second
(`tests/unit/gateway/test_cli_imports.py`); `gateway worker`, which runs the jobs, imports them before it forks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis
from rq import Queue, Retry, Worker

from gateway.sync.bulk import runs

REALTIME, SYNC, BULK = "realtime", "sync", "bulk"
QUEUES: tuple[str, ...] = (REALTIME, SYNC, BULK)  # workers listen in this order: opt-outs first, bulk last

# The first retry is immediate (a crashed worker's job should not wait for a scheduler), then exponential backoff.
RETRY = Retry(max=6, interval=[0, 10, 30, 120, 600, 1800])
JOB_TIMEOUT = 300
RESULT_TTL = 3600
FAILURE_TTL = 14 * 24 * 3600

# -- bulk runs (their jobs: `gateway.jobs.bulk_*`) ---------------------------------------------------------------------

BULK_JOB_TIMEOUT = 1800


class _BulkJobs:
    """`runs.BulkJobs` on RQ: chunk jobs on the `bulk` queue with the usual retry policy."""

    def __init__(self, connection: redis.Redis) -> None:
        self.queue = Queue(BULK, connection=connection)

    def _options(self) -> dict[str, Any]:
        return {"result_ttl": RESULT_TTL, "failure_ttl": FAILURE_TTL, "retry": RETRY}

    def chunk(self, pipe: Any, run_id: str, chunk_id: str) -> None:
        self.queue.enqueue_call(
            "gateway.jobs.bulk_chunk",
            args=(run_id, chunk_id),
            job_id=f"bulk-{run_id}-{chunk_id}",
            timeout=BULK_JOB_TIMEOUT,
            description=f"bulk run {run_id} chunk {chunk_id}",
            pipeline=pipe,
            **self._options(),
        )

    def later(self, delay: float, function: str, *args: Any) -> None:
        self.queue.enqueue_in(
            timedelta(seconds=delay), f"gateway.jobs.{function}", *args, job_timeout=BULK_JOB_TIMEOUT, **self._options()
        )

    def now(self, function: str, *args: Any) -> None:
        self.queue.enqueue_call(f"gateway.jobs.{function}", args=args, timeout=BULK_JOB_TIMEOUT, **self._options())


def bulk_jobs(connection: redis.Redis) -> _BulkJobs:
    return _BulkJobs(connection)


def start_bulk_runs(
    connection: redis.Redis,
    *,
    directions: Sequence[str],
    object_name: str,
    kind: str = "initial",
    since: Any = None,
    dry_run: bool = False,
) -> list[str]:
    """Record one run per direction, to run one after the other (Salesforce → platform first); queue the first."""
    run_ids = [
        runs.create_run(connection, direction=d, object_name=object_name, kind=kind, since=since, dry_run=dry_run)
        for d in directions
    ]
    runs.chain_runs(connection, run_ids)
    bulk_jobs(connection).now("bulk_plan", run_ids[0])
    return run_ids


def listening_workers(connection: redis.Redis, queue: str) -> int:
    """How many live workers listen on `queue` (RQ's worker registry: a killed or stopped worker drops out once its
    key expires, within `workers.WORKER_TTL` + 60 s)."""
    return len(Worker.all(connection=connection, queue=Queue(queue, connection=connection)))
