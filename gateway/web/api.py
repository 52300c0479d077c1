"""The gateway's JSON API under `/api/v1` (for the Salesforce package's components and admins).

Every route needs a bearer token from `/oauth/token` with the scope it names; errors have one JSON shape.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from gateway import jobs
from gateway.salesforce.errors import SalesforceError
from gateway.sync import resend
from gateway.sync.context import SyncContext
from gateway.web.auth import require_scope
from gateway.web.errors import error_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def sync_context() -> SyncContext:
    """One context per web process (its Salesforce client keeps its token between requests)."""
    context: SyncContext | None = current_app.extensions.get("gateway.sync_context")
    if context is None:
        context = SyncContext.build(current_app.extensions["gateway.settings"], current_app.extensions["gateway.redis"])
        current_app.extensions["gateway.sync_context"] = context
    return context


@bp.post("/sync-results/<result_id>/resend")
@require_scope("admin")
def resend_sync_result(result_id: str) -> Response:
    """Replay the stored request of a failed `Sync_Result__c`; 202 once queued."""
    context = sync_context()
    try:
        replay = resend.load_replay(context, result_id)
    except resend.ResendError as exc:
        return error_response(exc.status, exc.code, str(exc))
    except SalesforceError as exc:
        return error_response(503, "salesforce-unavailable", f"could not read the result from Salesforce: {exc}")
    job = jobs.enqueue_replay(context.redis, replay)
    try:
        resend.mark_resent(context, replay.result_id)
    except SalesforceError:
        current_app.logger.warning("could not stamp Resent_At__c on %s", replay.result_id, exc_info=True)
    response = jsonify({"resent": True, "job": job.id, "direction": replay.direction})
    response.status_code = 202
    return response
