"""Salesforce → platform: Salesforce records become platform writes, one record at a time (`sync_record`), for a
batch of `Messaging_Sync__e` events (`sync_events`) and for every chunk of a bulk run (`gateway.sync.bulk`).

Guarantees:
- Events are grouped by record; only the newest version of each is applied, and a version not newer than the
  last one synced (`state`) is skipped, so a replayed batch applies nothing twice.
- An event says which record changed, never what it holds: every record is read back from Salesforce first
  (`readback`), and Salesforce's values and `SystemModstamp` are synced. A record Salesforce does not hold is
  skipped (logged); an id of another object is refused (`invalid-record-id`).
- An echo (mapped values equal to what was last synced for the record) is skipped without a platform call, unless
  the record asks for an opt status other than the one Salesforce records from the platform (the person's STOP or
  START came since: `MappedRecord.may_be_echo`), so a re-subscribe after a STOP is always refused and told.
- A person who texted STOP is never re-subscribed by a Salesforce edit (the domain's sticky opt-out). For a
  platform that keeps no people (`contact_store=False`) the platform is never called: the record's opt-status
  change is recorded in Salesforce (the ledger, `ledger_view`), planned against the status the read-back found.
- What a record's sync leaves (its version and echo marks, what it owes Salesforce) is handed to a `RecordSink`,
  which stores it in one Redis transaction after the platform accepted the write: real time queues a
  `Sync_Result__c` per record and the write-back (`writeback`); a bulk run counts outcomes and owes links. Both the
  platform write and that transaction are fenced by the job's lease: each request to the platform is checked right
  before it leaves, after any wait for a limiter slot or a back-off (`sendguard`, `_renew`: the record's claim and
  the job's lease in one round trip), and the transaction by `SyncContext.commit`. Real time gives the record's
  claim up in that same transaction; a failure, a refused transaction or a bulk run gives it up on its own.
- Transient platform failures are retried by re-raising after every other record of the batch is done and marked.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from redis import Redis

from gateway import sendguard
from gateway.domain import platform_fields
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.domain.freshness import parse_timestamp
from gateway.domain.mapping import (
    MappedRecord,
    changed_since,
    map_record_to_contact,
    opt_out_leaving_sync,
    record_skip_reason,
    salesforce_datetime,
)
from gateway.domain.matching import Create, Matched, PlatformMatch, Skip, match_contact
from gateway.domain.opt_status import Side, resolve_sms_status, status_label
from gateway.domain.phones import normalize_phone
from gateway.domain.plans import PlatformWrite, SyncPlan, SyncStatus, plan_to_platform
from gateway.domain.sync_config import LAST_SYNCED_AT_FIELD, OPTED_OUT_AT_FIELD, SyncObjectConfig
from gateway.domain.sync_config import Direction as PlanDirection
from gateway.platforms.base import PHONE_BATCH, Capabilities
from gateway.ratelimit import waited_seconds
from gateway.salesforce.sync_results import Direction
from gateway.sync import fencing, readback, state, writeback
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)

PLATFORM_CONCURRENCY = 16  # platform calls in flight per job, for a platform that declares no cap of its own
# Threads per job for each slot of the platform's cap: a record's thread also spends time outside its platform call
# (Redis marks, matching, mapping), so a job with only as many threads as slots leaves slots idle: a profile of a
# chunk job at one thread a slot (`scripts/bench/throughput`'s 250 ms platform, cap 80) found its threads waiting on
# Redis about as long as on the platform.
THREADS_PER_SLOT = 2

T = TypeVar("T")
R = TypeVar("R")


class TransientFailures(Exception):
    """Some records failed transiently; the others are done and marked. RQ retries the job."""

    def __init__(self, errors: list[SyncError]) -> None:
        details = "; ".join(f"{e.code}: {e.detail}" for e in errors[:5])
        super().__init__(f"{len(errors)} record(s) failed transiently: {details}")
        self.errors = errors


# -- one record --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordOutcome:
    """What syncing one Salesforce record came to, for its sink to store.

    `outcome` is created | updated | skipped | failed; `plan` is None when the record was skipped before planning
    (stale, not to be synced, an echo); `marks` are to be stored only when the sink writes; `owed` holds the
    Salesforce fields the sync owes the record (link, status, last-synced time), true of the record's `version`;
    `endpoint` names the platform call (`<platform>:upsert` or `<platform>:opt_out`).
    """

    obj: SyncObjectConfig
    record_id: str
    outcome: str
    plan: SyncPlan | None = None
    view: Contact | None = None
    marks: tuple[state.Mark | None, ...] = ()
    owed: dict[str, Any] = field(default_factory=dict)
    endpoint: str = ""
    version: datetime | None = None


class RecordSink(Protocol):
    """Where `sync_record` leaves each record's outcome (real time: the write-back queue; bulk: the run)."""

    @property
    def writes(self) -> bool:
        """False for a dry run: records are planned and counted, the platform is not written, nothing is marked."""
        ...

    def conflict(self, obj: SyncObjectConfig, record_id: str, phone: str | None) -> SyncError | None:
        """A reason to refuse the record before matching (a bulk run: another record has its phone), or None."""
        ...

    def done(self, outcome: RecordOutcome, release: fencing.Fence | None = None) -> bool:
        """Store the outcome (atomically with its marks). `release` is the record's claim: a sink that can give it up
        in the same step does, and returns True; otherwise it returns False and the claim is left to the caller."""
        ...


