"""Health: `/healthz` (alive, no I/O), `/readyz` (each dependency, from shared background checks: `web.readiness`),
`/metrics` (Prometheus text; a bearer token with `metrics:read` or `admin` unless `GATEWAY_METRICS_PUBLIC`)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Response

from gateway.web.auth import require_scope

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """200 when every check is `ok`, else 503 naming the checks that are not (never why: see the log)."""
    states = current_app.extensions["gateway.readiness"].state()
    failing = [name for name, state in states.items() if state != "ok"]
    response = jsonify({"status": "ready" if not failing else "not ready", "failing": failing, "checks": states})
    response.status_code = 503 if failing else 200
    response.headers["Cache-Control"] = "no-store"
    return response


def _metrics_public() -> bool:
    return bool(current_app.extensions["gateway.settings"].edge.metrics_public)


@bp.get("/metrics")
@require_scope("metrics:read", "admin", unless=_metrics_public)
def prometheus_metrics() -> Response:
    body = generate_latest(current_app.extensions["gateway.metrics_registry"])
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
