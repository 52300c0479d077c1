"""`MOBILECOMMONS_MAX_CONCURRENT` and `MOBILECOMMONS_REQUESTS_PER_SECOND`, as `gateway.config` composes them: the
documented defaults, a clear line per bad value, and how many calls one job then keeps in flight."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, load_settings
from gateway.platforms.mobilecommons import MobileCommonsSettings
from gateway.sync.context import SyncContext
from gateway.sync.to_platform import PLATFORM_CONCURRENCY, job_concurrency

ACCOUNT = {"MESSAGING_PLATFORM": "mobilecommons", "MOBILECOMMONS_USERNAME": "u", "MOBILECOMMONS_PASSWORD": "p"}


def test_by_default_80_calls_in_flight_half_the_companys_160_and_no_request_rate() -> None:
    settings = load_settings(ACCOUNT).platform
    assert isinstance(settings, MobileCommonsSettings)
    assert settings.max_concurrent == 80
    assert settings.requests_per_second is None


def test_a_cap_above_the_companys_limit_or_a_rate_that_is_no_number_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**ACCOUNT, "MOBILECOMMONS_MAX_CONCURRENT": "200", "MOBILECOMMONS_REQUESTS_PER_SECOND": "fast"})
    assert [line.split(":")[0] for line in caught.value.problems] == [
        "MOBILECOMMONS_MAX_CONCURRENT",
        "MOBILECOMMONS_REQUESTS_PER_SECOND",
    ]
    assert "160" in caught.value.problems[0]


def test_a_job_keeps_the_platforms_shared_cap_in_flight_unless_bulk_threads_are_set() -> None:
    capped = SyncContext(settings=load_settings({**ACCOUNT, "MOBILECOMMONS_MAX_CONCURRENT": "40"}), redis=None)  # type: ignore[arg-type]
    assert job_concurrency(capped) == 80  # two threads a slot: a record also waits outside its platform call
    assert job_concurrency(capped, 6) == 6
    uncapped = SyncContext(settings=load_settings({"MESSAGING_PLATFORM": "recording"}), redis=None)  # type: ignore[arg-type]
    assert job_concurrency(uncapped) == PLATFORM_CONCURRENCY
