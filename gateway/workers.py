"""The RQ worker the gateway runs: no job is lost, held hostage by a stopped worker, or applied twice.

A worker can die (SIGKILL, the OOM killer) or stop (SIGSTOP, a paused VM, a stuck socket: it keeps its Redis
connection and carries on later, unaware) at any instant. RQ alone loses or holds work in both cases: a worker that
listens on several queues pops with `BLPOP`, so a job handed to a worker that is stopped (or dies) while it waits is
in no queue and no registry — held until that worker wakes, or lost (rq/rq#1716); and a worker that wakes after its
job was retried elsewhere finishes it a second time. `GatewayWorker` therefore:

1. takes jobs without blocking on the queues (`GatewayQueue.dequeue_any`): one Lua script moves the first job of the
   first non-empty queue into the started-job registry, with a heartbeat deadline, and writes the job's lease, so a
   job is always in a queue or in that registry; an idle worker looks again every `POLL_INTERVAL` s, so a stopped
   idle worker holds nothing;
2. renews a running job's heartbeat from the work horse as well as from the worker, every `MONITOR_INTERVAL` s with
   `HEARTBEAT_GRACE` s of grace: a worker stopped while its horse works does not lose the job to a retry;
3. sweeps the registries every `MAINTENANCE_INTERVAL` s, and a sweeper that dies mid-sweep holds the others off for
   `MAINTENANCE_LOCK_SECONDS` (RQ's own lock: 15 minutes). A job whose heartbeat lapsed (its worker and horse stopped
   or killed) goes back on its queue through its retry policy (`queues.RETRY`: the first retry is immediate);
4. gives each execution of a job a lease, `jobs.GatewayJob.fence` (the key `gateway:lease:job:<id>` holds the
   execution's id), which the next execution of that job takes over. Every write to the platform or Salesforce checks
   it first, every Redis commit of version marks and write-backs is fenced by it (`gateway.sync.fencing`), and an
   execution that lost it leaves the job's status and registries to the one that holds it.

Guarantee: a job held by a stopped or killed worker is taken by another free worker within
MONITOR_INTERVAL + HEARTBEAT_GRACE + MAINTENANCE_INTERVAL + 1 ≈ 31 s (a later retry, which RQ's scheduler releases,
within another 61 + MAINTENANCE_INTERVAL s when the stopped worker's scheduler held the lock), and a worker that
wakes after that writes nothing more to the platform or Salesforce, stores no mark (no version goes backwards),
queues no second write-back or `Sync_Result__c`, and marks no job failed or finished. What no process can take back
is a request already on its way when it stopped (a real platform applied it while the process was stopped); it
stores nothing for it, and the execution that took over finds the platform already holding those values and writes
them no second time. Nor can a fence held in Redis stop a request whose process stopped in the instant between its
last lease check and its send (made by the adapter once its limiter slot is held, `gateway.sendguard`): that one
request per thread is delivered when the process wakes, carrying the values of its own version. A platform that
checked a fencing token itself would close that gap; none of ours offers one, so it stays, and is said here. A
worker killed mid-job (its horse with it) is retried the same way; one whose horse survives lets the horse finish.
`tests/integration/gateway/test_hung_worker.py` checks each case with real processes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import redis
from rq import Queue
from rq.exceptions import DequeueTimeout, NoSuchJobError
from rq.executions import Execution, ExecutionRegistry
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import Serializer
from rq.timeouts import BaseDeathPenalty
from rq.worker import Worker, WorkerStatus

from gateway.jobs import GatewayJob
from gateway.redis_client import text
from gateway.sync import fencing

log = logging.getLogger(__name__)

MONITOR_INTERVAL = 5
HEARTBEAT_GRACE = 10
HEARTBEAT_TTL = MONITOR_INTERVAL + HEARTBEAT_GRACE
MAINTENANCE_INTERVAL = 15
MAINTENANCE_LOCK_SECONDS = 60
WORKER_TTL = MAINTENANCE_INTERVAL + 15  # RQ looks at the queues for worker_ttl - 15 s between sweeps
POLL_INTERVAL = 0.05
LEASE_PREFIX = "gateway:lease:job:"  # + job id -> the id of the execution that holds the job
LEASE_SECONDS = 2 * 3600  # longer than any job's timeout: the lease lapses with the execution, not before it

# KEYS: the queues in priority order, then their started-job registries. ARGV: the execution id, its heartbeat
# deadline (Unix s), the lease key's prefix, the lease's seconds. Returns {queue index, job id}, or nil.
_TAKE = """
local n = #KEYS / 2
for i = 1, n do
  local id = redis.call('LPOP', KEYS[i])
  if id then
    redis.call('ZADD', KEYS[n + i], ARGV[2], id .. ':' .. ARGV[1])
    redis.call('SET', ARGV[3] .. id, ARGV[1], 'EX', ARGV[4])
    return {i - 1, id}
  end
