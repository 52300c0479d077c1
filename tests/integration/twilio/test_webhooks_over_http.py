"""The emulator's signed webhooks, received the way the gateway will receive them and checked by `signature.py`."""

from __future__ import annotations

from gateway.config import Secret
from gateway.emulators.twilio import TwilioEmulator
from gateway.platforms.base import InboundKind
from gateway.platforms.twilio.adapter import TwilioAdapter
from tests.integration.twilio.conftest import PERSON, Control, Receiver, settings_for

STANDALONE = "+12025550100"
POOL = "+12025550101"


def test_every_inbound_webhook_verifies_and_reads_as_the_person_meant(
    adapter: TwilioAdapter, control: Control, receiver: Receiver
) -> None:
    for body in ("Hi there", "STOP", "HELP", "START"):
        answer = control.post("inbound", {"phone": PERSON, "body": body, "to": STANDALONE})
        assert answer["webhook"]["status"] == 200, answer
    assert receiver.rejected == []
    assert [e.kind for e in receiver.events] == [
        InboundKind.MESSAGE,
        InboundKind.OPT_OUT,
        InboundKind.MESSAGE,
        InboundKind.OPT_IN,
    ]
    assert len({e.idempotency_key for e in receiver.events}) == 4


def test_a_service_with_advanced_opt_out_sends_opt_out_type(
    adapter: TwilioAdapter, control: Control, receiver: Receiver
) -> None:
    answer = control.post("inbound", {"phone": PERSON, "body": "stop", "to": POOL})
    assert answer["opt_out_type"] == "STOP"
    assert [e.kind for e in receiver.events] == [InboundKind.OPT_OUT]


def test_a_json_webhook_verifies_through_body_sha256(
    adapter: TwilioAdapter, control: Control, receiver: Receiver
) -> None:
    control.post("inbound", {"phone": PERSON, "body": "STOP", "to": STANDALONE, "format": "json"})
    assert receiver.rejected == []
    assert [e.kind for e in receiver.events] == [InboundKind.OPT_OUT]


def test_a_gateway_holding_another_token_rejects_every_webhook(
    emulator: TwilioEmulator, control: Control, receiver: Receiver
) -> None:
    wrong = TwilioAdapter(settings_for(emulator, receiver.url, auth_token=Secret("x" * 32)))
    receiver.adapter = wrong
    emulator.app.webhook_url = receiver.url + "/webhooks/platforms/twilio"
    answer = control.post("inbound", {"phone": PERSON, "body": "STOP", "to": STANDALONE})
    assert answer["webhook"]["status"] == 403
    assert receiver.events == [] and len(receiver.rejected) == 1
    wrong.close()


def test_a_gateway_configured_with_another_public_url_rejects(
    emulator: TwilioEmulator, control: Control, receiver: Receiver
) -> None:
    elsewhere = TwilioAdapter(settings_for(emulator, "https://gateway.example.org"))
    receiver.adapter = elsewhere
    emulator.app.webhook_url = receiver.url + "/webhooks/platforms/twilio"
    assert control.post("inbound", {"phone": PERSON, "body": "STOP"})["webhook"]["status"] == 403
    assert receiver.events == []
    elsewhere.close()


def test_status_callbacks_are_signed_and_a_21610_failure_opts_the_recipient_out(
    adapter: TwilioAdapter, emulator: TwilioEmulator, control: Control, receiver: Receiver
) -> None:
    control.post("inbound", {"phone": PERSON, "body": "STOP", "to": POOL})
    receiver.events.clear()
    sent = adapter._call(
        "POST",
        f"/2010-04-01/Accounts/{emulator.account_sid}/Messages.json",
        {"To": PERSON, "MessagingServiceSid": emulator.service_sid, "Body": "Rally tonight"},
    )
    assert sent["status"] == "accepted"  # a service send is accepted first; the block shows in its callbacks
    receiver.wait_for(lambda r: any(e.kind is InboundKind.OPT_OUT for e in r.events))
    assert receiver.rejected == []
    [opt_out] = [e for e in receiver.events if e.kind is InboundKind.OPT_OUT]
    assert opt_out.phone == PERSON and opt_out.idempotency_key == f"twilio:{sent['sid']}:failed"
    assert control.get("stats")["webhooks"]["failed"] == 0


def test_a_delivered_message_reports_each_status_after_the_first(
    adapter: TwilioAdapter, emulator: TwilioEmulator, control: Control, receiver: Receiver
) -> None:
    messages = f"/2010-04-01/Accounts/{emulator.account_sid}/Messages"
    sent = adapter._call("POST", f"{messages}.json", {"To": PERSON, "From": STANDALONE, "Body": "Hello"})
    assert sent["status"] == "queued"

    def callbacks(_: Receiver) -> bool:
        return sum(1 for d in control.get("stats")["webhooks"]["recent"] if d["kind"] == "status") >= 2

    receiver.wait_for(callbacks)
    assert adapter._call("GET", f"{messages}/{sent['sid']}.json", None)["status"] == "delivered"
    recent = [d for d in control.get("stats")["webhooks"]["recent"] if d["kind"] == "status"]
    assert len(recent) == 2 and all(d["status"] == 200 for d in recent)  # sent, delivered; none for queued
    assert receiver.rejected == [] and receiver.events == []
