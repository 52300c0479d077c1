"""Rate limits on credential checks (`POST /oauth/token`, the status page's sign-in), with flask-limiter on the
gateway's own Redis, so every web process of the deployment counts together.

Guarantees:
- Only failed attempts count (a 400 or 401 answer): a client that authenticates correctly is never slowed by its
  own successes. Failures count per claimed client id (`GATEWAY_AUTH_RATE_LIMIT_PER_CLIENT`, shared by the token
  endpoint and sign-in) and per remote address (`GATEWAY_AUTH_RATE_LIMIT_PER_ADDRESS`); each is a list of windows
  ("10 per minute; 60 per hour; 300 per day"), so a source that keeps failing is held back longer and longer.
- Past a limit the answer is 429 with `Retry-After` (seconds) before any credential is checked, so guessing costs
  the gateway nothing; the window slides (limits' sliding-window-counter strategy).
- The remote address is the peer's unless `GATEWAY_TRUSTED_PROXIES` says how many proxies in front append to
  `X-Forwarded-For` (werkzeug's ProxyFix); a client cannot pick its own address by sending that header.
- If Redis cannot be reached the check is skipped and logged (the token endpoint needs nothing else from Redis).

`ReadQuota` is the conversation API's per-client quota (`GATEWAY_READ_RATE_LIMIT_PER_CLIENT`), on the same storage:
it counts, per OAuth client id, the lookups that reach Salesforce or the platform (an answer from the cache costs
nothing and is never counted), so one client cannot spend the deployment's Salesforce API budget on lookups.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, cast

import redis
from flask import Flask, current_app, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from gateway.config import EdgeSettings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
log = logging.getLogger(__name__)

KEY_PREFIX = "gateway:ratelimit"
CLIENT_SCOPE = "auth-failures-per-client"
ADDRESS_SCOPE = "auth-failures-per-address"
READ_SCOPE = "conversation-lookups-per-client"


def _failed(response: Response) -> bool:
    return response.status_code in (400, 401)


def claimed_client_id() -> str:
    """The client id the request claims (not verified): Basic header, else the form's `client_id`."""
    from gateway.web.auth import CredentialsError, basic_credentials

    header = request.headers.get("Authorization")
    if header:
        try:
            basic = basic_credentials(header)
        except CredentialsError:
            basic = None
        if basic is not None:
            return basic[0][:200]
    return (request.form.get("client_id") or "").strip()[:200]


class AuthLimits:
    """The app's limiter and the two shared limits every credential-checking view carries."""

    def __init__(self, app: Flask, connection: redis.Redis, edge: EdgeSettings) -> None:
        if edge.trusted_proxies:
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=edge.trusted_proxies)  # type: ignore[method-assign]
        self.limiter = Limiter(
            get_remote_address,
            app=app,
            storage_uri="redis://",
            storage_options={"connection_pool": connection.connection_pool},  # type: ignore[dict-item]
            strategy="sliding-window-counter",
            key_prefix=KEY_PREFIX,
            headers_enabled=False,  # Retry-After goes on the 429 only (`guard`)
            swallow_errors=True,
        )
        # flask-limiter also checks every request in a before_request hook, for default and application-wide
        # limits; the gateway has neither (its limits sit on two views, whose decorators check them), so on every
        # other request (webhooks, health) the hook only costs time (~50 µs). Its after-request hook (which deducts
        # the `deduct_when` failures) and teardown hook work on what a guarded view's decorator recorded: they run
        # for the guarded views only, and cost nothing elsewhere (about 15 µs of every webhook).
        with contextlib.suppress(ValueError):
            app.before_request_funcs[None].remove(self.limiter._check_request_limit)
        self._guarded: set[Callable[..., Any]] = set()
        for hooks in (app.after_request_funcs[None], app.teardown_request_funcs[None]):
            hooks[:] = [self._on_guarded_views(hook) if self._owns(hook) else hook for hook in hooks]
        self.edge = edge

    def _owns(self, hook: Callable[..., Any]) -> bool:
        owner = hook.args[0] if isinstance(hook, partial) and hook.args else getattr(hook, "__self__", None)
        return owner is self.limiter

    def _on_guarded_views(self, hook: Callable[[T], T]) -> Callable[[T], T]:
        def run(value: T) -> T:
            if current_app.view_functions.get(request.endpoint or "") in self._guarded:
                return hook(value)
            return value

        return run

    def guard(self, view: F, too_many: Callable[[int], Response]) -> F:
        """`view` with the per-client and per-address failure limits; past one, `too_many(retry_after)` answers
        (with status 429 and `Retry-After` set here)."""

        def on_breach(limit: RequestLimit) -> Any:
            retry_after = max(1, int(limit.reset_at - time.time()))  # reset_at is rounded up already
            response = current_app.make_response(too_many(retry_after))  # flask-limiter takes Flask's class only
            response.status_code = 429
            response.headers["Retry-After"] = str(retry_after)
            return response

        guarded: Callable[..., Any] = view
        for limit, scope, key in (
            (self.edge.auth_limit_per_client, CLIENT_SCOPE, claimed_client_id),
            (self.edge.auth_limit_per_address, ADDRESS_SCOPE, get_remote_address),
        ):
            shared = self.limiter.shared_limit(
                limit, scope=scope, key_func=key, deduct_when=_failed, on_breach=on_breach
            )
            guarded = shared(guarded)
        self._guarded.add(guarded)
        return cast(F, guarded)


class ReadQuota:
    """How many conversation lookups that call out each OAuth client may make: every window of the limit
    (`"120 per minute; 3000 per hour"`), shared by every web process through the limiter's Redis storage."""

    def __init__(self, limits: AuthLimits, limit: str) -> None:
        self._strategy = limits.limiter.limiter  # flask-limiter's `limits` strategy over the shared storage
        self._items = parse_many(limit)
        self.limit = limit

    def charge(self, client_id: str) -> int | None:
        """Count one lookup for `client_id`: None when it may go ahead, else the seconds until it may."""
        try:
            for item in self._items:
                if not self._strategy.hit(item, KEY_PREFIX, READ_SCOPE, client_id):
                    reset_at = self._strategy.get_window_stats(item, KEY_PREFIX, READ_SCOPE, client_id).reset_time
                    return max(1, int(reset_at - time.time()) + 1)
        except redis.RedisError:
            log.warning("the conversation lookup quota could not be checked (Redis unreachable): lookup allowed")
        return None
