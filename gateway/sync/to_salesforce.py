"""Platform → Salesforce: people changed on the platform (a STOP, a profile edit) update or create Salesforce records.

Guarantees:
- Opt status always syncs; attribute fields follow each mapping's merge policy; an opt-out is never undone by a
  stale platform view (the domain's rules).
- A platform contact whose values equal what the gateway itself last wrote to the platform is an echo and is
  skipped; a contact version not newer than the last one synced from the platform is skipped.
- Matching asks Salesforce once per batch and object (ids, platform ids and matching fields in one SOQL query each;
  phones through the search index and the recently changed records, whatever format they were typed in, about 2
  calls per 75 people), then writes in bulk (sObject Collections, 200 a call) and logs one `Sync_Result__c` per
  person. Bulk runs take the same path (`sync_batch`) with their own matching index and sink (`gateway.sync.bulk`),
  which normalises every stored phone.
- Salesforce being unavailable or out of API budget raises, so RQ retries the job; nothing is marked done before
  Salesforce accepted the write. The Salesforce write and the marks are fenced by the job's lease, as to_platform's.
- A STOP placed on a record is marked there (`state.record_opted_out`) with its contact's mark: a status owed to
  the record by a Salesforce → platform sync that read it before (a write-back held up) is then never written over
  the STOP (`writeback.flush`, `bulk.links.flush`).
- In real time, opt-outs are matched and written first, in the budget's opt-out lane (`salesforce.usage.Lane`), their
  phone search (`find_by_phone`) included: a STOP reaches Salesforce even when reads and bulk work have spent every
  call they may; the log rows follow in the default lane, deferred to the next flush when the budget says no.
- A person no Salesforce record holds (nothing matched, nothing created) leaves one `Sync_Result__c` a day, not one
  per webhook call or poll (`state.reported`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway.domain import platform_fields
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.domain.freshness import is_newer, parse_timestamp
from gateway.domain.mapping import salesforce_datetime
from gateway.domain.matching import match_salesforce_record, salesforce_id_18
from gateway.domain.phones import InvalidPhoneNumber, normalize_phone
from gateway.domain.plans import SalesforceWrite, SyncPlan, SyncStatus, plan_to_salesforce
from gateway.domain.sync_config import LAST_SYNCED_AT_FIELD
from gateway.salesforce import queries
from gateway.salesforce.phone_search import PhoneLookup
from gateway.salesforce.sync_results import Direction as ResultDirection
from gateway.salesforce.usage import Lane, budget_lane
from gateway.sync import state, writeback
from gateway.sync.context import SyncContext
from gateway.sync.to_platform import TransientFailures

log = logging.getLogger(__name__)


class ContactSink(Protocol):
    """Where `sync_batch` leaves each contact's outcome (real time: the write-back queue; bulk: the run)."""

    @property
    def writes(self) -> bool:
        """False for a dry run: contacts are planned and counted, Salesforce is not written, nothing is marked."""
        ...

    def done(self, contact: Contact, plan: SyncPlan | None, marks: Sequence[state.Mark | None]) -> None:
        """One contact's outcome: `plan` None when it was already synced (an echo or not newer)."""
        ...


Candidates = Callable[[Sequence[Contact]], list[list[dict[str, Any]]]]


def sync_batch(
    context: SyncContext,
    contacts: Sequence[Contact],
    sink: ContactSink,
    *,
    force: bool = False,
    candidates: Candidates | None = None,
    stop_only: Collection[str] = (),
) -> None:
    """The path every platform contact takes to Salesforce, in real time and in bulk runs: the newest view of each
    person, skipped when already synced (unless `force`), matched against `candidates` (default: `candidate_rows`),
    planned by the domain's rules, written in bulk when the sink writes, and handed with its marks to `sink`.
    `stop_only` holds the keys (`state.contact_key`) of people all of whose news is a STOP texted in (never created
    in Salesforce unless the deployment says so)."""
    latest = latest_per_person(contacts)
    done = [False] * len(latest) if force else state.already_synced(context.redis, latest)
    fresh = []
    for contact, skip in zip(latest, done, strict=True):
        if skip:
            sink.done(contact, None, ())
        else:
            fresh.append(contact)
    if not fresh:
        return
    rows = candidates(fresh) if candidates is not None else [candidate_rows(context, fresh)] * len(fresh)
    plans = plan_contacts(context, fresh, rows, stop_only=stop_only)
    if sink.writes:
        context.check_fence()  # a job handed to another worker while this one was frozen writes nothing more
        plans = write_plans(context, plans)
    for contact, plan in zip(fresh, plans, strict=True):
        marks = (
            ()
            if plan.status is SyncStatus.FAILURE
            else (state.contact_synced(contact), *_opt_out_stands(contact, plan))
        )
        sink.done(contact, plan, marks)


