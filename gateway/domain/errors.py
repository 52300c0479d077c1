"""The error dictionary: every way a sync can fail, with a stable code, a failure type and advice an admin can act on.

Guarantees: codes never change once released (they are stored in `Sync_Result__c.Error_Code__c` and matched by
admins' reports); every code has a message that names what to do; `transient` codes are the only ones retried.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class FailureType(enum.StrEnum):
    COMPLETE = "complete"  # nothing of the record was synced
    PARTIAL = "partial"  # the record synced, one part of it was refused


class SyncErrorCode(enum.StrEnum):
    DUPLICATE_CONTACT = "duplicate-contact"
    NOT_FOUND = "not-found"
    INVALID_PHONE = "invalid-phone"
    INVALID_EMAIL = "invalid-email"
    CONTACT_OUT_OF_SYNC = "contact-out-of-sync"
    PHONE_MATCH_CRM_ID_MISMATCH = "phone-match-found-but-crmId-mismatch"
    INVALID_MESSAGING_STATUS = "invalid-messaging-status"
    CUSTOM_VALUES_TOO_LONG = "custom-values-too-long"
    MISSING_REQUIRED_FIELD = "missing-required-field"
    PLATFORM_UNAVAILABLE = "platform-unavailable"
    SALESFORCE_UNAVAILABLE = "salesforce-unavailable"
    PLATFORM_REJECTED = "platform-rejected"
    SALESFORCE_REJECTED = "salesforce-rejected"
    RATE_LIMITED = "rate-limited"
    API_BUDGET_EXHAUSTED = "api-budget-exhausted"
    CONFIGURATION = "configuration-error"
    MULTIPLE_SALESFORCE_MATCHES = "multiple-salesforce-matches"
    MULTIPLE_SALESFORCE_MATCHES_OPTED_OUT = "multiple-salesforce-matches-opted-out"
    SALESFORCE_MATCH_LINKED_ELSEWHERE = "salesforce-match-linked-to-other-contact"
    INVALID_RECORD_ID = "invalid-record-id"


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    failure_type: FailureType
    transient: bool
    advice: str


ERROR_DICTIONARY: dict[SyncErrorCode, ErrorSpec] = {
    SyncErrorCode.DUPLICATE_CONTACT: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "Another contact on the platform already has this phone number. Merge the two people in "
        "Salesforce or clear the phone on one of them, then resend.",
    ),
    SyncErrorCode.NOT_FOUND: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "The linked contact no longer exists on the other side and this object does not create "
        "unmatched records. Clear Messaging_Contact_Id__c to relink, or enable create-unmatched.",
    ),
    SyncErrorCode.INVALID_PHONE: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "The phone number cannot be read as a real number. Correct it on the record (include the "
        "country code for numbers outside the default region); the record syncs on save.",
    ),
    SyncErrorCode.INVALID_EMAIL: ErrorSpec(
        FailureType.PARTIAL,
        False,
        "The email address is not valid, so it was left out; everything else synced. Correct the email.",
    ),
    SyncErrorCode.CONTACT_OUT_OF_SYNC: ErrorSpec(
        FailureType.PARTIAL,
        False,
        "The phone was not changed because the platform holds a newer value for this person; the other "
        "fields synced. Check which phone is right and edit the record again.",
    ),
    SyncErrorCode.PHONE_MATCH_CRM_ID_MISMATCH: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "A platform contact has this phone but is linked to a different Salesforce record. The two were "
        "not merged: decide which record owns the number, fix the other, then resend.",
    ),
    SyncErrorCode.INVALID_MESSAGING_STATUS: ErrorSpec(
        FailureType.PARTIAL,
        False,
        "This person texted STOP, so a Salesforce edit cannot re-subscribe them; only their own START "
        "can. Other fields synced. Set the opt-in field back to opted out to clear this warning.",
    ),
    SyncErrorCode.CUSTOM_VALUES_TOO_LONG: ErrorSpec(
        FailureType.PARTIAL,
        False,
        "A custom field value is longer than the platform accepts and was left out. Shorten it.",
    ),
    SyncErrorCode.MISSING_REQUIRED_FIELD: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "A field the mapping marks as required is empty, so the record was not synced. Fill it in.",
    ),
    SyncErrorCode.PLATFORM_UNAVAILABLE: ErrorSpec(
        FailureType.COMPLETE,
        True,
        "The messaging platform did not answer; the gateway retries by itself. If this persists, "
        "check the platform's status and the gateway's credentials for it.",
    ),
    SyncErrorCode.SALESFORCE_UNAVAILABLE: ErrorSpec(
        FailureType.COMPLETE,
        True,
        "Salesforce kept the record locked (or did not answer) through every retry the gateway made, for about a "
        "quarter of an hour in real time: a long import, a flow or another integration may be holding it. Resend "
        "this row once that work is done.",
    ),
    SyncErrorCode.PLATFORM_REJECTED: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "The messaging platform refused the change; its message is included. Correct the record and resend.",
    ),
    SyncErrorCode.SALESFORCE_REJECTED: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "Salesforce refused the write (validation rule, field permission or duplicate rule); its "
        "message is included. Fix the cause in Salesforce, then resend.",
    ),
    SyncErrorCode.RATE_LIMITED: ErrorSpec(
        FailureType.COMPLETE,
        True,
        "The platform asked the gateway to slow down; the change is retried automatically.",
    ),
    SyncErrorCode.API_BUDGET_EXHAUSTED: ErrorSpec(
        FailureType.COMPLETE,
        True,
        "The gateway's daily Salesforce API budget is spent; work resumes by itself when budget returns.",
    ),
    SyncErrorCode.CONFIGURATION: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "The sync configuration (custom metadata) is invalid for this record; the message names the setting.",
    ),
    SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "Several Salesforce records match this person on the matching fields, so none was chosen. Merge the "
        "duplicates, or put the platform contact id in Messaging_Contact_Id__c of the right record, then resend.",
    ),
    SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES_OPTED_OUT: ErrorSpec(
        FailureType.PARTIAL,
        False,
        "This number opted out and several Salesforce records have it, so the opt-out was recorded on each of them "
        "(the number is not texted, whichever record a text is for); their other fields and the link to the "
        "platform were written to none. If the records are one person, merge them (or, on a platform that keeps "
        "people, put its contact id in Messaging_Contact_Id__c of the right record); a START from this number is "
        "refused until one record holds it.",
    ),
    SyncErrorCode.SALESFORCE_MATCH_LINKED_ELSEWHERE: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "The Salesforce record that matches this person is already linked to a different platform contact, "
        "so the two were not merged. Decide which platform contact owns the record, then resend.",
    ),
    SyncErrorCode.INVALID_RECORD_ID: ErrorSpec(
        FailureType.COMPLETE,
        False,
        "The change names a record id that belongs to another object (its first three characters, the key "
        "prefix, are not this object's), so nothing was synced. Check the object's trigger and its "
        "Messaging_Sync_Object__mdt record; if the change was not made in your org, rotate the gateway client "
        "secret the org's Named Credential uses.",
    ),
}


@dataclass(frozen=True, slots=True)
class SyncError:
    """One failure of one record: the code, what happened (`detail`) and, from the dictionary, what to do."""

    code: SyncErrorCode
    detail: str
    fields: tuple[str, ...] = field(default=())

    @property
    def failure_type(self) -> FailureType:
        return ERROR_DICTIONARY[self.code].failure_type

    @property
    def transient(self) -> bool:
        return ERROR_DICTIONARY[self.code].transient

    @property
    def message(self) -> str:
        """What an admin reads in `Sync_Result__c.Message__c`: what happened, then what to do."""
        return f"{self.detail} {ERROR_DICTIONARY[self.code].advice}"


class SyncFailure(Exception):
    """Raised across layers to carry a `SyncError` (platform and Salesforce adapters map their errors to it)."""

    def __init__(self, error: SyncError) -> None:
        super().__init__(f"{error.code}: {error.detail}")
        self.error = error
