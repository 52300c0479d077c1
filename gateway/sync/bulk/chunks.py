"""Chunk jobs of a bulk run: each syncs its records through the same per-record path as real time
(`to_platform.sync_record`, `to_salesforce.sync_batch`), with a sink that records the run's outcomes instead of a
`Sync_Result__c` per record.

* Salesforce → platform: a chunk reads its id window (one REST page), syncs each record (a small thread pool: the
  platform API is per person; records sharing a phone go through one thread in order), and owes Salesforce the
  links and statuses (`links`), written later in large batches.
* Platform → Salesforce: a chunk claims its people for the run, matches them against the run's index (or one
  query per group), writes Salesforce in bulk (creates are upserts by the platform id, so a repeated chunk never
  creates twice) and writes the new CRM ids back to the platform.

Guarantees:
- Resumable: each record's outcome is claimed once per run in Redis in the transaction that stores its marks, so
  a chunk repeated after a crash, a `REQUEST_LIMIT_EXCEEDED` or a stop skips what was done, sends nothing twice and
  counts nothing twice.
- When the API budget (or the bulk share of it, see `budget.py`) is spent, chunks re-enqueue themselves for later
  and the run shows `paused`; it resumes by itself.
- Failures leave one `Sync_Result__c` per failed record (with the run id).
- A dry run plans and counts what would change and writes nothing (no platform write, no Salesforce write, no mark).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.config import BulkConfig
from gateway.domain import platform_fields
from gateway.domain.contact import Contact
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.domain.freshness import parse_timestamp
from gateway.domain.mapping import map_record_to_contact
from gateway.domain.matching import same_salesforce_id
from gateway.domain.plans import SyncPlan, SyncStatus
from gateway.domain.sync_config import SyncObjectConfig
from gateway.redis_client import text
from gateway.salesforce import queries
from gateway.salesforce.errors import ApiBudgetExhausted
from gateway.sync import budget, fencing, state, to_platform, to_salesforce, writeback
from gateway.sync.bulk import index, links
from gateway.sync.bulk.planning import object_config
from gateway.sync.bulk.runs import (
    RUN_TTL,
    TO_PLATFORM,
    BulkJobs,
    RunStopped,
    check_running,
    key,
    maybe_finish,
    pause,
    processed,
    set_meta,
    status_of,
)
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)


def run_chunk(context: SyncContext, jobs: BulkJobs, run_id: str, chunk_id: str) -> dict[str, int]:
    """Sync one chunk; a chunk already done returns at once. Raises for RQ's retry on transient failures."""
    redis = context.redis
    try:
        meta = check_running(redis, run_id)
    except RunStopped:
        return {"stopped": 1}
    if redis.sismember(key(run_id, "chunks_done"), chunk_id):
        maybe_finish(redis, jobs, run_id)  # a repeat after a crash past the chunk's end still finishes the run
        return {"already_done": 1}
    raw = redis.hget(key(run_id, "chunks"), chunk_id)
    if raw is None:
        raise KeyError(f"bulk run {run_id} has no chunk {chunk_id}")
    spec = json.loads(raw)
    settings = context.settings.bulk
    allowance = budget.bulk_allowance(context.salesforce.usage(), reserve=settings.budget_reserve, now=time.time())
    if not allowance.allowed:
        pause(redis, jobs, run_id, allowance.reason, allowance.retry_after, settings, "bulk_chunk", run_id, chunk_id)
        return {"paused": 1}
    if meta.get("status") == "paused":
        set_meta(redis, run_id, status="running", pause_reason="")
    outcomes = _Outcomes(context, run_id, meta.get("dry_run") == "1")
    try:
        if meta["direction"] == TO_PLATFORM:
            result = _chunk_to_platform(context, jobs, meta, spec, outcomes, settings)
        else:
            result = _chunk_to_salesforce(context, spec, chunk_id, outcomes, settings)
    except ApiBudgetExhausted as exc:
        pause(redis, jobs, run_id, exc.detail, exc.retry_after, settings, "bulk_chunk", run_id, chunk_id)
        return {"paused": 1}
    except RunStopped:
        return {"stopped": 1}
    pipe = redis.pipeline(transaction=True)
    pipe.sadd(key(run_id, "chunks_done"), chunk_id)
    pipe.expire(key(run_id, "chunks_done"), RUN_TTL)
    pipe.execute()
    if meta["direction"] == TO_PLATFORM and not outcomes.dry_run:
        _queue_links_flush(context, jobs, run_id, meta, spec["object"])
    maybe_finish(redis, jobs, run_id)
    return result


