"""Opt-out is sticky: Salesforce can opt a person out, never back in; the person's START can."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import FailureType, SyncErrorCode
from gateway.domain.opt_status import (
    Side,
    is_textable,
    keep_recorded_opt_out,
    resolve_sms_status,
    status_from_label,
    status_label,
)

S, U, P, K = SmsStatus.SUBSCRIBED, SmsStatus.UNSUBSCRIBED, SmsStatus.PAUSED, SmsStatus.UNKNOWN


def test_salesforce_cannot_resubscribe_a_person_who_texted_stop() -> None:
    resolution = resolve_sms_status(S, U, requested_by=Side.SALESFORCE)
    assert resolution.status is U and not resolution.write
    assert resolution.error is not None
    assert resolution.error.code is SyncErrorCode.INVALID_MESSAGING_STATUS
    assert resolution.error.failure_type is FailureType.PARTIAL
    assert "only their own START" in resolution.error.message


def test_the_person_start_resubscribes() -> None:
    resolution = resolve_sms_status(S, U, requested_by=Side.PLATFORM)
    assert (resolution.status, resolution.write, resolution.error) == (S, True, None)


def test_a_platform_stop_wins_over_salesforce_subscribed() -> None:
    resolution = resolve_sms_status(U, S, requested_by=Side.PLATFORM)
    assert (resolution.status, resolution.write, resolution.error) == (U, True, None)


@pytest.mark.parametrize(
    ("requested", "current", "status", "write"),
    [
        (U, S, U, True),  # Salesforce may always opt out
        (U, K, U, True),
        (U, U, U, False),
        (U, P, U, True),
        (S, K, S, True),  # a new person, opted in in Salesforce
        (S, S, S, False),
        (S, P, P, False),  # pausing belongs to the platform
        (P, S, S, False),  # Salesforce cannot pause
        (K, S, S, False),  # no opinion changes nothing
        (K, U, U, False),
    ],
)
def test_salesforce_requests(requested: SmsStatus, current: SmsStatus, status: SmsStatus, write: bool) -> None:
    resolution = resolve_sms_status(requested, current, requested_by=Side.SALESFORCE)
    assert (resolution.status, resolution.write, resolution.error) == (status, write, None)


@pytest.mark.parametrize("current", list(SmsStatus))
def test_platform_unknown_changes_nothing(current: SmsStatus) -> None:
    resolution = resolve_sms_status(K, current, requested_by=Side.PLATFORM)
    assert (resolution.status, resolution.write) == (current, False)


def test_status_labels_round_trip_and_read_case_insensitively() -> None:
    for status in SmsStatus:
        assert status_from_label(status_label(status)) is status
    assert status_label(K) == "Not Synced"
    assert status_from_label(" unsubscribed ") is U
    assert status_from_label(None) is K
    assert status_from_label("Opted Out") is K


def test_is_textable_needs_a_phone_and_a_subscription() -> None:
    assert is_textable(Contact(phone="+14155552671", sms_status=S))
    assert not is_textable(Contact(phone=None, sms_status=S))
    for status in (U, P, K):
        assert not is_textable(Contact(phone="+14155552671", sms_status=status))


@pytest.mark.parametrize("current", list(SmsStatus))
@pytest.mark.parametrize("requested", list(SmsStatus))
def test_no_salesforce_request_ever_lifts_an_opt_out_or_a_pause(requested: SmsStatus, current: SmsStatus) -> None:
    resolution = resolve_sms_status(requested, current, requested_by=Side.SALESFORCE)
    if current in (U, P):
        assert resolution.status in (U, P)
    if resolution.write:
        assert resolution.status is requested


READ = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # the record version a write-back was planned on
OWED = {"Messaging_Contact_Id__c": "p-1", "Messaging_Status__c": "Subscribed", "Messaging_Opted_Out_At__c": None}
STATUS_FIELDS = ("Messaging_Status__c", "Mobile_Subscriber__c", "Messaging_Opted_Out_At__c")


def test_a_status_planned_before_the_stop_was_recorded_is_left_out_and_the_link_kept() -> None:
    kept = keep_recorded_opt_out(OWED, STATUS_FIELDS, planned_on=READ, opted_out_at=READ + timedelta(seconds=1))
    assert kept == {"Messaging_Contact_Id__c": "p-1"}
    unknown = keep_recorded_opt_out(OWED, STATUS_FIELDS, planned_on=None, opted_out_at=READ)
    assert unknown == {"Messaging_Contact_Id__c": "p-1"}, "a write of unknown age is older than any STOP"


@pytest.mark.parametrize("opted_out_at", [None, READ, READ - timedelta(minutes=5)])
def test_a_status_planned_on_a_record_that_already_held_the_stop_lands(opted_out_at: datetime | None) -> None:
    assert keep_recorded_opt_out(OWED, STATUS_FIELDS, planned_on=READ, opted_out_at=opted_out_at) == OWED