def sync_record(
    context: SyncContext,
    obj: SyncObjectConfig,
    record: Mapping[str, Any],
    sink: RecordSink,
    *,
    version: datetime,
    changed_fields: Sequence[str] | None = None,
    deleted: bool = False,
    force: bool = False,
    known: Mapping[str, Contact | None] | None = None,
    event_version: datetime | None = None,
) -> None:
    """Sync one Salesforce record to the platform and hand its outcome to `sink`.

    The record is synced under its claim (`state.claim_record`): one sync at a time per record, deciding on the
    record's sync state as it is once claimed. A bulk chunk holds a snapshot of its records read before it works
    through them; real time may sync a newer version of one of them meanwhile, and the chunk's older values must
    then be skipped, not written over it. A claim another sync holds is waited for up to `CLAIM_WAIT_SECONDS`,
    then the record fails transiently (retried with its job). The claim lasts `CLAIM_SECONDS` and is renewed right
    before the platform write; a sync whose claim lapsed meanwhile (its process froze) writes nothing and fails
    transiently, so a frozen worker holds a record up for `CLAIM_SECONDS` at most.

    `changed_fields` limits the values sent (None: all mapped fields); a `deleted` record is only marked; `force`
    (an admin's resend) bypasses the version and echo checks, never the rules; `known` holds platform contacts
    already looked up by phone (`prefetch_by_phone`). `event_version` is the version the event itself carried: an
    event older than the version already synced, arriving late (a postponed or held batch), is compared with the
    platform once more on every field, since the newer sync sent its own changed fields only. Raises the adapter's
    transient `SyncFailure` (nothing is marked for the record).
    """
    record_id = str(record["Id"])
    claim, last = _claim(context, obj.object_name, record_id)
    released = False
    try:
        if not force and event_version is not None and event_version < version and last.version == version:
            last = replace(
                last, version=None, fingerprint=None
            )  # what this late event changed may never have been sent
        released = _sync_claimed(
            context, obj, record, sink, version, last, changed_fields, deleted, force, known, claim
        )
    finally:
        if not released:  # the sink gave it up with the record's outcome, or it goes now (a failure, a bulk sink)
            fencing.release(context.redis, claim)


# How long a record's claim lasts unless renewed (before the platform write) and how long another sync waits for
# it: a frozen or dead worker holds its records up this long at most.
CLAIM_SECONDS = 20
CLAIM_WAIT_SECONDS = 30.0
_CLAIM_POLL_SECONDS = 0.05


def _claim(context: SyncContext, object_name: str, record_id: str) -> tuple[fencing.Fence, state.RecordState]:
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        claim, last = state.claim_record(context.redis, object_name, record_id, CLAIM_SECONDS, context.fence)
        if claim is not None:
            return claim, last
        if time.monotonic() >= deadline:
            raise SyncFailure(
                SyncError(
                    SyncErrorCode.RATE_LIMITED,
                    f"Another sync of {object_name} {record_id} is still writing it; this one is retried later.",
                )
            )
        time.sleep(_CLAIM_POLL_SECONDS)


def _renew(context: SyncContext, claim: fencing.Fence, object_name: str, record_id: str) -> None:
    """The record's claim renewed, and the job's lease checked, in one round trip: right before each platform request
    leaves (`sendguard`), so a sync that waited (for a slot, a back-off, or frozen) past its claim sends nothing."""
    held = state.renew_claim(context.redis, claim, CLAIM_SECONDS)
    if held == state.OWNER_SUPERSEDED and context.fence is not None:
        raise fencing.Superseded(context.fence)
    if held != state.CLAIM_HELD:
        raise SyncFailure(
            SyncError(
                SyncErrorCode.RATE_LIMITED,
                f"The sync of {object_name} {record_id} held it too long and another sync took it over; this one "
                "wrote nothing and is retried later.",
            )
        )