def _queue_links_flush(
    context: SyncContext, jobs: BulkJobs, run_id: str, meta: Mapping[str, str], object_name: str
) -> None:
    """Queue a flush of the links the run owes when `links.due` calls for one and none is queued or running: at a
    chunk's end, and as its records go (each look of its `StopWatch`). Best effort: a failure is logged, and the
    links wait for the next look or the run's finish (it never fails the chunk)."""
    try:
        _queue_links_flush_now(context, jobs, run_id, meta, object_name)
    except Exception:  # the finish writes whatever is owed: a chunk must not fail for an early write
        log.warning("bulk run %s: links left for a later flush", run_id, exc_info=True)


def _queue_links_flush_now(
    context: SyncContext, jobs: BulkJobs, run_id: str, meta: Mapping[str, str], object_name: str
) -> None:
    redis = context.redis
    if redis.exists(key(run_id, "flush_queued"), key(run_id, "flush_lock")):
        return  # the flush under way writes what is owed now; the next look queues what comes after
    total = int(float(meta.get("total") or 0))
    due = links.due(
        owed=links.owed(redis, run_id, object_name),
        left=total - processed(redis, run_id) if total else 0,
        link_batch=context.settings.bulk.link_batch,
        bulk_threshold=context.salesforce.settings.bulk_ingest_threshold,
        early_spent=bool(redis.exists(key(run_id, "end_flush"))),
    )
    if due is not None and links.queue_flush(redis, run_id):
        if due.early:
            redis.set(key(run_id, "end_flush"), "1", ex=RUN_TTL)
        jobs.now("bulk_flush_links", run_id, due.smallest)


# -- the run's record of outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Done:
    """One record's outcome and what marking it done stores."""

    record_key: str
    outcome: str  # created | updated | skipped | failed
    error_code: str | None = None
    failure: writeback.WriteBack | None = None
    marks: tuple[state.Mark | None, ...] = ()  # versions and fingerprints to remember
    link: links.Owed | None = None  # Salesforce fields owed to a record


class _Outcomes:
    """A run's outcomes: each record claimed once, counted, its failure row queued, its marks and owed links stored,
    in one transaction; a dry run only claims and counts."""

    def __init__(self, context: SyncContext, run_id: str, dry_run: bool) -> None:
        self.context = context
        self.redis = context.redis
        self.run_id = run_id
        self.dry_run = dry_run

    def store(self, items: Sequence[_Done], release: fencing.Fence | None = None) -> bool:
        """Store `items` in one fenced step (a chunk job handed to another worker stores nothing when it wakes): each
        record's outcome is claimed for the run once (`fencing.if_new`), and only the first time counted and its failure
        row queued. `release` (a record's claim) is given up in the same step where it can be: True when it was."""
        if not items:
            return False

        def store(pipe: Any) -> None:
            for item in items:
                failure = item.failure.to_json() if item.failure is not None and not self.dry_run else ""
                with fencing.if_new(pipe, key(self.run_id, "outcomes"), item.record_key, item.outcome):
                    pipe.hincrby(key(self.run_id, "counts"), item.outcome, 1)
                    if item.error_code:
                        pipe.hincrby(key(self.run_id, "errors"), item.error_code, 1)
                    if failure:
                        pipe.rpush(writeback.PENDING_KEY, failure)
                if self.dry_run:
                    continue
                state.mark(pipe, item.marks)
                if item.link is not None:
                    links.owe(pipe, self.run_id, item.link)
            for part in ("outcomes", "counts", "errors"):
                pipe.expire(key(self.run_id, part), RUN_TTL)

        return self.context.commit(store, release=release)


# -- Salesforce → platform ----------------------------------------------------------------------------------------


class _RecordSink:
    """`to_platform.RecordSink` for a run: failure rows only, links owed to the run, one phone per record."""

    def __init__(self, outcomes: _Outcomes) -> None:
        self.outcomes = outcomes
        self.writes = not outcomes.dry_run

    def conflict(self, obj: SyncObjectConfig, record_id: str, phone: str | None) -> SyncError | None:
        if not phone or not self.writes:
            return None
        short = record_id[:15]
        claim = key(self.outcomes.run_id, "phones")
        pipe = self.outcomes.redis.pipeline(transaction=False)  # one round trip: this runs once per record
        pipe.hsetnx(claim, phone, short)
        pipe.expire(claim, RUN_TTL)
        pipe.hget(claim, phone)
        owner = text(pipe.execute()[2] or b"")
        if owner and owner != short:
            return SyncError(
                SyncErrorCode.PHONE_MATCH_CRM_ID_MISMATCH,
                f"{obj.object_name} {owner} has the same phone {phone} in this run; one platform contact cannot "
                "belong to two Salesforce records.",
                (platform_fields.PHONE,),
            )
        return None

    def done(self, outcome: to_platform.RecordOutcome, release: fencing.Fence | None = None) -> bool:
        """Stores the outcome with the run's (`_Outcomes.store`), giving up the record's claim `release` in the same
        step where it can: True when it did."""
        obj, plan = outcome.obj, outcome.plan
        record_key = f"{obj.object_name}:{outcome.record_id[:15]}"
        if plan is None:
            return self.outcomes.store([_Done(record_key, outcome.outcome, marks=outcome.marks)], release)
        failure = None
        if plan.errors:
            values = to_platform.result_values(self.outcomes.context, outcome, plan, run_id=self.outcomes.run_id)
            failure = writeback.WriteBack(result=values)
        failed = plan.status is SyncStatus.FAILURE
        link = (
            links.Owed(obj.object_name, outcome.record_id, outcome.owed, outcome.version)
            if not failed and outcome.owed
            else None
        )
        return self.outcomes.store(
            [_Done(record_key, outcome.outcome, plan.error_code, failure, outcome.marks, link)], release
        )


