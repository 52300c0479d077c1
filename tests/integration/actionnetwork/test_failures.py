"""Throttling and failures: 429 with and without Retry-After, outages, bad keys — what is retried and what is not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter

from .conftest import Control

PID = "00000000-0000-4000-8000-000000000001"


def test_a_429_with_retry_after_holds_everyone_back_that_long(adapter: ActionNetworkAdapter, control: Control) -> None:
    import time

    control.post("faults", {"status": 429, "count": 1, "retry_after": 0.4})
    started = time.monotonic()
    assert adapter.find_contact(platform_id=PID) is None
    assert time.monotonic() - started >= 0.38
    assert control.get("stats")["faults_injected"] == 1


def test_a_429_without_retry_after_backs_off_and_succeeds(adapter: ActionNetworkAdapter, control: Control) -> None:
    control.post("faults", {"status": 429, "count": 3})
    assert adapter.find_contact(platform_id=PID) is None
    assert control.calls("GET people/{id}") == 4


def test_an_outage_is_retried_then_reported_as_transient(
    make_adapter: Callable[..., ActionNetworkAdapter], control: Control
) -> None:
    adapter = make_adapter(max_attempts=3)
    control.post("faults", {"status": 503, "ratio": 1.0})
    with pytest.raises(SyncFailure) as caught:
        adapter.find_contact(platform_id=PID)
    assert caught.value.error.code is SyncErrorCode.PLATFORM_UNAVAILABLE and caught.value.error.transient
    assert control.calls("GET people/{id}") == 3


def test_a_bad_key_is_a_configuration_error_and_never_retried(
    make_adapter: Callable[..., ActionNetworkAdapter], control: Control
) -> None:
    from gateway.config import Secret

    adapter = make_adapter(api_token=Secret("not-the-key-at-all"))
    with pytest.raises(SyncFailure) as caught:
        adapter.check()
    assert caught.value.error.code is SyncErrorCode.CONFIGURATION
    assert "ACTIONNETWORK_API_TOKEN" in caught.value.error.detail
    assert "not-the-key-at-all" not in str(caught.value)
    assert control.get("stats")["unauthorized"] == 1


def test_a_refused_write_carries_the_platforms_message(adapter: ActionNetworkAdapter, control: Control) -> None:
    from gateway.domain.contact import Contact

    with pytest.raises(SyncFailure) as caught:
        adapter.upsert_contact(Contact(email="not-an-email"), subscribe=False)
    assert caught.value.error.code is SyncErrorCode.PLATFORM_REJECTED
    assert "not valid" in caught.value.error.detail