def _sync_claimed(
    context: SyncContext,
    obj: SyncObjectConfig,
    record: Mapping[str, Any],
    sink: RecordSink,
    version: datetime,
    last: state.RecordState,
    changed_fields: Sequence[str] | None,
    deleted: bool,
    force: bool,
    known: Mapping[str, Contact | None] | None,
    claim: fencing.Fence,
) -> bool:
    """Whether the sink gave up `claim` with the record's outcome."""
    record_id = str(record["Id"])
    if not force and last.is_stale(version):
        return sink.done(RecordOutcome(obj, record_id, "skipped"), claim)
    synced = state.record_synced(obj.object_name, record_id, version)
    if deleted:
        return sink.done(RecordOutcome(obj, record_id, "skipped", marks=(synced,)), claim)
    # A record outside the sync criteria sends nothing but an opt-out it asks for (the package sends the update that
    # takes a record out of the criteria, which may be the opt-out itself), and only to a person the platform holds.
    leaving = record_skip_reason(dict(record), obj) is not None
    if leaving:
        opt_out = opt_out_leaving_sync(dict(record), obj, changed_fields=changed_fields, rules=context.rules)
        if opt_out is None:
            return sink.done(RecordOutcome(obj, record_id, "skipped", marks=(synced,)), claim)
        mapped = opt_out
    else:
        mapped = map_record_to_contact(dict(record), obj, changed_fields=changed_fields, rules=context.rules)
    if not force and mapped.may_be_echo and last.is_echo(mapped.fingerprint):
        return sink.done(RecordOutcome(obj, record_id, "skipped", marks=(synced,)), claim)
    # What changed since the values last reconciled with the platform, whichever events said so or not; when nothing
    # is known of them (never synced, marks expired, kept by an older gateway), every field: an event that names no
    # change of its own (the catch-up's) must still carry an opt-out whose event was lost. The merge sends only
    # values the platform does not hold, and a status repeating the platform's own word is never sent back.
    digests = mapped.field_digests()  # of the values, which `with_changed` keeps: `_sent` stores them
    mapped = mapped.with_changed(changed_since(digests, last.sent or {}))

    stores_people = context.platform.capabilities.contact_store
    conflict = None if mapped.refusal is not None else sink.conflict(obj, record_id, mapped.contact.phone)
    if mapped.refusal is not None:
        plan = plan_to_platform(mapped, obj, Skip("not matched"))  # refused whatever the platform holds
    elif conflict is not None:
        plan = replace(plan_to_platform(mapped, obj, Skip("not matched")), errors=(conflict,))
    elif not stores_people:
        plan = plan_to_platform(mapped, obj, Matched(ledger_view(mapped)))
        if plan.platform_write is None and plan.skipped_reason:
            why = "keeps no contacts: only opt-status changes are recorded (in Salesforce), and this one has none"
            plan = replace(plan, skipped_reason=f"The platform {context.platform.name} {why}.")
    else:
        decision = match_on_platform(context, mapped.contact, obj, known)
        if leaving and isinstance(decision, Create):
            decision = Skip("The record no longer meets the sync criteria: its opt-out creates nobody on the platform.")
        plan = plan_to_platform(mapped, obj, decision)

    write = plan.platform_write
    opting_out = write is not None and write.opt_out and not write.is_create
    call = "ledger" if not stores_people else "opt_out" if opting_out else "upsert"
    endpoint = f"{context.platform.name}:{call}"
    view: Contact | None = None
    if write is not None and plan.status is not SyncStatus.FAILURE and sink.writes:
        try:
            if stores_people:  # the claim is renewed right before each request leaves, after any wait for a slot
                with sendguard.guarded(lambda: _renew(context, claim, obj.object_name, record_id)):
                    view = apply_platform_write(context, write)
            else:  # a platform that keeps no people is not called: the status is recorded in Salesforce only
                _renew(context, claim, obj.object_name, record_id)
                view = write.contact
        except SyncFailure as failure:
            if failure.error.transient:
                raise
            plan = plan.failed(failure.error)
        else:
            if write.is_create and view.platform_id:
                plan = plan.with_created_platform_id(view.platform_id)
            plan = _refused_subscription(plan, write, view)

    failed = plan.status is SyncStatus.FAILURE
    if failed:
        outcome = "failed"
    elif plan.platform_write is None:
        outcome = "skipped"
    else:
        outcome = "created" if plan.platform_write.is_create and stores_people else "updated"
    everything = (view is not None and write is not None and write.is_create) or obj.send_all_fields
    sent = _sent(obj, record_id, mapped, digests, last, everything=everything)
    marks = () if failed else (synced, state.platform_written(view) if view else None, sent)
    return sink.done(
        RecordOutcome(
            obj,
            record_id,
            outcome,
            plan=plan,
            view=view,
            marks=marks,
            owed=owed_fields(obj, plan, view, mapped.reported_status, requested=mapped.contact.sms_status),
            endpoint=endpoint,
            version=version,
        ),
        claim,
    )


def _refused_subscription(plan: SyncPlan, write: PlatformWrite, view: Contact) -> SyncPlan:
    """The plan, told when the platform kept unsubscribed a person Salesforce asked to subscribe. A platform that
    cannot be looked up by phone shows an earlier opt-out only in its answer to the write (matching could not see
    it): the refusal is then logged as the domain's own sticky-opt-out error, as if matching had found it."""
    if not write.subscribe or view.sms_status is not SmsStatus.UNSUBSCRIBED:
        return plan
    refused = resolve_sms_status(SmsStatus.SUBSCRIBED, SmsStatus.UNSUBSCRIBED, requested_by=Side.SALESFORCE).error
    return plan.failed(refused) if refused is not None else plan


def ledger_view(mapped: MappedRecord) -> Contact:
    """What a platform that keeps no people (`contact_store=False`) "holds" for a record: the record's own values
    with the status Salesforce last recorded for it (`Messaging_Status__c`, the opt-out ledger). Planned against
    it, a record changes nothing but its opt status, and a re-subscribe of someone the ledger has unsubscribed is
    refused (`invalid-messaging-status`) exactly as against a platform's own view.

    The ledger fields come from the record as Salesforce holds it now: real time reads every record back
    (`readback`, which selects the status and opt-out time with every synced field) and bulk runs read them with
    the chunk; a relayed event does not carry them and Redis never holds them, so the ledger survives a Redis
    loss and costs no query of its own."""
    return mapped.contact.with_changes(sms_status=mapped.reported_status)


