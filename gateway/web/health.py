"""Health: `/healthz` (alive, no I/O), `/readyz` (each dependency answers, else 503 naming it), `/metrics`."""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Blueprint, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Response

bp = Blueprint("health", __name__)

ReadinessCheck = Callable[[], None]


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    checks: dict[str, ReadinessCheck] = current_app.extensions["gateway.readiness"]
    results: dict[str, str] = {}
    failing: list[str] = []
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "not ready"
            results[name] = f"failing: {type(exc).__name__}: {exc}"[:300]
            failing.append(name)
    response = jsonify({"status": "ready" if not failing else "not ready", "failing": failing, "checks": results})
    response.status_code = 503 if failing else 200
    return response


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    body = generate_latest(current_app.extensions["gateway.metrics_registry"])
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def redis_check(connection: redis.Redis) -> ReadinessCheck:
    def check() -> None:
        connection.ping()

    return check
