"""Which objects sync and how: the package's custom metadata, parsed into frozen config objects.

Reads `Messaging_Sync_Object__mdt` and `Messaging_Field_Mapping__mdt` rows exactly as a SOQL query
returns them (simple-salesforce dicts, `attributes` included) and builds a `SyncConfig`.

Guarantees: `parse_sync_config` either returns a configuration in which every object, mapping and
opt-out setting is usable, or raises `InvalidSyncConfiguration` listing *every* problem found, each
naming the metadata record and the field to fix. Blank settings take the documented defaults
(`Messaging_Status__c`, `Messaging_Contact_Id__c`, direction `Both`, merge policy `Overwrite`).
Picklist opt-out values compare case-insensitively. Nothing here reads Salesforce itself.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from gateway.domain import platform_fields
from gateway.domain.contact import SmsStatus
from gateway.domain.errors import SyncError, SyncErrorCode, SyncFailure

DEFAULT_STATUS_FIELD = "Messaging_Status__c"
DEFAULT_PLATFORM_ID_FIELD = "Messaging_Contact_Id__c"
OPTED_OUT_AT_FIELD = "Messaging_Opted_Out_At__c"
LAST_SYNCED_AT_FIELD = "Messaging_Last_Synced_At__c"

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_E = TypeVar("_E", bound=enum.StrEnum)


class Direction(enum.StrEnum):
    """A direction of one sync, as `Sync_Result__c.Direction__c` spells it."""

    TO_PLATFORM = "To Platform"
    TO_SALESFORCE = "To Salesforce"


class MappingDirection(enum.StrEnum):
    BOTH = "Both"
    TO_PLATFORM = "To Platform"
    TO_SALESFORCE = "To Salesforce"


class MergePolicy(enum.StrEnum):
    OVERWRITE = "Overwrite"
    FILL_EMPTY_ONLY = "Fill Empty Only"  # write only where the target holds no value (as some platforms' own syncs do)


class OptOutFieldType(enum.StrEnum):
    CHECKBOX = "Checkbox"
    PICKLIST = "Picklist"


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong in the custom metadata: which record, which field, what to do."""

    record: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.record}.{self.field}: {self.problem}"


class InvalidSyncConfiguration(SyncFailure):
    """The custom metadata cannot be used; `problems` lists each record and field at fault."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        detail = "Invalid sync configuration: " + "; ".join(str(p) for p in self.problems) + "."
        super().__init__(SyncError(SyncErrorCode.CONFIGURATION, detail, tuple(p.field for p in self.problems)))


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One `Messaging_Field_Mapping__mdt` record: a Salesforce field <-> a platform field."""

    object_name: str
    salesforce_field: str
    platform_field: str
    direction: MappingDirection = MappingDirection.BOTH
    fallback_salesforce_field: str | None = None
    is_matching: bool = False
    is_required: bool = False
    merge_policy: MergePolicy = MergePolicy.OVERWRITE
    record_name: str = ""

    def applies_to(self, direction: Direction) -> bool:
        return self.direction is MappingDirection.BOTH or self.direction.value == direction.value

    @property
    def salesforce_fields(self) -> tuple[str, ...]:
        """The field, then its fallback: the Salesforce fields this mapping reads."""
        if self.fallback_salesforce_field:
            return (self.salesforce_field, self.fallback_salesforce_field)
        return (self.salesforce_field,)

    @property
    def is_custom(self) -> bool:
        return self.platform_field.startswith(platform_fields.CUSTOM_PREFIX)


