"""RQ entry points: the cron table and thin job functions that call `gateway.sync` (the queues, their retry policy and
how bulk runs are queued: `gateway.queues`).

Contract of every job here: safe to run twice (idempotent by record version), acknowledged only after its writes
(RQ marks a job finished only when the function returns), transient failures re-raised for RQ's exponential
backoff retry, everything else recorded where an admin sees it or left in the failed-job registry. Under
`gateway worker`, each execution holds a lease (`GatewayJob.fence`, see `gateway.workers`): an execution handed to
another worker while its own was frozen writes and stores nothing more when it wakes (`fencing.Superseded`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq import Queue, get_current_job
from rq.job import Job, JobStatus

from gateway import metrics, platforms, queued_jobs
from gateway.config import Settings, load_settings
from gateway.platforms.base import InboundEvent
from gateway.queues import (  # the queues, their policy and how bulk runs start: `gateway.queues`
    BULK,
    BULK_JOB_TIMEOUT,
    FAILURE_TTL,
    JOB_TIMEOUT,
    REALTIME,
    RESULT_TTL,
    RETRY,
    SYNC,
    bulk_jobs,
)
from gateway.salesforce.errors import ApiBudgetExhausted
from gateway.sync import (
    catch_up,
    donations,
    fencing,
    from_platform,
    resend,
    schedule,
    to_platform,
    to_salesforce,
    writeback,
)
from gateway.sync.bulk import chunks, finish, links, planning, runs
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)

SEEN_EVENT_KEY = "gateway:events:seen:{}"


def accept_salesforce_events(
    connection: redis.Redis, org_id: str, events: Sequence[dict[str, Any]], dedup_ttl: int
) -> tuple[int, int]:
    """Queue one `sync` job for the batch and claim its event ids for `dedup_ttl` s; return (accepted, duplicates).

    One Redis script (one round trip, atomic: `queued_jobs.enqueue_claiming`) claims each event id with `SET NX` and
    stores the job, so a crash never claims an event without its job nor the reverse. An event already claimed by an
    earlier job is a duplicate: the job skips it (`owned_events`); a batch made only of duplicates queues no job.
    """
    unique: dict[str, dict[str, Any]] = {}
    for event in events:
        unique.setdefault(event["eventUuid"], event)
    job_id = uuid.uuid4().hex
    fields = queued_jobs.job_fields(
        SYNC,
        "gateway.jobs.sync_salesforce_events",
        (org_id, list(unique.values())),
        timeout=JOB_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=RETRY,
        description=f"sync {len(unique)} Salesforce event(s) from {org_id}",
    )
    claims = [SEEN_EVENT_KEY.format(i) for i in unique]
    accepted = queued_jobs.enqueue_claiming(connection, SYNC, job_id, fields, claims, dedup_ttl)
    return accepted, len(events) - accepted


def owned_events(connection: redis.Redis, job_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events this job claimed (or whose claim has expired), i.e. not duplicates queued by another job."""
    if not events:
        return []
    owners = connection.mget([SEEN_EVENT_KEY.format(e["eventUuid"]) for e in events])
    mine = job_id.encode()
    return [e for e, owner in zip(events, owners, strict=True) if owner is None or owner in (mine, job_id)]


class GatewayJob(Job):
    """An RQ job as `gateway worker` runs it: `fence` is the lease of this execution (set by the worker when it takes
    the job; None under any other worker, which fences nothing)."""

    fence: fencing.Fence | None = None


def _context() -> SyncContext:
    """The job bootstrap: settings read once per job, the platform chosen through the registry, the lease of this
    execution."""
    settings = load_settings(roles=("worker",))
    job = get_current_job()
    return SyncContext.build(
        settings,
        job.connection if job is not None else None,
        build_platform=lambda connection: platforms.build_adapter(
            settings.messaging_platform or "", settings.platform, connection
        ),
        fence=job.fence if isinstance(job, GatewayJob) else None,
    )


