"""Twilio's settings: the only place its `TWILIO_*` variables are named.

`Variables` checks each variable on its own (SID shapes, E.164 numbers, URLs, ranges); `TwilioSettings` is the
frozen result and checks what spans variables (credentials, senders, the public URL), whether it is built by
`gateway.config` from the environment or by a test from keyword arguments: one rule, one place. Secrets are held as
`Secret`, so no repr prints them; every problem is one line starting with the variable's name.

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

from gateway.settings_base import InvalidSettings, Secret, SecretString, secret

DEFAULT_BASE_URL = "https://api.twilio.com"
WEBHOOK_PATH = "/webhooks/platforms/twilio"
MAX_PAGE_SIZE = 1000  # Messages list PageSize: Twilio allows at most 1000
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


class Variables(Schema):
    """The `TWILIO_*` environment variables, one field each (rules across variables: `TwilioSettings.problems`)."""

    class Meta:
        unknown = EXCLUDE

    TWILIO_ACCOUNT_SID = mf.String(validate=_sid("AC"))
    TWILIO_AUTH_TOKEN = SecretString(validate=validate.Length(min=8, error="too short to be an Auth Token"))
    TWILIO_API_KEY_SID = mf.String(validate=_sid("SK"))
    TWILIO_API_KEY_SECRET = SecretString(validate=validate.Length(min=8, error="too short to be an API key secret"))
    TWILIO_MESSAGING_SERVICE_SID = mf.String(validate=_sid("MG"))
    TWILIO_FROM_NUMBERS = mf.String(validate=_numbers)
    TWILIO_BASE_URL = mf.Url(schemes={"http", "https"}, require_tld=False)
    TWILIO_WEBHOOK_BASE_URL = mf.Url(schemes={"http", "https"}, require_tld=False, validate=_webhook_base)
    TWILIO_MAX_CONCURRENT = mf.Integer(validate=validate.Range(min=1, max=100))
    TWILIO_REQUESTS_PER_SECOND = mf.Float(validate=validate.Range(min=0.1, max=1000))
    TWILIO_ADVANCED_OPT_OUT = mf.Boolean()
    TWILIO_POLL_SECONDS = mf.Integer(validate=validate.Range(min=60, max=86_400))


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    """How to reach one Twilio account and how to check its webhooks. Plain strings given for the secrets are kept
    as `Secret`; `from_numbers` may be given as a tuple or as the variable's comma-separated text.

    Raises `InvalidSettings` (a `ValueError`), one line per variable, when the settings cannot work.
    """

    account_sid: str = ""
    auth_token: Secret | None = None
    api_key_sid: str | None = None
    api_key_secret: Secret | None = None
    messaging_service_sid: str | None = None
    from_numbers: tuple[str, ...] = ()
    base_url: str = DEFAULT_BASE_URL
    webhook_base_url: str | None = None
    max_concurrent: int = 10
    requests_per_second: float = 25.0
    advanced_opt_out: bool = False
    # The cron's backstop poll of `changed_since` for webhooks that never arrived. Twilio pushes every STOP, so
    # this is not the opt-out path; and Twilio itself keeps blocking a number that said STOP whatever the gateway
    # knows, so a missed webhook delays the Salesforce record, never lets a text through. Ten minutes costs one
    # Messages call per sender per poll.
    poll_seconds: int = 600
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_attempts: int = 3
    backoff_seconds: float = 0.5
    page_size: int = MAX_PAGE_SIZE

    def __post_init__(self) -> None:
        for name in ("auth_token", "api_key_secret"):
            object.__setattr__(self, name, secret(getattr(self, name)))
        numbers: Any = self.from_numbers
        if isinstance(numbers, str):
            numbers = numbers.split(",")
        object.__setattr__(self, "from_numbers", tuple(dict.fromkeys(n.strip() for n in numbers if n.strip())))
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if self.webhook_base_url is not None:
            object.__setattr__(self, "webhook_base_url", self.webhook_base_url.rstrip("/"))
        problems = self.problems()
        if problems:
            raise InvalidSettings(problems)

    def problems(self) -> list[str]:
        """What keeps these settings from working, one line per variable (never a secret value)."""
        problems = []
        if not self.account_sid:
            problems.append("TWILIO_ACCOUNT_SID: missing (every Twilio API call names the account)")
        if not self.auth_token:
            problems.append(
                "TWILIO_AUTH_TOKEN: missing (Twilio signs its webhooks with the account's Auth Token, even when "
                "the REST API uses an API key)"
            )
        if not self.webhook_base_url:
            problems.append(
                "TWILIO_WEBHOOK_BASE_URL: missing (the gateway's public URL as Twilio calls it; signatures cover "
                "the full URL)"
            )
        if bool(self.api_key_sid) != bool(self.api_key_secret):
            given, missing = (
                ("TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET")
                if self.api_key_sid
                else ("TWILIO_API_KEY_SECRET", "TWILIO_API_KEY_SID")
            )
            problems.append(f"{missing}: missing ({given} is set; an API key needs both)")
        if not self.messaging_service_sid and not self.from_numbers:
            problems.append(
                "TWILIO_MESSAGING_SERVICE_SID: missing (set TWILIO_MESSAGING_SERVICE_SID, TWILIO_FROM_NUMBERS or "
                "both: the senders whose conversations and opt-outs the gateway follows)"
            )
        if not self.base_url.startswith(("https://", "http://")):
            problems.append("TWILIO_BASE_URL: not an http(s) URL")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            problems.append(f"page_size: must be between 1 and {MAX_PAGE_SIZE}")
        if self.max_attempts < 1:
            problems.append("max_attempts: must be at least 1")
        return problems

    @classmethod
    def from_variables(cls, data: Mapping[str, Any]) -> TwilioSettings:
        """The settings from variables `Variables` has validated (an unset variable takes its default)."""
        given = {name.removeprefix("TWILIO_").lower(): value for name, value in data.items()}
        return cls(**given)

    @property
    def rest_credentials(self) -> tuple[str, str]:
        """(username, password) for HTTP Basic: the API key when one is set, else the Account SID and Auth Token."""
        if self.api_key_sid and self.api_key_secret:
            return self.api_key_sid, self.api_key_secret.reveal()
        return self.account_sid, self.auth_token.reveal() if self.auth_token else ""

    @property
    def credential_variables(self) -> str:
        """The variables holding the REST credentials in use, for error messages."""
        if self.api_key_sid and self.api_key_secret:
            return "TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET"
        return "TWILIO_AUTH_TOKEN"

    @property
    def webhook_url(self) -> str | None:
        """The URL to configure in Twilio as the incoming-message webhook (and status callback)."""
        return None if self.webhook_base_url is None else self.webhook_base_url + WEBHOOK_PATH

    def is_ours(self, *, to: str | None, messaging_service_sid: str | None) -> bool:
        """True when a message to `to` (through `messaging_service_sid`) went to one of the configured senders."""
        if self.messaging_service_sid and messaging_service_sid == self.messaging_service_sid:
            return True
        return to is not None and to in self.from_numbers


__all__ = ["DEFAULT_BASE_URL", "MAX_PAGE_SIZE", "WEBHOOK_PATH", "TwilioSettings", "Variables"]
