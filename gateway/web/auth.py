"""The gateway as its own OAuth 2.0 authorization server (client credentials) and the bearer-token guard.

Guarantees:
- `POST /oauth/token` issues RFC 9068 JWT access tokens signed with `GATEWAY_TOKEN_SIGNING_KEY`, valid
  `GATEWAY_TOKEN_TTL_SECONDS`, carrying only scopes the client is allowed; a request for any other scope is refused
  (`invalid_scope`), never silently narrowed. Client secrets are compared by SHA-256 digest in constant time.
- `require_scope(...)`, the one scope guard of every route, answers 401 (`invalid_token`, with
  `WWW-Authenticate: Bearer`) for a missing, malformed, tampered, expired or foreign token, and 403
  (`insufficient_scope`) for a valid token without any of the scopes — before the request body is read.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6750.errors import InsufficientScopeError, InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator
from flask import Flask, current_app, g, jsonify, request
from joserfc.jwk import ECKey, RSAKey
from werkzeug.wrappers import Response

from gateway.config import OAuthClient, Settings

ISSUER = "messaging-sync-gateway"
AUDIENCE = "messaging-sync-gateway"

P = ParamSpec("P")
R = TypeVar("R")


class GatewayClient(ClientMixin):  # type: ignore[misc]
    """An OAuth client from `GATEWAY_OAUTH_CLIENTS`: client-credentials only, secret held as a SHA-256 digest."""

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
        digest = hashlib.sha256(client_secret.encode()).hexdigest()
        return hmac.compare_digest(digest, self.config.secret_sha256)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

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
        if not header or not header.startswith("Bearer ") or len(header) < 8:
            raise InvalidTokenError(description="missing bearer token")
        raw = header[7:].strip()
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
    *scopes: str, refuse: Refusal = _oauth_error
) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Route decorator: the request must carry a valid gateway token holding at least one of `scopes`.

    Refused with 401 (`invalid_token`) or 403 (`insufficient_scope`) and `WWW-Authenticate: Bearer`; `refuse` renders
    the body (RFC 6750's shape by default; the JSON API passes its own error shape)."""
    needed = " or ".join(f"'{s}'" for s in scopes)

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
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


def init_auth(app: Flask, settings: Settings) -> None:
    """Register `POST /oauth/token` and the token guard on `app`."""
    assert settings.token_signing_key is not None  # load_settings(roles=("web",)) guarantees it
    key = load_signing_key(settings.token_signing_key.reveal())
    clients = {c.client_id: GatewayClient(c) for c in settings.oauth_clients}
    server = AuthorizationServer(app, query_client=clients.get, save_token=lambda token, request: None)
    server.register_grant(ClientCredentialsGrant)
    server.register_token_generator("default", _TokenGenerator(key, settings.token_ttl_seconds))
    app.extensions["gateway.token_guard"] = TokenGuard(key)

    @app.post("/oauth/token")
    def issue_token() -> Response:
        return server.create_token_response()  # type: ignore[no-any-return]
