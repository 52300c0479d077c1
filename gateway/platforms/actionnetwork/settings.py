"""Action Network's settings: the only place its `ACTIONNETWORK_*` variables are named.

`Variables` checks each variable on its own (types, URL, lengths, ranges); `ActionNetworkSettings` is the frozen
result and checks what must hold whoever builds it (`gateway.config` from the environment through the registry, or a
test from keyword arguments): one rule, one place. Secrets are held as `Secret`, so no repr or error prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, validate
from marshmallow import fields as mf

from gateway.settings_base import InvalidSettings, Secret, SecretString, secret

DEFAULT_BASE_URL = "https://actionnetwork.org/api/v2/"
DEFAULT_CRM_ID_FIELD = "salesforce_id"
DEFAULT_REQUESTS_PER_SECOND = 4.0  # Action Network's published limit (docs/platforms/actionnetwork.md)
DEFAULT_MAX_CONCURRENT = 4
DEFAULT_LOOKBACK_SECONDS = 300
DEFAULT_POLL_SECONDS = 60


class Variables(Schema):
    """The `ACTIONNETWORK_*` environment variables, one field each."""

    class Meta:
        unknown = EXCLUDE

    ACTIONNETWORK_API_TOKEN = SecretString(validate=validate.Length(min=8))
    ACTIONNETWORK_BASE_URL = mf.Url(schemes={"http", "https"}, require_tld=False)
    ACTIONNETWORK_CRM_ID_FIELD = mf.String(
        validate=validate.Regexp(r"^[^\x00-\x1f]{1,64}$", error="1 to 64 printable characters")
    )
    ACTIONNETWORK_SOURCE_TAG = mf.String(validate=validate.Length(min=1, max=255))
    ACTIONNETWORK_WEBHOOK_SECRET = SecretString(validate=validate.Length(min=16))
    ACTIONNETWORK_REQUESTS_PER_SECOND = mf.Float(validate=validate.Range(min=0.1, max=1000))
    ACTIONNETWORK_MAX_CONCURRENT = mf.Integer(validate=validate.Range(min=1, max=256))
    ACTIONNETWORK_LOOKBACK_SECONDS = mf.Integer(validate=validate.Range(min=0, max=7 * 86_400))
    ACTIONNETWORK_POLL_SECONDS = mf.Integer(validate=validate.Range(min=1, max=86_400))


@dataclass(frozen=True, slots=True)
class ActionNetworkSettings:
    """How to reach one Action Network group and how hard to use it. Plain strings given for the secrets are kept
    as `Secret`; raises `InvalidSettings` (a `ValueError`), one line per variable, when the settings cannot work.

    `requests_per_second` and `max_concurrent` are shared by every process of the deployment (`gateway.ratelimit`);
    `lookback_seconds` is re-read before every `changed_since` window, on top of the caller's own overlap, because
    writes reach `modified_date` filters late (background processing); `poll_seconds` is how often `gateway cron`
    asks for changed people (Action Network pushes no opt-out, so this is how long a STOP can take to reach
    Salesforce, plus a job's run).
    """

    api_token: Secret | None = None
    base_url: str = DEFAULT_BASE_URL
    crm_id_field: str = DEFAULT_CRM_ID_FIELD
    source_tag: str | None = None
    webhook_secret: Secret | None = None
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS
    poll_seconds: int = DEFAULT_POLL_SECONDS
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def __post_init__(self) -> None:
        for name in ("api_token", "webhook_secret"):
            object.__setattr__(self, name, secret(getattr(self, name)))
        problems = self.problems()
        if problems:
            raise InvalidSettings(problems)

    def problems(self) -> list[str]:
        """What keeps these settings from working, one line per variable."""
        problems = []
        if not self.api_token:
            problems.append("ACTIONNETWORK_API_TOKEN: missing (required when MESSAGING_PLATFORM=actionnetwork)")
        if not self.base_url.startswith(("https://", "http://")):
            problems.append("ACTIONNETWORK_BASE_URL: not an http(s) URL")
        if not self.crm_id_field:
            problems.append("ACTIONNETWORK_CRM_ID_FIELD: must not be empty")
        if self.requests_per_second <= 0:
            problems.append("ACTIONNETWORK_REQUESTS_PER_SECOND: must be positive")
        if self.max_concurrent < 1:
            problems.append("ACTIONNETWORK_MAX_CONCURRENT: must be at least 1")
        if self.poll_seconds < 1:
            problems.append("ACTIONNETWORK_POLL_SECONDS: must be at least 1")
        if self.max_attempts < 1:
            problems.append("max_attempts: must be at least 1")
        return problems

    @property
    def token(self) -> str:
        """The API key, for the one header that carries it."""
        assert self.api_token is not None  # __post_init__ refuses settings without one
        return self.api_token.reveal()

    @property
    def api_url(self) -> str:
        """The API entry point, always ending in `/`."""
        return self.base_url if self.base_url.endswith("/") else self.base_url + "/"

    @classmethod
    def from_variables(cls, data: Mapping[str, Any]) -> ActionNetworkSettings:
        """The settings from variables `Variables` has validated (an unset variable takes its default)."""
        given = {name.removeprefix("ACTIONNETWORK_").lower(): value for name, value in data.items()}
        return cls(**given)
