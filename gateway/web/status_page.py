"""The operator's status page at `/`: one server-rendered page showing whether sync is healthy.

Guarantees:
- Data is shown only to an admin: a request with `Authorization: Bearer` holding the `admin` scope (scripts), or a
  browser signed in through the page's form with an admin OAuth client's id and secret. Anyone else gets 401 with
  the sign-in form (403 for a valid token without `admin`), never a figure.
- The session cookie is signed with a key derived from `GATEWAY_TOKEN_SIGNING_KEY` (HMAC-SHA256 with a fixed label;
  rotating that key signs everyone out) and is Secure, HttpOnly, SameSite=Strict, valid 8 hours. It names a
  server-side session held in Redis (only a hash of its id is stored): sign-out deletes it, so a copy of the cookie
  taken before sign-out no longer works.
- Sign-in failures are rate limited with the token endpoint's (`web.ratelimit`): 429 with Retry-After; every wrong
  credential gets the same message.
- Every POST form (sign-in, sign-out, resend) carries a CSRF token (flask-wtf) tied to the session; a bearer-token
  request needs none (no cookie is involved).
- The page loads nothing from outside the gateway (a Content-Security-Policy of 'self' enforces it); its script
  refreshes the figures from `/status/live` every few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6750.errors import InsufficientScopeError, InvalidTokenError
from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Request
from flask.wrappers import Response as FlaskResponse
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from gateway.config import Settings
from gateway.salesforce.errors import SalesforceError
from gateway.sync import status
from gateway.web import api
from gateway.web.auth import GatewayClient, authenticate_client
from gateway.web.errors import error_response
from gateway.web.ratelimit import AuthLimits

bp = Blueprint(
    "status_page",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/status-static",
)

SESSION_LIFETIME = timedelta(hours=8)
SESSION_KEY = "gateway:status-page:session:{}"  # sha256 of the session id -> operator
REFRESH_SECONDS = 2
_SESSION_LABEL = b"messaging-sync-gateway status-page session v1"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def session_secret(settings: Settings) -> bytes:
    """The key that signs session cookies, derived from the token signing key (never stored, never hard-coded)."""
    assert settings.token_signing_key is not None  # the web role requires it
    return hmac.new(settings.token_signing_key.reveal().encode(), _SESSION_LABEL, hashlib.sha256).digest()


def _bearer_operator() -> tuple[str | None, Response | None]:
    """(operator, None) for an admin bearer token; (None, refusal) for a bad one; (None, None) without a header."""
    header = request.headers.get("Authorization")
    if not header:
        return None, None
    guard = current_app.extensions["gateway.token_guard"]
    try:
        claims = guard.claims_for(header, ["admin"])
    except InsufficientScopeError:
        return None, _page("forbidden.html", 403, reason="This token does not hold the admin scope.")
    except InvalidTokenError:
        return None, _sign_in_form(401, "The bearer token is missing, expired or not from this gateway.")
    return str(claims.get("client_id") or claims.get("sub") or "token"), None


def _operator() -> tuple[str | None, bool, Response | None]:
    """Who is asking: (operator, by_bearer, refusal)."""
    operator, refusal = _bearer_operator()
    if refusal is not None or operator is not None:
        return operator, True, refusal
    signed_in = session.get("operator")
    if isinstance(signed_in, str) and signed_in in _admin_clients() and _session_operator() == signed_in:
        return signed_in, False, None
    return None, False, _sign_in_form(401)


def _session_key() -> str | None:
    sid = session.get("sid")
    return SESSION_KEY.format(hashlib.sha256(sid.encode()).hexdigest()) if isinstance(sid, str) else None


def _session_operator() -> str | None:
    """The operator the server-side session names (None once signed out or expired)."""
    key = _session_key()
    value = current_app.extensions["gateway.redis"].get(key) if key else None
    return value.decode() if value is not None else None


def _admin_clients() -> dict[str, GatewayClient]:
    settings: Settings = current_app.extensions["gateway.settings"]
    return {c.client_id: GatewayClient(c) for c in settings.oauth_clients if "admin" in c.scopes}


def _page(template: str, status_code: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, csrf_token=generate_csrf, **context), status=status_code)
    response.mimetype = "text/html"
    return response


def _sign_in_form(status_code: int = 401, error: str | None = None) -> Response:
    response = _page("sign_in.html", status_code, error=error)
    response.headers["WWW-Authenticate"] = 'Bearer realm="gateway"'
    return response


def _csrf_ok() -> bool:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except (ValidationError, CSRFError):
        return False
    return True


def _recent_failures() -> tuple[list[dict[str, Any]], str | None]:
    settings: Settings = current_app.extensions["gateway.settings"]
    if settings.salesforce is None or settings.messaging_platform is None:
        return [], "Salesforce is not configured on this gateway."
    context = api.sync_context()
    try:
        return status.recent_failures(context.redis, context.salesforce), None
    except SalesforceError as exc:
        return [], f"Salesforce could not be read: {exc}"


@bp.get("/")
def show_status() -> Response:
    operator, by_bearer, refusal = _operator()
    if refusal is not None:
        return refusal
    failures, failures_error = _recent_failures()
    return _page(
        "status.html",
        operator=operator,
        by_bearer=by_bearer,
        summary=api.status_summary(),
        failures=failures,
        failures_error=failures_error,
        notice=session.pop("notice", None) if not by_bearer else None,
        refresh_seconds=REFRESH_SECONDS,
    )


@bp.get("/status/live")
def live_status() -> Response:
    """The status summary as JSON, for the page's script (session) or scripts (bearer)."""
    _operator_name, _by_bearer, refusal = _operator()
    if refusal is not None:
        return error_response(refusal.status_code, "unauthorized", "sign in as an admin first")
    return jsonify(api.status_summary())


