"""Opt-status policy: who may change whether a person can be texted.

Guarantees — opt-out is sticky: a Salesforce edit can opt a person out but never back in once they
(or the platform) opted out; only the person's own START or a platform-side re-opt-in
(`requested_by=Side.PLATFORM`) re-subscribes them. A Salesforce "subscribed" against an opted-out
person is kept out and reported as a partial failure (`invalid-messaging-status`). A paused person
stays paused against Salesforce edits (pausing belongs to the platform). An UNKNOWN request changes nothing.
A status write planned before the person's opt-out was recorded on the record never lands over it
(`keep_recorded_opt_out`), however late it is sent.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.domain.freshness import is_newer

# `Messaging_Status__c` picklist values (docs/contracts.md).
STATUS_LABELS: dict[SmsStatus, str] = {
    SmsStatus.SUBSCRIBED: "Subscribed",
    SmsStatus.UNSUBSCRIBED: "Unsubscribed",
    SmsStatus.PAUSED: "Paused",
    SmsStatus.UNKNOWN: "Not Synced",
}


class Side(enum.StrEnum):
    """Where a change of opt status comes from."""

    SALESFORCE = "salesforce"
    PLATFORM = "platform"


@dataclass(frozen=True, slots=True)
class StatusResolution:
    """The status to hold after a request: `write` says whether it differs from the current one."""

    status: SmsStatus
    write: bool
    error: SyncError | None = None


def is_textable(contact: Contact) -> bool:
    """True only for a subscribed contact with a phone."""
    return contact.is_textable


def status_label(status: SmsStatus) -> str:
    """The `Messaging_Status__c` picklist value for `status`."""
    return STATUS_LABELS[status]


def status_from_label(label: object) -> SmsStatus:
    """The status a `Messaging_Status__c` value records (case-insensitive; blank or unknown = UNKNOWN)."""
    if isinstance(label, str):
        for status, text in STATUS_LABELS.items():
            if text.casefold() == label.strip().casefold():
                return status
    return SmsStatus.UNKNOWN


def resolve_sms_status(requested: SmsStatus, current: SmsStatus, *, requested_by: Side) -> StatusResolution:
    """The status a person ends up with when `requested_by` asks for `requested` while they are `current`."""
    if requested is SmsStatus.UNKNOWN:
        return StatusResolution(current, write=False)
    if requested_by is Side.PLATFORM:
        return StatusResolution(requested, write=requested is not current)
    if requested is SmsStatus.UNSUBSCRIBED:
        return StatusResolution(requested, write=current is not SmsStatus.UNSUBSCRIBED)
    if requested is SmsStatus.PAUSED or current is SmsStatus.PAUSED:
        return StatusResolution(current, write=False)
    if current is SmsStatus.UNSUBSCRIBED:
        return StatusResolution(
            current,
            write=False,
            error=SyncError(
                SyncErrorCode.INVALID_MESSAGING_STATUS,
                "Salesforce asked to subscribe a person who opted out on the platform; they stay unsubscribed.",
                (SmsStatus.SUBSCRIBED.value,),
            ),
        )
    return StatusResolution(SmsStatus.SUBSCRIBED, write=current is not SmsStatus.SUBSCRIBED)


def opted_out_since(planned_on: datetime | None, opted_out_at: datetime | None) -> bool:
    """The person's opt-out was recorded on a record (`opted_out_at`) after the version of the record a write to it
    was planned on (`planned_on`; None: not known, so older than any opt-out)."""
    return opted_out_at is not None and is_newer(opted_out_at, planned_on)


def keep_recorded_opt_out(
    fields: Mapping[str, object],
    status_fields: Collection[str],
    *,
    planned_on: datetime | None,
    opted_out_at: datetime | None,
) -> dict[str, object]:
    """What of a write owed to a Salesforce record may still land once it is sent: all of `fields`, but its opt-status
    fields (`status_fields`) when the person's opt-out was recorded on the record after the write was planned.

    Opt-out is sticky: a status planned before a STOP (a write-back queued, then held up) must never land over it,
    neither as "subscribed" nor by clearing the STOP's time; the write's other fields (links, ids) still land. Only
    the person's START undoes a STOP, and it is recorded by a write of its own."""
    if not opted_out_since(planned_on, opted_out_at):
        return dict(fields)
    return {name: value for name, value in fields.items() if name not in status_fields}
