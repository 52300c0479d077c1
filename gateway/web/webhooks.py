"""Inbound webhooks: Salesforce's relayed platform events, and the messaging platforms' own calls.

`POST /webhooks/salesforce` answers 202 {"accepted", "duplicates"} once the batch is durably queued; 400 with
field-level errors naming the event (bad JSON, ids, key prefixes, future timestamps, another org: `web.schemas`,
`web.json_body`), 401/403 (token), 413 (too large, with or without Content-Length), 415 (not JSON), 503 while the
gateway cannot tell which org it serves. A rejected request enqueues nothing.
`/webhooks/platforms/<name>[/<secret>]` is verified by the platform's adapter (a secret in the path where the
platform signs nothing, compared in constant time; the platform's signature where it signs), deduplicated on the
platform's idempotency key, queued on the `realtime` queue, and only then answered as the platform expects. It takes
POST; GET too only with `GATEWAY_WEBHOOK_ALLOW_GET` (a URL that works by GET can be triggered by anything that
merely fetches it: link previews, prefetchers, scanners).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from flask import Blueprint, current_app, request
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from gateway import jobs, metrics
from gateway.platforms.base import WebhookRejectedError
from gateway.web.auth import require_scope
from gateway.web.errors import error_response
from gateway.web.json_body import BodyError, parse_json, read_body
from gateway.web.org import RETRY_SECONDS
from gateway.web.schemas import batch_problems, door_problems

bp = Blueprint("webhooks", __name__)


def _rejected(status: int, code: str, message: str, fields: object = None, events: int = 0) -> Response:
    metrics.WEBHOOK_EVENTS.labels("rejected").inc(max(events, 1))
    return error_response(status, code, message, fields)


def _org_unknown() -> Response:
    org = current_app.extensions["gateway.org"]
    if not org.configured:
        return _rejected(
            503,
            "configuration-error",
            "Salesforce is not configured on this gateway (SALESFORCE_LOGIN_URL, SALESFORCE_CLIENT_ID…), "
            "so it cannot check which org sent this batch",
        )
    response = _rejected(
        503, "org-unverified", "the gateway has not yet learned which org it serves from Salesforce; retry shortly"
    )
    response.headers["Retry-After"] = str(RETRY_SECONDS)
    return response


@bp.post("/webhooks/salesforce")
@require_scope("events:write")
def salesforce_events() -> Response:
    if request.mimetype != "application/json":
        return _rejected(415, "unsupported-media-type", "send the batch as application/json")
    try:
        payload = parse_json(read_body(request, current_app.config["MAX_CONTENT_LENGTH"]))
    except BodyError as exc:
        return _rejected(exc.status, exc.code, str(exc))
    events = payload.get("events") if isinstance(payload, dict) else None
    count = len(events) if isinstance(events, list) else 0
    errors = batch_problems(payload)
    if errors:
        return _rejected(400, "invalid-request", "the batch does not match the contract", errors, count)
    expected_org = current_app.extensions["gateway.org"].expected()
    if expected_org is None:
        return _org_unknown()
    settings = current_app.extensions["gateway.settings"]
    errors = door_problems(
        payload,
        expected_org_id=expected_org,
        now=datetime.now(UTC),
        max_skew=timedelta(seconds=settings.edge.max_clock_skew_seconds),
    )
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
    # jsonify's output, written directly: it would cost a tenth of the request's own time here
    body = json.dumps({"accepted": accepted, "duplicates": duplicates}, separators=(",", ":"))
    return Response(body + "\n", status=202, mimetype="application/json")


@bp.route("/webhooks/platforms/<name>", methods=["GET", "POST"], defaults={"secret": ""})
@bp.route("/webhooks/platforms/<name>/<path:secret>", methods=["GET", "POST"])
def platform_events(name: str, secret: str) -> Response:
    platform = current_app.extensions.get("gateway.platform")
    if platform is None or platform.name != name or not platform.capabilities.inbound_webhooks:
        return error_response(404, "not-found", f"no webhook for platform {name!r} here")
    if request.method == "GET" and not current_app.extensions["gateway.settings"].edge.webhook_allow_get:
        response = error_response(
            405,
            "method-not-allowed",
            "this gateway takes platform webhooks by POST; set the platform to POST "
            "(or set GATEWAY_WEBHOOK_ALLOW_GET=true if it can only GET)",
        )
        response.headers["Allow"] = "POST"
        return response
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
