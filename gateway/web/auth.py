"""The gateway as its own OAuth 2.0 authorization server (client credentials) and the bearer-token guard.

Guarantees:
- `POST /oauth/token` issues RFC 9068 JWT access tokens signed with `GATEWAY_TOKEN_SIGNING_KEY`, valid
  `GATEWAY_TOKEN_TTL_SECONDS`, carrying only scopes the client is allowed; a request for any other scope is refused
  (`invalid_scope`), never silently narrowed.
- Client authentication (RFC 6749 §2.3.1: HTTP Basic, or `client_id`/`client_secret` in the body — one of them,
  never both) is done here, once per request, before authlib sees the request: a malformed Basic header (not
  base64, not UTF-8, no colon) or credentials sent both ways answer 400 `invalid_request`; every bad credential
  (unknown client, wrong or missing secret) answers the same 401 `invalid_client` with the same message, and an
  unknown client id costs the same scrypt check a real one does (`client_secrets.dummy_verify`).
- Failed attempts are rate limited per client id and per remote address (`web.ratelimit`): 429 with Retry-After.
- `require_scope(...)`, the one scope guard of every route, answers 401 (`invalid_token`, with
  `WWW-Authenticate: Bearer`) for a missing, malformed, tampered, expired or foreign token, and 403
  (`insufficient_scope`) for a valid token without any of the scopes — before the request body is read. The auth
  scheme is matched case-insensitively (RFC 7235 §2.1).
"""

from __future__ import annotations

import base64
import binascii
import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6750.errors import InsufficientScopeError, InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator
from flask import Flask, current_app, g, jsonify, request
from joserfc.jwk import ECKey, RSAKey
from werkzeug.wrappers import Response

from gateway.client_secrets import dummy_verify, verify_secret
from gateway.config import OAuthClient, Settings
from gateway.web.ratelimit import AuthLimits

ISSUER = "messaging-sync-gateway"
AUDIENCE = "messaging-sync-gateway"

P = ParamSpec("P")
R = TypeVar("R")


VERIFIED_AUTH_METHOD = "gateway_verified"  # authlib's name for "authenticated by `authenticate_client` already"
BAD_CLIENT = "client authentication failed"  # one message for every bad credential: nothing to learn from it


class CredentialsError(Exception):
    """The request's client credentials are malformed or given twice (400 `invalid_request`)."""


