"""Incoming Twilio webhooks → events: what a STOP, a START, a HELP or a reply becomes, and what is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from gateway.domain.contact import SmsStatus
from gateway.platforms.base import InboundEvent, InboundKind, WebhookRejectedError
from gateway.platforms.twilio.adapter import TwilioAdapter
from gateway.platforms.twilio.settings import TwilioSettings
from gateway.platforms.twilio.webhooks import parse
from gateway.settings_base import Secret

TOKEN = "5b1e0c7f2a9d4e6b8c3f1a2d4e6b8c0a"
ACCOUNT = "AC" + "1" * 32
SERVICE = "MG" + "2" * 32
OUR_NUMBER = "+12025550100"
SERVICE_NUMBER = "+12025550101"
PERSON = "+14155550123"
BASE = "https://gw.example.org"
PATH = "/webhooks/platforms/twilio"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def settings(**changes: Any) -> TwilioSettings:
    values: dict[str, Any] = {
        "account_sid": ACCOUNT,
        "auth_token": Secret(TOKEN),
        "messaging_service_sid": SERVICE,
        "from_numbers": (OUR_NUMBER,),
        "webhook_base_url": BASE,
    }
    values.update(changes)
    return TwilioSettings(**values)


def twilio_sign(url: str, params: dict[str, str]) -> str:
    text = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(TOKEN.encode(), text.encode(), hashlib.sha1).digest()).decode()


def inbound(body: str, *, to: str = OUR_NUMBER, sid: str = "SM" + "a" * 32, **extra: str) -> dict[str, str]:
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": PERSON, "To": to, "Body": body}
    params.update({"NumMedia": "0", "SmsStatus": "received", "ApiVersion": "2010-04-01"}, **extra)
    return params


@dataclass(frozen=True)
class Made:
    """One request as the route hands it to the adapter: the path and raw query, the headers, the raw body."""

    url: str
    headers: dict[str, str]
    body: bytes


def request(
    params: dict[str, str] | list[tuple[str, str]],
    *,
    query: str = "",
    signature: str | None = "auto",
    **headers: str,
) -> Made:
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    url = PATH + (f"?{query}" if query else "")
    all_headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    if signature == "auto":
        all_headers["X-Twilio-Signature"] = twilio_sign(BASE + url, dict(pairs))
    elif signature is not None:
        all_headers["X-Twilio-Signature"] = signature
    return Made(url, all_headers, urlencode(pairs).encode())


def parse_request(made: Made, settings: TwilioSettings, *, received_at: datetime | None = None) -> list[InboundEvent]:
    return parse(settings, made.url, made.headers, made.body, received_at=received_at)


def kinds(params: dict[str, str], **settings_changes: Any) -> list[InboundKind]:
    return [e.kind for e in parse_request(request(params), settings(**settings_changes), received_at=NOW)]


@pytest.mark.parametrize(
    ("opt_out_type", "body", "kind"),
    [
        ("STOP", "arrêter", InboundKind.OPT_OUT),  # a custom Advanced Opt-Out keyword: OptOutType decides
        ("START", "reprendre", InboundKind.OPT_IN),
        ("HELP", "HELP", InboundKind.MESSAGE),
    ],
)
def test_opt_out_type_decides_when_present(opt_out_type: str, body: str, kind: InboundKind) -> None:
    assert kinds(inbound(body, OptOutType=opt_out_type, MessagingServiceSid=SERVICE, to=SERVICE_NUMBER)) == [kind]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("STOP", InboundKind.OPT_OUT),
        ("  stop ", InboundKind.OPT_OUT),
        ("Unsubscribe", InboundKind.OPT_OUT),
        ("optout", InboundKind.OPT_OUT),
        ("Stop.", InboundKind.OPT_OUT),  # unconfirmed at Twilio: read as an opt-out, the safe side
        ("STOP PLEASE", InboundKind.MESSAGE),
        ("please stop", InboundKind.MESSAGE),
        ("START", InboundKind.OPT_IN),
        ("unstop", InboundKind.OPT_IN),
        ("Yes", InboundKind.OPT_IN),
        ("Start!", InboundKind.MESSAGE),  # an opt-in must be exact
        ("HELP", InboundKind.MESSAGE),
        ("info", InboundKind.MESSAGE),
        ("See you at 6", InboundKind.MESSAGE),
    ],
)
def test_default_keywords_when_twilio_sends_no_opt_out_type(body: str, kind: InboundKind) -> None:
    assert kinds(inbound(body)) == [kind]


def test_with_advanced_opt_out_only_its_start_resubscribes() -> None:
    assert kinds(inbound("YES"), advanced_opt_out=True) == [InboundKind.MESSAGE]
    assert kinds(inbound("START"), advanced_opt_out=True) == [InboundKind.MESSAGE]
    assert kinds(inbound("STOP"), advanced_opt_out=True) == [InboundKind.OPT_OUT]
    assert kinds(inbound("YES", OptOutType="START"), advanced_opt_out=True) == [InboundKind.OPT_IN]


def test_a_stop_carries_the_person_unsubscribed_and_is_keyed_on_the_message_sid() -> None:
    [event] = parse_request(request(inbound("STOP")), settings(), received_at=NOW)
    assert event.phone == PERSON
    assert event.idempotency_key == "twilio:SM" + "a" * 32
    assert event.occurred_at == NOW
    assert event.contact is not None
    assert event.contact.sms_status is SmsStatus.UNSUBSCRIBED and event.contact.opted_out_at == NOW
    [again] = parse_request(request(inbound("STOP")), settings(), received_at=NOW)
    assert again.idempotency_key == event.idempotency_key  # a redelivery is the same event


def test_a_start_resubscribes_and_a_reply_changes_nobody() -> None:
    [start] = parse_request(request(inbound("START")), settings(), received_at=NOW)
    assert start.contact is not None and start.contact.sms_status is SmsStatus.SUBSCRIBED
    [reply] = parse_request(request(inbound("Running late")), settings(), received_at=NOW)
    assert reply.kind is InboundKind.MESSAGE and reply.body == "Running late"
    assert reply.contact is not None and reply.contact.sms_status is SmsStatus.UNKNOWN


def test_only_a_stop_counts_from_a_sender_the_gateway_does_not_follow() -> None:
    elsewhere = "+13105550199"
    assert kinds(inbound("STOP", to=elsewhere)) == [InboundKind.OPT_OUT]
    assert kinds(inbound("START", to=elsewhere)) == []
    assert kinds(inbound("hello", to=elsewhere)) == []
    assert kinds(inbound("hello", to=SERVICE_NUMBER, MessagingServiceSid=SERVICE)) == [InboundKind.MESSAGE]


def test_a_channel_address_is_not_a_person_here() -> None:
    params = inbound("STOP")
    params["From"] = "whatsapp:+14155550123"
    assert kinds(params) == []


def test_the_query_string_is_part_of_what_is_signed() -> None:
    params = inbound("STOP")
    signed = request(params, query="tenant=east")
    assert [e.kind for e in parse_request(signed, settings())] == [InboundKind.OPT_OUT]
    unsigned_query = request(params, query="tenant=east", signature=twilio_sign(BASE + PATH, params))
    assert parse_request(request(params, query="tenant=east&x=a%2Bb"), settings())  # kept encoded as sent
    with pytest.raises(WebhookRejectedError) as caught:
        parse_request(unsigned_query, settings())
    assert caught.value.status == 403


@pytest.mark.parametrize("signature", [None, "", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="])
def test_a_missing_or_forged_signature_is_403(signature: str | None) -> None:
    with pytest.raises(WebhookRejectedError) as caught:
        parse_request(request(inbound("STOP"), signature=signature), settings())
    assert caught.value.status == 403


def test_a_request_signed_with_another_base_url_is_403() -> None:
    with pytest.raises(WebhookRejectedError):
        parse_request(request(inbound("STOP")), settings(webhook_base_url="https://other.example.org"))


def test_a_request_for_another_account_is_403_even_when_signed() -> None:
    params = inbound("STOP")
    params["AccountSid"] = "AC" + "9" * 32
    with pytest.raises(WebhookRejectedError, match="another Twilio account") as caught:
        parse_request(request(params), settings())
    assert caught.value.status == 403


def test_a_webhooks_rule_signature_is_refused_with_the_reason() -> None:
    signed = request(inbound("STOP"), **{"X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_SHA256"})
    with pytest.raises(WebhookRejectedError, match="shared key"):
        parse_request(signed, settings())


def test_a_signed_request_without_message_sid_is_400() -> None:
    params = inbound("STOP")
    del params["MessageSid"], params["SmsSid"]
    with pytest.raises(WebhookRejectedError) as caught:
        parse_request(request(params), settings())
    assert caught.value.status == 400


def status_callback(status: str, error_code: str | None = None) -> dict[str, str]:
    params = {
        "MessageSid": "SM" + "b" * 32,
        "SmsSid": "SM" + "b" * 32,
        "AccountSid": ACCOUNT,
        "From": OUR_NUMBER,
        "To": PERSON,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


def test_a_status_callback_failing_with_21610_records_the_recipient_as_opted_out() -> None:
    [event] = parse_request(request(status_callback("failed", "21610")), settings(), received_at=NOW)
    assert event.kind is InboundKind.OPT_OUT and event.phone == PERSON
    assert event.idempotency_key == "twilio:SM" + "b" * 32 + ":failed"


@pytest.mark.parametrize(("status", "code"), [("sent", None), ("delivered", None), ("undelivered", "30003")])
def test_other_status_callbacks_change_nobody(status: str, code: str | None) -> None:
    assert parse_request(request(status_callback(status, code)), settings()) == []


def test_a_json_body_is_checked_through_body_sha256() -> None:
    body = json.dumps(inbound("STOP")).encode()
    url = f"{PATH}?bodySHA256=" + hashlib.sha256(body).hexdigest()
    headers = {"x-twilio-signature": twilio_sign(BASE + url, {}), "content-type": "application/json; charset=utf-8"}
    assert [e.kind for e in parse_request(Made(url, headers, body), settings())] == [InboundKind.OPT_OUT]
    with pytest.raises(WebhookRejectedError, match="body does not match"):
        parse_request(Made(url, headers, body.replace(b"STOP", b"START")), settings())


def test_repeated_parameters_are_checked_as_sent() -> None:
    """A form's parameters reach the signature check as the raw body holds them, repeats and order included."""
    pairs = [*inbound("Hi").items(), ("MediaUrl0", "https://b.example/1"), ("MediaUrl0", "https://a.example/2")]
    text = BASE + PATH + "".join(n + v for n, v in sorted(pairs))
    signed = base64.b64encode(hmac.new(TOKEN.encode(), text.encode(), hashlib.sha1).digest()).decode()
    made = request(pairs, signature=signed)
    assert [e.kind for e in parse_request(made, settings())] == [InboundKind.MESSAGE]
    with pytest.raises(WebhookRejectedError):
        parse_request(request(pairs[:-1], signature=signed), settings())  # one value fewer: not what was signed


