"""The gateway's JSON API under `/api/v1` (for the Salesforce package's components and admins), documented as
OpenAPI at `/api/v1/openapi.json` from its marshmallow schemas (flask-smorest).

Every route needs a bearer token from `/oauth/token` holding one of the scopes it names; every error, including
401 and 403, has the gateway's one JSON shape `{"error": {"code", "message"}}`.

Conversations and campaigns count each lookup that has to call Salesforce or the platform (not answered from a
cache) against the calling OAuth client's quota (`GATEWAY_READ_RATE_LIMIT_PER_CLIENT`): past it, 429 with
`Retry-After`.

Scopes: conversations and campaigns need `conversations:read`; the status summary takes `admin` or
`conversations:read` (the admin console's Apex calls it through the org's Named Credential client, and the summary
holds no personal data); resending a failed sync needs `admin`; the package's setup check takes `events:write` or
`admin`.
"""

# flask-smorest ships no type hints: its decorators and classes are Any to mypy.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Flask, current_app, g
from flask_smorest import Api, Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from gateway import jobs, queues
from gateway.sync import conversations, resend, status
from gateway.sync.context import SyncContext
from gateway.web import schemas_api as schemas
from gateway.web.auth import require_scope
from gateway.web.errors import error_response
from gateway.web.ratelimit import ReadQuota
from gateway.web.setup_check import setup_check

P = ParamSpec("P")
R = TypeVar("R")

HISTORY_CACHE_SECONDS = 30  # app.config["GATEWAY_HISTORY_CACHE_SECONDS"] overrides it
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_PLATFORM_ID = re.compile(schemas.PLATFORM_ID)


class _Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400