def _run(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    timer = metrics.Timer()
    context = _context()
    try:
        result = fn(context, *args, **kwargs)
    except fencing.Superseded:
        metrics.record_job(context.redis, name, "superseded", timer.elapsed)
        raise
    except Exception:
        job: Job | None = get_current_job()
        will_retry = bool(job is not None and job.retries_left)
        metrics.record_job(context.redis, name, "retried" if will_retry else "failed", timer.elapsed)
        raise
    finally:
        context.close()
    metrics.record_job(context.redis, name, "succeeded", timer.elapsed)
    return result


def _enqueue(connection: redis.Redis, queue: str, function: str, *args: Any, **kwargs: Any) -> Job:
    return Queue(queue, connection=connection).enqueue_call(
        f"gateway.jobs.{function}",
        args=args,
        kwargs=kwargs,
        timeout=JOB_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=RETRY,
    )


def sync_salesforce_events(org_id: str, events: list[dict[str, Any]], force: bool = False) -> dict[str, int]:
    """One webhook batch → the platform. Idempotent: records already synced at this version are skipped. When the
    Salesforce API budget says no, the batch is postponed (`postpone_salesforce_events`), not failed."""

    def handle(context: SyncContext, org_id: str, events: list[dict[str, Any]]) -> dict[str, int]:
        job = get_current_job()
        if job is not None and not force:
            events = owned_events(context.redis, job.id, events)
        try:
            return to_platform.sync_events(context, org_id, events, force=force)
        except ApiBudgetExhausted as exc:
            # Raised only before anything was synced (the records are read back first; the write-back defers
            # itself): a budget window lasts hours, the job's retries minutes, so the batch waits instead.
            delay = postpone_delay(exc)
            ttl = context.settings.dedup_ttl_seconds
            postpone_salesforce_events(context.redis, org_id, events, delay, dedup_ttl=ttl, force=force)
            log.warning("%d Salesforce event(s) postponed %.0f s: %s", len(events), delay, exc)
            return {"postponed": len(events)}

    return _run("sync_salesforce_events", handle, org_id, events)  # type: ignore[no-any-return]


POSTPONE_MIN, POSTPONE_MAX = 5.0, 900.0  # a postponed batch looks again at least every 15 minutes


def postpone_delay(exc: ApiBudgetExhausted) -> float:
    """How long a batch the budget held back waits: until the budget frees, as far as the gateway knows, within
    `POSTPONE_MIN` and `POSTPONE_MAX`."""
    return min(max(exc.retry_after or POSTPONE_MIN, POSTPONE_MIN), POSTPONE_MAX)


def postpone_salesforce_events(
    connection: redis.Redis,
    org_id: str,
    events: list[dict[str, Any]],
    delay: float,
    *,
    dedup_ttl: int,
    force: bool = False,
) -> str:
    """Schedule the batch again in `delay` seconds; returns the new job's id. One transaction stores the new job and
    hands it the batch's event claims (`owned_events`, kept `dedup_ttl` s more), so the events are neither lost nor
    synced twice."""
    job_id = uuid.uuid4().hex
    queue = Queue(SYNC, connection=connection)
    job = queue.create_job(
        "gateway.jobs.sync_salesforce_events",
        args=(org_id, events),
        kwargs={"force": True} if force else None,
        job_id=job_id,
        timeout=JOB_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=RETRY,
        description=f"sync {len(events)} Salesforce event(s) from {org_id} (postponed: API budget)",
        status=JobStatus.SCHEDULED,
    )
    pipe = connection.pipeline(transaction=True)
    pipe.multi()
    for event in events:  # a claim that has expired stays expired: its event is the job's anyway
        pipe.set(SEEN_EVENT_KEY.format(event["eventUuid"]), job_id, xx=True, ex=dedup_ttl)
    queue.schedule_job(job, datetime.now(UTC) + timedelta(seconds=delay), pipeline=pipe)
    pipe.execute()
    return job_id


def sync_platform_contacts(contacts: list[dict[str, Any]], force: bool = False) -> dict[str, int]:
    """Platform contacts (as `to_salesforce.contact_to_json`) → Salesforce. Idempotent by platform version. When the
    Salesforce API budget says no, the batch is postponed (`postpone_platform_contacts`), not failed: these people
    live only in this job (a poll's window moves on), and RQ's six retries last minutes while a
    `REQUEST_LIMIT_EXCEEDED` pause lasts 5 minutes and a spent budget hours. People whose rows Salesforce keeps
    locked fail the job for RQ's retry (`to_salesforce.NotWrittenYet`); on its last try they are logged instead."""

    def handle(context: SyncContext, contacts: list[dict[str, Any]]) -> dict[str, int]:
        polled = [to_salesforce.contact_from_json(c) for c in contacts]
        job = get_current_job()
        last = job is None or not job.retries_left  # a person Salesforce still keeps locked is then logged
        try:
            return to_salesforce.sync_contacts(
                context, from_platform.current_views(context, polled), force=force, last_try=lambda _: last
            )
        except ApiBudgetExhausted as exc:  # whatever was written before is marked: the batch's replay skips it
            delay = postpone_delay(exc)
            postpone_platform_contacts(context.redis, contacts, delay, force=force)
            log.warning("%d platform contact(s) postponed %.0f s: %s", len(contacts), delay, exc)
            return {"postponed": len(contacts)}

    return _run("sync_platform_contacts", handle, contacts)  # type: ignore[no-any-return]


def postpone_platform_contacts(
    connection: redis.Redis, contacts: list[dict[str, Any]], delay: float, *, force: bool = False
) -> Job:
    """Schedule the batch of platform contacts again in `delay` seconds (its own job, with the usual retries)."""
    return Queue(REALTIME, connection=connection).enqueue_in(
        timedelta(seconds=delay),
        "gateway.jobs.sync_platform_contacts",
        contacts,
        force=force,
        job_timeout=JOB_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=RETRY,
        description=f"sync {len(contacts)} platform contact(s) (postponed: API budget)",
    )


class _RealtimeJobs:
    """`from_platform.FollowUp` on RQ: drains and contact batches on the `realtime` queue."""

    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    def drain(self, platform: str) -> None:
        _enqueue(self.connection, REALTIME, "drain_inbound_events", platform)

    def sync_contacts(self, contacts: list[dict[str, Any]]) -> None:
        _enqueue(self.connection, REALTIME, "sync_platform_contacts", contacts)


def accept_platform_events(connection: redis.Redis, platform: str, events: list[InboundEvent], dedup_ttl: int) -> int:
    """Queue pushed platform events once per idempotency key (drained in batches on `realtime`); returns how many
    were new."""
    return from_platform.accept(connection, platform, events, dedup_ttl, _RealtimeJobs(connection))


def drain_inbound_events(platform: str | None = None) -> dict[str, int]:
    """Pushed platform events (STOPs, profile changes) → Salesforce, opt-outs first. Idempotent: events leave the
    pending list only after their batch is written; a replay is skipped by platform version."""
    return _run(  # type: ignore[no-any-return]
        "drain_inbound_events", lambda c: from_platform.drain(c, _RealtimeJobs(c.redis), platform)
    )


def poll_platform_changes() -> int:
    """Cron: queue the platform's changes since the cursor (opt-outs the platform does not push); returns count.
    Idempotent: the cursor advances only after the changes are queued, and their sync is idempotent by version."""
    return _run("poll_platform_changes", lambda c: from_platform.poll(c, _RealtimeJobs(c.redis)))  # type: ignore[no-any-return]


def flush_salesforce_writeback() -> int:
    """Cron: write pending links, statuses and log rows to Salesforce (after an outage, or a crashed job)."""
    return _run("flush_salesforce_writeback", lambda c: writeback.flush(c.redis, c.salesforce))  # type: ignore[no-any-return]


def enqueue_replay(connection: redis.Redis, replay: resend.Replay) -> Job:
    """Queue an admin's resend of a failed sync (bypassing version and echo checks, never the rules)."""
    if replay.direction == "To Platform":
        event = {**replay.payload, "eventUuid": f"resend-{uuid.uuid4()}"}
        return _enqueue(connection, SYNC, "sync_salesforce_events", "resend", [event], force=True)
    return _enqueue(connection, REALTIME, "sync_platform_contacts", [replay.payload], force=True)


def catch_up_salesforce() -> int:
    """Cron: queue a sync of each Salesforce record changed with no sync since (its event lost); see
    `gateway.sync.catch_up` for the guarantee. Idempotent: one version of a record is queued once."""

    def handle(context: SyncContext) -> int:
        ttl = context.settings.dedup_ttl_seconds
        return catch_up.catch_up(
            context, lambda events: accept_salesforce_events(context.redis, catch_up.ORG, events, ttl)
        )

    return _run("catch_up_salesforce", handle)  # type: ignore[no-any-return]


def drain_all_inbound() -> int:
    """Cron backstop: drain pending pushed events left by a crashed drain job."""
    return sum(drain_inbound_events().values())


def cron_table(settings: Settings) -> list[dict[str, Any]]:
    """The periodic jobs `gateway cron` registers; the platform's settings say how often it is polled."""
    poll_seconds = settings.platform.poll_seconds if settings.platform is not None else 60
    return [
        {"func": poll_platform_changes, "queue_name": REALTIME, "interval": poll_seconds, "job_timeout": JOB_TIMEOUT},
        {"func": drain_all_inbound, "queue_name": REALTIME, "interval": 30, "job_timeout": JOB_TIMEOUT},
        {"func": flush_salesforce_writeback, "queue_name": SYNC, "interval": 30, "job_timeout": JOB_TIMEOUT},
        {
            "func": catch_up_salesforce,
            "queue_name": SYNC,
            "interval": catch_up.CATCH_UP_SECONDS,
            "job_timeout": JOB_TIMEOUT,
        },
        {"func": nightly_incremental, "queue_name": BULK, "interval": 300, "job_timeout": JOB_TIMEOUT},
        {"func": donations_rollup, "queue_name": BULK, "interval": 300, "job_timeout": BULK_JOB_TIMEOUT},
    ]


# -- bulk runs: initial sync, nightly incremental, donations (issue 6) ------------------------------------------------
# Every bulk job is idempotent: a chunk claims each record's outcome once per run (a repeated chunk skips what was
# done), the planner's cursor advances with each enqueued chunk, and a budget stop re-enqueues the job for later.


def bulk_plan(run_id: str, resume: bool = False) -> dict[str, Any]:
    """Cut a bulk run into chunk jobs from its checkpoint (idempotent)."""
    return _run("bulk_plan", lambda c: planning.plan_run(c, bulk_jobs(c.redis), run_id, resume))  # type: ignore[no-any-return]


def bulk_chunk(run_id: str, chunk_id: str) -> dict[str, int]:
    """Sync one chunk of a bulk run; records already done in this run are skipped, never re-sent."""
    return _run("bulk_chunk", lambda c: chunks.run_chunk(c, bulk_jobs(c.redis), run_id, chunk_id))  # type: ignore[no-any-return]


def bulk_flush_links(run_id: str, at_least: int | None = None) -> int:
    """Write the links/statuses a run owes Salesforce, in batches of at least `at_least` (default: full batches;
    idempotent updates)."""
    return _run(  # type: ignore[no-any-return]
        "bulk_flush_links", lambda c: links.flush_when_allowed(c, run_id, at_least)
    )


def bulk_finish(run_id: str) -> dict[str, Any]:
    """Write what a run still owes Salesforce and its summary row; advance the high-water mark. Safe to repeat."""
    return _run("bulk_finish", lambda c: finish.finish_run(c, bulk_jobs(c.redis), run_id))  # type: ignore[no-any-return]


def nightly_incremental() -> list[str]:
    """Cron (every few minutes): start the incremental pull once per configured slot (time of day, time zone)."""

    def handle(context: SyncContext) -> list[str]:
        when = context.settings.schedule
        if not schedule.claim_due_slot(context.redis, "incremental", when.incremental_at, when.timezone):
            return []
        return runs.start_incremental(context.redis, bulk_jobs(context.redis), context.settings)

    return _run("nightly_incremental", handle)  # type: ignore[no-any-return]


def donations_rollup(force: bool = False) -> dict[str, int]:
    """Cron (every few minutes): roll closed-won Opportunities up to the platform, at the configured slots."""

    def handle(context: SyncContext) -> dict[str, int]:
        when = context.settings.schedule
        if not force and not schedule.claim_due_slot(context.redis, "donations", when.donations_at, when.timezone):
            return {}
        return donations.roll_up(context)

    return _run("donations_rollup", handle)  # type: ignore[no-any-return]
