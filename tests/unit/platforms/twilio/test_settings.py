"""The TWILIO_* variables as `gateway.config` composes them when MESSAGING_PLATFORM=twilio: one line per problem
naming the variable, the credential rules, secrets never printed."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, load_settings
from gateway.platforms.twilio.settings import TwilioSettings


def load_twilio_settings(env: dict[str, str]) -> TwilioSettings:
    settings = load_settings({"MESSAGING_PLATFORM": "twilio", **env})
    assert isinstance(settings.platform, TwilioSettings)
    assert TOKEN not in str(settings.describe()) and KEY_SECRET not in str(settings.describe())
    return settings.platform


ACCOUNT = "AC" + "0123456789abcdef" * 2
KEY = "SK" + "fedcba9876543210" * 2
SERVICE = "MG" + "00112233445566778899aabbccddeeff"
TOKEN = "auth-token-0123456789abcdef0123"
KEY_SECRET = "key-secret-abcdefghijklmnopqrstuv"
GOOD = {
    "TWILIO_ACCOUNT_SID": ACCOUNT,
    "TWILIO_AUTH_TOKEN": TOKEN,
    "TWILIO_MESSAGING_SERVICE_SID": SERVICE,
    "TWILIO_WEBHOOK_BASE_URL": "https://gw.example.org/",
}


def problems(env: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_twilio_settings(env)
    lines = caught.value.problems
    assert all(TOKEN not in line and KEY_SECRET not in line for line in lines)
    found = {line.split(":", 1)[0]: line.split(":", 1)[1] for line in lines}
    assert len(found) == len(lines), lines  # one line per variable
    return found


def test_a_complete_environment_builds_settings() -> None:
    settings = load_twilio_settings(
        {**GOOD, "TWILIO_FROM_NUMBERS": "+12025550100, +12025550101,+12025550100", "TWILIO_MAX_CONCURRENT": "4"}
    )
    assert settings.account_sid == ACCOUNT
    assert settings.from_numbers == ("+12025550100", "+12025550101")
    assert settings.webhook_url == "https://gw.example.org/webhooks/platforms/twilio"
    assert settings.base_url == "https://api.twilio.com"
    assert settings.max_concurrent == 4
    assert settings.poll_seconds == 600  # the backstop poll; Twilio pushes STOP
    assert settings.rest_credentials == (ACCOUNT, TOKEN)
    assert TOKEN not in repr(settings)


def test_an_api_key_is_used_for_rest_and_the_auth_token_still_checks_webhooks() -> None:
    settings = load_twilio_settings({**GOOD, "TWILIO_API_KEY_SID": KEY, "TWILIO_API_KEY_SECRET": KEY_SECRET})
    assert settings.rest_credentials == (KEY, KEY_SECRET)
    assert settings.auth_token.reveal() == TOKEN
    assert KEY_SECRET not in repr(settings)


def test_an_api_key_without_the_auth_token_is_refused_with_the_reason() -> None:
    env = {k: v for k, v in GOOD.items() if k != "TWILIO_AUTH_TOKEN"}
    found = problems({**env, "TWILIO_API_KEY_SID": KEY, "TWILIO_API_KEY_SECRET": KEY_SECRET})
    assert set(found) == {"TWILIO_AUTH_TOKEN"}
    assert "signs its webhooks" in found["TWILIO_AUTH_TOKEN"]


def test_half_an_api_key_names_the_missing_half() -> None:
    assert set(problems({**GOOD, "TWILIO_API_KEY_SID": KEY})) == {"TWILIO_API_KEY_SECRET"}
    assert set(problems({**GOOD, "TWILIO_API_KEY_SECRET": KEY_SECRET})) == {"TWILIO_API_KEY_SID"}


def test_a_sender_is_required() -> None:
    env = {k: v for k, v in GOOD.items() if k != "TWILIO_MESSAGING_SERVICE_SID"}
    found = problems(env)
    assert (
        set(found) == {"TWILIO_MESSAGING_SERVICE_SID"}
        and "TWILIO_FROM_NUMBERS" in found["TWILIO_MESSAGING_SERVICE_SID"]
    )


def test_every_bad_variable_is_one_line() -> None:
    found = problems(
        {
            "TWILIO_ACCOUNT_SID": "AC123",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": "PN" + "0" * 32,
            "TWILIO_FROM_NUMBERS": "+12025550100,(202) 555-0101",
            "TWILIO_WEBHOOK_BASE_URL": "https://gw.example.org/hooks?x=1",
            "TWILIO_MAX_CONCURRENT": "0",
            "TWILIO_REQUESTS_PER_SECOND": "fast",
            "TWILIO_BASE_URL": "ftp://api.twilio.com",
        }
    )
    assert set(found) == {
        "TWILIO_ACCOUNT_SID",
        "TWILIO_MESSAGING_SERVICE_SID",
        "TWILIO_FROM_NUMBERS",
        "TWILIO_WEBHOOK_BASE_URL",
        "TWILIO_MAX_CONCURRENT",
        "TWILIO_REQUESTS_PER_SECOND",
        "TWILIO_BASE_URL",
    }
    assert "(202) 555-0101" in found["TWILIO_FROM_NUMBERS"]


def test_nothing_set_names_every_required_variable() -> None:
    assert set(problems({})) == {
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_WEBHOOK_BASE_URL",
        "TWILIO_MESSAGING_SERVICE_SID",
    }


def test_a_platform_package_settings_are_also_built_from_keywords_with_the_same_rules() -> None:
    with pytest.raises(ValueError, match="TWILIO_WEBHOOK_BASE_URL: missing"):
        TwilioSettings(account_sid=ACCOUNT, auth_token=TOKEN, messaging_service_sid=SERVICE)
    made = TwilioSettings(
        account_sid=ACCOUNT, auth_token=TOKEN, from_numbers="+12025550100,+12025550100", webhook_base_url="http://x/"
    )
    assert made.from_numbers == ("+12025550100",) and made.webhook_url == "http://x/webhooks/platforms/twilio"
    assert TOKEN not in repr(made)


def test_the_poll_interval_of_the_backstop_is_bounded() -> None:
    assert load_twilio_settings({**GOOD, "TWILIO_POLL_SECONDS": "3600"}).poll_seconds == 3600
    assert set(problems({**GOOD, "TWILIO_POLL_SECONDS": "5"})) == {"TWILIO_POLL_SECONDS"}