def _opt_out_stands(contact: Contact, plan: SyncPlan) -> tuple[state.Mark, ...]:
    """The person's STOP stands on the records the plan placed it on (the record matched, or each record sharing the
    phone, `opt_out_records`; written now or already showing it): what a sync of such a record planned
    before owes it, still queued, must not undo it (`writeback`, `bulk.links`). Stored with the contact's own mark,
    so a STOP is never marked synced without it: after a crash before that transaction the STOP is still pending
    (or unmarked) and its retry writes it again, over whatever a flush wrote meanwhile."""
    if contact.sms_status is not SmsStatus.UNSUBSCRIBED:
        return ()
    placed = [(plan.object_name, plan.record_id)] if plan.object_name and plan.record_id else []
    placed += plan.opt_out_records
    return tuple(state.record_opted_out(object_name, record_id) for object_name, record_id in placed)


def plan_contacts(
    context: SyncContext,
    contacts: Sequence[Contact],
    candidates: Sequence[Sequence[dict[str, Any]]],
    *,
    stop_only: Collection[str] = (),
) -> list[SyncPlan]:
    """Each contact's plan, matched among its candidate Salesforce rows."""
    config = context.sync_config()
    region = context.settings.phone_default_region
    return [
        plan_to_salesforce(
            contact,
            config,
            match_salesforce_record(contact, rows, config, default_region=region),
            rules=context.rules,
            stop_only=state.contact_key(contact) in stop_only,
        )
        for contact, rows in zip(contacts, candidates, strict=True)
    ]


class _WriteBackSink:
    """Real time: every planned contact leaves a `Sync_Result__c` (with the contact, to be resent), queued with the
    marks in one transaction once Salesforce accepted the writes; a person no Salesforce record holds (none matched,
    none created) leaves one a day (the day's first outcome, `state.reported`), so a number texting in again and
    again, or a webhook URL in the wrong hands, cannot fill the log. A person Salesforce could not write yet (a row
    still locked) leaves nothing and is kept in `unwritten`, for a later try, unless `last_try(person)` says this was
    their last: then their failure row is written like any other."""

    writes = True

    def __init__(self, context: SyncContext, last_try: Callable[[Contact], bool]) -> None:
        self.context = context
        self.last_try = last_try
        self.counts = {"synced": 0, "skipped": 0, "failed": 0}
        self.marks: list[state.Mark | None] = []
        self.planned: list[tuple[Contact, SyncPlan]] = []
        self.unwritten: list[tuple[Contact, SyncPlan]] = []

    def done(self, contact: Contact, plan: SyncPlan | None, marks: Sequence[state.Mark | None]) -> None:
        if plan is not None and plan.not_written_yet and not self.last_try(contact):
            self.unwritten.append((contact, plan))
            return
        self.counts[outcome_of(plan)] += 1
        self.marks.extend(marks)
        if plan is not None:
            self.planned.append((contact, plan))

    def commit(self) -> None:
        """Store the marks and queue the log rows, in one transaction."""
        # an opt-out written to several records that share the phone is placed: each such write leaves its row
        unplaced = [contact for contact, plan in self.planned if plan.record_id is None and not plan.opt_out_writes]
        seen = state.reported(self.context.redis, state.UNMATCHED, unplaced)
        already = dict(zip(map(id, unplaced), seen, strict=True))
        entries = [
            writeback.WriteBack(result=result_values(self.context, contact, plan))
            for contact, plan in self.planned
            if not already.get(id(contact), False)
        ]
        reports = [state.report(state.UNMATCHED, contact) for contact in unplaced if not already[id(contact)]]
        if entries or reports or any(self.marks):

            def store(pipe: Any) -> None:
                state.mark(pipe, [*self.marks, *reports])
                writeback.queue_entries(pipe, entries)

            self.context.commit(store)
        self.marks, self.planned = [], []

    def flush(self) -> None:
        """Write the queued rows to Salesforce now, in the default lane; if Salesforce or the budget says no, they
        wait for the next flush (the cron's, every 30 s): the syncs themselves are done and marked."""
        try:
            writeback.flush(self.context.redis, self.context.salesforce)
        except Exception:
            log.warning("Salesforce write-back deferred", exc_info=True)