def _sent(
    obj: SyncObjectConfig,
    record_id: str,
    mapped: MappedRecord,
    digests: Mapping[str, str],
    last: state.RecordState,
    *,
    everything: bool,
) -> state.Mark:
    """What the sync reconciled with the platform: the fields it compared or sent (the changed ones, or all of them
    for a created contact or an object that sends every field) on top of what was reconciled before. A field never
    reconciled stays out, counts as changed in the next sync (`mapping.changed_since`), and keeps the record from
    being told an echo until then. `digests` are `mapped.field_digests()`."""
    reconciled = set(digests) if everything else mapped.changed & set(digests)
    fields = {name: digest for name, digest in (last.sent or {}).items() if name in digests}
    fields.update({name: digests[name] for name in reconciled})
    whole = fields == digests
    return state.record_sent(obj.object_name, record_id, mapped.fingerprint if whole else None, fields)


def owed_fields(
    obj: SyncObjectConfig,
    plan: SyncPlan,
    view: Contact | None,
    reported: SmsStatus,
    *,
    requested: SmsStatus = SmsStatus.UNKNOWN,
) -> dict[str, Any]:
    """What the sync owes the Salesforce record: the planned link, and once the platform answered, the status it
    actually holds (when it differs from what Salesforce reported), and the last-synced time. The opt-out field is
    set to match that status only where it carried no request of its own — it repeated what Salesforce last recorded
    from the platform (`requested` is `reported`), or said nothing — while the person's START or STOP came since
    (the platform's own report of it is then skipped as an echo of this write). A field holding an admin's request
    is never overwritten by the platform's status: an opt-out not yet sent stays an opt-out. These fields are true of
    the record as the sync read it: when they reach Salesforce after the person's STOP was recorded there (the
    write-back was held up), the status fields (`SyncObjectConfig.opt_status_fields`) are left out and the rest
    lands (`writeback.flush`, `bulk.links.flush`)."""
    fields: dict[str, Any] = dict(plan.salesforce_write.fields) if plan.salesforce_write else {}
    if view is not None:
        if view.sms_status is not reported:
            fields[obj.status_field] = status_label(view.sms_status)
            repeats = requested is reported or requested is SmsStatus.UNKNOWN
            if obj.opt_out is not None and repeats and requested is not view.sms_status:
                writable, value = obj.opt_out.value_for(view.sms_status)
                if writable:
                    fields[obj.opt_out.field] = value
            # the time of the STOP too, as the platform → Salesforce sync would have written it (this write makes
            # that sync an echo): it is what keeps an older "subscribed" view from re-subscribing the person later
            if view.sms_status is SmsStatus.UNSUBSCRIBED and view.opted_out_at is not None:
                fields[OPTED_OUT_AT_FIELD] = salesforce_datetime(view.opted_out_at)
            elif view.sms_status is SmsStatus.SUBSCRIBED:
                fields[OPTED_OUT_AT_FIELD] = None
        fields[LAST_SYNCED_AT_FIELD] = salesforce_datetime(datetime.now(UTC))
    return fields


def apply_platform_write(context: SyncContext, write: PlatformWrite) -> Contact:
    """Send one planned write; returns the platform's view of the person.

    Only the changed values are sent, plus the phone (platforms key people by it). An opt-out of an existing contact
    sends its other changes first (an opt-out call carries none), then the opt-out; a new contact who is not opted
    in is created without a subscription (there is nothing to opt out of). The caller guards each request
    (`sendguard.guarded`): a sync whose claim or job was taken over sends nothing more.
    """
    changes = write.changes_only().with_changes(phone=write.contact.phone)
    with platform_call(write=True):
        if write.opt_out and not write.is_create:
            if write.fields - {platform_fields.SMS_STATUS, platform_fields.CRM_ID} or write.cleared:
                context.platform.upsert_contact(changes, subscribe=False)
            return context.platform.opt_out(write.contact)
        return context.platform.upsert_contact(changes, subscribe=write.subscribe)


def record_phone(record: Mapping[str, Any], obj: SyncObjectConfig, region: str) -> str | None:
    """The record's phone as matching uses it (E.164), or None when it has none or it cannot be read."""
    for mapping in obj.matching_mappings:
        if mapping.platform_field != platform_fields.PHONE:
            continue
        for name in mapping.salesforce_fields:
            value = next((v for k, v in record.items() if k.casefold() == name.casefold()), None)
            if isinstance(value, str) and value.strip():
                try:
                    return normalize_phone(value, region)
                except ValueError:
                    return None
    return None


def parallel(threads: int, fn: Callable[[T], R], items: Iterable[T], *, name: str = "sync") -> list[R]:
    """`fn` over `items` on at most `threads` threads, results in order (platform calls are I/O-bound)."""
    work = list(items)
    if not work:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(work))), thread_name_prefix=name) as pool:
        return list(pool.map(fn, work))