def _chunk_to_platform(
    context: SyncContext,
    jobs: BulkJobs,
    meta: Mapping[str, str],
    spec: Mapping[str, Any],
    outcomes: _Outcomes,
    settings: BulkConfig,
) -> dict[str, int]:
    obj = object_config(context, spec["object"])
    since = parse_timestamp(meta["since"]) if meta.get("since") else None
    soql = queries.record_window(obj, after=spec.get("after"), upto=spec.get("upto"), since=since)
    records = list(context.salesforce.iter_query(soql, api="rest"))
    states = dict(
        zip(
            (str(r["Id"]) for r in records),
            state.record_states(context.redis, obj.object_name, [str(r["Id"]) for r in records]),
            strict=True,
        )
    )
    region = context.settings.phone_default_region

    # Records sharing a phone go through one thread, in order: the second then meets the first's platform contact
    # and is refused as a duplicate instead of racing it into the same profile.
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        phone = to_platform.record_phone(record, obj, region)
        groups[phone or f"id:{record['Id']}"].append(record)
    to_look_up = [
        phone
        for phone, group in groups.items()
        if not phone.startswith("id:") and _may_reach_matching(context, obj, group[0], states[str(group[0]["Id"])])
    ]
    threads = to_platform.job_concurrency(context, settings.threads)
    known = to_platform.prefetch_by_phone(context, to_look_up, threads=threads)
    sink = _RecordSink(outcomes)
    run_id = outcomes.run_id
    transient: list[SyncError] = []

    def owed_links() -> None:  # each look at the run also queues what its tail owes Salesforce (`links.due`)
        _queue_links_flush(context, jobs, run_id, meta, obj.object_name)

    stop = StopWatch(context.redis, run_id, on_look=None if outcomes.dry_run else owed_links)

    def work(group: list[dict[str, Any]]) -> None:
        for position, record in enumerate(group):
            stop.check()
            try:
                to_platform.sync_record(
                    context,
                    obj,
                    record,
                    sink,
                    version=_version(record),
                    # after the first record of a phone, the platform may hold what that record just wrote: ask again
                    known=known if position == 0 else None,
                )
            except SyncFailure as failure:
                if not failure.error.transient:
                    raise
                transient.append(failure.error)

    to_platform.paced(context, work, list(groups.values()), configured=settings.threads, name="bulk")
    if transient:
        raise to_platform.TransientFailures(transient)
    return {"records": len(records)}


STOP_CHECK_SECONDS = 0.5


class StopWatch:
    """Whether an operator stopped the run, as a chunk's threads ask before each record: read from Redis at most
    every `STOP_CHECK_SECONDS` (a read a record was a round trip a record), so a stop is honoured within that, besides
    the records already under way. Once seen, every later `check` raises. `on_look` runs after each read that found
    the run going, in the thread that read."""

    def __init__(
        self,
        redis: Any,
        run_id: str,
        clock: Callable[[], float] = time.monotonic,
        on_look: Callable[[], None] | None = None,
    ) -> None:
        self._redis, self._run_id, self._clock, self._on_look = redis, run_id, clock, on_look
        self._lock = threading.Lock()
        self._due = 0.0
        self._stopped = False

    def check(self) -> None:
        """Raise `RunStopped` when the run was stopped (as last read)."""
        now = self._clock()
        with self._lock:
            look = not self._stopped and now >= self._due
            if look:
                self._due = now + STOP_CHECK_SECONDS
        if look:
            if status_of(self._redis, self._run_id) == "stopped":
                self._stopped = True
            elif self._on_look is not None:
                self._on_look()
        if self._stopped:
            raise RunStopped(self._run_id)


def _version(record: Mapping[str, Any]) -> datetime:
    return parse_timestamp(str(record["SystemModstamp"]))