@dataclass(frozen=True, slots=True)
class OptOutField:
    """How a Salesforce field says whether a person may be texted.

    Checkbox, not inverted: checked = opted in (the default `Mobile_Subscriber__c`).
    Checkbox, inverted: checked = opted out (an unchecked box means opted in).
    Picklist: a value in `opted_in_values` / `opted_out_values` (case-insensitive); any other value,
    blank included, says nothing (UNKNOWN), so it never opts anyone in.
    """

    field: str
    type: OptOutFieldType = OptOutFieldType.CHECKBOX
    inverted: bool = False
    opted_in_values: tuple[str, ...] = ()
    opted_out_values: tuple[str, ...] = ()

    def status_of(self, value: object) -> SmsStatus:
        """The SMS status a value of this field means."""
        if self.type is OptOutFieldType.CHECKBOX:
            if value is None:
                return SmsStatus.UNKNOWN
            checked = checkbox_value(value)
            if checked is None:
                return SmsStatus.UNKNOWN
            opted_in = checked != self.inverted
            return SmsStatus.SUBSCRIBED if opted_in else SmsStatus.UNSUBSCRIBED
        if not isinstance(value, str) or not value.strip():
            return SmsStatus.UNKNOWN
        key = value.strip().casefold()
        if key in (v.casefold() for v in self.opted_in_values):
            return SmsStatus.SUBSCRIBED
        if key in (v.casefold() for v in self.opted_out_values):
            return SmsStatus.UNSUBSCRIBED
        return SmsStatus.UNKNOWN

    def value_for(self, status: SmsStatus) -> tuple[bool, object]:
        """(True, value) to write for `status`; (False, None) when this field has no value for it (paused, unknown)."""
        if status not in (SmsStatus.SUBSCRIBED, SmsStatus.UNSUBSCRIBED):
            return (False, None)
        opted_in = status is SmsStatus.SUBSCRIBED
        if self.type is OptOutFieldType.CHECKBOX:
            return (True, opted_in != self.inverted)
        values = self.opted_in_values if opted_in else self.opted_out_values
        return (True, values[0])