def job_concurrency(context: SyncContext, configured: int | None = None) -> int:
    """At most how many records one job syncs at once (threads; `paced` keeps fewer going when the platform answers
    fast): `configured` when given (`GATEWAY_BULK_THREADS`), else `THREADS_PER_SLOT` times the platform's
    `<NAME>_MAX_CONCURRENT` — the cap every worker on every machine shares (`gateway.ratelimit` holds the calls in
    flight to it whatever the threads), so one job alone can keep all of it busy, and several jobs together wait
    their turn for slots instead of exceeding it — else `PLATFORM_CONCURRENCY`."""
    if configured is not None:
        return configured
    platform = context.settings.platform
    cap = platform.max_concurrent if platform is not None else None
    return cap * THREADS_PER_SLOT if cap else PLATFORM_CONCURRENCY


# -- how many records a job keeps going (Little's law) ---------------------------------------------------------------

MIN_WINDOW = 4  # records kept going however fast the platform answers: they overlap their Redis and Salesforce waits
_PACE_KEY = "gateway:sync:pace:{}"  # platform name -> the last job's pace (JSON), so the next job starts at it
_PACE_TTL = 3600
_SMOOTHING = 0.2  # weight of each new record in the moving averages
# `Pace`: while GAIN times the QUICKEST-th quickest time on the platform of the job's items that wrote is under
# FAST_RECORDS items' CPU (a platform answering within about 13 items' CPU), the job sizes for at most that
GAIN = 3
QUICKEST = 4
FAST_RECORDS = 40
# .seconds: the time the item this thread syncs has spent in platform calls; .wrote: one of its writes succeeded;
# .refused: one of them failed (`platform_call`, reset for each item by `run_paced`)
_platform_time = threading.local()


@contextmanager
def platform_call(*, write: bool = False) -> Iterator[None]:
    """Count the body's wall time, less its waits for the platform's shared slots (`ratelimit.waited_seconds`), as
    the current record's time on the platform (for `Pace`): more records in flight shorten no wait for the cap.
    `write`: the body writes to the platform (one request or more). An item whose writes all succeeded is a sample
    of how fast the platform answers (`Pace.observe`); a lookup may make no request at all, and an error may be
    answered at once."""
    started, waited = time.perf_counter(), waited_seconds()
    succeeded = False
    try:
        yield
        succeeded = True
    finally:
        spent = time.perf_counter() - started - (waited_seconds() - waited)
        _platform_time.seconds = getattr(_platform_time, "seconds", 0.0) + spent
        if write and succeeded:
            _platform_time.wrote = True
        elif write:
            _platform_time.refused = True