def _may_reach_matching(
    context: SyncContext, obj: SyncObjectConfig, record: Mapping[str, Any], last: state.RecordState
) -> bool:
    """The record is not already synced at this version, nor an echo: its phone is worth looking up."""
    mapped = map_record_to_contact(dict(record), obj, rules=context.rules)
    return not last.already_synced(_version(record), mapped.fingerprint if mapped.may_be_echo else None)


# -- platform → Salesforce ----------------------------------------------------------------------------------------


class _ContactSink:
    """`to_salesforce.ContactSink` for a run: failure rows only; people whose Salesforce id the platform does not
    hold yet are kept for `_link_platform`; people Salesforce could not write yet (a row still locked) get no outcome
    and are kept in `unwritten`, for the chunk's retry."""

    def __init__(self, outcomes: _Outcomes) -> None:
        self.outcomes = outcomes
        self.writes = not outcomes.dry_run
        self.skipped: list[_Done] = []
        self.planned: list[_Done] = []
        self.relink: list[tuple[Contact, str]] = []
        self.unwritten: list[SyncError] = []

    def done(self, contact: Contact, plan: SyncPlan | None, marks: Sequence[state.Mark | None]) -> None:
        record_key = f"platform:{state.contact_key(contact)}"
        if plan is None:
            self.skipped.append(_Done(record_key, "skipped"))
            return
        if plan.not_written_yet:  # an outcome is stored once a run: this person's is the retry's
            self.unwritten += plan.not_written_yet
            return
        write = plan.salesforce_write
        failed = plan.status is SyncStatus.FAILURE
        if failed:
            outcome = "failed"
        elif write is None:
            outcome = "updated" if plan.opt_out_writes else "skipped"  # an opt-out of several records sharing a phone
        else:
            outcome = "created" if write.is_create else "updated"
        failure = None
        if plan.errors:
            values = to_salesforce.result_values(self.outcomes.context, contact, plan, run_id=self.outcomes.run_id)
            failure = writeback.WriteBack(result=values)
        self.planned.append(_Done(record_key, outcome, plan.error_code, failure, tuple(marks)))
        linked = same_salesforce_id(contact.crm_id, plan.record_id)
        if not failed and self.writes and plan.record_id and contact.phone and not linked:
            self.relink.append((contact, plan.record_id))


def _chunk_to_salesforce(
    context: SyncContext, spec: Mapping[str, Any], chunk_id: str, outcomes: _Outcomes, settings: BulkConfig
) -> dict[str, int]:
    redis = context.redis
    run_id = outcomes.run_id
    contacts = [to_salesforce.contact_from_json(c) for c in spec["contacts"]]
    keyed = [(c, state.contact_key(c)) for c in contacts if state.contact_key(c)]
    # one chunk owns each person for the run: a re-planned duplicate chunk leaves them alone
    claims_key = key(run_id, "claims")
    pipe = redis.pipeline(transaction=False)
    for _, k in keyed:
        pipe.hsetnx(claims_key, k, chunk_id)
    pipe.expire(claims_key, RUN_TTL)
    pipe.execute()
    owners = redis.hmget(claims_key, [k for _, k in keyed]) if keyed else []
    mine = [c for (c, _), owner in zip(keyed, owners, strict=True) if owner is not None and text(owner) == chunk_id]
    sink = _ContactSink(outcomes)

    def candidates(fresh: Sequence[Contact]) -> list[list[dict[str, Any]]]:
        outcomes.store(sink.skipped)  # the people done before are counted before any Salesforce call
        sink.skipped = []
        if status_of(redis, run_id) == "stopped":
            raise RunStopped(run_id)
        if spec.get("index"):
            return index.candidates_by_contact(context, run_id, fresh)
        rows = to_salesforce.candidate_rows(context, fresh)
        return [rows for _ in fresh]  # the domain picks each contact's own match among them

    to_salesforce.sync_batch(context, mine, sink, candidates=candidates)
    outcomes.store(sink.skipped)
    if status_of(redis, run_id) == "stopped" and not sink.planned:
        raise RunStopped(run_id)
    if sink.relink:
        _link_platform(context, sink.relink, settings)
    outcomes.store(sink.planned)
    if sink.unwritten:
        raise to_platform.TransientFailures(sink.unwritten)
    return {"records": len(contacts)}


def _link_platform(context: SyncContext, pairs: Sequence[tuple[Contact, str]], settings: BulkConfig) -> None:
    """Write each Salesforce id into its platform contact's CRM-id field (and remember the echo)."""

    def link(pair: tuple[Contact, str]) -> state.Mark | None:
        contact, record_id = pair
        context.check_fence()
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

    marks = to_platform.parallel(to_platform.job_concurrency(context, settings.threads), link, pairs, name="bulk")
    if any(marks):
        context.commit(lambda pipe: state.mark(pipe, marks))
