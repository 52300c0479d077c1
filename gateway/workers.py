"""The RQ worker the gateway runs, tuned so that a crashed job is noticed and retried within a minute.

RQ's defaults notice a job whose worker died only after its heartbeat lapses (monitoring interval + 60 s) and the
next registry sweep (every 10 min, and an idle worker blocks for ~7 min between sweeps). Here the heartbeat is
renewed every `MONITOR_INTERVAL` s and lapses `HEARTBEAT_GRACE` s later, every worker sweeps every
`MAINTENANCE_INTERVAL` s and never blocks longer than that, so a killed job is retried within
MONITOR_INTERVAL + HEARTBEAT_GRACE + 2 * MAINTENANCE_INTERVAL ≈ 45 s, through its retry policy (`jobs.RETRY`).
"""

from __future__ import annotations

from rq import Worker
from rq.job import Job

MONITOR_INTERVAL = 5
HEARTBEAT_GRACE = 10
MAINTENANCE_INTERVAL = 15
WORKER_TTL = MAINTENANCE_INTERVAL + 15  # RQ blocks on the queues for worker_ttl - 15 s between sweeps


class GatewayWorker(Worker):
    """A forking RQ worker (each job runs in a child, as RQ recommends for production) with fast crash detection."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("job_monitoring_interval", MONITOR_INTERVAL)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def get_heartbeat_ttl(self, job: Job) -> int:
        if job.timeout and job.timeout != -1:
            remaining = job.timeout - self.current_job_working_time
            return int(min(remaining, self.job_monitoring_interval)) + HEARTBEAT_GRACE
        return int(self.job_monitoring_interval) + HEARTBEAT_GRACE
