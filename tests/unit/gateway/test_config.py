"""Configuration from the environment: typed, validated, one line per problem, secrets never printed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gateway.config import ConfigError, Secret, load_settings


def _clients(**scopes: list[str]) -> str:
    return json.dumps(
        [{"client_id": c, "secret_sha256": hashlib.sha256(b"s").hexdigest(), "scopes": s} for c, s in scopes.items()]
    )


def test_defaults_need_nothing() -> None:
    settings = load_settings({})
    assert settings.redis_url is None
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.dedup_ttl_seconds == 72 * 3600
    assert settings.salesforce is None


def test_every_problem_is_reported_once_naming_its_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "REDIS_URL": "http://localhost",
                "GATEWAY_OAUTH_CLIENTS": _clients(org=["events:write", "delete-everything"]),
                "GATEWAY_MAX_BODY_BYTES": "big",
                "SALESFORCE_CLIENT_ID": "abc",
                "MESSAGING_PLATFORM": "carrier-pigeon",
            },
            roles=("web",),
        )
    problems = caught.value.problems
    names = [p.split(":")[0] for p in problems]
    assert names == sorted(set(names), key=names.index), "one line per variable"
    assert set(names) == {
        "REDIS_URL",
        "GATEWAY_OAUTH_CLIENTS",
        "GATEWAY_MAX_BODY_BYTES",
        "SALESFORCE_LOGIN_URL",
        "SALESFORCE_CLIENT_SECRET",
        "MESSAGING_PLATFORM",
        "GATEWAY_TOKEN_SIGNING_KEY",
    }
    assert any("delete-everything" in p or "Must be one of" in p for p in problems if p.startswith("GATEWAY_OAUTH"))


def test_the_trust_settings_of_the_sync_are_read_and_bad_values_named() -> None:
    settings = load_settings(
        {
            "SALESFORCE_LOGIN_URL": "https://login.salesforce.com",
            "SALESFORCE_CLIENT_ID": "abc",
            "SALESFORCE_CLIENT_SECRET": "s",
            "SALESFORCE_OPT_OUT_RESERVE": "0.25",
            "GATEWAY_READ_RATE_LIMIT_PER_CLIENT": "10 per minute",
            "GATEWAY_CREATE_UNMATCHED_OPT_OUTS": "true",
        }
    )
    assert settings.salesforce is not None and settings.salesforce.opt_out_reserve == 0.25
    assert settings.edge.read_limit_per_client == "10 per minute"
    assert settings.create_unmatched_opt_outs is True
    defaults = load_settings({})
    assert (defaults.edge.read_limit_per_client, defaults.create_unmatched_opt_outs) == (
        "120 per minute; 3000 per hour",
        False,
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "SALESFORCE_OPT_OUT_RESERVE": "1.5",
                "GATEWAY_READ_RATE_LIMIT_PER_CLIENT": "lots",
                "GATEWAY_CREATE_UNMATCHED_OPT_OUTS": "perhaps",
            }
        )
    named = {p.split(":")[0] for p in caught.value.problems}
    assert {
        "SALESFORCE_OPT_OUT_RESERVE",
        "GATEWAY_READ_RATE_LIMIT_PER_CLIENT",
        "GATEWAY_CREATE_UNMATCHED_OPT_OUTS",
    } <= named


def test_oauth_clients_that_are_not_json_are_named() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"GATEWAY_OAUTH_CLIENTS": "[{"})
    assert caught.value.problems[0].startswith("GATEWAY_OAUTH_CLIENTS: not valid JSON")


def test_salesforce_auth_mode_follows_what_is_set(tmp_path: Path) -> None:
    key = tmp_path / "sf.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    base = {"SALESFORCE_LOGIN_URL": "https://login.salesforce.com", "SALESFORCE_CLIENT_ID": "cid"}
    jwt = load_settings({**base, "SALESFORCE_PRIVATE_KEY": str(key), "SALESFORCE_USERNAME": "u@x"}).salesforce
    assert jwt is not None and jwt.auth_mode == "jwt-bearer"
    assert jwt.private_key is not None and jwt.private_key.reveal().startswith("-----BEGIN")
    cc = load_settings({**base, "SALESFORCE_CLIENT_SECRET": "s"}).salesforce
    assert cc is not None and cc.auth_mode == "client-credentials"
    with pytest.raises(ConfigError) as caught:
        load_settings({**base, "SALESFORCE_PRIVATE_KEY": str(key)})
    assert caught.value.problems == [
        "SALESFORCE_USERNAME: missing (JWT bearer with SALESFORCE_PRIVATE_KEY needs the username)"
    ]
    with pytest.raises(ConfigError) as caught:
        load_settings({**base, "SALESFORCE_PRIVATE_KEY": str(tmp_path / "nope.pem"), "SALESFORCE_USERNAME": "u"})
    assert caught.value.problems[0].startswith("SALESFORCE_PRIVATE_KEY: neither a PEM")


def test_secrets_are_masked_in_every_printable_form() -> None:
    settings = load_settings(
        {
            "MESSAGING_PLATFORM": "mobilecommons",
            "MOBILECOMMONS_USERNAME": "ops@example.org",
            "MOBILECOMMONS_PASSWORD": "correct-horse-battery",
            "SALESFORCE_LOGIN_URL": "https://login.salesforce.com",
            "SALESFORCE_CLIENT_ID": "cid",
            "SALESFORCE_CLIENT_SECRET": "sf-client-secret-value",
        }
    )
    for text in (repr(settings), str(settings), json.dumps(settings.describe(), default=str)):
        assert "correct-horse-battery" not in text
        assert "sf-client-secret-value" not in text
    assert settings.describe()["mobilecommons"]["password"] == "********"
    assert settings.platform is not None
    assert settings.platform.password == Secret("correct-horse-battery")  # type: ignore[attr-defined]


def test_mobilecommons_needs_credentials() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MESSAGING_PLATFORM": "mobilecommons"})
    assert caught.value.problems[0].startswith("MOBILECOMMONS_USERNAME: missing")
