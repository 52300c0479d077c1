"""Access tokens for the org: JWT bearer, client credentials or refresh token, through authlib.

Guarantees: `TokenSource.get()` returns a token that is not about to expire (it refreshes `refresh_margin` before
the known or assumed expiry); `TokenSource.refresh()` always asks for a new one. Every token request verifies TLS
against the configured CA bundle (explicitly, so `REQUESTS_CA_BUNDLE` cannot override it). Failures raise
`SalesforceAuthError` naming the step and Salesforce's own error, never a secret.

Salesforce does not return `expires_in` (the session timeout is an org setting), so when the token endpoint does
not say, the token is assumed to live `assumed_lifetime` seconds; a token that dies earlier is replaced on the
first `INVALID_SESSION_ID` (see `client.py`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import AssertionSession, OAuth2Session
from authlib.oauth2.base import OAuth2Error
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from gateway.salesforce.errors import SalesforceAuthError
from gateway.salesforce.identity import org_id_from_token_response
from gateway.salesforce.settings import SalesforceSettings
from gateway.salesforce.usage import TOKEN_REQUESTS

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
JWT_LIFETIME_SECONDS = 180  # Salesforce wants `exp` within 3 minutes


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and the instance it is valid for. `expires_at` is epoch seconds (known or assumed)."""

    access_token: str
    instance_url: str
    issued_at: float
    expires_at: float
    org_id: str | None = None  # from the token response (`identity.org_id_from_token_response`)

    def __repr__(self) -> str:  # never print the token itself
        return f"AccessToken(instance_url={self.instance_url!r}, expires_at={self.expires_at:.0f})"


class ExplicitTLS:
    """requests.Session mixin: every request verifies TLS with `tls_verify` and has a timeout, whatever the
    environment says (requests lets REQUESTS_CA_BUNDLE replace a Session-level `verify`, not a per-call one)."""

    tls_verify: str | bool = True
    default_timeout: float | None = 30.0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        kwargs["verify"] = self.tls_verify
        if self.default_timeout is not None:
            kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)  # type: ignore[misc]


class HttpSession(ExplicitTLS, requests.Session):  # type: ignore[misc]
    """The session every Salesforce data call goes through (simple-salesforce is handed this one)."""

    def __init__(self, verify: str | bool, timeout: float | None) -> None:
        super().__init__()
        self.tls_verify = verify
        self.default_timeout = timeout


class _AssertionSession(ExplicitTLS, AssertionSession):  # type: ignore[misc]
    pass


class _OAuth2Session(ExplicitTLS, OAuth2Session):  # type: ignore[misc]
    pass


