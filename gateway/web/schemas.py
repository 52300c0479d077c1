"""What Salesforce sends the gateway (DESIGN §4), checked at the door: shape (marshmallow), then what the shape
cannot say (`door_problems`).

Guarantees: every id is matched whole (`\\A…\\Z`: a trailing newline is not part of an id) and an 18-character id
must carry its case-check suffix; an event's `recordId` and `record.Id` name the same record, whose key prefix fits
`sobjectType` (`salesforce.ids.prefix_problem`); `publishedAt` and `record.SystemModstamp` are read by the very
function the sync job reads them with (`domain.freshness.parse_timestamp`) and may not lie more than the allowed
clock skew in the future, so a version mark can never be set into the future; the batch's `orgId` is the org the
gateway's own Salesforce login belongs to. Every problem names the event (its index and `eventUuid`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from gateway.domain.freshness import parse_timestamp
from gateway.salesforce.ids import ID_PATTERN, id_problem, prefix_problem, same_record

OPERATIONS = ("insert", "update", "delete", "undelete")


def _salesforce_id(value: str) -> None:
    problem = id_problem(value)
    if problem is not None:
        raise ValidationError(problem)


def _org_id(value: str) -> None:
    _salesforce_id(value)
    if not value.startswith("00D"):
        raise ValidationError("not a Salesforce org id (00D…)")


class SalesforceEventSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    eventUuid = fields.String(  # noqa: N815 - wire name
        required=True, validate=validate.Regexp(r"\A[\x21-\x7e]{1,64}\Z", error="1 to 64 printable characters")
    )
    replayId = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))  # noqa: N815
    sobjectType = fields.String(  # noqa: N815
        required=True, validate=validate.Regexp(r"\A[A-Za-z][A-Za-z0-9_]{0,79}\Z", error="not an sObject API name")
    )
    recordId = fields.String(required=True, validate=_salesforce_id)  # noqa: N815
    operation = fields.String(required=True, validate=validate.OneOf(OPERATIONS))
    changedFields = fields.List(fields.String(validate=validate.Length(max=80)), load_default=list)  # noqa: N815
    record = fields.Dict(required=True)  # JSON object keys are strings already
    publishedAt = fields.AwareDateTime(required=True, format="iso")  # noqa: N815

    @validates("record")
    def _record_has_id(self, value: dict[str, object], **_: object) -> None:
        if not isinstance(value.get("Id"), str):
            raise ValidationError("must hold the record's Id")
        if not ID_PATTERN.match(str(value["Id"])):  # its checksum: it must name recordId's record (door_problems)
            raise ValidationError("Id: not a 15- or 18-character Salesforce id")


class SalesforceBatchSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    orgId = fields.String(required=True, validate=_org_id)  # noqa: N815
    events = fields.List(fields.Nested(SalesforceEventSchema), required=True, validate=validate.Length(min=1, max=2000))


BATCH_SCHEMA = SalesforceBatchSchema()
_EVENT_SCHEMA = SalesforceEventSchema()
_EVENT_FIELDS = tuple(_EVENT_SCHEMA.load_fields.items())
_EVENTS_FIELD = BATCH_SCHEMA.load_fields["events"]


def batch_problems(payload: Any) -> dict[str, Any]:
    """The shape's field errors (`BATCH_SCHEMA.validate`, each event named: `name_events`); empty when it fits.

    A batch every field of which its own marshmallow field accepts (the usual case) is answered without the schema's
    machinery, which costs more than the checks themselves: `_fields_accept` says yes only where the schema would
    find nothing (tests/unit/gateway/test_door.py checks that on generated batches), and anything else goes through
    the schema, so every rejection carries the schema's own messages."""
    if not isinstance(payload, dict):
        return {"_schema": ["must be an object"]}
    if _fields_accept(payload):
        return {}
    return name_events(BATCH_SCHEMA.validate(payload), payload)


