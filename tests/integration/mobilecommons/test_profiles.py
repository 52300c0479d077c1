"""The real adapter against the emulator over HTTP: create, update, opt-in rules, opt-out, polling pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.emulators.mobilecommons import MobileCommonsEmulator
from gateway.platforms.mobilecommons import MobileCommonsAdapter

from .conftest import Control, settings_for

MARY = Contact(
    phone="+15105016227",
    first_name="Mary",
    last_name="Smith",
    email="mary@example.org",
    address=PostalAddress(city="Oakland", postal_code="94612"),
    crm_id="0035g00000AbCdEAAV",
).with_changes(custom_fields={"Favorite animal": "otter"})


def test_a_new_subscriber_is_created_with_crm_id_and_welcomed_once(
    adapter: MobileCommonsAdapter, control: Control
) -> None:
    created = adapter.upsert_contact(MARY, subscribe=True)

    assert created.platform_id
    assert created.sms_status is SmsStatus.SUBSCRIBED
    assert created.crm_id == MARY.crm_id
    assert created.custom_fields["Favorite animal"] == "otter"
    stored = control.contact("+15105016227")
    assert stored["custom_fields"]["sf_id"] == MARY.crm_id  # the CRM id lives in MC's custom column
    assert stored["first_name"] == "Mary" and stored["city"] == "Oakland"
    assert stored["message_count"] == 1  # the opt-in path's welcome text

    again = adapter.upsert_contact(MARY, subscribe=True)
    assert again.platform_id == created.platform_id
    assert control.contact("+15105016227")["message_count"] == 1  # no second welcome


def test_an_update_changes_what_is_sent_and_keeps_what_is_not(adapter: MobileCommonsAdapter) -> None:
    adapter.upsert_contact(MARY, subscribe=True)

    updated = adapter.upsert_contact(
        Contact(phone=MARY.phone, first_name="Maria", email=None, crm_id=MARY.crm_id), subscribe=False
    )

    assert updated.first_name == "Maria"
    assert updated.email == "mary@example.org"  # MC keeps a field an update leaves empty
    assert updated.last_name == "Smith"
    assert updated.sms_status is SmsStatus.SUBSCRIBED


def test_a_profile_created_without_consent_is_not_subscribed_until_opted_in(adapter: MobileCommonsAdapter) -> None:
    plain = adapter.upsert_contact(MARY, subscribe=False)
    assert plain.sms_status is SmsStatus.UNKNOWN
    assert not plain.is_textable

    assert adapter.upsert_contact(MARY, subscribe=True).sms_status is SmsStatus.SUBSCRIBED


def test_an_opted_out_number_is_never_resubscribed_through_the_api(
    adapter: MobileCommonsAdapter, control: Control
) -> None:
    adapter.upsert_contact(MARY, subscribe=True)

    out = adapter.opt_out(MARY)
    assert out.sms_status is SmsStatus.UNSUBSCRIBED
    assert out.opted_out_at is not None

    again = adapter.upsert_contact(MARY.with_changes(first_name="Mae"), subscribe=True)
    assert again.sms_status is SmsStatus.UNSUBSCRIBED  # once per campaign: MC ignores the second opt-in
    assert again.first_name == "Mae"  # while the other fields still update
    assert control.contact(MARY.phone)["sms_status"] == "unsubscribed"
    assert adapter.opt_out(MARY).sms_status is SmsStatus.UNSUBSCRIBED  # idempotent


def test_opting_out_someone_never_subscribed_is_harmless(adapter: MobileCommonsAdapter) -> None:
    adapter.upsert_contact(MARY, subscribe=False)
    assert adapter.opt_out(MARY).sms_status is SmsStatus.UNKNOWN


def test_campaigns_show_membership_and_its_state(adapter: MobileCommonsAdapter) -> None:
    adapter.upsert_contact(MARY, subscribe=True)
    [joined] = adapter.campaigns(MARY)
    assert (joined.name, joined.status) == ("National", "active")

    adapter.opt_out(MARY)
    [left] = adapter.campaigns(MARY)
    assert left.status == "opted-out"
    assert left.at is not None


def test_lookup_by_phone_finds_or_says_none(adapter: MobileCommonsAdapter) -> None:
    assert adapter.find_contact(phone=MARY.phone) is None
    created = adapter.upsert_contact(MARY, subscribe=True)
    found = adapter.find_contact(phone=MARY.phone)
    assert found is not None and found.platform_id == created.platform_id


def test_a_number_mc_cannot_read_is_an_invalid_phone(adapter: MobileCommonsAdapter) -> None:
    with pytest.raises(SyncFailure) as caught:
        adapter.upsert_contact(Contact(phone="+10005550100"), subscribe=False)
    assert caught.value.error.code is SyncErrorCode.INVALID_PHONE
    assert "error 5" in caught.value.error.detail


def test_a_wrong_opt_in_path_is_a_configuration_error(emulator: MobileCommonsEmulator) -> None:
    adapter = MobileCommonsAdapter(settings_for(emulator, opt_in_path_id="1"))
    with pytest.raises(SyncFailure) as caught:
        adapter.upsert_contact(MARY, subscribe=True)
    assert caught.value.error.code is SyncErrorCode.CONFIGURATION
    with pytest.raises(SyncFailure) as checked:
        adapter.check()
    assert "MOBILECOMMONS_OPT_IN_PATH_ID" in checked.value.error.detail


def _seed_old(control: Control, count: int, updated: datetime, *, spread: bool = False) -> list[str]:
    """`count` profiles last updated at `updated` (one second apart from it with `spread`)."""
    specs = [
        {
            "phone": f"+1212555{i:04d}",
            "first_name": f"P{i}",
            "updated_at": (updated + timedelta(seconds=i if spread else 0)).isoformat(),
        }
        for i in range(count)
    ]
    return [p["phone"] for p in control.post("seed", {"profiles": specs})["profiles"]]


@pytest.mark.parametrize("count", [0, 4, 5, 9, 10, 11, 23])
def test_polling_returns_every_changed_profile_at_and_around_page_boundaries(
    emulator: MobileCommonsEmulator, control: Control, count: int
) -> None:
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    phones = _seed_old(control, count, hour_ago, spread=True)
    outside = control.post("seed", {"profiles": [{"phone": "+13125550000", "updated_at": "2020-01-01"}]})
    assert outside["created"] == 1
    adapter = MobileCommonsAdapter(settings_for(emulator, page_size=5))

    seen = [c.phone for c in adapter.changed_since(hour_ago - timedelta(minutes=1), hour_ago + timedelta(minutes=1))]

    assert sorted(set(seen)) == sorted(phones)
    calls = control.calls("profiles")
    if count < 5:
        assert calls == 1  # a window that fits one page is one call: a quiet poll costs one call
    else:  # halving a 121-second window: at most two calls per level, for each page's worth of profiles
        assert calls <= 1 + 2 * 7 * -(-count // 5)


def test_a_second_holding_more_than_a_page_is_read_whole(emulator: MobileCommonsEmulator, control: Control) -> None:
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    phones = _seed_old(control, 23, hour_ago)  # a bulk import: 23 profiles in one second, pages of 5
    adapter = MobileCommonsAdapter(settings_for(emulator, page_size=5))

    seen = [c.phone for c in adapter.changed_since(hour_ago - timedelta(seconds=3), hour_ago + timedelta(seconds=3))]

    assert sorted(seen) == sorted(phones)


def test_a_profile_leaving_the_window_while_paging_makes_no_other_one_missed(
    emulator: MobileCommonsEmulator, control: Control
) -> None:
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    phones = _seed_old(control, 6, hour_ago)
    adapter = MobileCommonsAdapter(settings_for(emulator, page_size=2))
    pages = adapter.changed_since(hour_ago - timedelta(minutes=1), hour_ago + timedelta(minutes=1))

    seen = [next(pages).phone]
    adapter.upsert_contact(Contact(phone=phones[0], first_name="Moved"), subscribe=False)  # leaves the window
    seen.extend(c.phone for c in pages)

    assert set(phones[1:]) <= set(seen)


def test_a_batch_lookup_holding_a_number_mobile_commons_refuses_still_finds_everyone_else(
    adapter: MobileCommonsAdapter, control: Control
) -> None:
    people = [f"+1510501{6200 + i:04d}" for i in range(6)]
    for phone in people:
        adapter.upsert_contact(Contact(phone=phone, first_name="P"), subscribe=True)
    foreign = "+442079460958"  # a valid UK number: Mobile Commons answers error 5 for it (the emulator: any list)
    before = control.calls("profiles")

    found = adapter.find_contacts_by_phone([*people[:3], foreign, *people[3:], "+15105019999"])

    assert sorted(found) == people  # the foreign and the unknown number are found by nobody; the batch is not lost
    assert control.calls("profiles") - before <= 2 * 3 + 1  # split in halves around the one bad number
