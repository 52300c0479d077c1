"""Client secrets are stored salted and slow; configuration and logs never show a secret, token or phone."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from gateway.client_secrets import SCRYPT_DEFAULT, dummy_hash, dummy_verify, hash_secret, scrypt_problem, verify_secret
from gateway.config import ConfigError, load_settings
from gateway.log_redaction import install, redact

SECRET = "correct horse battery staple 0123"
FAST = "scrypt:16384:8:1"  # the smallest cost accepted, to keep the tests quick


def test_scrypt_hashes_are_salted_and_verify_only_the_right_secret() -> None:
    first, second = hash_secret(SECRET, FAST), hash_secret(SECRET, FAST)
    assert first != second  # a fresh salt each time
    assert first.startswith(f"{FAST}$") and SECRET not in first
    assert scrypt_problem(first) is None
    assert verify_secret(SECRET, scrypt=first) and not verify_secret(SECRET + "x", scrypt=first)
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    assert verify_secret(SECRET, sha256=digest.upper()) and not verify_secret("x", sha256=digest)
    assert "power of two" in (scrypt_problem(first.replace("16384", "1000", 1)) or "")
    assert "between" in (scrypt_problem(first.replace("16384", "1024", 1)) or "")
    assert scrypt_problem(digest) is not None


def test_an_unknown_client_is_checked_at_the_cost_of_a_real_one() -> None:
    """No timing in tests (the machine is shared): the dummy check runs scrypt with the default parameters, the
    ones `gateway hash-secret` gives every real client, and answers False."""
    assert dummy_hash().startswith(SCRYPT_DEFAULT + "$")
    assert hash_secret(SECRET).startswith(SCRYPT_DEFAULT + "$")
    assert dummy_verify(SECRET) is False and dummy_verify("") is False


def _clients(*entries: dict) -> dict[str, str]:
    return {"GATEWAY_OAUTH_CLIENTS": json.dumps(list(entries))}


def test_oauth_clients_take_scrypt_or_deprecated_sha256_never_both() -> None:
    scrypt = hash_secret(SECRET, FAST)
    sha = hashlib.sha256(SECRET.encode()).hexdigest()
    settings = load_settings(
        _clients(
            {"client_id": "new", "secret_scrypt": scrypt, "scopes": ["events:write"]},
            {"client_id": "old", "secret_sha256": sha, "scopes": ["metrics:read"]},
        )
    )
    new, old = settings.oauth_clients
    assert (new.secret_scrypt, new.deprecated_hash) == (scrypt, False)
    assert (old.secret_sha256, old.deprecated_hash) == (sha, True)
    for bad, needle in (
        ({"client_id": "x", "scopes": []}, "exactly one"),
        ({"client_id": "x", "secret_scrypt": scrypt, "secret_sha256": sha, "scopes": []}, "exactly one"),
        ({"client_id": "x", "secret_scrypt": "scrypt:1:8:1$salt$00", "scopes": []}, "not a scrypt hash"),
        ({"client_id": "x\n", "secret_sha256": sha, "scopes": []}, "client_id"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_settings(_clients(bad))
        assert needle in str(caught.value), bad
        assert scrypt not in str(caught.value) and sha not in str(caught.value)
    with pytest.raises(ConfigError, match="listed more than once"):
        load_settings(_clients(*[{"client_id": "twice", "secret_sha256": sha, "scopes": []}] * 2))


def test_edge_settings_are_read_and_checked() -> None:
    settings = load_settings(
        {
            "GATEWAY_AUTH_RATE_LIMIT_PER_CLIENT": "3 per minute",
            "GATEWAY_TRUSTED_PROXIES": "1",
            "GATEWAY_METRICS_PUBLIC": "true",
            "GATEWAY_WEBHOOK_ALLOW_GET": "false",
            "GATEWAY_REQUEST_READ_TIMEOUT_SECONDS": "4",
        }
    )
    assert settings.edge.auth_limit_per_client == "3 per minute"
    assert (settings.edge.trusted_proxies, settings.edge.metrics_public, settings.edge.webhook_allow_get) == (
        1,
        True,
        False,
    )
    assert settings.edge.request_read_timeout_seconds == 4
    with pytest.raises(ConfigError) as caught:
        load_settings({"GATEWAY_AUTH_RATE_LIMIT_PER_ADDRESS": "lots", "GATEWAY_MAX_CLOCK_SKEW_SECONDS": "-1"})
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "GATEWAY_AUTH_RATE_LIMIT_PER_ADDRESS",
        "GATEWAY_MAX_CLOCK_SKEW_SECONDS",
    ]


def test_describe_masks_credentials_in_urls_and_client_secret_hashes() -> None:
    sha = hashlib.sha256(SECRET.encode()).hexdigest()
    described = json.dumps(
        load_settings(
            {
                "REDIS_URL": "redis://:redis-pass-123@cache.internal:6379/0",
                "MOBILECOMMONS_BASE_URL": "https://ops:mc-pass-456@secure.mcommons.com/api/",
                **_clients({"client_id": "org", "secret_sha256": sha, "scopes": ["events:write"]}),
            }
        ).describe()
    )
    for secret in ("redis-pass-123", "mc-pass-456", "ops:", sha):
        assert secret not in described, secret
    assert "redis://****@cache.internal:6379/0" in described
    assert "https://****@secure.mcommons.com/api/" in described
    assert "sha256 (deprecated" in described


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        ("POST /webhooks/platforms/mobilecommons/s3cr3t-path-value HTTP/1.1", "/mobilecommons/", "s3cr3t"),
        ("GET /api/profile?phone_number=14155550123&include=1", "phone_number=", "4155550123"),
        ("GET /query/?q=SELECT+Id+FROM+Contact+WHERE+MobilePhone+IN+(%27%2B14155550123%27)", "q=", "4155550123"),
        ("Issue token {'access_token': 'eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl', 'expires_in': 900}", "expires_in", "eyJ"),
        ("Authorization: Bearer abc.def-ghi", "Authorization", "abc.def"),
        ("client_secret=hunter2&grant_type=client_credentials", "grant_type", "hunter2"),
        ('{"password": "hunter2", "user": "ops"}', "ops", "hunter2"),
        ("session 00D5g000004XyZq!AQ0.abcDEF_123 expired", "expired", "AQ0.abc"),
        ("connect to redis://:pw-789@host:6379/0 failed", "host:6379", "pw-789"),
        ("STOP from +14155550123 recorded", "STOP from", "4155550123"),
    ],
)
def test_redaction_masks_what_it_must(line: str, kept: str, gone: str) -> None:
    redacted = redact(line)
    assert kept in redacted and gone not in redacted, redacted


def test_installed_redaction_covers_every_logger_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    original = logging.getLogRecordFactory()
    try:
        install()
        install()  # idempotent
        caplog.set_level(logging.DEBUG)
        logging.getLogger("authlib.oauth2").debug("Issue token %r to %r", {"access_token": "eyJa.eyJb.sig"}, "c")
        try:
            raise RuntimeError("cannot reach redis://:pw-000@db:6379")
        except RuntimeError:
            logging.getLogger("gateway.test").exception("failed with %s", "+14155550123")
    finally:
        logging.setLogRecordFactory(original)
    text = caplog.text
    assert "eyJa" not in text and "pw-000" not in text and "4155550123" not in text
    assert "Issue token" in text and "RuntimeError" in text
