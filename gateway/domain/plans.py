"""The plan of one record's sync: what to write where, what went wrong, and the result to log.

Guarantees: a plan is immutable and computed without I/O. `SyncPlan.status` is the
`Sync_Result__c.Status__c` value: `Failure` when any error refuses the record (then the plan holds no
write), else `Partial Failure` when some part was dropped, else `Skipped` when nothing needs writing,
else `Success`. Opt-out stays sticky in every plan (see `opt_status`); deletions are planned only when
the object includes deletions and never under `Fill Empty Only`. A platform person no Salesforce record
matches is not created in Salesforce while they are opted out (or when a STOP is all that is known of them),
unless the deployment's rules say so
(`MappingRules.create_opted_out`): a STOP from a number Salesforce never knew is no reason to add a record (the
platform keeps the opt-out, and a record later given that number matches the opted-out person there). An opt-out
whose phone several records hold (`matching.OptOutOfEach`) is planned as the opt-status fields of each of them
(`SyncPlan.opt_out_writes`), and nothing else, logged as a `Partial Failure` naming the records.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace

from gateway.domain import platform_fields
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import FailureType, SyncError, SyncErrorCode
from gateway.domain.freshness import contact_fingerprint
from gateway.domain.mapping import (
    DEFAULT_RULES,
    MappedRecord,
    MappingRules,
    map_contact_to_salesforce,
    map_opt_status_to_salesforce,
)
from gateway.domain.matching import (
    Create,
    Matched,
    MatchedRecord,
    OptOutOfEach,
    PlatformMatch,
    Refuse,
    SalesforceMatch,
    Skip,
    same_salesforce_id,
)
from gateway.domain.merge import is_empty, merge_fields
from gateway.domain.opt_status import Side, resolve_sms_status
from gateway.domain.phones import same_phone
from gateway.domain.sync_config import (
    DEFAULT_PLATFORM_ID_FIELD,
    Direction,
    MergePolicy,
    SyncConfig,
    SyncObjectConfig,
)


class SyncStatus(enum.StrEnum):
    """`Sync_Result__c.Status__c`."""

    SUCCESS = "Success"
    PARTIAL_FAILURE = "Partial Failure"
    FAILURE = "Failure"
    SKIPPED = "Skipped"


@dataclass(frozen=True, slots=True)
class PlatformWrite:
    """Create (`platform_id` None) or update one platform contact.

    `fields` names what to set from `contact`: platform fields, plus `sms_status` and `crm_id` when
    the status or the link to Salesforce is to be written; `cleared` names fields to empty.
    """

    platform_id: str | None
    contact: Contact
    fields: frozenset[str]
    cleared: frozenset[str] = frozenset()

    @property
    def is_create(self) -> bool:
        return self.platform_id is None

    @property
    def subscribe(self) -> bool:
        """The write opts the person in (the adapter's `upsert_contact(..., subscribe=True)`)."""
        return platform_fields.SMS_STATUS in self.fields and self.contact.sms_status is SmsStatus.SUBSCRIBED

    @property
    def opt_out(self) -> bool:
        """The write opts the person out (the adapter's `opt_out`)."""
        return platform_fields.SMS_STATUS in self.fields and self.contact.sms_status is SmsStatus.UNSUBSCRIBED

    def changes_only(self) -> Contact:
        """A contact holding only the values to set (every other field None) with its ids and status,
        for an adapter that sends each non-None value; `cleared` still lists the fields to empty."""
        values = {
            name: platform_fields.contact_value(self.contact, name)
            for name in self.fields
            if name not in (platform_fields.SMS_STATUS, platform_fields.CRM_ID)
        }
        bare = Contact(
            sms_status=self.contact.sms_status,
            platform_id=self.platform_id,
            crm_id=self.contact.crm_id,
            version=self.contact.version,
            opted_out_at=self.contact.opted_out_at,
        )
        return platform_fields.with_platform_values(bare, values)

    def values(self) -> dict[str, str | None]:
        """Platform field -> value to send (None for a cleared field); sms_status and crm_id included when set."""
        out = {name: platform_fields.contact_value(self.contact, name) for name in sorted(self.fields)}
        for name in sorted(self.cleared):
            out[name] = None
        return out


@dataclass(frozen=True, slots=True)
class SalesforceWrite:
    """Create (`record_id` None) or update one Salesforce record with `fields` (None clears a field)."""

    object_name: str
    record_id: str | None
    fields: Mapping[str, object]

    @property
    def is_create(self) -> bool:
        return self.record_id is None


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """One record's sync: the writes to make, the errors met, and the result to log.

    `opt_out_writes`: the opt-out of a person whose phone several Salesforce records hold, one write per record that
    does not show it yet (then `record_id` and `salesforce_write` are None: no one record is the person);
    `opt_out_records` names every one of those records, (object, id), written now or already showing the opt-out."""

    direction: Direction
    object_name: str | None = None
    record_id: str | None = None
    platform_id: str | None = None
    platform_write: PlatformWrite | None = None
    salesforce_write: SalesforceWrite | None = None
    opt_out_writes: tuple[SalesforceWrite, ...] = ()
    opt_out_records: tuple[tuple[str, str], ...] = ()
    errors: tuple[SyncError, ...] = ()
    skipped_reason: str | None = None
    fingerprint: str | None = None
    link_field: str = DEFAULT_PLATFORM_ID_FIELD  # where the platform id is stored on the Salesforce record

    @property
    def status(self) -> SyncStatus:
        if any(e.failure_type is FailureType.COMPLETE for e in self.errors):
            return SyncStatus.FAILURE
        if self.errors:
            return SyncStatus.PARTIAL_FAILURE
        if self.platform_write is None and self.salesforce_write is None and not self.opt_out_writes:
            return SyncStatus.SKIPPED
        return SyncStatus.SUCCESS

    @property
    def not_written_yet(self) -> tuple[SyncError, ...]:
        """The errors of writes Salesforce could not make yet (a row still locked past the client's retries): a plan
        that has any is to be tried again, not logged as refused."""
        return tuple(e for e in self.errors if e.code is SyncErrorCode.SALESFORCE_UNAVAILABLE)

    @property
    def error_code(self) -> str | None:
        """The code for `Error_Code__c`: the refusing error's, else the first partial one's."""
        complete = [e for e in self.errors if e.failure_type is FailureType.COMPLETE]
        ordered = complete or list(self.errors)
        return ordered[0].code.value if ordered else None

    @property
    def message(self) -> str:
        """The text for `Message__c`: every error's message, else why it was skipped, else empty."""
        if self.errors:
            return "\n".join(e.message for e in self.errors)
        return self.skipped_reason or ""

    def failed(self, error: SyncError) -> SyncPlan:
        """This plan after its write failed with `error` (what an adapter raised)."""
        return replace(self, errors=(*self.errors, error))

    def with_created_platform_id(self, platform_id: str) -> SyncPlan:
        """This plan once the platform created the contact: the new id is written back to Salesforce."""
        if self.object_name is None or self.record_id is None:
            raise ValueError("only a plan for a Salesforce record can link a created platform contact")
        link = SalesforceWrite(self.object_name, self.record_id, {self.link_field: platform_id})
        return replace(self, platform_id=platform_id, salesforce_write=link)


def plan_to_platform(mapped: MappedRecord, config: SyncObjectConfig, decision: PlatformMatch) -> SyncPlan:
    """The plan for a mapped Salesforce record, once matching has decided where it goes.

    The opt status is written only when the record asks for one of its own: a status that repeats what Salesforce
    last recorded from the platform (`MappedRecord.repeats_platform_status`) is not sent back to the contact it came
    from (the record's linked one), so a later sync of the record never undoes the person's START or STOP the
    platform took since; a record matched to another contact (a new phone, a re-created profile) still sends it."""
    contact = mapped.contact
    base = SyncPlan(
        Direction.TO_PLATFORM,
        object_name=config.object_name,
        record_id=contact.crm_id,
        platform_id=contact.platform_id,
        fingerprint=mapped.fingerprint,
        link_field=config.platform_id_field,
    )
    partial = tuple(e for e in mapped.errors if e.failure_type is FailureType.PARTIAL)
    if mapped.refusal is not None:
        return replace(base, errors=mapped.errors)
    if isinstance(decision, Refuse):
        return replace(base, errors=(*partial, decision.error))
    if isinstance(decision, Skip):
        return replace(base, errors=partial, skipped_reason=decision.reason)

    existing = decision.contact if isinstance(decision, Matched) else None
    current_status = existing.sms_status if existing is not None else mapped.reported_status
    errors = list(partial)
    values = mapped.values()

    send_everything = existing is None or config.send_all_fields
    to_send = set(mapped.mapped) if send_everything else set(mapped.mapped & mapped.changed)

    status = current_status
    send_status = False
    if (
        existing is not None
        and mapped.repeats_platform_status
        and contact.platform_id is not None
        and existing.platform_id == contact.platform_id
    ):  # the linked contact's own last word, not a request: never sent back to it (another contact still gets it)
        to_send.discard(platform_fields.SMS_STATUS)
    if platform_fields.SMS_STATUS in to_send:
        resolution = resolve_sms_status(contact.sms_status, current_status, requested_by=Side.SALESFORCE)
        status, send_status = resolution.status, resolution.write
        if resolution.error is not None:
            errors.append(resolution.error)
    to_send.discard(platform_fields.SMS_STATUS)

    policies = {m.platform_field: m.merge_policy for m in config.mappings_for(Direction.TO_PLATFORM)}
    incoming = {name: values.get(name) for name in to_send}
    current = None if existing is None else {name: platform_fields.contact_value(existing, name) for name in to_send}
    fields = set(merge_fields(current, incoming, policies, same=_same_platform_value))
    cleared: set[str] = set()
    if existing is not None and config.include_deletions:
        cleared = {
            name
            for name in to_send
            if values.get(name) is None
            and policies.get(name, MergePolicy.OVERWRITE) is MergePolicy.OVERWRITE
            and not is_empty(current.get(name) if current else None)
        }
    if send_status:
        fields.add(platform_fields.SMS_STATUS)
    if existing is None or not same_salesforce_id(existing.crm_id, contact.crm_id):
        fields.add(platform_fields.CRM_ID)

    platform_id = existing.platform_id if existing is not None else None
    plan = replace(base, platform_id=platform_id or contact.platform_id, errors=tuple(errors))
    if existing is not None and platform_id and platform_id != contact.platform_id and contact.crm_id:
        plan = replace(
            plan,
            salesforce_write=SalesforceWrite(
                config.object_name, contact.crm_id, {config.platform_id_field: platform_id}
            ),
        )
    if not fields and not cleared:
        return replace(plan, skipped_reason="The platform already holds these values.")
    write = PlatformWrite(
        platform_id,
        contact.with_changes(sms_status=status, platform_id=platform_id),
        frozenset(fields),
        frozenset(cleared),
    )
    return replace(plan, platform_write=write)


def _same_platform_value(name: str, existing: object, new: object) -> bool:
    if name == platform_fields.PHONE and isinstance(existing, str) and isinstance(new, str):
        # Both sides hold E.164 here; the region only matters for numbers without a country code.
        return same_phone(existing, new, "US")
    if name == platform_fields.EMAIL and isinstance(existing, str) and isinstance(new, str):
        return existing.strip().casefold() == new.strip().casefold()
    return existing == new


def plan_to_salesforce(
    contact: Contact,
    config: SyncConfig,
    decision: SalesforceMatch,
    *,
    rules: MappingRules = DEFAULT_RULES,
    stop_only: bool = False,
) -> SyncPlan:
    """The plan for a platform contact, once matching has decided which Salesforce record it updates or creates.

    `stop_only`: all the sync learned of this person is that they texted STOP (whatever status the platform
    reports): like an opted-out person, they are not created in Salesforce unless `rules.create_opted_out`."""
    base = SyncPlan(
        Direction.TO_SALESFORCE,
        platform_id=contact.platform_id,
        record_id=contact.crm_id,
        fingerprint=contact_fingerprint(contact),
    )
    if isinstance(decision, Refuse):
        return replace(base, errors=(decision.error,))
    if isinstance(decision, Skip):
        return replace(base, skipped_reason=decision.reason)
    if isinstance(decision, OptOutOfEach):
        return replace(
            base,
            opt_out_writes=_opt_out_writes(contact, config, decision),
            opt_out_records=tuple((match.object_name, match.record_id) for match in decision.records),
            errors=(decision.error,),
        )
    opted_out = contact.sms_status is SmsStatus.UNSUBSCRIBED or stop_only
    if isinstance(decision, Create) and opted_out and not rules.create_opted_out:
        return replace(
            base,
            skipped_reason="No Salesforce record matches this person, and what the gateway learned of them is an "
            "opt-out: no record is created for that alone (set GATEWAY_CREATE_UNMATCHED_OPT_OUTS=true on the gateway "
            "to create one).",
        )
    if isinstance(decision, MatchedRecord):
        object_name, record_id, current = decision.object_name, decision.record_id, decision.record
    else:
        object_name, record_id, current = decision.object_name or "", None, None
    obj = config.for_object(object_name)
    if obj is None:
        raise ValueError(f"{object_name!r} is not a configured object")
    result = map_contact_to_salesforce(contact, obj, current=current, rules=rules)
    plan = replace(
        base, object_name=obj.object_name, record_id=record_id, errors=result.errors, link_field=obj.platform_id_field
    )
    if result.refusal is not None:
        return plan
    if not result.fields:
        return replace(plan, skipped_reason="Salesforce already holds these values.")
    return replace(plan, salesforce_write=SalesforceWrite(obj.object_name, record_id, dict(result.fields)))


def _opt_out_writes(contact: Contact, config: SyncConfig, decision: OptOutOfEach) -> tuple[SalesforceWrite, ...]:
    """The opt-status fields of each record `decision` names that does not show the opt-out yet."""
    if contact.sms_status is not SmsStatus.UNSUBSCRIBED:
        raise ValueError("only an opt-out is recorded on several records")
    writes = []
    for match in decision.records:
        obj = config.for_object(match.object_name)
        if obj is None:
            raise ValueError(f"{match.object_name!r} is not a configured object")
        fields = map_opt_status_to_salesforce(contact, obj, current=match.record).fields
        if fields:
            writes.append(SalesforceWrite(obj.object_name, match.record_id, dict(fields)))
    return tuple(writes)
