"""`ACTIONNETWORK_*` settings: defaults, one line per bad variable, secrets masked."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError
from gateway.platforms.actionnetwork.settings import load_actionnetwork_settings

TOKEN = "an-token-0123456789abcdef"


def test_only_the_token_is_required_and_the_rest_has_documented_defaults() -> None:
    settings = load_actionnetwork_settings({"ACTIONNETWORK_API_TOKEN": TOKEN, "ACTIONNETWORK_SOURCE_TAG": ""})
    assert settings.api_token.reveal() == TOKEN
    assert settings.api_url == "https://actionnetwork.org/api/v2/"
    assert settings.requests_per_second == 4.0
    assert settings.crm_id_field == "salesforce_id"
    assert settings.source_tag is None and settings.webhook_secret is None


def test_every_bad_variable_is_named_on_its_own_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_actionnetwork_settings(
            {
                "ACTIONNETWORK_BASE_URL": "ftp://x",
                "ACTIONNETWORK_REQUESTS_PER_SECOND": "fast",
                "ACTIONNETWORK_MAX_CONCURRENT": "0",
                "ACTIONNETWORK_WEBHOOK_SECRET": "short",
            }
        )
    names = [line.split(":")[0] for line in caught.value.problems]
    assert names == [
        "ACTIONNETWORK_BASE_URL",
        "ACTIONNETWORK_MAX_CONCURRENT",
        "ACTIONNETWORK_REQUESTS_PER_SECOND",
        "ACTIONNETWORK_WEBHOOK_SECRET",
        "ACTIONNETWORK_API_TOKEN",
    ]
    assert "short" not in str(caught.value)


def test_secrets_never_print() -> None:
    settings = load_actionnetwork_settings(
        {"ACTIONNETWORK_API_TOKEN": TOKEN, "ACTIONNETWORK_WEBHOOK_SECRET": "hook-secret-0123456789"}
    )
    shown = f"{settings!r} {settings.describe()}"
    assert TOKEN not in shown and "hook-secret-0123456789" not in shown
    assert settings.describe()["ACTIONNETWORK_REQUESTS_PER_SECOND"] == 4.0