@dataclass
class Pace:
    """How many records one job keeps going at once: Little's law, in flight = rate x time in flight. A worker's
    records share one interpreter lock, so the fastest a job can go is one record per `cpu_seconds` (the CPU a record
    costs the worker); each record also waits `platform_seconds` on the platform (the wall time of its calls, less
    their waits for the platform's shared slots). Keeping the CPU busy then takes `latency() / cpu_seconds` records
    in flight, plus `MIN_WINDOW` for the waits on Redis and Salesforce; never more than `ceiling` (`job_concurrency`,
    from the platform's shared cap: the limiter holds the calls in flight to the cap whatever the window). Before
    anything is measured (a deployment's first job, or an hour after the last), as many as the cap.

    The wait measured grows with what the job keeps in flight once the CPU is the limit: each answer then waits for the
    interpreter lock behind the other records, and a platform on the same machine (the emulators) waits for a core. A
    window sized from that wait widens the queue it measured, up to the ceiling: in a burst (`scripts/bench/e2e`, an
    emulator on the gateway's two cores) the first writes waited 5-13 ms, the later ones 100-290 ms, with 60-90 records
    in flight a job where about 10 kept the CPU busy.

    The quickest items are the ones with the least of the job's own queueing in them. So while `GAIN` times the
    `QUICKEST`-th quickest time on the platform of the job's items that wrote (all their writes succeeded: an error can
    be answered at once, a lookup may not call at all) is under `FAST_RECORDS` items' CPU — a platform answering within
    about 13 items' CPU: a small window, a CPU-bound job — the job sizes for at most that: its window stays within
    `MIN_WINDOW` + `GAIN` times that time over an item's CPU, whatever queue its own records make. BBR congestion
    control bounds what a TCP sender keeps in flight the same way, by a gain times the least round trip seen (Linux,
    net/ipv4/tcp_bbr.c: `cwnd = max(cwnd_gain * bottleneck_bandwidth * min_rtt, 4)`). The `QUICKEST`-th, not the
    quickest: a few answers far quicker than the rest bound nothing.

    Otherwise the job is sized from its mean wait alone, as before: a slow platform's window is wide, one record more in
    flight costs an idle thread, and its quickest answers can be far below its typical one (answers that vary widely),
    where sizing from them would cut the job's rate. A platform answering in 100 ms with 3 ms of CPU an item is never
    bound; with 8 ms an item (a slow machine, heavy records), one whose mean wait exceeds 300 ms can be.

    The quickest items are the job's own: a job starts at the figure the last one stored (`run_paced`: what it sized
    for), never at the last one's quickest. A job beside it (another worker) still queues at a platform they share, and
    its queue is in this job's waits too: then the bound may never apply, as before. Within a job the quickest items are
    never forgotten: a fast platform that slows down more than `GAIN` times mid-job keeps the window at that bound until
    the job ends (a real-time job is one relayed batch, at most 2,000 events; a bulk chunk, `GATEWAY_BULK_READ_CHUNK`
    records); the next job measures it afresh.

    A platform answering in 250 ms with 3 ms of CPU a record: 88 records in flight; one answering at once: 5, where
    160 threads would only contend for the lock (`scripts/bench/e2e`, `scripts/bench/throughput`). The means move a
    fifth of the way to each new record (`observe`), so the window follows the platform's latency during the job."""

    ceiling: int
    platform_seconds: float = 0.0
    cpu_seconds: float = 0.0
    quickest: list[float] = field(default_factory=list)  # the job's `QUICKEST` quickest items that wrote (s), rising

    def latency(self) -> float:
        """The platform's time a record that the window is sized for (see the class)."""
        if len(self.quickest) < QUICKEST:
            return self.platform_seconds
        bound = GAIN * self.quickest[-1]
        if bound >= FAST_RECORDS * self.cpu_seconds:
            return self.platform_seconds
        return min(self.platform_seconds, bound)

    def window(self) -> int:
        if self.cpu_seconds <= 0:  # nothing measured: as many as the platform allows in flight (a slow one is busy
            return max(MIN_WINDOW, self.ceiling // THREADS_PER_SLOT)  # at once); the first records shrink it
        return max(1, min(self.ceiling, MIN_WINDOW + math.ceil(self.latency() / self.cpu_seconds)))

    def observe(self, platform_seconds: float, cpu_seconds: float, sample_seconds: float = 0.0) -> None:
        """One more item: its time on the platform, its CPU, and `sample_seconds`: its time on the platform again
        when it wrote and every write succeeded, a sample of how fast the platform answers (0 otherwise: none)."""
        if sample_seconds > 0 and (len(self.quickest) < QUICKEST or sample_seconds < self.quickest[-1]):
            bisect.insort(self.quickest, sample_seconds)
            del self.quickest[QUICKEST:]
        if self.cpu_seconds <= 0:
            self.platform_seconds, self.cpu_seconds = platform_seconds, cpu_seconds
            return
        self.platform_seconds += _SMOOTHING * (platform_seconds - self.platform_seconds)
        self.cpu_seconds += _SMOOTHING * (cpu_seconds - self.cpu_seconds)


def paced(
    context: SyncContext, fn: Callable[[T], R], items: Iterable[T], *, configured: int | None = None, name: str = "sync"
) -> list[R]:
    """`fn` over `items`, results in order, keeping `Pace.window()` of them going at once (`configured`: that many,
    fixed: `GATEWAY_BULK_THREADS`). The pace starts where the platform's last job left it (one Redis read) and is
    stored for the next (one write). An item's exception is raised once every other item is done (as `parallel`
    does); `fencing.Superseded` (the job was handed to another worker) stops new items from starting instead."""
    if configured is not None:
        return parallel(configured, fn, items, name=name)
    return run_paced(context.redis, context.platform.name, job_concurrency(context), fn, items, name=name)


def run_paced(
    redis: Redis, platform: str, ceiling: int, fn: Callable[[T], R], items: Iterable[T], *, name: str = "sync"
) -> list[R]:
    """`paced` for `platform`'s pace in `redis`, at most `ceiling` items going at once."""
    work = list(items)
    if not work:
        return []
    key = _PACE_KEY.format(platform)
    pace = Pace(ceiling)
    stored = redis.get(key)
    if stored is not None:
        with_values = json.loads(stored)
        pace.observe(float(with_values["platform_seconds"]), float(with_values["cpu_seconds"]))

    def measured(item: T) -> tuple[R, float, float, float]:
        _platform_time.seconds = 0.0
        _platform_time.wrote = _platform_time.refused = False
        cpu = time.thread_time()
        result = fn(item)
        spent = _platform_time.seconds
        sample = spent if _platform_time.wrote and not _platform_time.refused else 0.0
        return result, spent, time.thread_time() - cpu, sample

    results: list[R | None] = [None] * len(work)
    finished: queue.SimpleQueue[Future[tuple[R, float, float, float]]] = queue.SimpleQueue()
    going: dict[Future[tuple[R, float, float, float]], int] = {}
    failure: BaseException | None = None
    stopped = False  # the job was handed over (or the process is going): start nothing more
    following = iter(enumerate(work))
    with ThreadPoolExecutor(max_workers=pace.ceiling, thread_name_prefix=name) as pool:  # threads start as needed
        while True:
            while not stopped and len(going) < pace.window():
                index, item = next(following, (-1, None))
                if index < 0:
                    break
                future = pool.submit(measured, item)  # type: ignore[arg-type]
                going[future] = index
                future.add_done_callback(finished.put)
            if not going:
                break
            future = finished.get()
            index = going.pop(future)
            try:
                result, platform_seconds, cpu_seconds, sample_seconds = future.result()
            except BaseException as exc:  # noqa: BLE001 - raised below, once the other items are done
                failure = failure or exc
                # One item's error (a bug, a bad value) leaves the others to run, as every item ran before pacing;
                # a job handed to another worker, or a process told to stop, starts nothing more.
                stopped = stopped or isinstance(exc, fencing.Superseded) or not isinstance(exc, Exception)
                continue
            results[index] = result
            pace.observe(platform_seconds, cpu_seconds, sample_seconds)
    if pace.cpu_seconds > 0:  # what the window was sized for: the next job starts without this one's own queueing
        figures = {"platform_seconds": pace.latency(), "cpu_seconds": pace.cpu_seconds}
        redis.set(key, json.dumps(figures), ex=_PACE_TTL)
    if failure is not None:
        raise failure
    return results  # type: ignore[return-value]  # every index was filled


def prefetch_by_phone(
    context: SyncContext, phones: Sequence[str], *, threads: int = 1
) -> Mapping[str, Contact | None] | None:
    """The platform contacts holding these phones, `PHONE_BATCH` per call (on up to `threads` threads), where the
    platform looks people up in batches and matching needs nothing but the phone; None otherwise (each record is
    then looked up on its own)."""
    caps = context.platform.capabilities
    if not caps.lookup_many_by_phone or caps.lookup_by_platform_id or caps.lookup_by_crm_id or not phones:
        return None
    unique = sorted(set(phones))
    batches = [unique[start : start + PHONE_BATCH] for start in range(0, len(unique), PHONE_BATCH)]
    found: dict[str, Contact | None] = dict.fromkeys(phones)
    for answer in parallel(threads, context.platform.find_contacts_by_phone, batches, name="lookup"):
        found.update(answer)
    return found


def match_on_platform(
    context: SyncContext, contact: Contact, obj: SyncObjectConfig, known: Mapping[str, Contact | None] | None = None
) -> PlatformMatch:
    """Where a mapped Salesforce record goes on the platform (platform id → CRM id → phone → create), looking people
    up only by the keys the platform's capabilities allow.

    `known` holds contacts already looked up by phone (`prefetch_by_phone`), saving a platform call per record."""
    caps = context.platform.capabilities
    platform = context.platform
    if known is not None and contact.phone is not None and contact.phone in known:
        return _match(contact, obj, caps, None, None, known[contact.phone])  # known only where ids cannot be looked up
    with platform_call():
        by_platform_id = (
            platform.find_contact(platform_id=contact.platform_id)
            if contact.platform_id and caps.lookup_by_platform_id
            else None
        )
        by_crm_id = platform.find_contact(crm_id=contact.crm_id) if contact.crm_id and caps.lookup_by_crm_id else None
        by_phone = platform.find_contact(phone=contact.phone) if contact.phone and caps.lookup_by_phone else None
    return _match(contact, obj, caps, by_platform_id, by_crm_id, by_phone)


def _match(
    contact: Contact,
    obj: SyncObjectConfig,
    caps: Capabilities,
    by_platform_id: Contact | None,
    by_crm_id: Contact | None,
    by_phone: Contact | None,
) -> PlatformMatch:
    if (
        contact.platform_id
        and not caps.lookup_by_platform_id
        and by_phone
        and by_phone.platform_id == contact.platform_id
    ):
        by_platform_id = by_phone  # the platform finds people by phone only: the phone's owner is the linked contact
    return match_contact(
        contact,
        by_platform_id=by_platform_id,
        by_crm_id=by_crm_id,
        by_phone=by_phone,
        create_unmatched=obj.create_unmatched_to_platform,
    )


def result_values(
    context: SyncContext,
    outcome: RecordOutcome,
    plan: SyncPlan,
    *,
    event: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The `Sync_Result__c` of one record's sync: in real time with its `event` (what a resend replays) and the
    platform call made; a bulk run's (`run_id`) names the bulk write."""
    body: dict[str, Any] = {"event": event} if event is not None else {}
    if plan.platform_write is not None:
        body["platformRequest"] = plan.platform_write.values()
    platform = context.platform.name
    return writeback.result_values(
        direction=Direction.TO_PLATFORM,
        status=plan.status.value,
        object_name=outcome.obj.object_name,
        record_id=outcome.record_id,
        error_code=plan.error_code,
        message=plan.message or None,
        request_endpoint=outcome.endpoint if run_id is None else f"{platform}:bulk",
        request_body=body or None,
        platform=platform,
        platform_contact_id=plan.platform_id,
        run_id=run_id,
    )


# -- a batch of Salesforce events (real time) ---------------------------------------------------------------------


def _version(event: Mapping[str, Any]) -> datetime:
    stamp = event["record"].get("SystemModstamp") or event["publishedAt"]
    return parse_timestamp(str(stamp))


def _changed_fields(event: Mapping[str, Any], held: Mapping[str, Any], version: datetime) -> list[str] | None:
    """What changed since the last sync, as far as the event and Salesforce's row tell: the event's changed fields
    describe its own version only. When Salesforce holds a newer version, every mapped field (None: the echo check
    and the merge then skip what the platform already holds); at the same version (timestamps of one second may
    hide a second edit), the event's fields plus every field whose value Salesforce holds differs from the event's."""
    if version != _version(event):
        return None
    held_values = {name.casefold(): value for name, value in held.items()}
    differing = [
        name
        for name, value in event["record"].items()
        if name.casefold() in held_values and held_values[name.casefold()] != value
    ]
    return list(dict.fromkeys([*event["changedFields"], *differing]))


def latest_per_record(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest event of each record, in the order records first appear."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        key = (event["sobjectType"], event["recordId"][:15])
        current = newest.get(key)
        if current is None or _version(event) >= _version(current):
            newest[key] = event
    return list(newest.values())


def _refuse(
    context: SyncContext, obj: SyncObjectConfig, event: Mapping[str, Any], error: SyncError, sink: RecordSink
) -> None:
    """Hand the sink a failure for an event refused before its record was read (nothing is marked or sent)."""
    record_id = str(event["recordId"])
    plan = SyncPlan(
        PlanDirection.TO_PLATFORM,
        object_name=obj.object_name,
        record_id=record_id,
        errors=(error,),
        link_field=obj.platform_id_field,
    )
    sink.done(RecordOutcome(obj, record_id, "failed", plan=plan))


class _WriteBackSink:
    """Real time: every planned record leaves a `Sync_Result__c` (with the event, to be resent) and its write-back,
    queued in the transaction that stores its marks. The write-back names its status fields and the record version
    they are true of: a STOP recorded on the record while it waits keeps them from landing (`writeback.flush`)."""

    writes = True

    def __init__(self, context: SyncContext, events: Mapping[str, dict[str, Any]]) -> None:
        self.context = context
        self.events = events  # record id -> its event
        self.counts = {"synced": 0, "skipped": 0, "failed": 0}

    def conflict(self, obj: SyncObjectConfig, record_id: str, phone: str | None) -> SyncError | None:
        return None

    def done(self, outcome: RecordOutcome, release: fencing.Fence | None = None) -> bool:
        plan = outcome.plan
        entries = []
        if plan is not None:
            event = self.events[outcome.record_id]
            result = result_values(self.context, outcome, plan, event=event)
            entries.append(
                writeback.WriteBack(
                    result=result,
                    object_name=outcome.obj.object_name,
                    record_id=outcome.record_id,
                    fields=outcome.owed,
                    version=outcome.version.isoformat() if outcome.version else None,
                    status_fields=tuple(name for name in outcome.obj.opt_status_fields() if name in outcome.owed),
                )
            )

        def store(pipe: Any) -> None:
            state.mark(pipe, outcome.marks)
            writeback.queue_entries(pipe, entries)

        released = self.context.commit(store, release=release)
        if plan is None or plan.status is SyncStatus.SKIPPED:
            self.counts["skipped"] += 1
        else:
            self.counts["failed" if plan.status is SyncStatus.FAILURE else "synced"] += 1
        return released


def sync_events(
    context: SyncContext, org_id: str, events: list[dict[str, Any]], *, force: bool = False
) -> dict[str, int]:
    """Apply each record's newest event to the platform; returns counts by outcome.

    `force` (an admin's resend) bypasses the version and echo checks.
    """
    config = context.sync_config()
    latest = latest_per_record(events)
    sink = _WriteBackSink(context, {e["recordId"]: e for e in latest})
    work = []
    for event in latest:
        obj = config.for_object(event["sobjectType"])
        if obj is None or not obj.active:
            sink.counts["skipped"] += 1
        else:
            work.append((obj, event))
    checked = readback.read_back(context, work)

    region = context.settings.phone_default_region
    phones = [p for item in checked if item.record and (p := record_phone(item.record, item.obj, region))]
    threads = job_concurrency(context)
    known = prefetch_by_phone(context, phones, threads=threads) if len(phones) > 1 else None

    def one(item: readback.ReadBack) -> SyncError | None:
        obj, event = item.obj, item.event
        if item.refusal is not None:
            _refuse(context, obj, event, item.refusal, sink)
            return None
        if item.record is None:
            if event["operation"] == "delete":  # gone, as the event says: remember it, send nothing
                sync_record(context, obj, {"Id": event["recordId"]}, sink, version=_version(event), deleted=True)
            else:  # not in Salesforce (deleted since, or never was): nothing to sync, and no log row to flood
                sink.counts["skipped"] += 1
            return None
        version = parse_timestamp(str(item.record["SystemModstamp"]))
        update = event["operation"] not in ("insert", "undelete") and not obj.send_all_fields
        try:
            sync_record(
                context,
                obj,
                {**item.record, "Id": event["recordId"]},
                sink,
                version=version,
                changed_fields=_changed_fields(event, item.record, version) if update else None,
                force=force,
                known=known,
                event_version=_version(event),
            )
        except SyncFailure as failure:
            if not failure.error.transient:
                raise
            return failure.error
        return None

    # Records of a batch are distinct, so they go to the platform concurrently (its calls are I/O-bound).
    transient = [error for error in paced(context, one, checked) if error is not None]
    try:
        writeback.flush(context.redis, context.salesforce)
    except Exception:
        log.warning("Salesforce write-back deferred", exc_info=True)
    log.info("org %s: %s", org_id, sink.counts)
    if transient:
        raise TransientFailures(transient)
    return sink.counts
