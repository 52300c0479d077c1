"""The Twilio adapter against the emulator over HTTP: history paging and merge, the 21610 block, errors, 429s."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import redis

from gateway.config import Secret
from gateway.domain.contact import Contact, SmsStatus
from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.emulators.twilio import TwilioEmulator
from gateway.platforms.base import Direction, NotSupportedError
from gateway.platforms.twilio.adapter import TwilioAdapter
from gateway.platforms.twilio.errors import error_for, read_error
from tests.integration.twilio.conftest import PERSON, Control, Receiver, settings_for

STANDALONE = "+12025550100"
OTHER = "+14155550999"


def send(adapter: TwilioAdapter, emulator: TwilioEmulator, **params: str) -> dict[str, object]:
    return adapter._call("POST", f"/2010-04-01/Accounts/{emulator.account_sid}/Messages.json", params)


def test_the_conversation_pages_newest_first_through_next_page_uri_and_merges_both_directions(
    emulator: TwilioEmulator, control: Control, receiver: Receiver
) -> None:
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    control.post("seed", {"phone": PERSON, "count": 9, "start": start.isoformat(), "step_seconds": 3600})
    control.post("seed", {"phone": OTHER, "count": 4, "start": start.isoformat(), "step_seconds": 600})
    adapter = TwilioAdapter(settings_for(emulator, receiver.url, page_size=2))  # force next_page_uri
    try:
        person = Contact(phone=PERSON)
        first = adapter.messages(person, limit=4)
        assert [m.body for m in first.messages] == [f"seeded message {i}" for i in (6, 7, 8, 9)]  # oldest → newest
        assert [m.direction for m in first.messages] == [  # the seed alternates, the person's texts are even
            Direction.INCOMING,
            Direction.OUTGOING,
            Direction.INCOMING,
            Direction.OUTGOING,
        ]
        assert first.next_before is not None
        second = adapter.messages(person, limit=4, before=first.next_before)
        assert [m.body for m in second.messages] == [f"seeded message {i}" for i in (2, 3, 4, 5)]
        assert second.next_before is not None
        last = adapter.messages(person, limit=4, before=second.next_before)
        assert [m.body for m in last.messages] == ["seeded message 1"] and last.next_before is None
        calls = control.get("stats")["api_calls"]["by_class"]["messages.list"]
        assert calls > 6  # two directions per page, several list pages each
    finally:
        adapter.close()


def test_messages_with_other_senders_of_the_account_are_not_the_conversation(
    adapter: TwilioAdapter, emulator: TwilioEmulator, control: Control
) -> None:
    emulator.state.numbers = (*emulator.state.numbers, "+13105550111")
    send(adapter, emulator, To=PERSON, From="+13105550111", Body="From another team's number")
    send(adapter, emulator, To=PERSON, From=STANDALONE, Body="From ours")
    page = adapter.messages(Contact(phone=PERSON))
    assert [m.body for m in page.messages] == ["From ours"]


def test_a_stop_blocks_sending_with_21610_until_the_person_texts_start(
    adapter: TwilioAdapter, emulator: TwilioEmulator, control: Control
) -> None:
    control.post("inbound", {"phone": PERSON, "body": "STOP", "to": STANDALONE})
    with pytest.raises(SyncFailure) as caught:
        send(adapter, emulator, To=PERSON, From=STANDALONE, Body="Are you coming?")
    assert caught.value.error.code is SyncErrorCode.INVALID_MESSAGING_STATUS
    assert "21610" in caught.value.error.detail and "opted out" in caught.value.error.detail
    assert control.get("contacts", phone=PERSON)["contacts"][0]["sms_status"] == "unsubscribed"
    control.post("inbound", {"phone": PERSON, "body": "START", "to": STANDALONE})
    assert send(adapter, emulator, To=PERSON, From=STANDALONE, Body="Welcome back")["status"] == "queued"
    assert control.get("contacts", phone=PERSON)["contacts"][0]["blocked"] is False


def test_the_block_is_per_sender_scope(adapter: TwilioAdapter, emulator: TwilioEmulator, control: Control) -> None:
    control.post("inbound", {"phone": PERSON, "body": "STOP", "to": STANDALONE})
    assert send(adapter, emulator, To=PERSON, From="+12025550102", Body="From the pool")["status"] == "queued"


def test_the_raw_21610_answer_is_twilios_error_body(emulator: TwilioEmulator, control: Control) -> None:
    control.post("inbound", {"phone": PERSON, "body": "stop", "to": STANDALONE})
    answer = emulator.control().post(
        f"{emulator.url}/2010-04-01/Accounts/{emulator.account_sid}/Messages.json",
        data={"To": PERSON, "From": STANDALONE, "Body": "x"},
        auth=(emulator.account_sid, emulator.auth_token),
        timeout=10,
    )
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "message", "more_info", "status"}
    read = read_error(answer.status_code, answer.content)
    assert read.code == 21610 and read.blocks_recipient
    assert error_for(read).code is SyncErrorCode.INVALID_MESSAGING_STATUS


def test_rate_limiting_is_retried_and_then_reported_as_transient(
    emulator: TwilioEmulator, control: Control, receiver: Receiver
) -> None:
    control.post("seed", {"phone": PERSON, "count": 3})
    adapter = TwilioAdapter(settings_for(emulator, receiver.url, max_attempts=3))
    try:
        control.post("faults", {"status": 429, "count": 2})
        assert len(adapter.messages(Contact(phone=PERSON)).messages) == 3
        assert control.get("stats")["faults_injected"] == 2
        control.post("faults", {"error_code": 20429, "count": 10})
        with pytest.raises(SyncFailure) as caught:
            adapter.messages(Contact(phone=PERSON))
        assert caught.value.error.code is SyncErrorCode.RATE_LIMITED and caught.value.error.transient
    finally:
        adapter.close()


@pytest.mark.parametrize(
    ("client_slots", "attempts", "throttled"),
    [(8, 8, True), (2, 1, False)],  # beyond the platform's limit: 20429s, retried; within it: none
)
def test_concurrency_beyond_the_platforms_limit_gets_20429_and_the_adapter_recovers(
    emulator: TwilioEmulator,
    control: Control,
    receiver: Receiver,
    redis_url: str,
    client_slots: int,
    attempts: int,
    throttled: bool,
) -> None:
    control.post("seed", {"phone": PERSON, "count": 2})
    control.post("faults", {"max_concurrent": 2, "latency_ms": 40})
    settings = settings_for(
        emulator, receiver.url, max_attempts=attempts, max_concurrent=client_slots, requests_per_second=1000
    )
    # two adapters on one Redis, as two worker processes are: TWILIO_MAX_CONCURRENT holds for both together
    adapters = [TwilioAdapter.build(settings, redis.Redis.from_url(redis_url)) for _ in range(2)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            pages = list(pool.map(lambda i: adapters[i % 2].messages(Contact(phone=PERSON)), range(8)))
        assert all(len(p.messages) == 2 for p in pages)
        stats = control.get("stats")
        assert (stats["throttled"] > 0) is throttled
        if not throttled:
            assert stats["peak_in_flight"] == client_slots  # the shared cap, used fully, never exceeded
    finally:
        for adapter in adapters:
            adapter.close()


def test_check_passes_and_names_what_is_wrong(emulator: TwilioEmulator, receiver: Receiver) -> None:
    good = TwilioAdapter(settings_for(emulator, receiver.url))
    good.check()
    good.close()
    wrong_number = TwilioAdapter(settings_for(emulator, receiver.url, from_numbers=("+13105550000",)))
    with pytest.raises(SyncFailure, match="TWILIO_FROM_NUMBERS"):
        wrong_number.check()
    wrong_number.close()
    bad_key = TwilioAdapter(settings_for(emulator, receiver.url, api_key_secret=Secret("not-the-secret")))
    with pytest.raises(SyncFailure) as caught:
        bad_key.check()
    assert caught.value.error.code is SyncErrorCode.CONFIGURATION
    assert "TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET" in caught.value.error.detail
    assert "not-the-secret" not in caught.value.error.detail
    bad_key.close()
    bad_token = TwilioAdapter(
        settings_for(emulator, receiver.url, api_key_sid=None, api_key_secret=None, auth_token=Secret("0" * 32))
    )
    with pytest.raises(SyncFailure, match="TWILIO_AUTH_TOKEN"):
        bad_token.check()
    bad_token.close()


def test_no_contact_store_every_people_method_refuses_instead_of_pretending(adapter: TwilioAdapter) -> None:
    """The flags say Twilio keeps no people; a sync that ignored them fails loudly rather than silently writing
    nothing (the ledger lives in Salesforce, kept by the sync)."""
    assert not adapter.capabilities.contact_store and not adapter.capabilities.lookup_by_phone
    for call in (
        lambda: adapter.find_contact(phone=PERSON),
        lambda: adapter.find_contacts_by_phone([PERSON]),
        lambda: adapter.upsert_contact(Contact(phone=PERSON, sms_status=SmsStatus.SUBSCRIBED), subscribe=True),
        lambda: adapter.opt_out(Contact(phone=PERSON)),
        lambda: adapter.campaigns(Contact(phone=PERSON)),
    ):
        with pytest.raises(NotSupportedError):
            call()


def test_changed_since_recovers_keywords_a_missed_webhook_carried(
    emulator: TwilioEmulator, control: Control, receiver: Receiver
) -> None:
    emulator.app.webhook_url = None  # the gateway was down: no webhook reached it
    control.post("inbound", {"phone": PERSON, "body": "STOP", "to": STANDALONE})
    control.post("inbound", {"phone": OTHER, "body": "start", "to": STANDALONE})
    control.post("inbound", {"phone": OTHER, "body": "see you", "to": STANDALONE})
    adapter = TwilioAdapter(settings_for(emulator, receiver.url))
    try:
        now = datetime.now(UTC)
        found = {c.phone: c.sms_status for c in adapter.changed_since(now - timedelta(minutes=5), now)}
        assert found == {PERSON: SmsStatus.UNSUBSCRIBED, OTHER: SmsStatus.SUBSCRIBED}
    finally:
        adapter.close()


def test_the_cli_prints_one_ready_line_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.emulators.twilio.cli", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert {"url", "control_token", "account_sid", "auth_token", "messaging_service_sid"} <= set(ready)
        import requests

        stats = requests.get(
            ready["url"] + "/__emulator__/stats", headers={"X-Emulator-Token": ready["control_token"]}, timeout=10
        )
        assert stats.status_code == 200 and stats.json()["api_calls"]["total"] == 0
        assert requests.get(ready["url"] + "/__emulator__/stats", timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)
