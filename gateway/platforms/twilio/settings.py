"""Twilio's settings: the `TWILIO_*` variables, their marshmallow schema fragment, and the frozen settings built from
them. This is the only module that names those variables.

Guarantees: `load_twilio_settings(env)` returns complete settings or raises `ConfigError` with one line per bad or
missing variable, each starting with the variable's name and never holding a secret; secrets are held in `Secret`.
The fragment (`TwilioEnvSchema`, `cross_check`, `build`) is what `gateway.config` composes once the platform
registry exists; `load_twilio_settings` runs the same three pieces on their own.

Credentials (docs/platforms/twilio.md §Authentication): the REST API takes HTTP Basic with an API key SID and secret
(recommended) or with the Account SID and Auth Token; webhooks are signed with the account's Auth Token whichever
REST credentials are used. So `TWILIO_AUTH_TOKEN` is always required — the gateway's only way to tell Twilio's
webhooks from forgeries — and an API key, when given, must come with its secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, validate
from marshmallow import fields as mf

from gateway.config import ConfigError, Secret

DEFAULT_BASE_URL = "https://api.twilio.com"
WEBHOOK_PATH = "/webhooks/platforms/twilio"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _sid(prefix: str) -> validate.Regexp:
    return validate.Regexp(rf"^{prefix}[0-9a-fA-F]{{32}}$", error=f"not a {prefix}… SID ({prefix} and 32 hex digits)")


def _numbers(value: str) -> None:
    bad = [n.strip() for n in value.split(",") if n.strip() and not _E164.match(n.strip())]
    if bad:
        raise ValidationError(f"not E.164 numbers (+ and digits, e.g. +15017122661): {', '.join(bad)}")
    if not any(n.strip() for n in value.split(",")):
        raise ValidationError("lists no number")


def _webhook_base(value: str) -> None:
    if "?" in value or "#" in value:
        raise ValidationError("must be the gateway's public base URL, without a query string or #fragment")


@dataclass(frozen=True)
class TwilioSettings:
    """How to reach one Twilio account and how to check its webhooks. Built from `TWILIO_*` by `build`."""

    account_sid: str
    auth_token: Secret
    api_key_sid: str | None = None
    api_key_secret: Secret | None = None
    messaging_service_sid: str | None = None
    from_numbers: tuple[str, ...] = ()
    base_url: str = DEFAULT_BASE_URL
    webhook_base_url: str | None = None
    max_concurrent: int = 10
    requests_per_second: float = 25.0
    advanced_opt_out: bool = False
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_attempts: int = 3
    backoff_seconds: float = 0.5
    page_size: int = 1000  # Messages list PageSize; Twilio allows at most 1000

    @property
    def rest_credentials(self) -> tuple[str, str]:
        """(username, password) for HTTP Basic: the API key when one is set, else the Account SID and Auth Token."""
        if self.api_key_sid and self.api_key_secret:
            return self.api_key_sid, self.api_key_secret.reveal()
        return self.account_sid, self.auth_token.reveal()

    @property
    def credential_variables(self) -> str:
        """The variables holding the REST credentials in use, for error messages."""
        if self.api_key_sid and self.api_key_secret:
            return "TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET"
        return "TWILIO_AUTH_TOKEN"

    @property
    def webhook_url(self) -> str | None:
        """The URL to configure in Twilio as the incoming-message webhook (and status callback)."""
        return None if self.webhook_base_url is None else self.webhook_base_url.rstrip("/") + WEBHOOK_PATH

    def is_ours(self, *, to: str | None, messaging_service_sid: str | None) -> bool:
        """True when a message to `to` (through `messaging_service_sid`) went to one of the configured senders."""
        if self.messaging_service_sid and messaging_service_sid == self.messaging_service_sid:
            return True
        return to is not None and to in self.from_numbers


class TwilioEnvSchema(Schema):
    """The `TWILIO_*` variables, each on its own (cross-variable rules are `cross_check`)."""

    class Meta:
        unknown = EXCLUDE

    TWILIO_ACCOUNT_SID = mf.String(validate=_sid("AC"))
    TWILIO_AUTH_TOKEN = mf.String(validate=validate.Length(min=8, error="too short to be an Auth Token"))
    TWILIO_API_KEY_SID = mf.String(validate=_sid("SK"))
    TWILIO_API_KEY_SECRET = mf.String(validate=validate.Length(min=8, error="too short to be an API key secret"))
    TWILIO_MESSAGING_SERVICE_SID = mf.String(validate=_sid("MG"))
    TWILIO_FROM_NUMBERS = mf.String(validate=_numbers)
    TWILIO_BASE_URL = mf.Url(schemes={"http", "https"}, require_tld=False)
    TWILIO_WEBHOOK_BASE_URL = mf.Url(schemes={"http", "https"}, require_tld=False, validate=_webhook_base)
    TWILIO_MAX_CONCURRENT = mf.Integer(validate=validate.Range(min=1, max=100))
    TWILIO_REQUESTS_PER_SECOND = mf.Float(validate=validate.Range(min=0.1, max=1000))
    TWILIO_ADVANCED_OPT_OUT = mf.Boolean()


def cross_check(data: Mapping[str, str]) -> dict[str, list[str]]:
    """Rules that span variables, on the raw environment (empty strings already dropped)."""
    errors: dict[str, list[str]] = {}

    def missing(name: str, why: str) -> None:
        if name not in data:
            errors.setdefault(name, []).append(f"missing ({why})")

    missing("TWILIO_ACCOUNT_SID", "every Twilio API call names the account")
    missing(
        "TWILIO_AUTH_TOKEN",
        "Twilio signs its webhooks with the account's Auth Token, even when the REST API uses an API key",
    )
    missing("TWILIO_WEBHOOK_BASE_URL", "the gateway's public URL as Twilio calls it; signatures cover the full URL")
    if ("TWILIO_API_KEY_SID" in data) != ("TWILIO_API_KEY_SECRET" in data):
        lone, other = (
            ("TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET")
            if "TWILIO_API_KEY_SID" in data
            else ("TWILIO_API_KEY_SECRET", "TWILIO_API_KEY_SID")
        )
        errors.setdefault(other, []).append(f"missing ({lone} is set; an API key needs both)")
    if "TWILIO_MESSAGING_SERVICE_SID" not in data and "TWILIO_FROM_NUMBERS" not in data:
        errors.setdefault("TWILIO_MESSAGING_SERVICE_SID", []).append(
            "missing (set TWILIO_MESSAGING_SERVICE_SID, TWILIO_FROM_NUMBERS or both: the senders whose "
            "conversations and opt-outs the gateway follows)"
        )
    return errors


def build(data: Mapping[str, Any]) -> TwilioSettings:
    """Settings from variables already loaded by `TwilioEnvSchema` and passed by `cross_check`."""
    numbers = tuple(n.strip() for n in str(data.get("TWILIO_FROM_NUMBERS", "")).split(",") if n.strip())
    defaults = TwilioSettings(account_sid="", auth_token=Secret(""))
    key_secret = data.get("TWILIO_API_KEY_SECRET")
    return TwilioSettings(
        account_sid=data["TWILIO_ACCOUNT_SID"],
        auth_token=Secret(data["TWILIO_AUTH_TOKEN"]),
        api_key_sid=data.get("TWILIO_API_KEY_SID"),
        api_key_secret=Secret(key_secret) if key_secret else None,
        messaging_service_sid=data.get("TWILIO_MESSAGING_SERVICE_SID"),
        from_numbers=tuple(dict.fromkeys(numbers)),
        base_url=str(data.get("TWILIO_BASE_URL", DEFAULT_BASE_URL)).rstrip("/"),
        webhook_base_url=str(data["TWILIO_WEBHOOK_BASE_URL"]).rstrip("/"),
        max_concurrent=data.get("TWILIO_MAX_CONCURRENT", defaults.max_concurrent),
        requests_per_second=data.get("TWILIO_REQUESTS_PER_SECOND", defaults.requests_per_second),
        advanced_opt_out=data.get("TWILIO_ADVANCED_OPT_OUT", defaults.advanced_opt_out),
    )


def load_twilio_settings(env: Mapping[str, str]) -> TwilioSettings:
    """Validate the `TWILIO_*` variables of `env` and build the settings; `ConfigError` lists every problem."""
    source = {k: v for k, v in env.items() if k.startswith("TWILIO_") and v != ""}
    messages: dict[str, Any] = {}
    data: dict[str, Any] = {}
    try:
        data = TwilioEnvSchema().load(source)
    except ValidationError as exc:
        messages = dict(exc.messages) if isinstance(exc.messages, dict) else {"TWILIO": exc.messages}
    for name, problems in cross_check(source).items():
        messages.setdefault(name, problems)
    if messages:
        raise ConfigError([f"{name}: {_flatten(problem)}" for name, problem in sorted(messages.items())])
    return build(data)


def _flatten(messages: Any) -> str:
    if isinstance(messages, list | tuple):
        return "; ".join(_flatten(m) for m in messages)
    return str(messages)


__all__ = [
    "DEFAULT_BASE_URL",
    "WEBHOOK_PATH",
    "TwilioEnvSchema",
    "TwilioSettings",
    "build",
    "cross_check",
    "load_twilio_settings",
]
