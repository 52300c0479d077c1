"""Salesforce → platform: turn a batch of `Messaging_Sync__e` events into platform writes.

Guarantees: events are grouped by record and only the newest version of each record is applied; a record whose
version is not newer than the last one synced (kept in Redis) is skipped, so a batch replayed after a crash applies
nothing twice; the version mark is written only after the platform accepted the write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from gateway.domain.contact import Contact, SmsStatus
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)

VERSION_KEY = "gateway:version:{}:{}"  # object, record id -> last synced SystemModstamp (ISO)


def _version(event: dict[str, Any]) -> str:
    return str(event["record"].get("SystemModstamp") or event["publishedAt"])


def _parse_time(value: str) -> datetime:
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text)


def latest_per_record(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest event of each record, in the order records first appear."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        key = (event["sobjectType"], event["recordId"])
        current = newest.get(key)
        if current is None or _parse_time(_version(event)) >= _parse_time(_version(current)):
            newest[key] = event
    return list(newest.values())


def sync_events(context: SyncContext, org_id: str, events: list[dict[str, Any]]) -> dict[str, int]:
    """Apply each record's newest event to the platform; returns counts of synced and skipped records."""
    synced = skipped = 0
    for event in latest_per_record(events):
        key = VERSION_KEY.format(event["sobjectType"], event["recordId"])
        version = _parse_time(_version(event))
        last = context.redis.get(key)
        if last is not None and _parse_time(last.decode() if isinstance(last, bytes) else last) >= version:
            skipped += 1
            continue
        record = event["record"]
        contact = Contact(
            crm_id=event["recordId"],
            phone=record.get("MobilePhone"),
            first_name=record.get("FirstName"),
            last_name=record.get("LastName"),
            email=record.get("Email"),
            version=version,
            sms_status=SmsStatus.SUBSCRIBED if record.get("Mobile_Subscriber__c") else SmsStatus.UNKNOWN,
        )
        context.platform.upsert_contact(contact, subscribe=bool(record.get("Mobile_Subscriber__c")))
        context.redis.set(key, version.isoformat())
        synced += 1
    log.info("org %s: %d record(s) synced, %d skipped as not newer", org_id, synced, skipped)
    return {"synced": synced, "skipped": skipped}