def sign_in() -> Response:
    """POST /sign-in (registered by `init_status_page`, behind the sign-in rate limits)."""
    if not _csrf_ok():
        return _sign_in_form(400, "The form expired; please try again.")
    client_id = request.form.get("client_id", "").strip()
    if authenticate_client(_admin_clients(), client_id, request.form.get("client_secret", "")) is None:
        current_app.logger.info("status page: refused sign-in for client %r", client_id[:80])
        return _sign_in_form(401, "Those are not the credentials of an admin client.")
    _end_session()
    sid = secrets.token_urlsafe(32)
    session.permanent = True
    session["sid"] = sid
    session["operator"] = client_id
    key = _session_key()
    assert key is not None
    current_app.extensions["gateway.redis"].set(key, client_id, ex=int(SESSION_LIFETIME.total_seconds()))
    return redirect(url_for("status_page.show_status"), code=303)


def _end_session() -> None:
    key = _session_key()
    if key is not None:
        current_app.extensions["gateway.redis"].delete(key)
    session.clear()


@bp.post("/sign-out")
def sign_out() -> Response:
    if _csrf_ok():
        _end_session()
    return redirect(url_for("status_page.show_status"), code=303)


@bp.post("/failures/<result_id>/resend")
def resend(result_id: str) -> Response:
    operator, by_bearer, refusal = _operator()
    if refusal is not None:
        return refusal
    if not by_bearer and not _csrf_ok():
        return _page("forbidden.html", 400, reason="The form expired; reload the page and press resend again.")
    outcome = api.resend_result(result_id)
    if isinstance(outcome, Response):
        error = (outcome.get_json(silent=True) or {}).get("error", {})
        notice = f"Could not resend {result_id}: {error.get('message', 'unknown error')}"
    else:
        notice = f"Resend of {result_id} queued ({outcome['direction']})."
        current_app.logger.info("status page: %s resent %s", operator, result_id)
    if by_bearer:
        return jsonify({"notice": notice})
    session["notice"] = notice
    return redirect(url_for("status_page.show_status"), code=303)


def _security_headers(response: Response) -> Response:
    if request.blueprint == "status_page":
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.endpoint != "status_page.static":
            response.headers["Cache-Control"] = "no-store"
    return response


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus their cost on requests that never use one (every webhook, API and probe
    call): a request carrying no cookie gets its new empty session without building the signing serializer, and a
    session left empty and untouched saves nothing without reading the seven cookie settings first. Flask does both
    on every request, about a tenth of a single-event webhook's CPU (`scripts/bench/webhook_ingest --profile`).
    Everything else, and every request with a cookie, is Flask's own."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: FlaskResponse) -> None:
        if not session and not session.modified and not session.accessed:
            return  # Flask would add no Vary and set or delete no cookie either
        super().save_session(app, session, response)


def _too_many_sign_ins(retry_after: int) -> Response:
    return _sign_in_form(429, f"Too many failed sign-ins; try again in {retry_after} s.")


def init_status_page(app: Flask, settings: Settings, limits: AuthLimits) -> None:
    """Register the page (sign-in behind `limits`) and configure its signed, secure session cookie."""
    app.config.update(
        SECRET_KEY=session_secret(settings),
        SESSION_COOKIE_NAME="gateway_session",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        WTF_CSRF_TIME_LIMIT=int(SESSION_LIFETIME.total_seconds()),
    )
    app.session_interface = _CookieSessions()
    app.register_blueprint(bp)
    app.add_url_rule("/sign-in", "status_page.sign_in", limits.guard(sign_in, _too_many_sign_ins), methods=["POST"])
    app.after_request(_security_headers)
