"""Mobile Commons' settings: the only place its `MOBILECOMMONS_*` variables are named.

`Variables` checks each variable on its own (types, URL, lengths); `MobileCommonsSettings` is the frozen result and
checks what spans variables (credentials), whether it is built by `gateway.config` from the environment or by a
test from keyword arguments: one rule, one place. Secrets are held as `Secret`, so no repr prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, validate
from marshmallow import fields as mf

from gateway.settings_base import InvalidSettings, Secret, SecretString, secret

DEFAULT_BASE_URL = "https://secure.mcommons.com/api/"
MAX_PAGE_SIZE = 1000
DEFAULT_POLL_SECONDS = 60
# The poll is how a STOP reaches Salesforce (MC pushes none). Budget (docs/platforms/mobilecommons.md, "Polling
# budget"): a poll costs 1 call while fewer than 1,000 profiles changed in its window (interval + 120 s overlap),
# about 2 per 1,000 beyond; it holds one call in flight, of the 160 concurrent calls Upland allows a company (MC
# documents no hourly or daily quota). 10 s = 360 calls an hour when quiet; a shorter interval would start a poll
# before a slow one (a 1,000-profile page) has ended, for a STOP delay the rest of the path already exceeds.
MIN_POLL_SECONDS = 10
# Requests in flight to MC from the whole deployment (every worker on every machine, `gateway.ratelimit`). Upland
# documents "a rate limit for individual companies of 160 concurrent API calls" (docs/platforms/mobilecommons.md,
# S5) and asked one client to stay at 80: 80 by default leaves the other half to the company's other API users.
DEFAULT_MAX_CONCURRENT = 80
MAX_CONCURRENT_CAP = 160  # the company's documented limit: more can only draw error 27


class Variables(Schema):
    """The `MOBILECOMMONS_*` environment variables, one field each."""

    class Meta:
        unknown = EXCLUDE

    MOBILECOMMONS_BASE_URL = mf.Url(schemes={"http", "https"}, require_tld=False)
    MOBILECOMMONS_USERNAME = mf.String()
    MOBILECOMMONS_PASSWORD = SecretString()
    MOBILECOMMONS_BEARER_TOKEN = SecretString()
    MOBILECOMMONS_COMPANY_KEY = mf.String()
    MOBILECOMMONS_OPT_IN_PATH_ID = mf.String()
    MOBILECOMMONS_CAMPAIGN_ID = mf.String()
    MOBILECOMMONS_CRM_ID_COLUMN = mf.String(validate=validate.Length(min=1, max=64))
    MOBILECOMMONS_WEBHOOK_SECRET = SecretString(validate=validate.Length(min=16))
    MOBILECOMMONS_MAX_CONCURRENT = mf.Integer(
        validate=validate.Range(
            min=1, max=MAX_CONCURRENT_CAP, error=f"must be 1 to {MAX_CONCURRENT_CAP} (Mobile Commons' company limit)"
        )
    )
    MOBILECOMMONS_REQUESTS_PER_SECOND = mf.Float(validate=validate.Range(min=0.1, max=10_000))
    MOBILECOMMONS_POLL_SECONDS = mf.Integer(
        strict=False,
        validate=validate.Range(
            min=MIN_POLL_SECONDS, error=f"must be at least {MIN_POLL_SECONDS} (Mobile Commons' API budget)"
        ),
    )


@dataclass(frozen=True, slots=True)
class MobileCommonsSettings:
    """How to reach one Mobile Commons account. Plain strings given for the secrets are kept as `Secret`.

    Raises `InvalidSettings` (a `ValueError`), one line per variable, when the settings cannot work.
    """

    username: str | None = None
    password: Secret | None = None
    bearer_token: Secret | None = None
    base_url: str = DEFAULT_BASE_URL
    company_key: str | None = None
    opt_in_path_id: str | None = None
    campaign_id: str | None = None
    crm_id_column: str = "sf_id"
    webhook_secret: Secret | None = None
    poll_seconds: int = DEFAULT_POLL_SECONDS  # how often `gateway cron` asks for changed profiles (MC pushes no STOP)
    # Shared by every process of the deployment (`gateway.ratelimit`); MC documents no request rate, so none is kept
    # unless one is set.
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    requests_per_second: float | None = None
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_attempts: int = 3
    backoff_seconds: float = 0.5
    page_size: int = MAX_PAGE_SIZE

    def __post_init__(self) -> None:
        for name in ("password", "bearer_token", "webhook_secret"):
            object.__setattr__(self, name, secret(getattr(self, name)))
        problems = self.problems()
        if problems:
            raise InvalidSettings(problems)

    def problems(self) -> list[str]:
        """What keeps these settings from working, one line per variable."""
        problems = []
        if not self.bearer_token and not (self.username and self.password):
            problems.append(
                "MOBILECOMMONS_USERNAME: missing (Mobile Commons needs MOBILECOMMONS_USERNAME and "
                "MOBILECOMMONS_PASSWORD, or MOBILECOMMONS_BEARER_TOKEN)"
            )
        if not self.base_url.startswith(("https://", "http://")):
            problems.append("MOBILECOMMONS_BASE_URL: not an http(s) URL")
        if not self.crm_id_column:
            problems.append("MOBILECOMMONS_CRM_ID_COLUMN: must not be empty")
        if self.poll_seconds < MIN_POLL_SECONDS:
            problems.append(
                f"MOBILECOMMONS_POLL_SECONDS: must be at least {MIN_POLL_SECONDS} (Mobile Commons' API budget)"
            )
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            problems.append(f"page_size: must be between 1 and {MAX_PAGE_SIZE}")
        if self.max_attempts < 1:
            problems.append("max_attempts: must be at least 1")
        if not 1 <= self.max_concurrent <= MAX_CONCURRENT_CAP:
            problems.append(
                f"MOBILECOMMONS_MAX_CONCURRENT: must be 1 to {MAX_CONCURRENT_CAP} (Mobile Commons' company limit)"
            )
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            problems.append("MOBILECOMMONS_REQUESTS_PER_SECOND: must be positive")
        return problems

    @classmethod
    def from_variables(cls, data: Mapping[str, Any]) -> MobileCommonsSettings:
        """The settings from variables `Variables` has validated (an unset variable takes its default)."""
        given = {name.removeprefix("MOBILECOMMONS_").lower(): value for name, value in data.items()}
        return cls(**given)