@dataclass(frozen=True, slots=True)
class SyncObjectConfig:
    """One `Messaging_Sync_Object__mdt` record with its field mappings."""

    object_name: str
    mappings: tuple[FieldMapping, ...]
    active: bool = True
    sync_criteria_field: str | None = None
    create_unmatched_to_platform: bool = False
    create_unmatched_to_salesforce: bool = False
    include_deletions: bool = False
    send_all_fields: bool = False
    opt_out: OptOutField | None = None
    status_field: str = DEFAULT_STATUS_FIELD
    platform_id_field: str = DEFAULT_PLATFORM_ID_FIELD
    create_unmatched_as: str | None = None
    record_name: str = ""
    # the mappings of each direction, chosen once: a sync asks for them several times a record
    _by_direction: dict[Direction, tuple[FieldMapping, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chosen = {d: tuple(m for m in self.mappings if m.applies_to(d)) for d in Direction}
        object.__setattr__(self, "_by_direction", chosen)

    def mappings_for(self, direction: Direction) -> tuple[FieldMapping, ...]:
        return self._by_direction[direction]

    @property
    def matching_mappings(self) -> tuple[FieldMapping, ...]:
        return tuple(m for m in self.mappings if m.is_matching)

    def opt_status_fields(self) -> tuple[str, ...]:
        """The fields of a record of this object that say whether the person may be texted: the status, the
        opt-out field (when the object has one) and the time of the opt-out."""
        opt_out = (self.opt_out.field,) if self.opt_out else ()
        return (self.status_field, *opt_out, OPTED_OUT_AT_FIELD)

    def salesforce_fields(self) -> tuple[str, ...]:
        """Every field the sync reads from a record of this object (for a SOQL SELECT), without duplicates."""
        names = ["Id", "SystemModstamp"]
        for m in self.mappings:
            names.extend(m.salesforce_fields)
        for extra in (
            self.sync_criteria_field,
            self.opt_out.field if self.opt_out else None,
            self.status_field,
            self.platform_id_field,
            OPTED_OUT_AT_FIELD,
        ):
            if extra:
                names.append(extra)
        seen: set[str] = set()
        unique = []
        for name in names:
            if name.casefold() not in seen:
                seen.add(name.casefold())
                unique.append(name)
        return tuple(unique)


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """Every configured object, keyed case-insensitively by API name."""

    objects: Mapping[str, SyncObjectConfig] = field(default_factory=lambda: MappingProxyType({}))

    def for_object(self, object_name: str) -> SyncObjectConfig | None:
        """The configuration of `object_name`, active or not; None when the object is not configured."""
        for name, config in self.objects.items():
            if name.casefold() == object_name.casefold():
                return config
        return None

    @property
    def active_objects(self) -> tuple[SyncObjectConfig, ...]:
        return tuple(c for c in self.objects.values() if c.active)

    @property
    def create_in_salesforce_as(self) -> str | None:
        """The object a platform-only person becomes, or None when no active object creates unmatched people."""
        for config in self.active_objects:
            if config.create_unmatched_to_salesforce:
                return config.create_unmatched_as or config.object_name
        return None


def checkbox_value(value: object) -> bool | None:
    """A checkbox value as JSON carries it (true/false); Apex-serialised text "true"/"false" also accepted."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().casefold() in ("true", "false"):
        return value.strip().casefold() == "true"
    return None


def parse_sync_config(
    object_records: Iterable[Mapping[str, Any]], mapping_records: Iterable[Mapping[str, Any]]
) -> SyncConfig:
    """Build the sync configuration from the two metadata types' SOQL rows, or raise `InvalidSyncConfiguration`."""
    problems: list[ConfigProblem] = []
    objects: dict[str, SyncObjectConfig] = {}
    for index, row in enumerate(object_records):
        config = _parse_object(row, index, problems)
        if config is None:
            continue
        key = config.object_name.casefold()
        if key in objects:
            problems.append(
                ConfigProblem(
                    config.record_name,
                    "Object_API_Name__c",
                    f"{config.object_name} is configured twice (also by {objects[key].record_name}); delete one record",
                )
            )
            continue
        objects[key] = config

    mappings: dict[str, list[FieldMapping]] = {key: [] for key in objects}
    for index, row in enumerate(mapping_records):
        mapping = _parse_mapping(row, index, problems)
        if mapping is None:
            continue
        key = mapping.object_name.casefold()
        if key not in objects:
            problems.append(
                ConfigProblem(
                    mapping.record_name,
                    "Object_API_Name__c",
                    f"no Messaging_Sync_Object__mdt record configures {mapping.object_name}; add one or fix the name",
                )
            )
            continue
        mappings[key].append(mapping)

    built: dict[str, SyncObjectConfig] = {}
    for key, config in objects.items():
        object_mappings = tuple(mappings[key])
        _check_mappings(config, object_mappings, problems)
        built[config.object_name] = _with_mappings(config, object_mappings)

    result = SyncConfig(MappingProxyType(built))
    _check_create_unmatched(result, problems)
    if problems:
        raise InvalidSyncConfiguration(problems)
    return result


def _with_mappings(config: SyncObjectConfig, mappings: tuple[FieldMapping, ...]) -> SyncObjectConfig:
    return SyncObjectConfig(
        object_name=config.object_name,
        mappings=mappings,
        active=config.active,
        sync_criteria_field=config.sync_criteria_field,
        create_unmatched_to_platform=config.create_unmatched_to_platform,
        create_unmatched_to_salesforce=config.create_unmatched_to_salesforce,
        include_deletions=config.include_deletions,
        send_all_fields=config.send_all_fields,
        opt_out=config.opt_out,
        status_field=config.status_field,
        platform_id_field=config.platform_id_field,
        create_unmatched_as=config.create_unmatched_as,
        record_name=config.record_name,
    )


def _record_name(row: Mapping[str, Any], index: int, type_name: str) -> str:
    for key in ("DeveloperName", "QualifiedApiName", "MasterLabel", "Id"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return f"{type_name} {value.strip()}"
    return f"{type_name} #{index + 1}"


class _Reader:
    """Reads one metadata row, noting a problem (and returning a default) for each bad value."""

    def __init__(self, row: Mapping[str, Any], record: str, problems: list[ConfigProblem]) -> None:
        self.row = row
        self.record = record
        self.problems = problems

    def problem(self, field_name: str, text: str) -> None:
        self.problems.append(ConfigProblem(self.record, field_name, text))

    def text(self, field_name: str) -> str | None:
        value = self.row.get(field_name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(field_name, f"expected text, got {value!r}")
            return None
        return value.strip() or None

    def api_name(self, field_name: str, *, required: bool = False) -> str | None:
        value = self.text(field_name)
        if value is None:
            raw = self.row.get(field_name)
            if required and (raw is None or isinstance(raw, str)):
                self.problem(field_name, "is required; enter a Salesforce API name such as MobilePhone")
            return None
        if not _API_NAME.match(value):
            self.problem(field_name, f"{value!r} is not a Salesforce API name (letters, digits and _ only)")
            return None
        return value

    def checkbox(self, field_name: str) -> bool:
        value = self.row.get(field_name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        self.problem(field_name, f"expected a checkbox (true/false), got {value!r}")
        return False

    def choice(self, field_name: str, kind: type[_E], default: _E) -> _E:
        value = self.text(field_name)
        if value is None:
            return default
        for member in kind:
            if member.value.casefold() == value.casefold():
                return member
        allowed = ", ".join(m.value for m in kind)
        self.problem(field_name, f"{value!r} is not one of: {allowed}")
        return default

    def values(self, field_name: str) -> tuple[str, ...]:
        value = self.text(field_name)
        if value is None:
            return ()
        return tuple(v.strip() for v in value.split(";") if v.strip())


def _parse_object(row: Mapping[str, Any], index: int, problems: list[ConfigProblem]) -> SyncObjectConfig | None:
    record = _record_name(row, index, "Messaging_Sync_Object__mdt")
    read = _Reader(row, record, problems)
    object_name = read.api_name("Object_API_Name__c", required=True)
    opt_out = _parse_opt_out(read)
    config = SyncObjectConfig(
        object_name=object_name or "",
        mappings=(),
        active=read.checkbox("Active__c"),
        sync_criteria_field=read.api_name("Sync_Criteria_Field__c"),
        create_unmatched_to_platform=read.checkbox("Create_Unmatched_To_Platform__c"),
        create_unmatched_to_salesforce=read.checkbox("Create_Unmatched_To_Salesforce__c"),
        include_deletions=read.checkbox("Include_Deletions__c"),
        send_all_fields=read.checkbox("Send_All_Fields__c"),
        opt_out=opt_out,
        status_field=read.api_name("Status_Field__c") or DEFAULT_STATUS_FIELD,
        platform_id_field=read.api_name("Platform_Id_Field__c") or DEFAULT_PLATFORM_ID_FIELD,
        create_unmatched_as=read.api_name("Create_Unmatched_As__c"),
        record_name=record,
    )
    return None if object_name is None else config


def _parse_opt_out(read: _Reader) -> OptOutField | None:
    field_name = read.api_name("Opt_Out_Field__c")
    kind = read.choice("Opt_Out_Field_Type__c", OptOutFieldType, OptOutFieldType.CHECKBOX)
    inverted = read.checkbox("Opt_Out_Inverted__c")
    opted_in = read.values("Opted_In_Values__c")
    opted_out = read.values("Opted_Out_Values__c")
    if field_name is None:
        return None
    if kind is OptOutFieldType.PICKLIST:
        if inverted:
            read.problem(
                "Opt_Out_Inverted__c",
                "applies to a Checkbox opt-out field only; uncheck it and list the values instead",
            )
        if not opted_in:
            read.problem("Opted_In_Values__c", "a Picklist opt-out field needs the values that mean opted in (a;b)")
        if not opted_out:
            read.problem("Opted_Out_Values__c", "a Picklist opt-out field needs the values that mean opted out (a;b)")
        overlap = {v.casefold() for v in opted_in} & {v.casefold() for v in opted_out}
        if overlap:
            read.problem(
                "Opted_Out_Values__c",
                f"{', '.join(sorted(overlap))} listed as both opted in and opted out; keep it in one list",
            )
    return OptOutField(field_name, kind, inverted, opted_in, opted_out)


def _parse_mapping(row: Mapping[str, Any], index: int, problems: list[ConfigProblem]) -> FieldMapping | None:
    record = _record_name(row, index, "Messaging_Field_Mapping__mdt")
    read = _Reader(row, record, problems)
    before = len(problems)
    object_name = read.api_name("Object_API_Name__c", required=True)
    salesforce_field = read.api_name("Salesforce_Field__c", required=True)
    fallback = read.api_name("Fallback_Salesforce_Field__c")
    platform_field = read.text("Platform_Field__c")
    if platform_field is None:
        read.problem("Platform_Field__c", "is required; enter first_name, phone, email, … or custom:<Name>")
    elif not platform_fields.is_valid_platform_field(platform_field):
        allowed = ", ".join(sorted(platform_fields.STANDARD_FIELDS))
        read.problem("Platform_Field__c", f"{platform_field!r} is not one of {allowed} or custom:<Name>")
    if fallback is not None and salesforce_field is not None and fallback.casefold() == salesforce_field.casefold():
        read.problem("Fallback_Salesforce_Field__c", "is the same field as Salesforce_Field__c; clear it")
    mapping = FieldMapping(
        object_name=object_name or "",
        salesforce_field=salesforce_field or "",
        platform_field=platform_field or "",
        direction=read.choice("Direction__c", MappingDirection, MappingDirection.BOTH),
        fallback_salesforce_field=fallback,
        is_matching=read.checkbox("Is_Matching__c"),
        is_required=read.checkbox("Is_Required__c"),
        merge_policy=read.choice("Merge_Policy__c", MergePolicy, MergePolicy.OVERWRITE),
        record_name=record,
    )
    if object_name is None:
        return None
    return mapping if len(problems) == before else None


def _check_mappings(
    config: SyncObjectConfig, mappings: tuple[FieldMapping, ...], problems: list[ConfigProblem]
) -> None:
    for direction in Direction:
        by_platform: dict[str, FieldMapping] = {}
        by_salesforce: dict[str, FieldMapping] = {}
        for m in (m for m in mappings if m.applies_to(direction)):
            if direction is Direction.TO_PLATFORM:
                earlier = by_platform.setdefault(m.platform_field, m)
                if earlier is not m:
                    problems.append(
                        ConfigProblem(
                            m.record_name,
                            "Platform_Field__c",
                            f"{m.platform_field} already receives {earlier.salesforce_field} "
                            f"({earlier.record_name}); map each platform field once per direction",
                        )
                    )
            else:
                earlier = by_salesforce.setdefault(m.salesforce_field.casefold(), m)
                if earlier is not m:
                    problems.append(
                        ConfigProblem(
                            m.record_name,
                            "Salesforce_Field__c",
                            f"{m.salesforce_field} already receives {earlier.platform_field} "
                            f"({earlier.record_name}); map each Salesforce field once per direction",
                        )
                    )
    if config.active and not any(
        m.platform_field == platform_fields.PHONE and m.applies_to(Direction.TO_PLATFORM) for m in mappings
    ):
        problems.append(
            ConfigProblem(
                config.record_name,
                "Object_API_Name__c",
                f"active object {config.object_name} has no mapping to the platform field phone; "
                "add one (an SMS platform cannot reach a person without it) or deactivate the object",
            )
        )


def _check_create_unmatched(config: SyncConfig, problems: list[ConfigProblem]) -> None:
    creators = [c for c in config.active_objects if c.create_unmatched_to_salesforce]
    targets = {(c.create_unmatched_as or c.object_name).casefold() for c in creators}
    if len(targets) > 1:
        for c in creators[1:]:
            problems.append(
                ConfigProblem(
                    c.record_name,
                    "Create_Unmatched_As__c",
                    "several objects create unmatched people as different objects "
                    f"({', '.join(sorted(targets))}); choose one",
                )
            )
    for c in creators:
        target = c.create_unmatched_as or c.object_name
        target_config = config.for_object(target)
        if target_config is None or not target_config.active:
            problems.append(
                ConfigProblem(
                    c.record_name,
                    "Create_Unmatched_As__c",
                    f"{target} is not an active synced object; name Contact, Lead or another active object",
                )
            )
