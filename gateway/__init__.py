"""The messaging-sync gateway. `create_app()` is the Flask app factory; nothing else lives here.

Flask is imported by `create_app`, not with this package: every `gateway` command and worker imports the package,
and only the web needs Flask (`tests/unit/gateway/test_cli_imports.py`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from gateway.config import Settings, load_settings

if TYPE_CHECKING:
    from flask import Flask
    from prometheus_client.registry import Collector
    from werkzeug.wrappers import Response

__version__ = "0.1.0"


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app: OAuth token endpoint, webhooks, API, health. Settings default to the environment.

    Every client (Redis, Salesforce, platform) is created here, per app; nothing is module-global, so two apps can
    live in one process (tests build one per test).
    """
    from flask import Flask, g, request

    from gateway import metrics, queues
    from gateway.platforms import build_adapter
    from gateway.redis_client import connect
    from gateway.web import api, auth, errors, health, status_page, webhooks
    from gateway.web.org import OrgIdentity
    from gateway.web.ratelimit import AuthLimits, ReadQuota
    from gateway.web.readiness import Readiness

    settings = settings or load_settings(roles=("web",))
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set: start the web through `gateway serve` (it embeds Redis)")
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        GATEWAY_DEDUP_TTL=settings.dedup_ttl_seconds,
        JSON_SORT_KEYS=False,
    )
    connection = connect(settings.redis_url)
    app.extensions["gateway.settings"] = settings
    app.extensions["gateway.redis"] = connection
    extra: list[Collector] = []
    if settings.salesforce is not None:
        from gateway.salesforce.usage import SharedUsageCollector

        sf = settings.salesforce
        extra.append(SharedUsageCollector(connection, budget_share=sf.budget_share, daily_budget=sf.daily_budget))
    if settings.messaging_platform is not None and settings.platform is not None:
        paced = getattr(settings.platform, "requests_per_second", None)  # not every platform is paced
        extra.append(
            metrics.PlatformLimitsCollector(
                connection, settings.messaging_platform, settings.platform.max_concurrent, paced
            )
        )
    app.extensions["gateway.metrics_registry"] = metrics.build_registry(connection, queues.QUEUES, extra)
    remote_checks = {}
    if settings.messaging_platform is not None:
        platform = build_adapter(settings.messaging_platform, settings.platform, connection)
        app.extensions["gateway.platform"] = platform
        remote_checks["platform"] = platform.check
    if settings.salesforce is not None:
        remote_checks["salesforce"] = lambda: _web_salesforce(app).ready()
    app.extensions["gateway.readiness"] = Readiness(app, settings.redis_url, remote_checks)
    app.extensions["gateway.org"] = OrgIdentity(connection, settings.salesforce, lambda: _web_salesforce(app).org_id())

    errors.init_errors(app)
    limits = AuthLimits(app, connection, settings.edge)
    app.extensions["gateway.read_quota"] = ReadQuota(limits, settings.edge.read_limit_per_client)
    auth.init_auth(app, settings, limits)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(health.bp)
    api.init_api(app)
    status_page.init_status_page(app, settings, limits)

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            metrics.HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
        return response

    return app


def _web_salesforce(app: Flask) -> Any:
    """The web process's Salesforce client (one token per process): the sync context's when a platform is set."""
    from gateway.salesforce.client import SalesforceClient
    from gateway.web import api

    settings: Settings = app.extensions["gateway.settings"]
    with app.app_context():
        if settings.messaging_platform is not None:
            return api.sync_context().salesforce
        client = app.extensions.get("gateway.salesforce")
        if client is None:
            assert settings.salesforce is not None
            client = SalesforceClient(settings.salesforce, redis=app.extensions["gateway.redis"])
            app.extensions["gateway.salesforce"] = client
        return client
