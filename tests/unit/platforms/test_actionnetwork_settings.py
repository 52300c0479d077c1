"""`ACTIONNETWORK_*` settings, as `gateway.config` composes them through the registry: defaults, one line per bad
variable, secrets masked."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, load_settings
from gateway.platforms.actionnetwork import ActionNetworkSettings

TOKEN = "an-token-0123456789abcdef"


def _load(**env: str) -> ActionNetworkSettings:
    settings = load_settings({"MESSAGING_PLATFORM": "actionnetwork", **env}).platform
    assert isinstance(settings, ActionNetworkSettings)
    return settings


def test_only_the_token_is_required_and_the_rest_has_documented_defaults() -> None:
    settings = _load(ACTIONNETWORK_API_TOKEN=TOKEN, ACTIONNETWORK_SOURCE_TAG="")
    assert settings.token == TOKEN
    assert settings.api_url == "https://actionnetwork.org/api/v2/"
    assert settings.requests_per_second == 4.0
    assert settings.poll_seconds == 60
    assert settings.crm_id_field == "salesforce_id"
    assert settings.source_tag is None and settings.webhook_secret is None


def test_every_bad_variable_is_named_on_its_own_line() -> None:
    with pytest.raises(ConfigError) as caught:
        _load(
            ACTIONNETWORK_BASE_URL="ftp://x",
            ACTIONNETWORK_REQUESTS_PER_SECOND="fast",
            ACTIONNETWORK_MAX_CONCURRENT="0",
            ACTIONNETWORK_POLL_SECONDS="0",
            ACTIONNETWORK_WEBHOOK_SECRET="short",
        )
    names = [line.split(":")[0] for line in caught.value.problems]
    assert names == [
        "ACTIONNETWORK_BASE_URL",
        "ACTIONNETWORK_MAX_CONCURRENT",
        "ACTIONNETWORK_POLL_SECONDS",
        "ACTIONNETWORK_REQUESTS_PER_SECOND",
        "ACTIONNETWORK_WEBHOOK_SECRET",
    ]
    assert "short" not in str(caught.value)


def test_the_token_is_required_when_action_network_is_the_platform_and_not_otherwise() -> None:
    with pytest.raises(ConfigError) as caught:
        _load(ACTIONNETWORK_SOURCE_TAG="salesforce")
    assert caught.value.problems == [
        "ACTIONNETWORK_API_TOKEN: missing (required when MESSAGING_PLATFORM=actionnetwork)"
    ]
    other = load_settings({"MESSAGING_PLATFORM": "recording", "ACTIONNETWORK_SOURCE_TAG": "salesforce"})
    assert other.other_platforms["actionnetwork"] == {"source_tag": "salesforce"}


def test_secrets_never_print() -> None:
    settings = load_settings(
        {
            "MESSAGING_PLATFORM": "actionnetwork",
            "ACTIONNETWORK_API_TOKEN": TOKEN,
            "ACTIONNETWORK_WEBHOOK_SECRET": "hook-secret-0123456789",
        }
    )
    shown = f"{settings!r} {settings.describe()} {settings.platform!r}"
    assert TOKEN not in shown and "hook-secret-0123456789" not in shown
    assert settings.describe()["actionnetwork"]["requests_per_second"] == 4.0