def _never(_: Contact) -> bool:
    return False


def sync_contacts(
    context: SyncContext,
    contacts: Sequence[Contact],
    *,
    force: bool = False,
    stop_only: Collection[str] = (),
    last_try: Callable[[Contact], bool] = _never,
) -> dict[str, int]:
    """Bring Salesforce up to date with these platform contacts; returns counts by outcome (`stop_only`: see
    `sync_batch`).

    Opt-outs go first, on their own, in the budget's opt-out lane (their matching query and their writes may spend
    the share of the API budget nothing else may); the other people follow in the default lane.

    Raises `NotWrittenYet`, after storing everything else (marks, log rows), when Salesforce could not yet write some
    people for a transient reason (a row still locked after the client's retries): those people are neither marked
    nor logged, for the caller to try them again (a job's retry, a drain's later batch), and only them (the others
    are marked synced). A STOP is never dropped because its record was locked. A person for whom `last_try` says
    this was the last try is not kept back: their failure (`salesforce-unavailable`) is logged, to be resent."""
    sink = _WriteBackSink(context, last_try)
    latest = latest_per_person(contacts)
    stops = [c for c in latest if c.sms_status is SmsStatus.UNSUBSCRIBED]
    if stops:
        with budget_lane(Lane.OPT_OUT):
            sync_batch(context, stops, sink, force=force, stop_only=stop_only)
            sink.commit()
    others = [c for c in latest if c.sms_status is not SmsStatus.UNSUBSCRIBED]
    sync_batch(context, others, sink, force=force, stop_only=stop_only)
    sink.commit()
    sink.flush()
    if sink.unwritten:
        errors = [error for _, plan in sink.unwritten for error in plan.not_written_yet]
        raise NotWrittenYet([contact for contact, _ in sink.unwritten], errors, sink.counts)
    return sink.counts


class NotWrittenYet(TransientFailures):
    """Salesforce could not yet write `contacts` (a row still locked after the client's retries); the rest of the
    batch is stored and marked (`counts`, by outcome). For the caller to try them again later."""

    def __init__(self, contacts: list[Contact], errors: list[SyncError], counts: dict[str, int]) -> None:
        super().__init__(errors)
        self.contacts = contacts
        self.counts = counts


def latest_per_person(contacts: Sequence[Contact]) -> list[Contact]:
    """The newest view of each person (`state.contact_key`) among `contacts`, in first-seen order; of two views of
    one version, the later listed."""
    newest: dict[str, Contact] = {}
    for contact in contacts:
        key = state.contact_key(contact)
        current = newest.get(key)
        if current is None or is_newer(contact.version, current.version) or contact.version == current.version:
            newest[key] = contact
    return list(newest.values())


CANDIDATE_GROUP = 40  # people per candidate query: keeps the SOQL (sent in the URL) well under 16,384 bytes


