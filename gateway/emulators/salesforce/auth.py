"""TLS material, the two connected-app clients, and the OAuth token endpoint's grants.

Guarantees: the local CA and the server certificate (127.0.0.1, ::1, localhost) are generated once with
`cryptography` and reused from the var directory; clients and refresh tokens are stored in the org database,
so every process opening the same database accepts the same credentials; JWT bearer assertions are verified
(RS256 signature against the integration client's registered certificate, then iss, sub, aud, exp) with
joserfc, and every refusal carries the org's `{"error", "error_description"}` body.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .store import Store

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass(frozen=True)
class TlsFiles:
    ca_bundle: Path
    cert: Path
    key: Path


def _write_atomic(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    if private:
        tmp.chmod(0o600)
    tmp.replace(path)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_valid(path: Path) -> bool:
    if not path.exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def ensure_tls(directory: Path) -> TlsFiles:
    """The CA bundle, server certificate and key under `directory`, generating them on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    if _cert_valid(files.ca_bundle) and _cert_valid(files.cert) and files.key.exists():
        return files
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Salesforce Emulator Local CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "messaging-sync-gateway"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_atomic(directory / "ca-key.pem", _key_pem(ca_key), private=True)
    _write_atomic(files.key, _key_pem(server_key), private=True)
    _write_atomic(files.cert, server_cert.public_bytes(serialization.Encoding.PEM))
    _write_atomic(files.ca_bundle, ca_cert.public_bytes(serialization.Encoding.PEM))
    return files


