"""Creating, updating and finding people through the real adapter and the emulator over HTTP."""

from __future__ import annotations

import pytest

from gateway.domain.contact import Contact, SmsStatus
from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter
from gateway.platforms.base import NotSupportedError

from .conftest import SOURCE_TAG, Control

SF_ID = "003000000000001AAA"


def test_a_new_person_is_created_with_the_salesforce_id_and_the_source_tag(
    adapter: ActionNetworkAdapter, control: Control
) -> None:
    made = adapter.upsert_contact(
        Contact(phone="+12025550101", email="ana@example.org", first_name="Ana", last_name="Lee", crm_id=SF_ID),
        subscribe=False,
    )
    assert made.platform_id and made.crm_id == SF_ID and made.phone == "+12025550101"
    stored = control.person(phone="+12025550101")
    assert stored["id"] == made.platform_id
    assert stored["custom_fields"] == {"salesforce_id": SF_ID}
    assert stored["tags"] == [SOURCE_TAG]
    assert stored["email_addresses"][0]["status"] == "subscribed"  # a new person's email defaults to subscribed
    assert stored["sms_status"] == "unsubscribed"  # …and their phone to unsubscribed unless asked
    assert made.sms_status is SmsStatus.UNSUBSCRIBED


def test_an_update_changes_only_what_it_carries_and_keeps_one_person(
    adapter: ActionNetworkAdapter, control: Control
) -> None:
    first = adapter.upsert_contact(
        Contact(phone="+12025550102", email="ben@example.org", first_name="Ben"), subscribe=True
    )
    again = adapter.upsert_contact(Contact(email="ben@example.org", last_name="Okafor"), subscribe=False)
    assert again.platform_id == first.platform_id
    stored = control.person(email="ben@example.org")
    assert (stored["given_name"], stored["family_name"]) == ("Ben", "Okafor")
    assert stored["sms_status"] == "subscribed"  # no status sent: the number kept its status
    assert len(control.people()) == 1


def test_dedupe_by_email_gives_the_existing_person_the_phone(adapter: ActionNetworkAdapter, control: Control) -> None:
    [existing] = control.post("seed", {"people": [{"email": "cy@example.org", "given_name": "Cy"}]})["ids"]
    view = adapter.upsert_contact(Contact(phone="+12025550103", email="CY@example.org"), subscribe=False)
    assert view.platform_id == existing
    assert control.person(phone="+12025550103")["id"] == existing
    assert len(control.people()) == 1


def test_dedupe_by_phone_merges_a_phone_only_person(adapter: ActionNetworkAdapter, control: Control) -> None:
    [phone_only] = control.post("seed", {"people": [{"phone": "+12025550104", "sms_status": "subscribed"}]})["ids"]
    view = adapter.upsert_contact(Contact(phone="+12025550104", email="dee@example.org"), subscribe=False)
    assert view.platform_id == phone_only and view.email == "dee@example.org"
    assert view.sms_status is SmsStatus.SUBSCRIBED
    assert len(control.people()) == 1


def test_a_phone_held_by_another_emailed_activist_moves_to_the_new_one(
    adapter: ActionNetworkAdapter, control: Control
) -> None:
    [holder] = control.post(
        "seed", {"people": [{"phone": "+12025550105", "email": "old@example.org", "sms_status": "subscribed"}]}
    )["ids"]
    view = adapter.upsert_contact(Contact(phone="+12025550105", email="new@example.org"), subscribe=False)
    assert view.platform_id != holder and view.phone == "+12025550105"
    assert control.person(email="old@example.org")["phone_numbers"] == []


def test_lookups_by_platform_id_and_email_and_what_is_not_supported(
    adapter: ActionNetworkAdapter, control: Control
) -> None:
    [pid] = control.post("seed", {"people": [{"phone": "+12025550106", "email": "eve@example.org"}]})["ids"]
    found = adapter.find_contact(platform_id=pid)
    assert found is not None and found.email == "eve@example.org"
    by_email = adapter.find_by_email("Eve@Example.org")
    assert by_email is not None and by_email.platform_id == pid
    assert adapter.find_contact(platform_id="00000000-0000-4000-8000-000000000000") is None
    assert adapter.find_by_email("nobody@example.org") is None
    with pytest.raises(NotSupportedError):
        adapter.find_contact(phone="+12025550106")
    with pytest.raises(NotSupportedError):
        adapter.find_contact(crm_id=SF_ID)
    assert control.calls("GET people") == 2  # no phone or custom-field query was ever sent


def test_a_record_with_neither_email_nor_phone_is_refused_before_any_call(
    adapter: ActionNetworkAdapter, control: Control
) -> None:
    from gateway.domain.errors import SyncErrorCode, SyncFailure

    with pytest.raises(SyncFailure) as caught:
        adapter.upsert_contact(Contact(first_name="Nobody"), subscribe=True)
    assert caught.value.error.code is SyncErrorCode.MISSING_REQUIRED_FIELD
    with pytest.raises(SyncFailure) as bad:
        adapter.upsert_contact(Contact(phone="555-0101"), subscribe=False)
    assert bad.value.error.code is SyncErrorCode.INVALID_PHONE
    assert control.get("stats")["api_calls"]["total"] == 0


def test_a_change_without_email_or_phone_reaches_the_linked_person(
    adapter: ActionNetworkAdapter, control: Control
) -> None:
    [pid] = control.post("seed", {"people": [{"phone": "+12025550107", "email": "fin@example.org"}]})["ids"]
    view = adapter.upsert_contact(Contact(platform_id=pid, last_name="Moreau"), subscribe=False)
    assert view.platform_id == pid and control.person(email="fin@example.org")["family_name"] == "Moreau"
    assert adapter.opt_out(Contact(platform_id=pid)).sms_status is SmsStatus.UNSUBSCRIBED
    assert len(control.people()) == 1