def test_a_get_webhook_is_signed_over_its_url_alone() -> None:
    query = urlencode(inbound("STOP"))
    made = Made(f"{PATH}?{query}", {"X-Twilio-Signature": twilio_sign(f"{BASE}{PATH}?{query}", {})}, b"")
    assert [e.kind for e in parse_request(made, settings())] == [InboundKind.OPT_OUT]


def test_a_body_neither_form_nor_json_is_415() -> None:
    made = request(inbound("STOP"), **{"Content-Type": "text/plain"})
    with pytest.raises(WebhookRejectedError) as caught:
        parse_request(made, settings())
    assert caught.value.status == 415


def test_the_adapter_checks_the_url_the_route_hands_it() -> None:
    adapter = TwilioAdapter(settings())
    try:
        made = request(inbound("STOP"), query="tenant=east")
        events = adapter.parse_webhook("", made.headers, {}, made.body, url=made.url)
        assert [e.kind for e in events] == [InboundKind.OPT_OUT]
        with pytest.raises(WebhookRejectedError):
            adapter.parse_webhook("", made.headers, {}, made.body, url=PATH)  # the query string is signed too
        assert adapter.webhook_reply.mimetype == "text/xml" and "<Response/>" in adapter.webhook_reply.body
    finally:
        adapter.close()