def ensure_client_keypair(directory: Path, name: str) -> tuple[Path, Path]:
    """(private key PEM, self-signed certificate PEM) that a connected app registers for JWT bearer."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{name}-client-key.pem", directory / f"{name}-client-cert.pem"
    if key_path.exists() and _cert_valid(cert_path):
        return key_path, cert_path
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} JWT client")])
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    _write_atomic(key_path, _key_pem(key), private=True)
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class Client:
    name: str
    client_id: str
    client_secret: str
    user_id: str
    username: str
    refresh_token: str
    private_key_file: str | None = None
    certificate_file: str | None = None

    def public(self) -> dict[str, Any]:
        out = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "username": self.username,
            "refresh_token": self.refresh_token,
            "user_id": self.user_id,
        }
        if self.private_key_file:
            out["private_key_file"] = self.private_key_file
            out["certificate_file"] = self.certificate_file or ""
        return out


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class Auth:
    """Clients, access tokens and the grants of `POST /services/oauth2/token`."""

    def __init__(self, store: Store, key_dir: Path, token_ttl: int = 7200) -> None:
        self.store = store
        self.token_ttl = token_ttl
        key_file, cert_file = ensure_client_keypair(key_dir, "integration")
        self.clients: dict[str, Client] = {}
        users = store.users
        for name, user_id in (("integration", users.integration_id), ("admin", users.admin_id)):
            raw = store.meta_default(
                f"client:{name}",
                lambda: json.dumps(
                    {
                        "client_id": "3MVG9" + secrets.token_urlsafe(60).replace("-", "A").replace("_", "z")[:80],
                        "client_secret": secrets.token_hex(32).upper(),
                        "refresh_token": "5Aep861" + secrets.token_urlsafe(64).replace("-", "x").replace("_", "Q"),
                    }
                ),
            )
            data = json.loads(raw)
            client = Client(
                name=name,
                client_id=data["client_id"],
                client_secret=data["client_secret"],
                user_id=user_id,
                username=store.username(user_id) or name,
                refresh_token=data["refresh_token"],
            )
            if name == "integration":
                client.private_key_file, client.certificate_file = str(key_file), str(cert_file)
            self.clients[name] = client
        cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        public_pem = cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.jwt_keys = {self.clients["integration"].client_id: RSAKey.import_key(public_pem)}

    def by_client_id(self, client_id: str) -> Client | None:
        return next((c for c in self.clients.values() if hmac.compare_digest(c.client_id, client_id)), None)

    # --- tokens ---------------------------------------------------------------------------------------

    def issue(self, client: Client, user_id: str, base_url: str, with_refresh: bool = False) -> dict[str, Any]:
        token = f"{self.store.org_id[:15]}!AQ" + secrets.token_urlsafe(72)
        issued_ms = int(time.time() * 1000)
        with self.store.tx() as conn:
            conn.execute(
                "INSERT INTO emu_tokens (token, client, user_id, expires) VALUES (?, ?, ?, ?)",
                (token, client.name, user_id, time.time() + self.token_ttl),
            )
        identity = f"{base_url}/id/{self.store.org_id}/{user_id}"
        issued_at = str(issued_ms)
        signature = base64.b64encode(
            hmac.new(client.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": token,
            "signature": signature,
            "scope": "api refresh_token",
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        if with_refresh:
            body["refresh_token"] = client.refresh_token
        return body

    def session(self, token: str) -> tuple[str, str] | None:
        """(client name, user id) of a live access token, or None when unknown or expired."""
        with self.store.read() as conn:
            row = conn.execute("SELECT client, user_id, expires FROM emu_tokens WHERE token = ?", (token,)).fetchone()
        if row is None or row[2] < time.time():
            return None
        return str(row[0]), str(row[1])

    def expire_all(self) -> None:
        with self.store.tx() as conn:
            conn.execute("UPDATE emu_tokens SET expires = 0")

    # --- grants ---------------------------------------------------------------------------------------

    def _client_from_request(
        self, form: dict[str, str], basic: tuple[str, str] | None, secret_required: bool
    ) -> Client:
        client_id, secret = basic if basic else (form.get("client_id", ""), form.get("client_secret"))
        if not client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        client = self.by_client_id(client_id)
        if client is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if secret is None and not secret_required:
            return client
        if secret is None or not hmac.compare_digest(secret, client.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        return client

    def token(self, form: dict[str, str], basic: tuple[str, str] | None, base_url: str) -> dict[str, Any]:
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            client = self._client_from_request(form, basic, secret_required=True)
            return self.issue(client, client.user_id, base_url)
        if grant == "refresh_token":
            client = self._client_from_request(form, basic, secret_required=False)
            if not hmac.compare_digest(form.get("refresh_token", ""), client.refresh_token):
                raise OAuthError("invalid_grant", "expired access/refresh token")
            return self.issue(client, client.user_id, base_url)
        if grant == JWT_GRANT:
            return self._jwt_bearer(form.get("assertion", ""), base_url)
        if not grant:
            raise OAuthError("invalid_request", "grant type not supported")
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _jwt_bearer(self, assertion: str, base_url: str) -> dict[str, Any]:
        try:
            unverified = _unverified_claims(assertion)
        except ValueError as exc:
            raise OAuthError("invalid_grant", "invalid assertion") from exc
        issuer = str(unverified.get("iss", ""))
        client = self.by_client_id(issuer) if issuer else None
        if client is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        key = self.jwt_keys.get(client.client_id)
        if key is None:
            raise OAuthError("invalid_grant", "invalid assertion")
        try:
            token = jwt.decode(assertion, key, algorithms=["RS256"])
        except (JoseError, ValueError) as exc:
            raise OAuthError("invalid_grant", "invalid assertion") from exc
        claims = token.claims
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        accepted = {*LOGIN_AUDIENCES, base_url, base_url + "/"}
        if not any(isinstance(a, str) and a in accepted for a in audiences):
            raise OAuthError("invalid_grant", "Audience validation failed")
        try:
            expires = float(claims.get("exp", ""))
        except (TypeError, ValueError) as exc:
            raise OAuthError("invalid_grant", "invalid assertion") from exc
        if expires < time.time():
            raise OAuthError("invalid_grant", "expired authorization code")
        subject = str(claims.get("prn") or claims.get("sub") or "")
        user_id = self.store.user_by_name(subject) if subject else None
        if user_id is None:
            raise OAuthError("invalid_grant", "invalid user ID provided on login")
        if user_id != client.user_id:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        return self.issue(client, user_id, base_url)


def _unverified_claims(assertion: str) -> dict[str, Any]:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    claims = json.loads(base64.urlsafe_b64decode(payload))
    if not isinstance(claims, dict):
        raise ValueError("claims are not an object")
    return claims