def jwt_audience(login_url: str) -> str:
    """The `aud` Salesforce expects: login.salesforce.com for production and My Domain, test.salesforce.com for
    sandboxes; for any other host (an emulator, an Experience Cloud site) the login URL itself."""
    host = (urlsplit(login_url).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return "https://test.salesforce.com"
    if host.endswith(".salesforce.com"):
        return "https://login.salesforce.com"
    return login_url.rstrip("/")


class TokenSource:
    """Obtains and caches the access token for one `SalesforceSettings`; thread-safe."""

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        timeout: float = 30.0,
        assumed_lifetime: float = 900.0,
        refresh_margin: float = 60.0,
        clock: Any = time.time,
        on_token: Callable[[AccessToken], None] | None = None,
    ) -> None:
        self.settings = settings
        self.token_endpoint = settings.login_url.rstrip("/") + TOKEN_PATH
        self.verify: str | bool = settings.ca_bundle or True
        self.timeout = timeout
        self.assumed_lifetime = assumed_lifetime
        self.refresh_margin = refresh_margin
        self._clock = clock
        self.on_token = on_token  # told of every new token (to share what it says about the org)
        self._lock = threading.Lock()
        self._token: AccessToken | None = None

    @property
    def grant(self) -> str:
        return self.settings.auth_mode

    def get(self) -> AccessToken:
        """The cached token, or a new one if there is none or it expires within the refresh margin."""
        with self._lock:
            token = self._token
            if token is None or self._clock() >= token.expires_at - self._margin(token):
                token = self._token = self._request()
            return token

    def refresh(self, stale: AccessToken | None = None) -> AccessToken:
        """A new token. With `stale`, only if the cached one is still that one (another thread may have
        refreshed already)."""
        with self._lock:
            if stale is not None and self._token is not None and self._token.access_token != stale.access_token:
                return self._token
            self._token = self._request()
            return self._token

    def _margin(self, token: AccessToken) -> float:
        return min(self.refresh_margin, (token.expires_at - token.issued_at) / 10)

    def _request(self) -> AccessToken:
        grant = self.grant
        try:
            raw = self._fetch(grant)
        except SalesforceAuthError:
            TOKEN_REQUESTS.labels(grant, "failure").inc()
            raise
        except (OAuthError, OAuth2Error) as exc:
            TOKEN_REQUESTS.labels(grant, "failure").inc()
            detail = f"{exc.error}: {exc.description}" if getattr(exc, "description", None) else str(exc.error)
            raise SalesforceAuthError(f"{grant} token request refused", detail, endpoint=self.token_endpoint) from None
        except requests.exceptions.SSLError:
            TOKEN_REQUESTS.labels(grant, "failure").inc()
            bundle = self.settings.ca_bundle or "the system trust store"
            raise SalesforceAuthError(
                "TLS", f"the server certificate is not trusted by {bundle}", endpoint=self.token_endpoint
            ) from None
        except requests.exceptions.HTTPError as exc:
            TOKEN_REQUESTS.labels(grant, "failure").inc()
            status = exc.response.status_code if exc.response is not None else "?"
            raise SalesforceAuthError(
                f"{grant} token request", f"HTTP {status} from the token endpoint", endpoint=self.token_endpoint
            ) from None
        except requests.exceptions.RequestException as exc:
            TOKEN_REQUESTS.labels(grant, "failure").inc()
            raise SalesforceAuthError(
                "connection", f"cannot reach the token endpoint ({type(exc).__name__})", endpoint=self.token_endpoint
            ) from None
        TOKEN_REQUESTS.labels(grant, "success").inc()
        access = raw.get("access_token")
        instance_url = raw.get("instance_url")
        if not access or not instance_url:
            raise SalesforceAuthError(
                f"{grant} token response",
                "the answer has no access_token or instance_url",
                endpoint=self.token_endpoint,
            )
        now = self._clock()
        lifetime = self.assumed_lifetime
        if raw.get("expires_in"):
            with contextlib.suppress(TypeError, ValueError):
                lifetime = float(raw["expires_in"])
        token = AccessToken(
            str(access), str(instance_url).rstrip("/"), now, now + lifetime, org_id_from_token_response(raw)
        )
        if self.on_token is not None:
            self.on_token(token)
        return token

    def _fetch(self, grant: str) -> dict[str, Any]:
        s = self.settings
        if grant == "jwt-bearer":
            assert s.private_key is not None and s.username  # auth_mode guarantees both
            try:
                key = RSAKey.import_key(s.private_key.reveal())
            except (ValueError, TypeError, JoseError):
                raise SalesforceAuthError(
                    "private key", "SALESFORCE_PRIVATE_KEY is not a readable RSA private key (PEM)"
                ) from None
            if not key.is_private:
                raise SalesforceAuthError("private key", "SALESFORCE_PRIVATE_KEY holds a public key, not a private one")
            jwt_session = _AssertionSession(
                token_endpoint=self.token_endpoint,
                issuer=s.client_id,
                subject=s.username,
                audience=jwt_audience(s.login_url),
                key=key,
                alg="RS256",
                expires_in=JWT_LIFETIME_SECONDS,
            )
            jwt_session.tls_verify = self.verify
            jwt_session.default_timeout = self.timeout
            with jwt_session:
                return dict(jwt_session.refresh_token())
        secret = s.client_secret.reveal() if s.client_secret else None
        session = _OAuth2Session(
            client_id=s.client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
        )
        session.tls_verify = self.verify
        session.default_timeout = self.timeout
        with session:
            if grant == "refresh-token":
                assert s.refresh_token is not None
                return dict(session.refresh_token(self.token_endpoint, refresh_token=s.refresh_token.reveal()))
            return dict(session.fetch_token(self.token_endpoint, grant_type="client_credentials"))
