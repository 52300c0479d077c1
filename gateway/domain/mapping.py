"""Field mapping: a Salesforce record as the platform sees it, and a platform contact as Salesforce fields.

Guarantees, Salesforce -> platform (`map_record_to_contact`):
- phones become E.164 (default region configurable); an invalid phone refuses the record
  (`invalid-phone`), it is never guessed or sent as typed;
- an invalid email or a custom value longer than the platform accepts is dropped with a partial
  error (`invalid-email`, `custom-values-too-long`) and never sent, not even as a deletion;
- a required field that is blank refuses the record (`missing-required-field`);
- a blank field falls back to the mapping's fallback field (preferred name -> first name);
- a field absent from the record JSON is unknown, not blank: it is neither sent nor deleted.

Guarantees, platform -> Salesforce (`map_contact_to_salesforce`):
- only fields whose value changes are returned; `Fill Empty Only` mappings write only into blank fields;
- a platform value that is absent never clears a Salesforce field;
- the opt status always syncs (the platform's word is final, see `opt_status`), whatever the merge policy,
  except a platform view older than the STOP Salesforce recorded (`Messaging_Opted_Out_At__c`): a stale
  "subscribed" never re-subscribes;
- `map_opt_status_to_salesforce` gives the same opt-status fields alone, for a record the person's other fields
  must not reach (one of several their phone matches).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gateway.domain import platform_fields
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.emails import is_valid_email
from gateway.domain.errors import FailureType, SyncError, SyncErrorCode
from gateway.domain.freshness import as_utc, field_digest, fingerprint, is_newer, parse_timestamp
from gateway.domain.merge import is_empty, merge_fields
from gateway.domain.opt_status import Side, resolve_sms_status, status_from_label, status_label
from gateway.domain.phones import InvalidPhoneNumber, normalize_phone, same_phone
from gateway.domain.sync_config import (
    OPTED_OUT_AT_FIELD,
    Direction,
    FieldMapping,
    MergePolicy,
    SyncObjectConfig,
    checkbox_value,
)


@dataclass(frozen=True, slots=True)
class MappingRules:
    """Settings of the mapping that belong to the deployment, not to the metadata."""

    default_region: str = "US"  # region of phone numbers written without a country code
    custom_value_limit: int | None = 255  # longest custom value the platform accepts (None: no limit)
    international_email: bool = False  # the org accepts non-ASCII local parts (Email Address Internationalization)
    create_opted_out: bool = False  # create Salesforce records for unmatched people who are opted out (see plans)


DEFAULT_RULES = MappingRules()


@dataclass(frozen=True, slots=True)
class MappedRecord:
    """One Salesforce record, mapped for the platform.

    `contact` holds every mapped value (None where blank); `contact.sms_status` is what the opt-out
    field asks for. `mapped` names the platform fields the record speaks for (blank ones included,
    dropped and absent ones not); `changed` those whose Salesforce source changed (all of them when
    the caller gave no changed fields); `reported_status` is the platform status Salesforce last
    recorded (`Messaging_Status__c`).
    """

    object_name: str
    contact: Contact
    mapped: frozenset[str] = frozenset()
    changed: frozenset[str] = frozenset()
    reported_status: SmsStatus = SmsStatus.UNKNOWN
    errors: tuple[SyncError, ...] = ()

    @property
    def refusal(self) -> SyncError | None:
        """The first error that stops the record from syncing at all, if any."""
        return next((e for e in self.errors if e.failure_type is FailureType.COMPLETE), None)

    def values(self) -> dict[str, str | None]:
        """Platform field -> value for every mapped field (None = blank in Salesforce), `sms_status` included."""
        return {name: platform_fields.contact_value(self.contact, name) for name in sorted(self.mapped)}

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the mapped values and requested status: equal means nothing to send."""
        return fingerprint(dict(self.values()))

    def field_digests(self) -> dict[str, str]:
        """Platform field -> a short digest of its mapped value (`sms_status` included): what the sync remembers of
        the values it reconciled with the platform, to tell later which fields changed since (`changed_since`)."""
        return {name: field_digest(name, value) for name, value in self.values().items()}

    def with_changed(self, fields: Collection[str]) -> MappedRecord:
        """This record with `fields` counted as changed too."""
        return replace(self, changed=self.changed | frozenset(fields))

    @property
    def repeats_platform_status(self) -> bool:
        """The opt-out field asks for exactly the status Salesforce last recorded from the platform
        (`reported_status`): the field then carries no request of Salesforce's own but the platform's last word,
        and a platform that has moved on since (the person's START or STOP, not yet written to Salesforce) must not
        be sent it back. Such a status is never written to the platform (`plans.plan_to_platform`)."""
        known = (SmsStatus.SUBSCRIBED, SmsStatus.UNSUBSCRIBED)
        return self.contact.sms_status in known and self.contact.sms_status is self.reported_status

    @property
    def may_be_echo(self) -> bool:
        """False when the record asks for an opt status other than the one Salesforce last recorded from the
        platform (`reported_status`): the person's STOP or START, or an admin's edit of the opt-out field, came
        after what was last sent, so values equal to those are no echo. (A record read whole from Salesforce maps
        to the same values as the one first sent after a STOP and an admin's re-tick; skipped as an echo, the
        admin would never learn why the re-subscribe was refused, and an opt-out ticked after a START would not
        reach the platform.)"""
        known = (SmsStatus.SUBSCRIBED, SmsStatus.UNSUBSCRIBED)
        requested = self.contact.sms_status
        return not (
            platform_fields.SMS_STATUS in self.mapped
            and requested in known
            and self.reported_status in known
            and requested is not self.reported_status
        )