def _fields_accept(payload: dict[str, Any]) -> bool:
    """Whether each field of the batch and of its events passes its own field object (required, null, type, every
    validator), the events list its length, each event is an object and `_record_has_id` holds (the schemas' only
    hook: tests/unit/gateway/test_door.py fails when another is added). Unknown keys are ignored, as the schema does."""
    events = payload.get("events")
    if type(events) is not list or "orgId" not in payload:
        return False
    try:
        if not _accepts(BATCH_SCHEMA.load_fields["orgId"], payload["orgId"], "orgId", payload):
            return False
        for check in _EVENTS_FIELD.validators:
            check(events)
        for event in events:
            if type(event) is not dict:
                return False
            for name, field in _EVENT_FIELDS:
                if name in event:
                    if not _accepts(field, event[name], name, event):
                        return False
                elif field.required:
                    return False
            _EVENT_SCHEMA._record_has_id(event["record"])
    except ValidationError:
        return False
    return True


def _accepts(field: fields.Field[Any], value: object, name: str, data: Mapping[str, Any]) -> bool:
    """Whether `field.deserialize(value, name, data)` passes a value that is present, by the same steps (null,
    conversion, each validator; a failing one raises `ValidationError`) without the validator combinator marshmallow
    builds anew on every call (`Field._validate_all`): that was half the door's checks of a 200-event batch. The
    schemas' fields run no pre- or post-load functions (tests/unit/gateway/test_door.py), the steps this skips."""
    if value is None:
        return field.allow_none
    output = field._deserialize(value, name, data)
    for validator in field.validators:
        validator(output)
    return True


# A batch from one transaction shares its timestamps: parse each distinct one once (a pure function of the text).
_parse_timestamp = functools.lru_cache(maxsize=1024)(parse_timestamp)


def _timestamp(value: object, latest: datetime) -> str | None:
    """Why `value` cannot be a version timestamp, or None."""
    if not isinstance(value, str):
        return "must be a timestamp string such as 2026-11-25T08:00:00.000+0000"
    try:
        moment = _parse_timestamp(value)
    except ValueError:
        return f"{value[:40]!r} is not a timestamp such as 2026-11-25T08:00:00.000+0000"
    if moment > latest:
        return f"{value[:40]} is in the future (more than the allowed clock skew past the gateway's clock)"
    return None


def door_problems(
    payload: Mapping[str, Any], *, expected_org_id: str, now: datetime, max_skew: timedelta
) -> dict[str, Any]:
    """Field errors (marshmallow's shape) for a batch that passed `BATCH_SCHEMA`; empty when it may be accepted."""
    errors: dict[str, Any] = {}
    if not same_record(payload["orgId"], expected_org_id):
        errors["orgId"] = ["not the org this gateway serves (the org its own Salesforce login belongs to)"]
    latest = now + max_skew
    for index, event in enumerate(payload["events"]):
        problems: dict[str, list[str]] = {}
        record = event["record"]
        prefix = prefix_problem(event["recordId"], event["sobjectType"])
        if prefix is not None:
            problems.setdefault("recordId", []).append(prefix)
        if not same_record(str(record["Id"]), event["recordId"]):
            problems.setdefault("record", []).append("record.Id is not the record recordId names")
        if (late := _timestamp(event["publishedAt"], latest)) is not None:
            problems.setdefault("publishedAt", []).append(late)
        stamp = record.get("SystemModstamp")
        if stamp and (bad := _timestamp(stamp, latest)) is not None:  # the job falls back to publishedAt when empty
            problems.setdefault("record", []).append(f"SystemModstamp: {bad}")
        if problems:
            errors.setdefault("events", {})[index] = problems
    return name_events(errors, payload)


def name_events(errors: dict[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """`errors` with each event's messages prefixed by its `eventUuid` (when it has a usable one), so a rejection
    names the event, not only its position in the batch."""
    events = payload.get("events")
    by_index = errors.get("events")
    if not isinstance(events, list) or not isinstance(by_index, dict):
        return errors
    named: dict[Any, Any] = {}
    for index, problems in by_index.items():
        event = events[index] if isinstance(index, int) and index < len(events) else None
        uuid = event.get("eventUuid") if isinstance(event, dict) else None
        if isinstance(uuid, str) and isinstance(problems, dict):
            label = f"event {uuid[:64]!r}: "
            named[index] = {k: [label + str(m) for m in v] if isinstance(v, list) else v for k, v in problems.items()}
        else:
            named[index] = problems
    return {**errors, "events": named}
