"""Marshmallow schemas for what Salesforce sends the gateway (DESIGN §4)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

SALESFORCE_ID = r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$"
OPERATIONS = ("insert", "update", "delete", "undelete")


class SalesforceEventSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    eventUuid = fields.String(required=True, validate=validate.Length(min=1, max=64))  # noqa: N815 - wire name
    replayId = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))  # noqa: N815
    sobjectType = fields.String(  # noqa: N815
        required=True, validate=validate.Regexp(r"^[A-Za-z][A-Za-z0-9_]{0,79}$", error="not an sObject API name")
    )
    recordId = fields.String(  # noqa: N815
        required=True, validate=validate.Regexp(SALESFORCE_ID, error="not a 15- or 18-character Salesforce id")
    )
    operation = fields.String(required=True, validate=validate.OneOf(OPERATIONS))
    changedFields = fields.List(fields.String(validate=validate.Length(max=80)), load_default=list)  # noqa: N815
    record = fields.Dict(required=True)  # JSON object keys are strings already
    publishedAt = fields.AwareDateTime(required=True, format="iso")  # noqa: N815

    @validates("record")
    def _record_has_id(self, value: dict[str, object], **_: object) -> None:
        if not isinstance(value.get("Id"), str):
            raise ValidationError("must hold the record's Id")


class SalesforceBatchSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    orgId = fields.String(  # noqa: N815
        required=True,
        validate=validate.Regexp(r"^00D[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$", error="not a Salesforce org id (00D…)"),
    )
    events = fields.List(fields.Nested(SalesforceEventSchema), required=True, validate=validate.Length(min=1, max=2000))


BATCH_SCHEMA = SalesforceBatchSchema()
