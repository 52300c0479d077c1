"""A person texting STOP or START, and texting a keyword: Mobile Commons answers its own words and pushes nothing
(the adapter sees opt-outs by polling); an mData keyword's texts reach its web service, per keyword, as MC sends
them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import requests

from gateway.domain.contact import Contact, SmsStatus
from gateway.emulators.mobilecommons import MobileCommonsEmulator
from gateway.platforms.base import InboundKind
from gateway.platforms.mobilecommons import MobileCommonsAdapter

from .conftest import Control, Receiver, path_query, settings_for

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


def test_stop_reaches_no_mdata_and_is_found_by_polling_with_mc_s_vocabulary(mdata_receiver: Receiver) -> None:
    secret = "mdata-secret-123"
    url = f"{mdata_receiver.url}/webhooks/platforms/mobilecommons/{secret}"
    with MobileCommonsEmulator(mdata_url=url, mdata_keywords=("STOPNOW", "JOIN")) as emu:
        adapter = MobileCommonsAdapter(settings_for(emu, webhook_secret=secret, campaign_id=None))
        adapter.upsert_contact(Contact(phone=PHONE, first_name="Mary", crm_id="003A"), subscribe=False)
        subscribed = MobileCommonsAdapter(settings_for(emu, webhook_secret=secret))
        subscribed.upsert_contact(Contact(phone=PHONE), subscribe=True)
        since = datetime.now(UTC) - timedelta(seconds=1)

        answer = emu.control().post(emu.url + "/__emulator__/inbound", json={"phone": PHONE, "body": "STOP"}).json()

        assert answer["mdata"] is None and mdata_receiver.calls == []
        seen = _changed(adapter, since)[PHONE]  # the profile's own status, no campaign configured
        assert seen.sms_status is SmsStatus.UNSUBSCRIBED and seen.crm_id == "003A"
        raw = requests.get(
            emu.api_url + "profile", params={"phone_number": PHONE[1:]}, auth=(emu.username, emu.password), timeout=5
        ).text
        assert "<status>Undeliverable</status>" in raw
        assert "<opted_out_source>Texted a STOP word</opted_out_source>" in raw
        assert 'status="Opted-Out"' in raw and 'opt_out_source="Texted a STOP word"' in raw
        adapter.close()
        subscribed.close()


def test_a_keyword_s_texts_reach_its_mdata_as_mc_sends_them(mdata_receiver: Receiver) -> None:
    mdata_receiver.reply = "<response><reply><text><![CDATA[Thanks, see you Saturday!]]></text></reply></response>"
    with MobileCommonsEmulator(mdata_url=mdata_receiver.url + "/hook/x", mdata_keywords=("Rally",)) as emu:
        adapter = MobileCommonsAdapter(settings_for(emu, webhook_secret="x"))
        adapter.upsert_contact(Contact(phone=PHONE, first_name="Mary", crm_id="003A"), subscribe=True)
        control = emu.control()
        control.post(emu.url + "/__emulator__/inbound", json={"phone": PHONE, "body": "hello there"})
        assert mdata_receiver.calls == []  # no keyword, no conversation: nothing is pushed

        control.post(emu.url + "/__emulator__/inbound", json={"phone": PHONE, "body": "RALLY yes please"})
        control.post(emu.url + "/__emulator__/inbound", json={"phone": PHONE, "body": "what time?"})

        [(_, headers, form, body), (_, _, follow_up, _)] = mdata_receiver.calls
        assert (form["phone"], form["keyword"], form["args"]) == (PHONE[2:], "rally", "yes please")
        assert form["profile_id"] and form["profile_first_name"] == "Mary" and form["profile_sf_id"] == "003A"
        assert "message_id" not in form
        assert (follow_up["keyword"], follow_up["args"]) == ("rally", "what time?")  # the conversation goes on
        [event] = adapter.parse_webhook("x", headers, form, body)
        assert event.kind is InboundKind.MESSAGE and event.body == "rally yes please"
        assert event.phone == PHONE and event.contact is not None and event.contact.crm_id == "003A"
        history = [m.body for m in adapter.messages(Contact(phone=PHONE)).messages]
        assert history[-2:] == ["what time?", "Thanks, see you Saturday!"]
        adapter.close()


def test_an_mdata_set_to_get_is_called_with_a_query_string(mdata_receiver: Receiver) -> None:
    with MobileCommonsEmulator(
        mdata_url=mdata_receiver.url + "/hook", mdata_keywords=("JOIN",), mdata_method="GET"
    ) as emu:
        emu.control().post(emu.url + "/__emulator__/inbound", json={"phone": PHONE, "body": "join"})
        [(_, _, form, body)] = mdata_receiver.calls
        assert form == {} and body == b""
    query = dict(parse_qsl(path_query(mdata_receiver), keep_blank_values=True))
    assert (query["phone"], query["keyword"], query["args"]) == (PHONE[2:], "join", "")
