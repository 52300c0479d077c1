"""Matching: deciding which existing person a change belongs to, on either side.

The caller fetches candidates (it owns the I/O); these functions only decide. The answer is one of
`Matched` (a platform contact), `MatchedRecord` (a Salesforce row), `OptOutOfEach` (several Salesforce rows, for an
opt-out only), `Create`, `Refuse` or `Skip`.

Guarantees:
- Salesforce -> platform (`match_contact`): platform id stored on the record, then the platform
  contact carrying this record's CRM id, then the phone, then create if the object allows it.
  A phone match linked to another Salesforce record is refused (`phone-match-found-but-crmId-mismatch`),
  and so is moving a matched contact onto a phone another platform contact holds (`duplicate-contact`):
  two people are never merged by a phone number.
- Platform -> Salesforce (`match_salesforce_record`): CRM id, then `Messaging_Contact_Id__c` (or the
  configured platform id field), then each matching field in turn (phone first, values compared
  case-insensitively, phones by line), then create as the configured object. Several matches, or a
  match already linked to a different platform contact, are refused rather than guessed, with one exception:
  an opt-out whose phone several records hold (a household, a Contact and a Lead, duplicates) is recorded on
  every one of them (`OptOutOfEach`), since a refusal would leave all of them textable; nothing else of the
  person is written to any. An opt-in (START) on such a phone is still refused: nobody is subscribed on a guess.
- Salesforce ids compare in their 18-character form, so 15- and 18-character forms of one id match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.domain import platform_fields
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.domain.phones import same_phone
from gateway.domain.sync_config import SyncConfig, SyncObjectConfig


@dataclass(frozen=True, slots=True)
class Matched:
    """The change belongs to this platform contact."""

    contact: Contact


@dataclass(frozen=True, slots=True)
class MatchedRecord:
    """The change belongs to this Salesforce row (`record` as the caller fetched it, `Id` included)."""

    object_name: str
    record: Mapping[str, Any]

    @property
    def record_id(self) -> str:
        return str(self.record["Id"])


@dataclass(frozen=True, slots=True)
class OptOutOfEach:
    """An opted-out person whose phone several Salesforce rows hold: the opt-out is recorded on each of `records`,
    and only the opt-out (no other field, no link to the platform, which stay refused as ambiguous); `error`
    (`multiple-salesforce-matches-opted-out`, a partial failure) names the records for the log."""

    records: tuple[MatchedRecord, ...]
    error: SyncError


@dataclass(frozen=True, slots=True)
class Create:
    """Nobody matches and the configuration allows creating: on the platform, or as `object_name` in Salesforce."""

    object_name: str | None = None


@dataclass(frozen=True, slots=True)
class Refuse:
    """Matching found a conflict that a person must resolve; nothing is written."""

    error: SyncError


@dataclass(frozen=True, slots=True)
class Skip:
    """Nobody matches and the configuration does not create; nothing is written and nothing is wrong."""

    reason: str


PlatformMatch = Matched | Create | Refuse | Skip
SalesforceMatch = MatchedRecord | OptOutOfEach | Create | Refuse | Skip


def salesforce_id_18(record_id: str) -> str:
    """The case-insensitive 18-character form of a 15- or 18-character Salesforce id (others returned as given)."""
    text = record_id.strip()
    if len(text) != 15:
        return text
    suffix = ""
    for chunk in (text[0:5], text[5:10], text[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _ID_SUFFIX_ALPHABET[bits]
    return text + suffix


_ID_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def same_salesforce_id(a: str | None, b: str | None) -> bool:
    """True when two Salesforce ids (15-character case-sensitive or 18-character) name the same record."""
    if not a or not b:
        return False
    return salesforce_id_18(a).casefold() == salesforce_id_18(b).casefold()


def match_contact(
    contact: Contact,
    *,
    by_platform_id: Contact | None,
    by_crm_id: Contact | None,
    by_phone: Contact | None,
    create_unmatched: bool,
) -> PlatformMatch:
    """Decide which platform contact a mapped Salesforce record (`contact`) updates.

    `by_platform_id`: the platform contact whose id is stored on the record (None if none or gone);
    `by_crm_id`: the platform contact carrying the record's id; `by_phone`: the one holding its phone.
    """
    linked = by_platform_id if contact.platform_id else None
    if linked is None and by_crm_id is not None and same_salesforce_id(by_crm_id.crm_id, contact.crm_id):
        linked = by_crm_id
    if linked is not None:
        if by_phone is not None and contact.phone and not _same_platform_contact(by_phone, linked):
            return Refuse(
                SyncError(
                    SyncErrorCode.DUPLICATE_CONTACT,
                    f"Platform contact {by_phone.platform_id} already has {contact.phone}, which this record "
                    f"would give to platform contact {linked.platform_id}.",
                    (platform_fields.PHONE,),
                )
            )
        return Matched(linked)
    if by_phone is not None:
        if by_phone.crm_id and not same_salesforce_id(by_phone.crm_id, contact.crm_id):
            return Refuse(
                SyncError(
                    SyncErrorCode.PHONE_MATCH_CRM_ID_MISMATCH,
                    f"Platform contact {by_phone.platform_id} has {contact.phone} but is linked to Salesforce "
                    f"record {by_phone.crm_id}, not {contact.crm_id}.",
                    (platform_fields.PHONE,),
                )
            )
        return Matched(by_phone)
    if create_unmatched:
        return Create()
    if contact.platform_id:
        return Refuse(
            SyncError(
                SyncErrorCode.NOT_FOUND,
                f"Platform contact {contact.platform_id} stored on this record was not found on the platform.",
                (),
            )
        )
    return Skip("No platform contact matches this record and Create_Unmatched_To_Platform__c is off.")


def _same_platform_contact(a: Contact, b: Contact) -> bool:
    if a.platform_id and b.platform_id:
        return a.platform_id == b.platform_id
    return a == b


def match_salesforce_record(
    contact: Contact,
    candidates: Sequence[Mapping[str, Any]],
    config: SyncConfig,
    *,
    default_region: str = "US",
) -> SalesforceMatch:
    """Decide which Salesforce record a platform contact updates.

    `candidates` are the rows the caller fetched (by Id = crm id, by platform id field, by matching
    fields), each with `Id` and `attributes.type` as simple-salesforce returns them, holding the
    matching, platform id and status fields. Rows of objects not active in `config` are ignored.
    """
    rows = [(obj, row) for row in candidates if (obj := _object_of(row, config)) is not None and "Id" in row]

    if contact.crm_id:
        for obj, row in rows:
            if same_salesforce_id(str(row["Id"]), contact.crm_id):
                return MatchedRecord(obj.object_name, row)

    if contact.platform_id:
        linked = [(obj, row) for obj, row in rows if _platform_id_of(row, obj) == contact.platform_id.casefold()]
        if len(linked) == 1:
            return MatchedRecord(linked[0][0].object_name, linked[0][1])
        if len(linked) > 1:
            return Refuse(_several(linked, f"Messaging_Contact_Id__c = {contact.platform_id}"))

    for platform_field in _matching_order(config):
        value = platform_fields.contact_value(contact, platform_field)
        if not value or not value.strip():
            continue
        found = [
            (obj, row)
            for obj, row in rows
            if any(
                _matches(platform_field, value, _field(row, name), default_region)
                for m in obj.matching_mappings
                if m.platform_field == platform_field
                for name in m.salesforce_fields
            )
        ]
        if len(found) > 1:
            if platform_field == platform_fields.PHONE and contact.sms_status is SmsStatus.UNSUBSCRIBED:
                return opt_out_of_each(found, value)
            return Refuse(_several(found, f"{platform_field} = {value}"))
        if len(found) == 1:
            obj, row = found[0]
            other = _platform_id_of(row, obj)
            if other and other != (contact.platform_id or "").casefold():
                return Refuse(
                    SyncError(
                        SyncErrorCode.SALESFORCE_MATCH_LINKED_ELSEWHERE,
                        f"{obj.object_name} {row['Id']} matches on {platform_field} but is linked to platform "
                        f"contact {_field(row, obj.platform_id_field)}, not {contact.platform_id}.",
                        (obj.platform_id_field,),
                    )
                )
            return MatchedRecord(obj.object_name, row)

    target = config.create_in_salesforce_as
    if target is not None:
        return Create(target)
    return Skip("No Salesforce record matches this person and no object has Create_Unmatched_To_Salesforce__c on.")


def opt_out_of_each(found: Sequence[tuple[SyncObjectConfig, Mapping[str, Any]]], phone: str) -> OptOutOfEach:
    """The decision for an opt-out from `phone`, which every row of `found` holds: a number that said STOP is not
    texted, whichever record a text would be for, so each record learns of it; which record is the person is still
    for an admin to say."""
    ids = ", ".join(f"{obj.object_name} {row['Id']}" for obj, row in found)
    error = SyncError(
        SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES_OPTED_OUT,
        f"{len(found)} records match on phone = {phone}: {ids}. The opt-out was recorded on each.",
        (),
    )
    return OptOutOfEach(tuple(MatchedRecord(obj.object_name, row) for obj, row in found), error)


def _object_of(row: Mapping[str, Any], config: SyncConfig) -> SyncObjectConfig | None:
    attributes = row.get("attributes")
    name = attributes.get("type") if isinstance(attributes, Mapping) else None
    if not isinstance(name, str):
        return None
    obj = config.for_object(name)
    return obj if obj is not None and obj.active else None


def _field(row: Mapping[str, Any], name: str) -> Any:
    for key, value in row.items():
        if key.casefold() == name.casefold():
            return value
    return None


def _platform_id_of(row: Mapping[str, Any], obj: SyncObjectConfig) -> str:
    value = _field(row, obj.platform_id_field)
    return value.strip().casefold() if isinstance(value, str) else ""


def _matching_order(config: SyncConfig) -> list[str]:
    """Platform fields used for matching: phone first, then in mapping order."""
    order: list[str] = []
    for obj in config.active_objects:
        for m in obj.matching_mappings:
            if m.platform_field not in order:
                order.append(m.platform_field)
    return sorted(order, key=lambda name: name != platform_fields.PHONE)


def _matches(platform_field: str, value: str, candidate: object, default_region: str) -> bool:
    if not isinstance(candidate, str) or not candidate.strip():
        return False
    if platform_field == platform_fields.PHONE:
        return same_phone(value, candidate, default_region)
    return value.strip().casefold() == candidate.strip().casefold()


def _several(found: Sequence[tuple[SyncObjectConfig, Mapping[str, Any]]], on: str) -> SyncError:
    ids = ", ".join(f"{obj.object_name} {row['Id']}" for obj, row in found)
    return SyncError(SyncErrorCode.MULTIPLE_SALESFORCE_MATCHES, f"{len(found)} records match on {on}: {ids}.", ())
