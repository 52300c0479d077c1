"""Marshmallow schemas of the `/api/v1` requests and answers; flask-smorest turns them into `/api/v1/openapi.json`.

The answer shapes are a contract with the Salesforce package's Apex and Lightning components: rename nothing.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from gateway.salesforce.ids import ID_PATTERN, id_problem

SALESFORCE_ID = ID_PATTERN.pattern  # matched whole: \A…\Z (a `$` lets a trailing newline through)
PLATFORM_ID = r"\A[A-Za-z0-9_.:@-]{1,64}\Z"


def _salesforce_id(value: str) -> None:
    problem = id_problem(value)
    if problem is not None:
        raise ValidationError(problem)


class _Query(Schema):
    class Meta:
        unknown = RAISE


class PersonQuerySchema(_Query):
    phone = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "the person's phone (E.164, or national in the gateway's default region)"},
    )
    crmId = fields.String(  # noqa: N815 - wire name
        validate=_salesforce_id,
        metadata={
            "description": "the Salesforce record id of the person",
            "pattern": "^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$",  # for the OpenAPI document (ECMA-262 syntax)
        },
    )


class MessagesQuerySchema(PersonQuerySchema):
    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=200),
        metadata={"description": "messages per page (1 to 200)"},
    )
    before = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "the `nextBefore` of the previous page: answers older messages"},
    )


class PersonOnlyQuerySchema(MessagesQuerySchema):
    """Without a platform id in the path, the person must be named by phone or Salesforce id."""

    @validates_schema
    def _named(self, data: dict[str, object], **_: object) -> None:
        if not data.get("phone") and not data.get("crmId"):
            raise ValidationError("give `phone` or `crmId`", "_schema")


class CampaignsQuerySchema(PersonQuerySchema):
    pass


class CampaignsPersonOnlyQuerySchema(CampaignsQuerySchema):
    @validates_schema
    def _named(self, data: dict[str, object], **_: object) -> None:
        if not data.get("phone") and not data.get("crmId"):
            raise ValidationError("give `phone` or `crmId`", "_schema")


class ContactRefSchema(Schema):
    platformId = fields.String(allow_none=True, required=True)  # noqa: N815
    phone = fields.String(allow_none=True, required=True)


class MessageSchema(Schema):
    id = fields.String(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(["incoming", "outgoing"]))
    body = fields.String(required=True)
    at = fields.String(required=True, metadata={"format": "date-time"})
    status = fields.String(allow_none=True, required=True)
    reason = fields.String(
        allow_none=True,
        required=True,
        validate=validate.OneOf(["campaign", "live-agent", "automation", "other"]),
        metadata={"description": "why an outgoing message was sent; null for incoming ones"},
    )
    campaignName = fields.String(allow_none=True, required=True)  # noqa: N815


class CountsSchema(Schema):
    incoming = fields.Integer(required=True)
    outgoing = fields.Integer(required=True)


class MessagesSchema(Schema):
    contact = fields.Nested(ContactRefSchema, required=True)
    supported = fields.Boolean(required=True, metadata={"description": "false: the platform keeps no history"})
    platform = fields.String(required=True)
    platformTitle = fields.String(  # noqa: N815 - the JSON field's name
        required=True, metadata={"description": "how people call the platform, for the record page to name it"}
    )
    messages = fields.List(fields.Nested(MessageSchema), required=True, metadata={"description": "oldest first"})
    counts = fields.Nested(CountsSchema, required=True, metadata={"description": "over the whole conversation"})
    nextBefore = fields.String(allow_none=True, required=True)  # noqa: N815


class CampaignSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True)
    status = fields.String(required=True)
    at = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})


class CampaignsSchema(Schema):
    supported = fields.Boolean(required=True)
    campaigns = fields.List(fields.Nested(CampaignSchema), required=True)
    count = fields.Integer(required=True)


class DirectionSchema(Schema):
    lastSuccessAt = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})  # noqa: N815
    lagSeconds = fields.Float(  # noqa: N815
        required=True, metadata={"description": "age of the oldest change still waiting in this direction's queue"}
    )


class DirectionsSchema(Schema):
    toPlatform = fields.Nested(DirectionSchema, required=True)  # noqa: N815
    toSalesforce = fields.Nested(DirectionSchema, required=True)  # noqa: N815


class SalesforceApiSchema(Schema):
    used = fields.Integer(allow_none=True, required=True)
    budget = fields.Integer(allow_none=True, required=True)
    callsToday = fields.Integer(required=True)  # noqa: N815
    pausedForSeconds = fields.Float(required=True)  # noqa: N815


class PlatformStatusSchema(Schema):
    name = fields.String(allow_none=True, required=True)
    reachable = fields.Boolean(required=True)
    detail = fields.String(allow_none=True, required=True)
    syncs = fields.List(fields.String(), required=True, metadata={"description": "what the gateway syncs with it"})
    cannot = fields.List(fields.String(), required=True, metadata={"description": "what it cannot do"})


class BulkRunSchema(Schema):
    runId = fields.String(required=True)  # noqa: N815
    kind = fields.String(allow_none=True, required=True)
    direction = fields.String(allow_none=True, required=True)
    status = fields.String(allow_none=True, required=True)
    pauseReason = fields.String(allow_none=True, required=True)  # noqa: N815
    total = fields.Integer(required=True)
    processed = fields.Integer(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    rate = fields.Float(required=True)
    etaSeconds = fields.Float(allow_none=True, required=True)  # noqa: N815
    dryRun = fields.Boolean(required=True)  # noqa: N815


class StatusSchema(Schema):
    directions = fields.Nested(DirectionsSchema, required=True)
    queues = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    failures24h = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    salesforceApi = fields.Nested(SalesforceApiSchema, required=True)  # noqa: N815
    platform = fields.Nested(PlatformStatusSchema, required=True)
    syncsPerMinute = fields.Integer(required=True)  # noqa: N815
    version = fields.String(required=True)
    generatedAt = fields.String(required=True, metadata={"format": "date-time"})  # noqa: N815
    bulkRuns = fields.List(  # noqa: N815
        fields.Nested(BulkRunSchema), required=True, metadata={"description": "the newest bulk runs, with progress"}
    )


class SetupPlatformSchema(Schema):
    name = fields.String(allow_none=True, required=True, metadata={"description": "null: MESSAGING_PLATFORM is unset"})


class SetupClientSchema(Schema):
    id = fields.String(allow_none=True, required=True, metadata={"description": "the OAuth client that called"})
    scopes = fields.List(fields.String(), required=True, metadata={"description": "the scopes its token holds"})


class SetupCheckSchema(Schema):
    version = fields.String(required=True)
    platform = fields.Nested(SetupPlatformSchema, required=True)
    client = fields.Nested(SetupClientSchema, required=True)
    requiredScopes = fields.List(  # noqa: N815
        fields.String(), required=True, metadata={"description": "the scopes the Salesforce package needs"}
    )
    missingScopes = fields.List(  # noqa: N815
        fields.String(), required=True, metadata={"description": "required scopes the calling client lacks"}
    )
    admin = fields.Boolean(required=True, metadata={"description": "the client holds the admin scope (console)"})


class ResendSchema(Schema):
    resent = fields.Boolean(required=True)
    job = fields.String(required=True)
    direction = fields.String(required=True)


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Raw(
        data_key="fields", metadata={"description": "field-level problems, when the request was invalid"}
    )


class ErrorSchema(Schema):
    """The one error shape of the gateway: `{"error": {"code", "message", ["fields"]}}`."""

    error = fields.Nested(ErrorBodySchema, required=True)
