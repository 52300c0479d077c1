"""A person texting STOP or START: the adapter sees it by polling and through the mData call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.domain.contact import Contact, SmsStatus
from gateway.emulators.mobilecommons import MobileCommonsEmulator
from gateway.platforms.base import InboundKind
from gateway.platforms.mobilecommons import MobileCommonsAdapter

from .conftest import Control, Receiver, settings_for

PHONE = "+15105016227"


def _changed(adapter: MobileCommonsAdapter, since: datetime) -> dict[str, Contact]:
    return {c.phone or "": c for c in adapter.changed_since(since, datetime.now(UTC) + timedelta(seconds=1))}


def test_stop_then_start_is_seen_by_polling_and_stop_is_sticky(adapter: MobileCommonsAdapter, control: Control) -> None:
    adapter.upsert_contact(Contact(phone=PHONE, first_name="Mary", crm_id="003A"), subscribe=True)
    since = datetime.now(UTC) - timedelta(seconds=1)

    control.post("inbound", {"phone": PHONE, "body": "Stop"})

    seen = _changed(adapter, since)[PHONE]
    assert seen.sms_status is SmsStatus.UNSUBSCRIBED
    assert seen.opted_out_at is not None
    assert seen.crm_id == "003A"
    assert adapter.upsert_contact(Contact(phone=PHONE), subscribe=True).sms_status is SmsStatus.UNSUBSCRIBED

    control.post("inbound", {"phone": PHONE, "body": "START"})

    assert _changed(adapter, since)[PHONE].sms_status is SmsStatus.SUBSCRIBED
    bodies = [m.body for m in adapter.messages(Contact(phone=PHONE), limit=10).messages]
    assert bodies[-4:-2] == ["Stop", bodies[-3]] and "unsubscribed" in bodies[-3]
    assert bodies[-2] == "START" and "resubscribed" in bodies[-1]


def test_a_stranger_texting_start_becomes_a_subscriber(adapter: MobileCommonsAdapter, control: Control) -> None:
    control.post("inbound", {"phone": PHONE, "body": "START"})
    found = adapter.find_contact(phone=PHONE)
    assert found is not None and found.sms_status is SmsStatus.SUBSCRIBED


def test_stop_is_delivered_as_mdata_and_parsed_into_an_opt_out(mdata_receiver: Receiver) -> None:
    secret = "mdata-secret-123"
    with MobileCommonsEmulator(mdata_url=f"{mdata_receiver.url}/webhooks/platforms/mobilecommons/{secret}") as emu:
        adapter = MobileCommonsAdapter(settings_for(emu, webhook_secret=secret))
        created = adapter.upsert_contact(Contact(phone=PHONE, first_name="Mary", crm_id="003A"), subscribe=True)

        answer = emu.control().post(emu.url + "/__emulator__/inbound", json={"phone": PHONE, "body": "STOP"}).json()

        assert answer["mdata"]["delivered"] is True
        [(path, headers, form, body)] = mdata_receiver.calls
        path_secret = path.rsplit("/", 1)[-1]
        [event] = adapter.parse_webhook(path_secret, headers, form, body)
        assert event.kind is InboundKind.OPT_OUT
        assert event.phone == PHONE
        assert event.contact is not None
        assert event.contact.platform_id == created.platform_id
        assert event.contact.crm_id == "003A"  # profile_* fields carry the custom column too
        assert event.contact.first_name == "Mary"
        adapter.close()


def test_an_mdata_reply_is_texted_back_and_kept_in_the_history(mdata_receiver: Receiver) -> None:
    mdata_receiver.reply = "<response><reply><text><![CDATA[Thanks, see you Saturday!]]></text></reply></response>"
    with MobileCommonsEmulator(mdata_url=mdata_receiver.url + "/hook/x") as emu:
        adapter = MobileCommonsAdapter(settings_for(emu, webhook_secret="x"))
        emu.control().post(emu.url + "/__emulator__/inbound", json={"phone": PHONE, "body": "RALLY yes please"})

        [(_, headers, form, body)] = mdata_receiver.calls
        assert (form["keyword"], form["args"]) == ("RALLY", "yes please")
        [event] = adapter.parse_webhook("x", headers, form, body)
        assert event.kind is InboundKind.MESSAGE and event.body == "RALLY yes please"
        history = adapter.messages(Contact(phone=PHONE)).messages
        assert [m.body for m in history] == ["RALLY yes please", "Thanks, see you Saturday!"]
        adapter.close()