end
return false
"""


class GatewayQueue(Queue):
    """An RQ queue whose workers take jobs without blocking on it (see the module's point 1)."""

    def acquire_maintenance_lock(self) -> bool:
        return bool(self.connection.set(self.registry_cleaning_key, 1, nx=True, ex=MAINTENANCE_LOCK_SECONDS))

    @classmethod
    def dequeue_any(
        cls,
        queues: Iterable[Queue],
        timeout: int | None,
        connection: redis.Redis,
        job_class: type[Job] | None = None,
        serializer: Serializer | str | None = None,
        death_penalty_class: type[BaseDeathPenalty] | None = None,
    ) -> tuple[Job, Queue] | None:
        """The next job of the first non-empty queue, already in its started-job registry under a fresh execution id
        with a heartbeat deadline, and its lease taken; None at once when `timeout` is None, else `DequeueTimeout`
        after `timeout` s of empty queues."""
        ordered = list(queues)
        keys = [q.key for q in ordered] + [q.started_job_registry.key for q in ordered]
        take = connection.register_script(_TAKE)
        job_cls = job_class or cls.job_class
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            execution_id = uuid.uuid4().hex
            taken = take(keys=keys, args=[execution_id, int(time.time()) + HEARTBEAT_TTL, LEASE_PREFIX, LEASE_SECONDS])
            if taken:
                queue, job_id = ordered[int(taken[0])], text(taken[1])
                try:
                    job = job_cls.fetch(job_id, connection=connection, serializer=serializer)
                except NoSuchJobError:  # deleted while queued, as RQ's own dequeue skips it
                    connection.zrem(queue.started_job_registry.key, f"{job_id}:{execution_id}")
                    continue
                if isinstance(job, GatewayJob):
                    job.fence = fencing.Fence(LEASE_PREFIX + job_id, execution_id)
                return job, queue
            if deadline is None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise DequeueTimeout(timeout, keys[: len(ordered)])
            time.sleep(min(POLL_INTERVAL, left))


class GatewayWorker(Worker):
    """A forking RQ worker (each job runs in a work horse, as RQ recommends for production) that loses no job to a
    stopped or killed worker and lets no stale execution write (see the module's docstring)."""

    queue_class = GatewayQueue
    job_class = GatewayJob

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

    def prepare_execution(self, job: Job) -> Execution:
        """RQ's execution record, under the id the dequeue registered and leased (RQ would make up another)."""
        fence = job.fence if isinstance(job, GatewayJob) else None
        if fence is None:
            return super().prepare_execution(job)
        ttl = self.get_heartbeat_ttl(job)
        execution = Execution(id=fence.token, job_id=job.id, connection=self.connection, worker_name=self.name)
        with self.connection.pipeline() as pipe:
            execution.save(ttl=ttl, pipeline=pipe)
            ExecutionRegistry(job_id=job.id, connection=pipe).add(execution=execution, ttl=ttl, pipeline=pipe)
            job.started_job_registry.add_execution(execution, pipeline=pipe, ttl=ttl, xx=True)
            self.set_state(WorkerStatus.BUSY, pipeline=pipe)
            pipe.execute()
        self.execution = execution
        return execution

    def perform_job(self, job: Job, queue: Queue) -> bool:
        """In the work horse: the job, with its heartbeat renewed from here too (the worker may be stopped)."""
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, done), name="job-heartbeat", daemon=True)
        beat.start()
        try:
            return bool(super().perform_job(job, queue))
        finally:
            done.set()

    def _beat(self, job: Job, done: threading.Event) -> None:
        execution = self.execution
        if execution is None:
            return
        registry = job.started_job_registry.key
        while not done.wait(MONITOR_INTERVAL):
            try:
                with self.connection.pipeline() as pipe:
                    # XX: an execution the sweep already gave up on is not brought back
                    pipe.zadd(registry, {execution.composite_key: time.time() + HEARTBEAT_TTL}, xx=True)
                    pipe.expire(execution.key, HEARTBEAT_TTL)
                    pipe.execute()
            except redis.RedisError:
                log.warning("job %s: heartbeat not renewed", job.id, exc_info=True)

    def _superseded(self, job: Job) -> bool:
        """This process runs (or ran) `job`, and its execution no longer holds the job's lease."""
        fence = job.fence if isinstance(job, GatewayJob) else None
        ours = self.execution is not None and self.execution.job_id == job.id
        return fence is not None and ours and not fence.holds(self.connection)

    def _leave_to_current_execution(self, job: Job) -> None:
        self.log.warning(
            "Worker %s: job %s was handed to another worker while this one was stopped; this execution changes "
            "nothing more",
            self.name,
            job.id,
        )
        with self.connection.pipeline() as pipe:
            self.cleanup_execution(job, pipeline=pipe)  # this execution's own records only
            pipe.execute()

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        if len(exc_info) > 1 and isinstance(exc_info[1], fencing.Superseded) and self._superseded(job):
            return  # expected, and said once by handle_job_failure
        super().handle_exception(job, *exc_info)

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: StartedJobRegistry | None = None,
        exc_string: str = "",
    ) -> None:
        if self._superseded(job):
            self._leave_to_current_execution(job)
            return
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string)

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry) -> None:
        if self._superseded(job):
            self._leave_to_current_execution(job)
            return
        super().handle_job_success(job, queue, started_job_registry)
