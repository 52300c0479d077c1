"""Transient failures are retried a bounded number of times, then surface as transient SyncFailures;
credentials problems are configuration errors that never show a secret."""

from __future__ import annotations

import socket

import pytest

from gateway.domain.contact import Contact
from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.emulators.mobilecommons import MobileCommonsEmulator
from gateway.platforms.mobilecommons import MobileCommonsAdapter

from .conftest import Control, settings_for

MARY = Contact(phone="+15105016227", first_name="Mary")


@pytest.mark.parametrize(
    ("fault", "code"),
    [({"error_code": 27}, SyncErrorCode.RATE_LIMITED), ({"status": 503}, SyncErrorCode.PLATFORM_UNAVAILABLE)],
)
def test_a_short_burst_is_retried_and_succeeds(
    adapter: MobileCommonsAdapter, control: Control, fault: dict[str, int], code: SyncErrorCode
) -> None:
    control.post("faults", {**fault, "count": 2})

    assert adapter.upsert_contact(MARY, subscribe=True).platform_id

    assert control.calls("profile_update") == 3


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        ({"error_code": 27}, SyncErrorCode.RATE_LIMITED, "error 27"),
        ({"status": 503}, SyncErrorCode.PLATFORM_UNAVAILABLE, "heavy load"),
    ],
)
def test_a_lasting_failure_surfaces_as_a_transient_error_after_three_attempts(
    adapter: MobileCommonsAdapter, control: Control, fault: dict[str, int], code: SyncErrorCode, words: str
) -> None:
    control.post("faults", fault)

    with pytest.raises(SyncFailure) as caught:
        adapter.upsert_contact(MARY, subscribe=True)

    assert caught.value.error.code is code
    assert caught.value.error.transient
    assert words in caught.value.error.detail
    assert control.calls("profile_update") == 3
    assert control.get("stats")["faults_injected"] == 3


def test_cleared_faults_stop(adapter: MobileCommonsAdapter, control: Control, emulator: MobileCommonsEmulator) -> None:
    control.post("faults", {"status": 503})
    response = control.session.delete(control.base + "faults", timeout=5)
    assert response.status_code == 200
    adapter.check()


def test_bad_credentials_are_a_configuration_error_without_the_secret(
    emulator: MobileCommonsEmulator, control: Control
) -> None:
    password = "Wrong-Passw0rd-d0-not-show"
    adapter = MobileCommonsAdapter(settings_for(emulator, password=password))

    with pytest.raises(SyncFailure) as caught:
        adapter.check()

    error = caught.value.error
    assert error.code is SyncErrorCode.CONFIGURATION
    assert not error.transient
    assert "MOBILECOMMONS_PASSWORD" in error.detail
    for text in (str(caught.value), error.detail, error.message, repr(adapter)):
        assert password not in text
        assert emulator.password not in text
    assert control.get("stats")["unauthorized"] == 1  # not retried


def test_a_bearer_token_replaces_basic_auth() -> None:
    with MobileCommonsEmulator(bearer_token="ucm-token-1") as emu:
        good = MobileCommonsAdapter(settings_for(emu, username=None, password=None, bearer_token="ucm-token-1"))
        good.check()
        bad = MobileCommonsAdapter(settings_for(emu, username=None, password=None, bearer_token="ucm-token-2"))
        with pytest.raises(SyncFailure) as caught:
            bad.check()
        assert caught.value.error.code is SyncErrorCode.CONFIGURATION
        assert "ucm-token-2" not in str(caught.value)
        good.close()
        bad.close()


def test_a_platform_that_does_not_answer_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with MobileCommonsEmulator() as emu:
        adapter = MobileCommonsAdapter(settings_for(emu, base_url=f"http://127.0.0.1:{port}/api/"))
    with pytest.raises(SyncFailure) as caught:
        adapter.find_contact(phone=MARY.phone)
    assert caught.value.error.code is SyncErrorCode.PLATFORM_UNAVAILABLE
    assert caught.value.error.transient


def test_a_slow_platform_times_out_as_unavailable(emulator: MobileCommonsEmulator, control: Control) -> None:
    control.post("faults", {"latency_ms": 400, "count": 1})
    adapter = MobileCommonsAdapter(settings_for(emulator, read_timeout_seconds=0.1, max_attempts=1))
    with pytest.raises(SyncFailure) as caught:
        adapter.check()
    assert caught.value.error.code is SyncErrorCode.PLATFORM_UNAVAILABLE


def test_check_names_a_campaign_that_does_not_exist(emulator: MobileCommonsEmulator) -> None:
    adapter = MobileCommonsAdapter(settings_for(emulator, campaign_id="42"))
    with pytest.raises(SyncFailure) as caught:
        adapter.check()
    assert "MOBILECOMMONS_CAMPAIGN_ID" in caught.value.error.detail


def test_the_company_key_is_sent_and_a_wrong_one_names_the_setting() -> None:
    with MobileCommonsEmulator(company_key="ACME") as emu:
        right = MobileCommonsAdapter(settings_for(emu, company_key="ACME"))
        assert right.upsert_contact(MARY, subscribe=True).platform_id
        wrong = MobileCommonsAdapter(settings_for(emu, company_key="OTHER"))
        with pytest.raises(SyncFailure) as caught:
            wrong.find_contact(phone=MARY.phone)
        assert caught.value.error.code is SyncErrorCode.CONFIGURATION
        assert "MOBILECOMMONS_COMPANY_KEY" in caught.value.error.detail
        right.close()
        wrong.close()