class ApiBlueprint(Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = _Parser()


class GatewayApi(Api):  # type: ignore[misc]
    """flask-smorest's Api with the gateway's error shape; the app's own handlers (`web.errors`) answer errors."""

    ERROR_SCHEMA = schemas.ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


bp = ApiBlueprint("api", __name__, url_prefix="/api/v1", description="Conversations, campaigns, status, resend")


@bp.errorhandler(HTTPException)
def _request_error(exc: HTTPException) -> Response:
    """Invalid query arguments answer 400 with the fields at fault; other HTTP errors keep their status."""
    status_code = exc.code or 500
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if messages is not None:
        fields = messages.get("query", messages) if isinstance(messages, dict) else messages
        return error_response(status_code, "invalid-request", "the request's parameters are not valid", fields)
    return error_response(status_code, "invalid-request" if status_code == 400 else "http-error", exc.description or "")


def _api_refusal(status: int, error: str, description: str) -> Response:
    """A token refusal in the API's error shape (`insufficient-scope`, `invalid-token`)."""
    return error_response(status, error.replace("_", "-"), description)


def require_any_scope(*scopes: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """`auth.require_scope` answering in the API's error shape."""
    return require_scope(*scopes, refuse=_api_refusal)


def _documented_errors(*statuses: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        for status_code in statuses:
            view = bp.alt_response(status_code, schema=schemas.ErrorSchema, description="error")(view)
        return view

    return decorator


def sync_context() -> SyncContext:
    """One context per web process (its Salesforce client keeps its token between requests)."""
    context: SyncContext | None = current_app.extensions.get("gateway.sync_context")
    if context is None:
        context = SyncContext.build(
            current_app.extensions["gateway.settings"],
            current_app.extensions["gateway.redis"],
            platform=current_app.extensions.get("gateway.platform"),
        )
        current_app.extensions["gateway.sync_context"] = context
    return context


def _ttl() -> int:
    return int(current_app.config.get("GATEWAY_HISTORY_CACHE_SECONDS", HISTORY_CACHE_SECONDS))


def _person(platform_id: str | None, args: dict[str, Any]) -> conversations.PersonRef | Response:
    if platform_id is not None and not _PLATFORM_ID.match(platform_id):
        return error_response(400, "invalid-request", "the platform id holds characters no platform id has")
    return conversations.PersonRef(platform_id=platform_id, phone=args.get("phone"), crm_id=args.get("crmId"))


def _no_platform() -> Response | None:
    if current_app.extensions["gateway.settings"].messaging_platform is None:
        return error_response(503, "configuration-error", "MESSAGING_PLATFORM is not set on this gateway")
    return None


def _charge() -> None:
    """Count one lookup that calls out against the calling client's quota (`ReadQuota`)."""
    quota: ReadQuota = current_app.extensions["gateway.read_quota"]
    client_id = str(g.token_claims.get("client_id") or g.token_claims.get("sub") or "")
    retry_after = quota.charge(client_id)
    if retry_after is not None:
        raise conversations.ConversationError(
            429,
            "rate-limited",
            f"client {client_id} has made as many lookups as it may ({quota.limit}); retry in {retry_after} s",
            retry_after=retry_after,
        )


def _refusal(exc: conversations.ConversationError) -> Response:
    response = error_response(exc.status, exc.code, str(exc))
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _messages(platform_id: str | None, args: dict[str, Any]) -> Any:
    ref = _person(platform_id, args)
    if isinstance(ref, Response):
        return ref
    if (missing := _no_platform()) is not None:
        return missing
    try:
        return conversations.conversation(
            sync_context(), ref, limit=args["limit"], before=args.get("before"), ttl=_ttl(), charge=_charge
        )
    except conversations.ConversationError as exc:
        return _refusal(exc)


def _campaigns(platform_id: str | None, args: dict[str, Any]) -> Any:
    ref = _person(platform_id, args)
    if isinstance(ref, Response):
        return ref
    if (missing := _no_platform()) is not None:
        return missing
    try:
        return conversations.campaigns(sync_context(), ref, ttl=_ttl(), charge=_charge)
    except conversations.ConversationError as exc:
        return _refusal(exc)


@bp.get("/contacts/<platform_id>/messages")
@require_any_scope("conversations:read")
@bp.arguments(schemas.MessagesQuerySchema, location="query")
@bp.response(200, schemas.MessagesSchema)
@_documented_errors(401, 403, 404, 429)
@bp.doc(security=SECURITY)
def contact_messages(args: dict[str, Any], platform_id: str) -> Any:
    """The person's conversation, newest page first, messages oldest → newest within a page.

    Pass `nextBefore` back as `before` for the next older page. A platform without history answers
    `supported: false`. Cached briefly per person.
    """
    return _messages(platform_id, args)


@bp.get("/contacts/messages")
@require_any_scope("conversations:read")
@bp.arguments(schemas.PersonOnlyQuerySchema, location="query")
@bp.response(200, schemas.MessagesSchema)
@_documented_errors(401, 403, 404, 429)
@bp.doc(security=SECURITY)
def messages_by_phone(args: dict[str, Any]) -> Any:
    """The conversation of the person with this `phone` (or Salesforce `crmId`)."""
    return _messages(None, args)


@bp.get("/contacts/<platform_id>/campaigns")
@require_any_scope("conversations:read")
@bp.arguments(schemas.CampaignsQuerySchema, location="query")
@bp.response(200, schemas.CampaignsSchema)
@_documented_errors(401, 403, 404, 429)
@bp.doc(security=SECURITY)
def contact_campaigns(args: dict[str, Any], platform_id: str) -> Any:
    """The campaigns the person is or was in: name, type, status and since when."""
    return _campaigns(platform_id, args)


@bp.get("/contacts/campaigns")
@require_any_scope("conversations:read")
@bp.arguments(schemas.CampaignsPersonOnlyQuerySchema, location="query")
@bp.response(200, schemas.CampaignsSchema)
@_documented_errors(401, 403, 404, 429)
@bp.doc(security=SECURITY)
def campaigns_by_phone(args: dict[str, Any]) -> Any:
    """The campaigns of the person with this `phone` (or Salesforce `crmId`)."""
    return _campaigns(None, args)


def status_summary() -> dict[str, Any]:
    """The summary shared by `GET /api/v1/status` and the operator's page."""
    from gateway import __version__

    summary = status.summary(sync_context(), queue_names=queues.QUEUES, version=__version__)
    entry = current_app.extensions["gateway.settings"].platform_entry
    summary["platform"].update(entry.scope() if entry is not None else {"syncs": [], "cannot": []})
    return summary


@bp.get("/status")
@require_any_scope("admin", "conversations:read")
@bp.response(200, schemas.StatusSchema)
@_documented_errors(401, 403)
@bp.doc(security=SECURITY)
def status_route() -> Any:
    """Is sync healthy: last success and lag per direction, queue depths, failures of the last 24 h by error code,
    Salesforce API usage against its budget, platform reachability, syncs per minute, version."""
    return status_summary()


@bp.get("/setup-check")
@require_any_scope("events:write", "admin")
@bp.response(200, schemas.SetupCheckSchema)
@_documented_errors(401, 403)
@bp.doc(security=SECURITY)
def setup_check_route() -> Any:
    """What the Salesforce package's Setup section checks: version, platform, and the calling client's scopes."""
    from gateway import __version__

    return setup_check(g.token_claims, current_app.extensions["gateway.settings"], __version__)


@bp.post("/sync-results/<result_id>/resend")
@require_any_scope("admin")
@bp.response(202, schemas.ResendSchema)
@_documented_errors(401, 403, 404, 409, 422)
@bp.doc(security=SECURITY)
def resend_sync_result(result_id: str) -> Any:
    """Replay the stored request of a failed `Sync_Result__c`; 202 once queued."""
    return resend_result(result_id)


def resend_result(result_id: str) -> Response | dict[str, Any]:
    """Queue the replay of a failed result (shared with the operator's page)."""
    if not re.fullmatch(schemas.SALESFORCE_ID, result_id):
        return error_response(404, "not-found", f"no Sync_Result__c with Id {result_id}")
    context = sync_context()
    try:
        return resend.resend(context, result_id, lambda replay: jobs.enqueue_replay(context.redis, replay).id)
    except resend.ResendError as exc:
        return error_response(exc.status, exc.code, str(exc))


def init_api(app: Flask) -> None:
    """Register the API blueprint and its OpenAPI document at `/api/v1/openapi.json`."""
    from gateway import __version__

    app.config.update(
        API_TITLE="Messaging sync gateway",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = GatewayApi(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    api.register_blueprint(bp)


__all__ = ["bp", "init_api", "resend_result", "status_summary", "sync_context"]
