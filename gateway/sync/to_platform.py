"""Salesforce → platform: a batch of `Messaging_Sync__e` events becomes platform writes and a log row per record.

Guarantees:
- Events are grouped by record; only the newest version of each is applied, and a version not newer than the
  last one synced (kept in Redis per record) is skipped, so a replayed batch applies nothing twice.
- An echo (mapped values equal to what was last synced for the record) is skipped without a platform call.
- A person who texted STOP is never re-subscribed by a Salesforce edit (the domain's sticky opt-out).
- A record's version mark, its echo fingerprint and its write-back (link, status, `Sync_Result__c`) are stored in
  one Redis transaction after the platform accepted the write; Salesforce is then written in bulk (`writeback`).
- Transient platform failures are retried by re-raising after every other record of the batch is done and marked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from gateway.domain import platform_fields
from gateway.domain.contact import Contact
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure
from gateway.domain.freshness import parse_timestamp
from gateway.domain.mapping import map_record_to_contact, record_skip_reason, salesforce_datetime
from gateway.domain.matching import match_contact
from gateway.domain.opt_status import status_label
from gateway.domain.phones import normalize_phone
from gateway.domain.plans import PlatformWrite, SyncPlan, SyncStatus, plan_to_platform
from gateway.domain.sync_config import LAST_SYNCED_AT_FIELD, SyncObjectConfig
from gateway.salesforce.sync_results import Direction
from gateway.sync import state, writeback
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)

PLATFORM_CONCURRENCY = 16  # platform calls in flight per job (Mobile Commons allows 160 per company)


class TransientFailures(Exception):
    """Some records of the batch failed transiently; the others are done. RQ retries the job."""

    def __init__(self, errors: list[SyncError]) -> None:
        super().__init__("; ".join(f"{e.code}: {e.detail}" for e in errors[:5]))
        self.errors = errors


def _version(event: Mapping[str, Any]) -> datetime:
    stamp = event["record"].get("SystemModstamp") or event["publishedAt"]
    return parse_timestamp(str(stamp))


def latest_per_record(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest event of each record, in the order records first appear."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        key = (event["sobjectType"], event["recordId"][:15])
        current = newest.get(key)
        if current is None or _version(event) >= _version(current):
            newest[key] = event
    return list(newest.values())


def sync_events(
    context: SyncContext, org_id: str, events: list[dict[str, Any]], *, force: bool = False
) -> dict[str, int]:
    """Apply each record's newest event to the platform; returns counts by outcome.

    `force` (an admin's resend) bypasses the version and echo checks.
    """
    counts = {"synced": 0, "skipped": 0, "failed": 0}
    transient: list[SyncError] = []
    config = context.sync_config()
    work = []
    for event in latest_per_record(events):
        obj = config.for_object(event["sobjectType"])
        if obj is None or not obj.active:
            counts["skipped"] += 1
        else:
            work.append((obj, event))

    region = context.settings.phone_default_region
    phones = [p for obj, event in work if (p := record_phone(event["record"], obj, region))]
    known = prefetch_by_phone(context, phones) if len(phones) > 1 else None

    def one(item: tuple[SyncObjectConfig, dict[str, Any]]) -> str | SyncError:
        try:
            return _sync_one(context, item[0], item[1], force=force, known=known)
        except SyncFailure as failure:
            if not failure.error.transient:
                raise
            return failure.error

    # Records of a batch are distinct, so they go to the platform concurrently (its calls are I/O-bound).
    with ThreadPoolExecutor(max_workers=min(PLATFORM_CONCURRENCY, max(1, len(work)))) as pool:
        for outcome in pool.map(one, work):
            if isinstance(outcome, SyncError):
                transient.append(outcome)
            else:
                counts[outcome] += 1
    try:
        writeback.flush(context.redis, context.salesforce)
    except Exception:
        log.warning("Salesforce write-back deferred", exc_info=True)
    log.info("org %s: %s", org_id, counts)
    if transient:
        raise TransientFailures(transient)
    return counts


def _sync_one(
    context: SyncContext,
    obj: SyncObjectConfig,
    event: dict[str, Any],
    *,
    force: bool,
    known: Mapping[str, Contact | None] | None = None,
) -> str:
    record_id = event["recordId"]
    version = _version(event)
    last = state.record_state(context.redis, obj.object_name, record_id)
    if not force and last.is_stale(version):
        return "skipped"
    if event["operation"] == "delete":
        _record_done(context, obj, event, version, fingerprint=None, entries=[])
        return "skipped"
    record = {**event["record"], "Id": record_id}
    if record_skip_reason(record, obj) is not None:
        _record_done(context, obj, event, version, fingerprint=None, entries=[])
        return "skipped"
    changed = None if event["operation"] in ("insert", "undelete") or obj.send_all_fields else event["changedFields"]
    mapped = map_record_to_contact(record, obj, changed_fields=changed, rules=context.rules)
    if not force and last.is_echo(mapped.fingerprint):
        _record_done(context, obj, event, version, fingerprint=None, entries=[])
        return "skipped"

    plan = plan_to_platform(mapped, obj, match_on_platform(context, mapped.contact, obj, known))
    platform_view: Contact | None = None
    write = plan.platform_write
    opting_out = write is not None and write.opt_out and not write.is_create
    endpoint = f"{context.platform.name}:{'opt_out' if opting_out else 'upsert'}"
    if plan.platform_write is not None:
        write = plan.platform_write
        try:
            platform_view = apply_platform_write(context, write)
        except SyncFailure as failure:
            if failure.error.transient:
                raise
            plan = plan.failed(failure.error)
        else:
            if write.is_create and platform_view.platform_id:
                plan = plan.with_created_platform_id(platform_view.platform_id)
    entry = _write_back(context, obj, event, plan, mapped.reported_status, platform_view, endpoint)
    ok = plan.status is not SyncStatus.FAILURE
    _record_done(
        context,
        obj,
        event,
        version,
        fingerprint=mapped.fingerprint if ok else None,
        entries=[entry],
        platform_view=platform_view,
        mark_version=ok,
    )
    return "failed" if not ok else ("skipped" if plan.status is SyncStatus.SKIPPED else "synced")


def apply_platform_write(context: SyncContext, write: PlatformWrite) -> Contact:
    """Send one planned write; returns the platform's view of the person.

    Only the changed values are sent, plus the phone (platforms key people by it). An opt-out of an existing contact
    sends its other changes first (an opt-out call carries none), then the opt-out; a new contact who is not opted
    in is created without a subscription (there is nothing to opt out of).
    """
    changes = write.changes_only().with_changes(phone=write.contact.phone)
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


def prefetch_by_phone(context: SyncContext, phones: Sequence[str]) -> Mapping[str, Contact | None] | None:
    """The platform contacts holding these phones, a hundred per call, where the adapter can look up in batches and
    matching needs nothing but the phone; None otherwise (each record is then looked up on its own)."""
    lookup = getattr(context.platform, "find_contacts_by_phone", None)
    caps = context.platform.capabilities
    if lookup is None or caps.lookup_by_platform_id or caps.lookup_by_crm_id or not phones:
        return None
    found: dict[str, Contact | None] = dict.fromkeys(phones)
    unique = sorted(set(phones))
    for start in range(0, len(unique), 100):
        found.update(lookup(unique[start : start + 100]))
    return found


def match_on_platform(
    context: SyncContext, contact: Contact, obj: SyncObjectConfig, known: Mapping[str, Contact | None] | None = None
) -> Any:
    """Where a mapped Salesforce record goes on the platform (platform id → CRM id → phone → create).

    `known` holds contacts already looked up by phone (`prefetch_by_phone`), saving a platform call per record."""
    if known is not None and contact.phone is not None and contact.phone in known:
        by_phone = known[contact.phone]
        linked = by_phone if contact.platform_id and by_phone and by_phone.platform_id == contact.platform_id else None
        return match_contact(
            contact,
            by_platform_id=linked,
            by_crm_id=None,
            by_phone=by_phone,
            create_unmatched=obj.create_unmatched_to_platform,
        )
    caps = context.platform.capabilities
    by_platform_id = (
        context.platform.find_contact(platform_id=contact.platform_id)
        if contact.platform_id and caps.lookup_by_platform_id
        else None
    )
    by_crm_id = (
        context.platform.find_contact(crm_id=contact.crm_id) if contact.crm_id and caps.lookup_by_crm_id else None
    )
    by_phone = context.platform.find_contact(phone=contact.phone) if contact.phone else None
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


def _write_back(
    context: SyncContext,
    obj: SyncObjectConfig,
    event: dict[str, Any],
    plan: SyncPlan,
    reported: Any,
    platform_view: Contact | None,
    endpoint: str,
) -> writeback.WriteBack:
    fields: dict[str, Any] = dict(plan.salesforce_write.fields) if plan.salesforce_write else {}
    if platform_view is not None:
        if platform_view.sms_status is not reported:
            fields[obj.status_field] = status_label(platform_view.sms_status)
        fields[LAST_SYNCED_AT_FIELD] = salesforce_datetime(datetime.now(UTC))
    body = {"event": event}
    if plan.platform_write is not None:
        body["platformRequest"] = plan.platform_write.values()
    result = writeback.result_values(
        direction=Direction.TO_PLATFORM,
        status=plan.status.value,
        object_name=obj.object_name,
        record_id=event["recordId"],
        error_code=plan.error_code,
        message=plan.message or None,
        request_endpoint=endpoint,
        request_body=body,
        platform=context.platform.name,
        platform_contact_id=plan.platform_id,
    )
    return writeback.WriteBack(result=result, object_name=obj.object_name, record_id=event["recordId"], fields=fields)


def _record_done(
    context: SyncContext,
    obj: SyncObjectConfig,
    event: dict[str, Any],
    version: datetime,
    *,
    fingerprint: str | None,
    entries: list[writeback.WriteBack],
    platform_view: Contact | None = None,
    mark_version: bool = True,
) -> None:
    """Mark the record's version (and echo fingerprint) synced and queue its write-back, atomically."""
    record_id = event["recordId"]
    pipe = context.redis.pipeline(transaction=True)
    state.mark(
        pipe,
        [
            state.record_synced(obj.object_name, record_id, version) if mark_version else None,
            state.record_sent(obj.object_name, record_id, fingerprint) if fingerprint is not None else None,
            state.platform_written(platform_view) if platform_view is not None else None,
        ],
    )
    writeback.queue_entries(pipe, entries)
    pipe.execute()


def unavailable(detail: str) -> SyncError:
    return SyncError(SyncErrorCode.PLATFORM_UNAVAILABLE, detail)
