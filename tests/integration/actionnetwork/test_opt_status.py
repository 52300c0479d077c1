"""Opt status on Action Network: subscribing new numbers, sticky STOP, opting out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from gateway.domain.contact import Contact, SmsStatus
from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter
from tests.support import wait_for

from .conftest import Control


def next_second() -> None:
    """Action Network's timestamps have one-second precision: let the next change land in a later second."""
    time.sleep(1.05 - (time.time() % 1.0))


def test_a_number_new_to_action_network_is_subscribed_when_salesforce_opted_it_in(
    adapter: ActionNetworkAdapter, control: Control
) -> None:
    view = adapter.upsert_contact(Contact(phone="+12025550201", email="fay@example.org"), subscribe=True)
    assert view.sms_status is SmsStatus.SUBSCRIBED
    assert control.person(phone="+12025550201")["sms_status"] == "subscribed"
    assert len(control.people()) == 1  # the probe and the write are one person


def test_sticky_stop_an_unlinked_record_cannot_resubscribe_a_number_that_texted_stop(
    adapter: ActionNetworkAdapter, control: Control
) -> None:
    adapter.upsert_contact(Contact(phone="+12025550202", email="gus@example.org"), subscribe=True)
    next_second()
    control.post("inbound", {"phone": "+12025550202", "body": "STOP"})
    assert control.person(phone="+12025550202")["sms_status"] == "unsubscribed"
    view = adapter.upsert_contact(Contact(phone="+12025550202", email="gus@example.org"), subscribe=True)
    assert view.sms_status is SmsStatus.UNSUBSCRIBED
    assert control.person(phone="+12025550202")["sms_status"] == "unsubscribed"


def test_sticky_stop_a_linked_record_cannot_resubscribe_either(adapter: ActionNetworkAdapter, control: Control) -> None:
    [pid] = control.post(
        "seed", {"people": [{"phone": "+12025550203", "email": "hal@example.org", "sms_status": "subscribed"}]}
    )["ids"]
    control.post("inbound", {"phone": "+12025550203", "body": "stop"})
    view = adapter.upsert_contact(Contact(phone="+12025550203", platform_id=pid, first_name="Hal"), subscribe=True)
    assert view.sms_status is SmsStatus.UNSUBSCRIBED and view.first_name == "Hal"  # other fields still synced
    assert control.person(phone="+12025550203")["sms_status"] == "unsubscribed"


@pytest.mark.parametrize("stop", [True, False], ids=["a STOP in between", "no STOP"])
def test_a_signup_throttled_after_its_check_checks_again_before_its_retry(
    make_adapter: Callable[..., ActionNetworkAdapter], control: Control, stop: bool
) -> None:
    # 1 request/s (0.9 paced): the check and the signup leave about 1.1 s apart, time for the test to throttle
    # exactly the signup (faults apply to the next API calls, whatever they are) and for the person to text STOP.
    adapter = make_adapter(requests_per_second=1.0)
    [pid] = control.post(
        "seed", {"people": [{"phone": "+12025550208", "email": "mo@example.org", "sms_status": "subscribed"}]}
    )["ids"]

    def throttle_the_signup() -> None:
        wait_for(lambda: control.calls("GET people/{id}") >= 1, timeout=10, interval=0.01, what="the check")
        control.post("faults", {"status": 429, "count": 1, "retry_after": 1})
        wait_for(lambda: control.get("stats")["faults_injected"] >= 1, timeout=10, interval=0.01, what="the 429")
        if stop:
            control.post("inbound", {"phone": "+12025550208", "body": "STOP"})

    meanwhile = threading.Thread(target=throttle_the_signup)
    meanwhile.start()
    view = adapter.upsert_contact(Contact(phone="+12025550208", platform_id=pid, first_name="Mo"), subscribe=True)
    meanwhile.join(10)
    expected = "unsubscribed" if stop else "subscribed"
    assert control.person(phone="+12025550208")["sms_status"] == expected
    assert view.sms_status is SmsStatus(expected) and view.first_name == "Mo"
    assert control.calls("GET people/{id}") == 2 and control.calls("POST people") == 2  # each attempt checked


def test_an_old_number_never_opted_in_is_not_subscribed_from_salesforce(
    adapter: ActionNetworkAdapter, control: Control
) -> None:
    # Action Network cannot tell "never opted in" from "texted STOP": both read unsubscribed, so both stay so.
    control.post(
        "seed", {"people": [{"phone": "+12025550204", "email": "ivy@example.org", "sms_status": "unsubscribed"}]}
    )
    view = adapter.upsert_contact(Contact(phone="+12025550204"), subscribe=True)
    assert view.sms_status is SmsStatus.UNSUBSCRIBED


def test_only_the_persons_own_start_resubscribes_them(adapter: ActionNetworkAdapter, control: Control) -> None:
    [pid] = control.post(
        "seed", {"people": [{"phone": "+12025550205", "email": "jo@example.org", "sms_status": "subscribed"}]}
    )["ids"]
    control.post("inbound", {"phone": "+12025550205", "body": "STOP"})
    control.post("inbound", {"phone": "+12025550205", "body": "START"})
    view = adapter.find_contact(platform_id=pid)
    assert view is not None and view.sms_status is SmsStatus.SUBSCRIBED


def test_opt_out_is_idempotent_and_touches_only_the_number(adapter: ActionNetworkAdapter, control: Control) -> None:
    [pid] = control.post(
        "seed", {"people": [{"phone": "+12025550206", "email": "kay@example.org", "sms_status": "subscribed"}]}
    )["ids"]
    first = adapter.opt_out(Contact(phone="+12025550206", email="kay@example.org", platform_id=pid))
    second = adapter.opt_out(Contact(phone="+12025550206", platform_id=pid))
    assert first.sms_status is second.sms_status is SmsStatus.UNSUBSCRIBED
    stored = control.person(phone="+12025550206")
    assert stored["id"] == pid and stored["email_addresses"][0]["status"] == "subscribed"
    assert len(control.people()) == 1


def test_a_stop_is_not_pushed_it_is_found_by_polling(adapter: ActionNetworkAdapter, control: Control) -> None:
    from datetime import UTC, datetime, timedelta

    [pid] = control.post(
        "seed",
        {
            "people": [
                {
                    "phone": "+12025550207",
                    "email": "lu@example.org",
                    "sms_status": "subscribed",
                    "created_at": "2020-01-01T00:00:00Z",
                }
            ]
        },
    )["ids"]
    answer = control.post("inbound", {"phone": "+12025550207", "body": "STOP"})
    assert answer["pushed"] is False
    now = datetime.now(UTC)
    changed = {c.platform_id: c for c in adapter.changed_since(now - timedelta(minutes=1), now + timedelta(seconds=5))}
    assert changed[pid].sms_status is SmsStatus.UNSUBSCRIBED