class GatewayClient(ClientMixin):  # type: ignore[misc]
    """An OAuth client from `GATEWAY_OAUTH_CLIENTS`: client-credentials only, secret held as a salted scrypt hash
    (or, deprecated, an unsalted SHA-256 digest)."""

    def __init__(self, config: OAuthClient) -> None:
        self.config = config

    def get_client_id(self) -> str:
        return self.config.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.config.scopes)
        return " ".join(s for s in scope.split() if s in self.config.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_secret(client_secret, scrypt=self.config.secret_scrypt, sha256=self.config.secret_sha256)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == VERIFIED_AUTH_METHOD

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


def authenticate_client(clients: dict[str, GatewayClient], client_id: str, secret: str) -> GatewayClient | None:
    """The client when `secret` is its secret; None otherwise, after the same work either way."""
    client = clients.get(client_id)
    if client is None or not secret:
        dummy_verify(secret)
        return None
    return client if client.check_client_secret(secret) else None


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(client id, secret) from an `Authorization: Basic` header; None for another scheme.

    RFC 6749 §2.3.1: base64 of `id:secret`, each form-urlencoded first (decoded here, as authlib does). Raises
    `CredentialsError` for a Basic header that is not that."""
    scheme, _, param = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise CredentialsError("the Basic credentials are not base64 of UTF-8 'id:secret'") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise CredentialsError("the Basic credentials hold no ':' between the client id and the secret")
    return unquote(client_id), unquote(secret)


def request_credentials() -> tuple[str, str]:
    """(client id, secret) from the Basic header or the form body of this request: exactly one of them."""
    form_id, form_secret = request.form.get("client_id"), request.form.get("client_secret")
    header = request.headers.get("Authorization")
    basic = basic_credentials(header) if header else None
    if basic is None:
        if header:
            raise CredentialsError("authenticate the client with HTTP Basic or in the body, not another scheme")
        return form_id or "", form_secret or ""
    if form_secret is not None or (form_id is not None and form_id != basic[0]):
        raise CredentialsError("send the client credentials once: in the Authorization header or in the body")
    return basic


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [VERIFIED_AUTH_METHOD]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = (self.request.payload.scope or "").split()
        refused = [s for s in requested if s not in self.request.client.config.scopes]
        if refused:
            raise InvalidScopeError(f"client may not ask for: {' '.join(refused)}")


def load_signing_key(pem: str) -> RSAKey | ECKey:
    """The private key from `GATEWAY_TOKEN_SIGNING_KEY` (RSA → RS256, EC P-256 → ES256)."""
    try:
        return RSAKey.import_key(pem)
    except Exception:  # noqa: BLE001 - not RSA: try EC, and fail on that if it is neither
        return ECKey.import_key(pem)


def _algorithm(key: RSAKey | ECKey) -> str:
    return "RS256" if isinstance(key, RSAKey) else "ES256"


class _TokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    def __init__(self, key: RSAKey | ECKey, ttl: int) -> None:
        super().__init__(issuer=ISSUER, alg=_algorithm(key), expires_generator=lambda client, grant_type: ttl)
        self._key = key

    def get_jwks(self) -> RSAKey | ECKey:
        return self._key

    def get_audiences(self, client: Any, user: Any, scope: Any) -> str:
        return AUDIENCE

    def __call__(
        self,
        grant_type: str,
        client: GatewayClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        return super().__call__(  # type: ignore[no-any-return]
            grant_type, client, user, client.get_allowed_scope(scope), expires_in, include_refresh_token=False
        )


class _TokenValidator(JWTBearerTokenValidator):  # type: ignore[misc]
    def __init__(self, public_key: RSAKey | ECKey) -> None:
        super().__init__(issuer=ISSUER, resource_server=AUDIENCE)
        self._public_key = public_key

    def get_jwks(self) -> RSAKey | ECKey:
        return self._public_key


class TokenGuard:
    """Validates bearer tokens issued by this gateway.

    A token that passed full validation is remembered until its `exp` (clients reuse one token for many calls),
    so the signature is verified once per token, not once per request; scope is checked on every request.
    """

    CACHE_SIZE = 4096

    def __init__(self, key: RSAKey | ECKey) -> None:
        public = key.as_dict(private=False)
        self.validator = _TokenValidator(type(key).import_key(public))
        self._verified: dict[str, dict[str, Any]] = {}

    def claims_for(self, header: str | None, scopes: list[str]) -> dict[str, Any]:
        """The token's claims, or raises InvalidTokenError / InsufficientScopeError."""
        scheme, _, raw = (header or "").strip().partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw:
            raise InvalidTokenError(description="missing bearer token")
        claims = self._verified.get(raw)
        if claims is None or claims["exp"] <= time.time():
            token = self.validator.authenticate_token(raw)
            self.validator.validate_token(token, [], None)
            claims = dict(token)
            if len(self._verified) >= self.CACHE_SIZE:
                self._verified.clear()
            self._verified[raw] = claims
        if self.validator.scope_insufficient(claims.get("scope"), scopes):
            raise InsufficientScopeError()
        return claims


def _oauth_error(status: int, error: str, description: str) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    if status in {401, 403}:
        response.headers["WWW-Authenticate"] = f'Bearer realm="gateway", error="{error}"'
    return response


Refusal = Callable[[int, str, str], Response]  # (HTTP status, OAuth error code, description) -> the answer


def require_scope(
    *scopes: str, refuse: Refusal = _oauth_error, unless: Callable[[], bool] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Route decorator: the request must carry a valid gateway token holding at least one of `scopes`, unless
    `unless()` says this route is open on this gateway.

    Refused with 401 (`invalid_token`) or 403 (`insufficient_scope`) and `WWW-Authenticate: Bearer`; `refuse` renders
    the body (RFC 6750's shape by default; the JSON API passes its own error shape)."""
    needed = " or ".join(f"'{s}'" for s in scopes)

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            if unless is not None and unless():
                return view(*args, **kwargs)
            guard: TokenGuard = current_app.extensions["gateway.token_guard"]
            try:
                g.token_claims = guard.claims_for(request.headers.get("Authorization"), list(scopes))
            except InsufficientScopeError:
                status, error, description = 403, "insufficient_scope", f"this endpoint needs the scope {needed}"
            except InvalidTokenError:
                status, error, description = 401, "invalid_token", "a valid bearer token from /oauth/token is required"
            else:
                return view(*args, **kwargs)
            response = refuse(status, error, description)
            response.headers["WWW-Authenticate"] = f'Bearer realm="gateway", error="{error}"'
            return response

        return guarded

    return decorator


def init_auth(app: Flask, settings: Settings, limits: AuthLimits) -> None:
    """Register `POST /oauth/token` (rate limited by `limits`) and the token guard on `app`."""
    assert settings.token_signing_key is not None  # load_settings(roles=("web",)) guarantees it
    key = load_signing_key(settings.token_signing_key.reveal())
    clients = {c.client_id: GatewayClient(c) for c in settings.oauth_clients}
    for client in settings.oauth_clients:
        if client.deprecated_hash:
            app.logger.warning(
                "GATEWAY_OAUTH_CLIENTS: client %r uses secret_sha256 (unsalted, fast to brute-force; deprecated): "
                "replace it with secret_scrypt from `gateway hash-secret`",
                client.client_id,
            )
    server = AuthorizationServer(app, query_client=clients.get, save_token=lambda token, request: None)
    server.register_client_auth_method(VERIFIED_AUTH_METHOD, lambda query_client, oauth_request: g.get("oauth_client"))
    server.register_grant(ClientCredentialsGrant)
    server.register_token_generator("default", _TokenGenerator(key, settings.token_ttl_seconds))
    app.extensions["gateway.token_guard"] = TokenGuard(key)

    def too_many(retry_after: int) -> Response:
        return _oauth_error(429, "invalid_request", f"too many failed attempts; retry in {retry_after} s")

    def issue_token() -> Response:
        try:
            client_id, secret = request_credentials()
        except CredentialsError as exc:
            return _oauth_error(400, "invalid_request", str(exc))
        g.oauth_client = authenticate_client(clients, client_id, secret)
        if g.oauth_client is None:
            response = _oauth_error(401, "invalid_client", BAD_CLIENT)
            response.headers["WWW-Authenticate"] = 'Basic realm="gateway"'
            return response
        return server.create_token_response()  # type: ignore[no-any-return]

    app.add_url_rule("/oauth/token", "issue_token", limits.guard(issue_token, too_many), methods=["POST"])
