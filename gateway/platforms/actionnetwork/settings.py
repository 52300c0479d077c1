"""Action Network's settings: the `ACTIONNETWORK_*` variables (the only place they are named), their marshmallow
schema fragment and the frozen settings the adapter is built from.

Guarantees: `load_actionnetwork_settings()` returns complete settings or raises `ConfigError` with one line per
bad or missing variable, naming it and never its value; the API token and the webhook secret are held in
`Secret` and masked in `describe()`, `repr` and errors. `ActionNetworkEnvSchema` is the fragment
`gateway.config` composes once the platform registry exists (phase 2); until then the loader runs it alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, validate
from marshmallow import fields as mf

from gateway.config import ConfigError, Secret

DEFAULT_BASE_URL = "https://actionnetwork.org/api/v2/"
DEFAULT_CRM_ID_FIELD = "salesforce_id"
DEFAULT_REQUESTS_PER_SECOND = 4.0  # Action Network's published limit (docs/platforms/actionnetwork.md)
DEFAULT_MAX_CONCURRENT = 4
DEFAULT_LOOKBACK_SECONDS = 300
PREFIX = "ACTIONNETWORK_"


class ActionNetworkEnvSchema(Schema):
    """The `ACTIONNETWORK_*` variables, one field each. Unknown variables are ignored."""

    class Meta:
        unknown = EXCLUDE

    ACTIONNETWORK_API_TOKEN = mf.String(validate=validate.Length(min=8))
    ACTIONNETWORK_BASE_URL = mf.Url(schemes={"http", "https"}, require_tld=False)
    ACTIONNETWORK_CRM_ID_FIELD = mf.String(
        validate=validate.Regexp(r"^[^\x00-\x1f]{1,64}$", error="1 to 64 printable characters")
    )
    ACTIONNETWORK_SOURCE_TAG = mf.String(validate=validate.Length(min=1, max=255))
    ACTIONNETWORK_WEBHOOK_SECRET = mf.String(validate=validate.Length(min=16))
    ACTIONNETWORK_REQUESTS_PER_SECOND = mf.Float(validate=validate.Range(min=0.1, max=1000))
    ACTIONNETWORK_MAX_CONCURRENT = mf.Integer(validate=validate.Range(min=1, max=256))
    ACTIONNETWORK_LOOKBACK_SECONDS = mf.Integer(validate=validate.Range(min=0, max=7 * 86_400))


REQUIRED = ("ACTIONNETWORK_API_TOKEN",)


@dataclass(frozen=True, slots=True)
class ActionNetworkSettings:
    """How to reach one Action Network group and how hard to use it.

    `requests_per_second` and `max_concurrent` are shared by every process of the deployment (see
    `gateway.platforms.ratelimit`); `lookback_seconds` is re-read before every `changed_since` window, on top of
    the caller's own overlap, because writes reach `modified_date` filters late (background processing).
    """

    api_token: Secret
    base_url: str = DEFAULT_BASE_URL
    crm_id_field: str = DEFAULT_CRM_ID_FIELD
    source_tag: str | None = None
    webhook_secret: Secret | None = None
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not self.api_token:
            raise ValueError("ACTIONNETWORK_API_TOKEN must not be empty")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("ACTIONNETWORK_BASE_URL must be an http(s) URL")
        if not self.crm_id_field:
            raise ValueError("ACTIONNETWORK_CRM_ID_FIELD must not be empty")
        if self.requests_per_second <= 0:
            raise ValueError("ACTIONNETWORK_REQUESTS_PER_SECOND must be positive")
        if self.max_concurrent < 1:
            raise ValueError("ACTIONNETWORK_MAX_CONCURRENT must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    @property
    def api_url(self) -> str:
        """The API entry point, always ending in `/`."""
        return self.base_url if self.base_url.endswith("/") else self.base_url + "/"

    def describe(self) -> dict[str, Any]:
        """The effective settings for `gateway doctor`, secrets masked."""
        return {
            "ACTIONNETWORK_API_TOKEN": str(self.api_token),
            "ACTIONNETWORK_BASE_URL": self.api_url,
            "ACTIONNETWORK_CRM_ID_FIELD": self.crm_id_field,
            "ACTIONNETWORK_SOURCE_TAG": self.source_tag,
            "ACTIONNETWORK_WEBHOOK_SECRET": str(self.webhook_secret) if self.webhook_secret else None,
            "ACTIONNETWORK_REQUESTS_PER_SECOND": self.requests_per_second,
            "ACTIONNETWORK_MAX_CONCURRENT": self.max_concurrent,
            "ACTIONNETWORK_LOOKBACK_SECONDS": self.lookback_seconds,
        }


def validate_env(env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """(the loaded values, one problem line per bad or missing variable). Empty strings count as unset."""
    source = {k: v for k, v in env.items() if k.startswith(PREFIX) and v != ""}
    problems: list[str] = []
    data: dict[str, Any] = {}
    try:
        data = ActionNetworkEnvSchema().load(source)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"environment": exc.messages}
        problems.extend(f"{name}: {'; '.join(map(str, msgs))}" for name, msgs in sorted(messages.items()))
    for name in REQUIRED:
        if name not in source:
            problems.append(f"{name}: missing (required when MESSAGING_PLATFORM=actionnetwork)")
    return data, problems


def build_settings(data: Mapping[str, Any]) -> ActionNetworkSettings:
    """Settings from values `ActionNetworkEnvSchema` loaded."""
    secret = data.get("ACTIONNETWORK_WEBHOOK_SECRET")
    return ActionNetworkSettings(
        api_token=Secret(data["ACTIONNETWORK_API_TOKEN"]),
        base_url=data.get("ACTIONNETWORK_BASE_URL", DEFAULT_BASE_URL),
        crm_id_field=data.get("ACTIONNETWORK_CRM_ID_FIELD", DEFAULT_CRM_ID_FIELD),
        source_tag=data.get("ACTIONNETWORK_SOURCE_TAG"),
        webhook_secret=Secret(secret) if secret else None,
        requests_per_second=data.get("ACTIONNETWORK_REQUESTS_PER_SECOND", DEFAULT_REQUESTS_PER_SECOND),
        max_concurrent=data.get("ACTIONNETWORK_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT),
        lookback_seconds=data.get("ACTIONNETWORK_LOOKBACK_SECONDS", DEFAULT_LOOKBACK_SECONDS),
    )


def load_actionnetwork_settings(env: Mapping[str, str]) -> ActionNetworkSettings:
    """Validate the `ACTIONNETWORK_*` variables of `env` and build the settings; raises `ConfigError`."""
    data, problems = validate_env(env)
    if problems:
        raise ConfigError(problems)
    return build_settings(data)