def changed_since(digests: Mapping[str, str], sent: Mapping[str, str]) -> frozenset[str]:
    """The fields of `digests` (a record's `field_digests()`) whose value differs from `sent` (the digests of the
    values last reconciled with the platform), or that `sent` does not hold: what changed in Salesforce since,
    whichever event said so or not (two edits within one event batch, an event lost or held back: each event names
    its own change only)."""
    return frozenset(name for name, digest in digests.items() if sent.get(name) != digest)


@dataclass(frozen=True, slots=True)
class SalesforceFields:
    """Salesforce field -> value to write (None clears), and the problems met building it."""

    fields: Mapping[str, object] = field(default_factory=dict)
    errors: tuple[SyncError, ...] = ()

    @property
    def refusal(self) -> SyncError | None:
        return next((e for e in self.errors if e.failure_type is FailureType.COMPLETE), None)


class _Record:
    """Case-insensitive read access to a Salesforce record dict (API names are case-insensitive)."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        self._values = {k.casefold(): v for k, v in record.items() if k != "attributes"}

    def has(self, name: str) -> bool:
        return name.casefold() in self._values

    def get(self, name: str) -> Any:
        return self._values.get(name.casefold())


def record_skip_reason(record: Mapping[str, Any], config: SyncObjectConfig) -> str | None:
    """Why this record must not sync to the platform (inactive object, sync criteria not met), or None."""
    if not config.active:
        return f"{config.object_name} is not active in Messaging_Sync_Object__mdt."
    criteria = config.sync_criteria_field
    if criteria is None:
        return None
    row = _Record(record)
    if not row.has(criteria):
        return f"The sync criteria field {criteria} is missing from the record, so it was not synced."
    if checkbox_value(row.get(criteria)) is not True:
        return f"The sync criteria field {criteria} is not checked on this record."
    return None


def opt_out_leaving_sync(
    record: Mapping[str, Any],
    config: SyncObjectConfig,
    *,
    changed_fields: Collection[str] | None = None,
    rules: MappingRules = DEFAULT_RULES,
) -> MappedRecord | None:
    """What the platform must still hear of a record that does not meet its object's sync criteria: its opt-out,
    when its opt-out field asks for one (None otherwise, and nothing is sent).

    The criteria choose which records sync, and a natural one ("Mobile_Subscriber__c AND NOT ISBLANK(MobilePhone)")
    is left by the very opt-out that must stop the texting. Such a record speaks for its opt status only: no other
    value is sent, no field's problem refuses it (a blanked phone), and it is never created on the platform (the
    caller's part). A record that left the criteria in any other way (its phone blanked, the box still ticked) gets
    None: nothing is sent, and above all no subscription."""
    opt_out = config.opt_out
    if not config.active or opt_out is None:
        return None
    row = _Record(record)
    if not row.has(opt_out.field) or opt_out.status_of(row.get(opt_out.field)) is not SmsStatus.UNSUBSCRIBED:
        return None
    mapped = map_record_to_contact(record, config, changed_fields=changed_fields, rules=rules)
    status_only = frozenset({platform_fields.SMS_STATUS})
    held = mapped.contact  # who the person is (to match them) and what they ask for; none of their other values
    contact = Contact(
        phone=held.phone,
        sms_status=held.sms_status,
        platform_id=held.platform_id,
        crm_id=held.crm_id,
        version=held.version,
        opted_out_at=held.opted_out_at,
    )
    return replace(
        mapped, contact=contact, mapped=mapped.mapped & status_only, changed=mapped.changed & status_only, errors=()
    )


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    raise TypeError(type(value).__name__)


def map_record_to_contact(
    record: Mapping[str, Any],
    config: SyncObjectConfig,
    *,
    changed_fields: Collection[str] | None = None,
    rules: MappingRules = DEFAULT_RULES,
) -> MappedRecord:
    """Map one Salesforce record (the trigger's `record` JSON or a SOQL row) for the platform."""
    row = _Record(record)
    changed_names = None if changed_fields is None else {name.casefold() for name in changed_fields}
    errors: list[SyncError] = []
    values: dict[str, str | None] = {}
    changed: set[str] = set()

    def was_changed(names: tuple[str, ...]) -> bool:
        return changed_names is None or any(n.casefold() in changed_names for n in names)

    for mapping in config.mappings_for(Direction.TO_PLATFORM):
        present = [name for name in mapping.salesforce_fields if row.has(name)]
        try:
            texts = [(name, _as_text(row.get(name))) for name in present]
        except TypeError:
            errors.append(_compound_field_error(mapping))
            continue
        source, text = next(((n, t) for n, t in texts if t is not None), (mapping.salesforce_field, None))
        if text is None and mapping.is_required:
            errors.append(
                SyncError(
                    SyncErrorCode.MISSING_REQUIRED_FIELD,
                    f"{' or '.join(mapping.salesforce_fields)} is empty and the mapping to "
                    f"{mapping.platform_field} is required.",
                    mapping.salesforce_fields,
                )
            )
            continue
        if not present:
            continue
        checked = _check_value(mapping, source, text, rules)
        if isinstance(checked, SyncError):
            errors.append(checked)
            continue
        values[mapping.platform_field] = checked
        if was_changed(mapping.salesforce_fields):
            changed.add(mapping.platform_field)

    requested = SmsStatus.UNKNOWN
    mapped = set(values)
    if config.opt_out is not None and row.has(config.opt_out.field):
        requested = config.opt_out.status_of(row.get(config.opt_out.field))
        mapped.add(platform_fields.SMS_STATUS)
        if was_changed((config.opt_out.field,)):
            changed.add(platform_fields.SMS_STATUS)

    contact = platform_fields.with_platform_values(
        Contact(
            sms_status=requested,
            crm_id=_as_text(row.get("Id")),
            platform_id=_text_or_none(row.get(config.platform_id_field)),
            version=_timestamp_or_none(row.get("SystemModstamp")),
            opted_out_at=_timestamp_or_none(row.get(OPTED_OUT_AT_FIELD)),
        ),
        values,
    )
    return MappedRecord(
        object_name=config.object_name,
        contact=contact,
        mapped=frozenset(mapped),
        changed=frozenset(changed),
        reported_status=status_from_label(row.get(config.status_field)),
        errors=tuple(errors),
    )


def _check_value(mapping: FieldMapping, source: str, text: str | None, rules: MappingRules) -> str | SyncError | None:
    """The value to send for `mapping`, or the error that keeps it (or the record) from being sent."""
    if text is None:
        return None
    if mapping.platform_field == platform_fields.PHONE:
        try:
            return normalize_phone(text, rules.default_region)
        except InvalidPhoneNumber as exc:
            return SyncError(SyncErrorCode.INVALID_PHONE, f"{source}: {exc}.", (source,))
    if mapping.platform_field == platform_fields.EMAIL and not is_valid_email(
        text, allow_international=rules.international_email
    ):
        return SyncError(SyncErrorCode.INVALID_EMAIL, f"{source} {text!r} is not a valid email address.", (source,))
    if mapping.is_custom and rules.custom_value_limit is not None and len(text) > rules.custom_value_limit:
        return SyncError(
            SyncErrorCode.CUSTOM_VALUES_TOO_LONG,
            f"{source} is {len(text)} characters; the platform field {mapping.platform_field} "
            f"accepts at most {rules.custom_value_limit}.",
            (source,),
        )
    return text


def _compound_field_error(mapping: FieldMapping) -> SyncError:
    return SyncError(
        SyncErrorCode.CONFIGURATION,
        f"{mapping.record_name}: {mapping.salesforce_field} is a compound field (such as MailingAddress); "
        "map its parts (MailingStreet, MailingCity, …) instead.",
        (mapping.salesforce_field,),
    )


def _text_or_none(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _timestamp_or_none(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def salesforce_datetime(moment: datetime) -> str:
    """A datetime as Salesforce's REST API accepts it (`2026-11-25T08:00:00.000Z`)."""
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def map_contact_to_salesforce(
    contact: Contact,
    config: SyncObjectConfig,
    *,
    current: Mapping[str, Any] | None,
    rules: MappingRules = DEFAULT_RULES,
) -> SalesforceFields:
    """The Salesforce fields to write for a platform contact: over `current` (the matched record), or
    for a new record (`current=None`)."""
    row = _Record(current) if current is not None else None
    errors: list[SyncError] = []
    incoming: dict[str, object] = {}
    policies: dict[str, MergePolicy] = {}
    kinds: dict[str, str] = {}

    for mapping in config.mappings_for(Direction.TO_SALESFORCE):
        value = platform_fields.contact_value(contact, mapping.platform_field)
        if is_empty(value):
            if row is None and mapping.is_required:
                errors.append(
                    SyncError(
                        SyncErrorCode.MISSING_REQUIRED_FIELD,
                        f"The platform contact has no {mapping.platform_field}, which {mapping.salesforce_field} "
                        "requires to create the record.",
                        (mapping.salesforce_field,),
                    )
                )
            continue
        assert value is not None
        if mapping.platform_field == platform_fields.PHONE:
            try:
                value = normalize_phone(value, rules.default_region)
            except InvalidPhoneNumber as exc:
                errors.append(
                    SyncError(SyncErrorCode.INVALID_PHONE, f"platform phone: {exc}.", (mapping.salesforce_field,))
                )
                continue
        if mapping.platform_field == platform_fields.EMAIL and not is_valid_email(
            value, allow_international=rules.international_email
        ):
            errors.append(
                SyncError(
                    SyncErrorCode.INVALID_EMAIL,
                    f"The platform email {value!r} is not a valid email address; {mapping.salesforce_field} "
                    "was left unchanged.",
                    (mapping.salesforce_field,),
                )
            )
            continue
        for target in _targets(mapping, row):
            incoming[target] = value
            policies[target] = mapping.merge_policy
            kinds[target] = mapping.platform_field

    def same(name: str, existing: object, new: object) -> bool:
        if kinds.get(name) == platform_fields.PHONE:
            return same_phone(_as_text(existing), _as_text(new), rules.default_region)
        if kinds.get(name) == platform_fields.EMAIL and isinstance(existing, str) and isinstance(new, str):
            return existing.strip().casefold() == new.strip().casefold()
        return existing == new

    current_values = None if row is None else {name: row.get(name) for name in incoming}
    fields: dict[str, object] = merge_fields(current_values, incoming, policies, same=same)
    fields.update(_status_fields(contact, config, row))
    if contact.platform_id and (
        row is None
        or (_text_or_none(row.get(config.platform_id_field)) or "").casefold() != contact.platform_id.casefold()
    ):
        fields[config.platform_id_field] = contact.platform_id
    return SalesforceFields(fields, tuple(errors))


def map_opt_status_to_salesforce(
    contact: Contact, config: SyncObjectConfig, *, current: Mapping[str, Any]
) -> SalesforceFields:
    """Only the opt-status fields `map_contact_to_salesforce` would write over `current` (status, opt-out field,
    opt-out time, where they differ): no attribute and no platform id."""
    return SalesforceFields(_status_fields(contact, config, _Record(current)))


def _targets(mapping: FieldMapping, row: _Record | None) -> tuple[str, ...]:
    """Where a value lands: the field now in effect (the field, else its fallback), or both when both are blank."""
    fallback = mapping.fallback_salesforce_field
    if fallback is None:
        return (mapping.salesforce_field,)
    if row is not None:
        if not is_empty(row.get(mapping.salesforce_field)):
            return (mapping.salesforce_field,)
        if not is_empty(row.get(fallback)):
            return (fallback,)
    return (mapping.salesforce_field, fallback)


def _status_fields(contact: Contact, config: SyncObjectConfig, row: _Record | None) -> dict[str, object]:
    """Status field, opt-out field and opt-out time as the platform's status says, where they differ."""
    current = status_from_label(row.get(config.status_field)) if row is not None else SmsStatus.UNKNOWN
    resolution = resolve_sms_status(contact.sms_status, current, requested_by=Side.PLATFORM)
    status = resolution.status
    if contact.sms_status is SmsStatus.UNKNOWN:
        return {}
    recorded_stop = _timestamp_or_none(row.get(OPTED_OUT_AT_FIELD)) if row is not None else None
    if (
        status is not SmsStatus.UNSUBSCRIBED
        and recorded_stop is not None
        and contact.version is not None
        and not is_newer(contact.version, recorded_stop)
    ):
        # A platform view taken before the STOP that Salesforce already recorded: stale, it must not re-subscribe.
        return {}
    fields: dict[str, object] = {}
    label = status_label(status)
    if row is None or not isinstance(row.get(config.status_field), str) or row.get(config.status_field) != label:
        fields[config.status_field] = label
    if config.opt_out is not None:
        writable, value = config.opt_out.value_for(status)
        if writable and (row is None or config.opt_out.status_of(row.get(config.opt_out.field)) is not status):
            fields[config.opt_out.field] = value
    opted_out_at = row.get(OPTED_OUT_AT_FIELD) if row is not None else None
    if status is SmsStatus.UNSUBSCRIBED and contact.opted_out_at is not None and is_empty(opted_out_at):
        fields[OPTED_OUT_AT_FIELD] = salesforce_datetime(contact.opted_out_at)
    if status is SmsStatus.SUBSCRIBED and not is_empty(opted_out_at):
        fields[OPTED_OUT_AT_FIELD] = None
    return fields
