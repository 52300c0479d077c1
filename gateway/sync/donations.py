"""Donation roll-up (one way, Salesforce → platform): people with a closed-won Opportunity get the platform's
`has_donated_previously` custom field set to `true`, twice a day by default (see `gateway.sync.schedule`).

Donors are found through the NPSP primary-contact field (`npsp__Primary_Contact__c`) when the org has it, else
through Opportunity contact roles. Only Contacts already linked to the platform (`Messaging_Contact_Id__c` set) are
written, so a donation never creates a platform profile for someone who was not synced.

Guarantees: reads are streamed (memory bounded by one batch of ids); a run looks at Opportunities (and contact
roles) changed since the last run's start minus the overlap window, so a crash or a skipped slot repeats work, never
skips it; a contact already rolled up is remembered in Redis and costs no call; platform calls run in a small thread
pool; transient platform failures raise after the rest is done so RQ retries the job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from gateway.domain import platform_fields
from gateway.domain.contact import Contact
from gateway.domain.errors import SyncFailure
from gateway.domain.freshness import parse_timestamp
from gateway.domain.phones import normalize_phone
from gateway.domain.sync_config import DEFAULT_PLATFORM_ID_FIELD
from gateway.redis_client import text
from gateway.salesforce import queries
from gateway.sync.context import SyncContext
from gateway.sync.to_platform import job_concurrency, parallel

log = logging.getLogger(__name__)

MARKED_KEY = "gateway:donations:marked"  # Contact ids (18) already rolled up
HWM_KEY = "gateway:donations:hwm"
NPSP_KEY = "gateway:donations:npsp"  # "1" / "0": whether the org has NPSP's primary-contact field (cached a day)
BATCH = 300


def _mark_donors(ids: list[str], pipe: Any) -> None:
    pipe.sadd(MARKED_KEY, *ids)


def _has_npsp(context: SyncContext) -> bool:
    cached = context.redis.get(NPSP_KEY)
    if cached is not None:
        return text(cached) == "1"
    fields = {f.get("name", "").casefold() for f in context.salesforce.describe("Opportunity").get("fields", [])}
    present = queries.NPSP_PRIMARY_CONTACT.casefold() in fields
    context.redis.set(NPSP_KEY, "1" if present else "0", ex=86400)
    return present


def _donor_ids(context: SyncContext, since: datetime | None) -> Iterator[list[str]]:
    npsp = _has_npsp(context)
    column = queries.NPSP_PRIMARY_CONTACT if npsp else "ContactId"
    batch: set[str] = set()
    for row in context.salesforce.iter_query(queries.donors(npsp, since)):
        value = next((v for k, v in row.items() if k.casefold() == column.casefold()), None)
        if value:
            batch.add(str(value))
        if len(batch) >= BATCH:
            yield sorted(batch)
            batch = set()
    if batch:
        yield sorted(batch)


def roll_up(context: SyncContext, *, overlap: timedelta | None = None) -> dict[str, int]:
    """Set the donation field on the platform for every donor not yet rolled up; returns counts."""
    started = datetime.now(UTC)
    if overlap is None:
        overlap = timedelta(seconds=context.settings.bulk.overlap_seconds)
    raw = context.redis.get(HWM_KEY)
    since = parse_timestamp(text(raw)) - overlap if raw else None
    counts = {"donors": 0, "updated": 0, "already": 0, "not_linked": 0, "failed": 0}
    field = context.settings.bulk.donation_field
    config = context.sync_config().for_object("Contact")
    link_field = config.platform_id_field if config else DEFAULT_PLATFORM_ID_FIELD
    phone_fields = ["MobilePhone"]
    if config is not None:
        for mapping in config.matching_mappings:
            if mapping.platform_field == platform_fields.PHONE:
                phone_fields = list(mapping.salesforce_fields)
    region = context.settings.phone_default_region
    transient: list[Exception] = []
    threads = job_concurrency(context, context.settings.bulk.threads)
    for ids in _donor_ids(context, since):
        counts["donors"] += len(ids)
        marked = context.redis.smismember(MARKED_KEY, ids)
        todo = [i for i, done in zip(ids, marked, strict=True) if not done]
        counts["already"] += len(ids) - len(todo)
        if not todo:
            continue
        rows = context.salesforce.query_records(
            queries.linked_contacts(todo, link_field=link_field, phone_fields=phone_fields)
        )
        counts["not_linked"] += len(todo) - len(rows)

        def mark(row: dict[str, Any]) -> str | None:
            phone = next((row.get(f) for f in phone_fields if row.get(f)), None)
            try:
                e164 = normalize_phone(str(phone), region) if phone else None
            except ValueError:
                e164 = None
            if e164 is None:
                return None
            contact = Contact(phone=e164).with_changes(custom_fields={field: "true"})
            context.check_fence()
            try:
                context.platform.upsert_contact(contact, subscribe=False)
            except SyncFailure as failure:
                if failure.error.transient:
                    transient.append(failure)
                return None
            return str(row["Id"])

        done = [rid for rid in parallel(threads, mark, rows, name="donations") if rid]
        if done:
            context.commit(partial(_mark_donors, done))
        counts["updated"] += len(done)
        counts["failed"] += len(rows) - len(done)
    if transient:
        raise transient[0]
    context.redis.set(HWM_KEY, started.isoformat())
    log.info("donation roll-up: %s", counts)
    return counts