def candidate_rows(context: SyncContext, contacts: Sequence[Contact]) -> list[dict[str, Any]]:
    """Every Salesforce record any of `contacts` could match: by id, platform id and the other matching fields in one
    SOQL query per active object and group of people, and by phone however the number was typed in Salesforce
    (`SalesforceClient.find_by_phone`: about 2 API calls per 75 people, no table scan)."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(contacts), CANDIDATE_GROUP):
        rows.extend(_candidates_of_group(context, contacts[start : start + CANDIDATE_GROUP]))
    rows.extend(_candidates_by_phone(context, contacts))
    unique: dict[str, dict[str, Any]] = {row["Id"]: row for row in rows}
    return list(unique.values())


def _candidates_of_group(context: SyncContext, contacts: Sequence[Contact]) -> list[dict[str, Any]]:
    config = context.sync_config()
    rows: list[dict[str, Any]] = []
    for obj in config.active_objects:
        matching: dict[str, set[str]] = defaultdict(set)
        for mapping in obj.matching_mappings:
            if mapping.platform_field == platform_fields.PHONE:
                continue  # phones are typed in any format: `_candidates_by_phone` finds them
            values = {v for c in contacts if (v := platform_fields.contact_value(c, mapping.platform_field))}
            for name in mapping.salesforce_fields:
                matching[name] |= values
        query = queries.candidates(
            obj,
            crm_ids=(c.crm_id for c in contacts if c.crm_id),
            platform_ids=(c.platform_id for c in contacts if c.platform_id),
            matching=matching,
        )
        if query is None:
            continue
        for row in context.salesforce.iter_query(query, api="rest"):
            rows.append({**row, "attributes": {"type": obj.object_name}})
    return rows


def _candidates_by_phone(context: SyncContext, contacts: Sequence[Contact]) -> list[dict[str, Any]]:
    """The records whose phone matching fields hold one of the contacts' numbers, in any typed format. A number
    that is not a valid phone matches nobody (the domain compares phones by line), so it is not searched."""
    region = context.settings.phone_default_region
    lookups = []
    for obj in context.sync_config().active_objects:
        fields = [
            name
            for mapping in obj.matching_mappings
            if mapping.platform_field == platform_fields.PHONE
            for name in mapping.salesforce_fields
        ]
        if fields:
            lookups.append(PhoneLookup(obj.object_name, tuple(dict.fromkeys(fields)), tuple(queries.match_fields(obj))))
    phones = set()
    for contact in contacts:
        value = platform_fields.contact_value(contact, platform_fields.PHONE)
        if value:
            try:
                phones.add(normalize_phone(value, region))
            except InvalidPhoneNumber:
                continue
    if not lookups or not phones:
        return []
    return context.salesforce.find_by_phone(lookups, sorted(phones), default_region=region)


def write_plans(context: SyncContext, plans: list[SyncPlan]) -> list[SyncPlan]:
    """Every planned write in bulk: updates by id, creates as upserts by the platform id (idempotent). A plan's
    opt-out of several records (`SyncPlan.opt_out_writes`, of any objects) is written with the others and after the
    batch's other writes to the same record (one call never names a record twice); any of its writes refused fails
    the plan, naming the record, so it is not marked synced. A record Salesforce refused only for a transient reason
    (`UNABLE_TO_LOCK_ROW`…, still so after the client's retries) fails with `salesforce-unavailable`, a refusal with
    `salesforce-rejected`."""
    now = salesforce_datetime(datetime.now(UTC))
    out = list(plans)
    groups: dict[tuple[str, bool], list[tuple[int, SalesforceWrite]]] = defaultdict(list)
    config = context.sync_config()
    writes = [(i, plan.salesforce_write) for i, plan in enumerate(plans) if plan.salesforce_write is not None]
    writes += [(i, write) for i, plan in enumerate(plans) for write in plan.opt_out_writes]  # the opt-outs land last
    for i, write in writes:
        groups[(write.object_name, write.is_create)].append((i, write))
    for (object_name, is_create), group in groups.items():
        obj = config.for_object(object_name)
        link_field = obj.platform_id_field if obj else "Messaging_Contact_Id__c"
        results: list[tuple[int, SalesforceWrite, Any]] = []
        if is_create:
            records = [{**write.fields, LAST_SYNCED_AT_FIELD: now} for _, write in group]
            upsertable = [j for j, r in enumerate(records) if r.get(link_field)]
            plain = [j for j, r in enumerate(records) if not r.get(link_field)]
            if upsertable:
                got = context.salesforce.upsert(object_name, link_field, [records[j] for j in upsertable])
                results.extend((*group[upsertable[r.index]], r) for r in got)
            if plain:
                got = context.salesforce.create(object_name, [records[j] for j in plain])
                results.extend((*group[plain[r.index]], r) for r in got)
        else:
            for round_ in _each_record_once(group):
                records = [{**write.fields, LAST_SYNCED_AT_FIELD: now, "Id": write.record_id} for _, write in round_]
                got = context.salesforce.update(object_name, records)
                results.extend((*round_[r.index], r) for r in got)
        for i, write, result in results:
            if result.success:
                if is_create and result.id:
                    out[i] = replace(out[i], record_id=result.id)
                continue
            detail = "; ".join(f"{e.status_code}: {e.message}" for e in result.errors) or "refused"
            which = f" {write.object_name} {write.record_id}" if plans[i].opt_out_writes else ""
            if result.retryable:  # still locked (or busy) after the client's own retries: for the job's retry
                error = SyncError(
                    SyncErrorCode.SALESFORCE_UNAVAILABLE, f"Salesforce could not write{which} yet: {detail}."
                )
            else:
                error = SyncError(SyncErrorCode.SALESFORCE_REJECTED, f"Salesforce refused{which}: {detail}.")
            out[i] = out[i].failed(error)
    return out


def _each_record_once(group: Sequence[tuple[int, SalesforceWrite]]) -> list[list[tuple[int, SalesforceWrite]]]:
    """Updates in rounds, in order, each round naming a record at most once: Salesforce refuses a collection that
    names one twice, and two people's plans can reach one record (one matched it, another's opt-out shares its
    phone), the later write landing last."""
    rounds: list[list[tuple[int, SalesforceWrite]]] = []
    seen: list[set[str]] = []
    for item in group:
        record = salesforce_id_18(item[1].record_id or "").casefold()
        n = next((k for k, ids in enumerate(seen) if record not in ids), len(rounds))
        if n == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[n].append(item)
        seen[n].add(record)
    return rounds


def outcome_of(plan: SyncPlan | None) -> str:
    """synced | skipped | failed, as real time counts them (None: already synced)."""
    if plan is None or plan.status is SyncStatus.SKIPPED:
        return "skipped"
    return "failed" if plan.status is SyncStatus.FAILURE else "synced"


def result_values(
    context: SyncContext, contact: Contact, plan: SyncPlan, *, run_id: str | None = None
) -> dict[str, Any]:
    """The `Sync_Result__c` of one contact's sync; a bulk run's (`run_id`) names its bulk write and omits the
    request (its rows are for failures, which the contact alone lets an admin resend)."""
    body: dict[str, Any] = {"contact": contact_to_json(contact)}
    if plan.salesforce_write is not None and run_id is None:
        body["salesforceRequest"] = dict(plan.salesforce_write.fields)
    if plan.opt_out_writes:
        body["salesforceOptOuts"] = [
            {"object": w.object_name, "id": w.record_id, "fields": dict(w.fields)} for w in plan.opt_out_writes
        ]
    operation = "create" if plan.salesforce_write and plan.salesforce_write.is_create else "update"
    kind = operation if run_id is None else f"bulk-{operation}"
    return writeback.result_values(
        direction=ResultDirection.TO_SALESFORCE,
        status=plan.status.value,
        object_name=plan.object_name,
        record_id=plan.record_id,
        error_code=plan.error_code,
        message=plan.message or None,
        request_endpoint=f"salesforce:{kind}:{plan.object_name or '-'}",
        request_body=body,
        platform=context.platform.name,
        platform_contact_id=contact.platform_id,
        run_id=run_id,
    )


def contact_to_json(contact: Contact) -> dict[str, Any]:
    """A platform contact as stored in a log row (and read back by a resend)."""
    values = {name: platform_fields.contact_value(contact, name) for name in sorted(platform_fields.STANDARD_FIELDS)}
    return {
        "values": {k: v for k, v in values.items() if v is not None},
        "custom": dict(contact.custom_fields),
        "sms_status": contact.sms_status.value,
        "platform_id": contact.platform_id,
        "crm_id": contact.crm_id,
        "version": contact.version.isoformat() if contact.version else None,
        "opted_out_at": contact.opted_out_at.isoformat() if contact.opted_out_at else None,
    }


def contact_from_json(data: dict[str, Any]) -> Contact:
    base = Contact(
        sms_status=SmsStatus(data.get("sms_status", "unknown")),
        platform_id=data.get("platform_id"),
        crm_id=data.get("crm_id"),
        version=parse_timestamp(data["version"]) if data.get("version") else None,
        opted_out_at=parse_timestamp(data["opted_out_at"]) if data.get("opted_out_at") else None,
        custom_fields=dict(data.get("custom") or {}),  # type: ignore[arg-type]
    )
    return platform_fields.with_platform_values(base, dict(data.get("values") or {}))
