"""Inbound webhooks: Salesforce's relayed platform events, and the messaging platforms' own calls.

`POST /webhooks/salesforce` answers 202 {"accepted", "duplicates"} once the batch is durably queued; 400 with
field-level errors, 401/403 (token), 413 (too large), 415 (not JSON). A rejected request enqueues nothing.
`/webhooks/platforms/<name>[/<secret>]` is verified by the platform's adapter (a secret in the path where the
platform signs nothing, compared in constant time; the platform's signature where it signs), deduplicated on the
platform's idempotency key, queued on the `realtime` queue, and only then answered as the platform expects.
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from gateway import jobs, metrics
from gateway.platforms.base import WebhookRejectedError
from gateway.web.auth import require_scope
from gateway.web.errors import error_response
from gateway.web.schemas import BATCH_SCHEMA

bp = Blueprint("webhooks", __name__)


def _rejected(status: int, code: str, message: str, fields: object = None, events: int = 0) -> Response:
    metrics.WEBHOOK_EVENTS.labels("rejected").inc(max(events, 1))
    return error_response(status, code, message, fields)


@bp.post("/webhooks/salesforce")
@require_scope("events:write")
def salesforce_events() -> Response:
    if request.mimetype != "application/json":
        return _rejected(415, "unsupported-media-type", "send the batch as application/json")
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        return _rejected(413, "payload-too-large", f"the body is larger than {limit} bytes; send smaller batches")
    try:
        payload = json.loads(request.get_data(cache=False))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _rejected(400, "invalid-json", f"the body is not valid JSON: {exc}")
    events = payload.get("events") if isinstance(payload, dict) else None
    count = len(events) if isinstance(events, list) else 0
    errors = BATCH_SCHEMA.validate(payload) if isinstance(payload, dict) else {"_schema": ["must be an object"]}
    if errors:
        return _rejected(400, "invalid-request", "the batch does not match the contract", errors, count)
    try:
        accepted, duplicates = jobs.accept_salesforce_events(
            current_app.extensions["gateway.redis"],
            payload["orgId"],
            payload["events"],  # validated above; stored as sent
            current_app.config["GATEWAY_DEDUP_TTL"],
        )
    except ValidationError as exc:  # pragma: no cover - schema above already checked
        return _rejected(400, "invalid-request", "the batch does not match the contract", exc.messages, count)
    metrics.WEBHOOK_EVENTS.labels("accepted").inc(accepted)
    metrics.WEBHOOK_EVENTS.labels("duplicate").inc(duplicates)
    response = jsonify({"accepted": accepted, "duplicates": duplicates})
    response.status_code = 202
    return response


@bp.route("/webhooks/platforms/<name>", methods=["GET", "POST"], defaults={"secret": ""})
@bp.route("/webhooks/platforms/<name>/<path:secret>", methods=["GET", "POST"])
def platform_events(name: str, secret: str) -> Response:
    platform = current_app.extensions.get("gateway.platform")
    if platform is None or platform.name != name or not platform.capabilities.inbound_webhooks:
        return error_response(404, "not-found", f"no webhook for platform {name!r} here")
    body = request.get_data(cache=True)  # before the form is parsed, so a platform that signs the body can read it
    form = {**request.args.to_dict(), **request.form.to_dict()}
    url = request.full_path if request.query_string else request.path
    try:
        events = platform.parse_webhook(secret, dict(request.headers), form, body, url=url)
    except WebhookRejectedError as exc:
        return error_response(exc.status, "webhook-rejected", str(exc))
    accepted = jobs.accept_platform_events(
        current_app.extensions["gateway.redis"], name, events, current_app.config["GATEWAY_DEDUP_TTL"]
    )
    metrics.WEBHOOK_EVENTS.labels("accepted").inc(accepted)
    metrics.WEBHOOK_EVENTS.labels("duplicate").inc(len(events) - accepted)
    reply = platform.webhook_reply
    return Response(reply.body, status=200, mimetype=reply.mimetype)
