"""Twilio through the whole product: the Salesforce emulator (with its relay), the Twilio emulator signing for the
gateway's public URL (a proxy in front, as deployed), the gateway's web app over HTTP, a real `gateway worker` and a
real Redis. What an admin and the person texting would notice: the webhook's answers, a STOP on the record within
seconds, the sticky STOP, the person's own START, the conversation on the record page, and the backstop poll."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
import requests
from rq import Queue

from gateway import create_app
from gateway.config import load_settings
from gateway.emulators.twilio import TwilioEmulator
from gateway.emulators.twilio.app import twilio_signature
from gateway.emulators.twilio.demo import gateway_env
from tests.conftest import CLIENTS
from tests.integration.gateway.conftest import sf, sf_server, sync_env  # noqa: F401 - fixtures reused here
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import Process, serve_in_thread, token, wait_for

PUBLIC = "https://sms-gateway.example.org"  # what Twilio calls; a proxy forwards it to the gateway
ROUTE = "/webhooks/platforms/twilio"
STANDALONE = "+12025550100"


@dataclass
class Stack:
    sf: Emulator
    tw: TwilioEmulator
    gateway_url: str
    env: dict[str, str]
    redis: redis.Redis

    def contact(self, phone: str, **extra: Any) -> str:
        values = {"FirstName": "Grace", "LastName": "Hopper", "MobilePhone": phone, "Mobile_Subscriber__c": True}
        response = self.sf.control("POST", "records/Contact?as=admin", json={**values, **extra})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def update(self, record_id: str, values: dict[str, Any]) -> None:
        response = self.sf.control("PATCH", f"records/Contact/{record_id}?as=admin", json=values)
        assert response.status_code == 204, response.text

    def record(self, record_id: str) -> dict[str, Any]:
        return self.sf.record("Contact", record_id)

    def results(self, record_id: str | None = None) -> list[dict[str, Any]]:
        where = f" WHERE Record_Id__c = '{record_id}'" if record_id else ""
        soql = (
            "SELECT Direction__c, Status__c, Error_Code__c, Message__c, Request_Endpoint__c, Request_Body__c "
            f"FROM Sync_Result__c{where} ORDER BY CreatedDate"
        )
        return list(self.sf.sf("admin").query_all(soql)["records"])

    def text_in(self, phone: str, body: str, to: str = STANDALONE) -> dict[str, Any]:
        response = self.tw.control().post(
            f"{self.tw.url}/__emulator__/inbound", json={"phone": phone, "body": body, "to": to}, timeout=30
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def status_is(self, record_id: str, status: str) -> dict[str, Any] | None:
        found = self.record(record_id)
        return found if found.get("Messaging_Status__c") == status else None


@pytest.fixture
def stack(sync_env: dict[str, str], sf: Emulator) -> Iterator[Stack]:  # noqa: F811 - pytest fixture injection
    with TwilioEmulator(public_base_url=PUBLIC, status_delay_ms=10) as tw:
        ready = {**tw.ready_line(), "webhook_url": PUBLIC + ROUTE}
        env = {**sync_env, "MESSAGING_PLATFORM": "twilio", **gateway_env(ready, "")}
        settings = load_settings(env, roles=("web", "worker"))
        with serve_in_thread(create_app(settings)) as url:
            tw.app.webhook_url = tw.app.status_callback_url = url + ROUTE
            org_id, org_secret = "salesforce-org", CLIENTS["salesforce-org"][0]
            relay = sf.control("POST", "relay", json={"url": url, "client_id": org_id, "client_secret": org_secret})
            assert relay.status_code == 200, relay.text
            connection = redis.Redis.from_url(env["REDIS_URL"])
            worker = Process(["worker"], env)
            try:
                yield Stack(sf=sf, tw=tw, gateway_url=url, env=env, redis=connection)
            finally:
                worker.stop()
                sf.control("DELETE", "relay")
                connection.close()


def eventually(predicate: Any, what: str, timeout: float = 30) -> Any:
    return wait_for(predicate, timeout=timeout, interval=0.05, what=what)


def _signed_stop(stack: Stack, sid: str, phone: str, *, token: str | None = None) -> requests.Response:
    params = {
        "AccountSid": stack.tw.account_sid,
        "MessageSid": sid,
        "From": phone,
        "To": STANDALONE,
        "Body": "STOP",
        "SmsStatus": "received",
    }
    signature = twilio_signature(token or stack.tw.auth_token, PUBLIC + ROUTE, params)
    return requests.post(
        stack.gateway_url + ROUTE,
        data=urlencode(params),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )


def _seen(stack: Stack) -> list[bytes]:
    return list(stack.redis.scan_iter("gateway:events:seen:twilio:*"))


def test_the_webhook_refuses_a_bad_signature_answers_empty_twiml_and_queues_a_redelivery_once(stack: Stack) -> None:
    record_id = stack.contact("(415) 555-2681")
    eventually(lambda: stack.status_is(record_id, "Subscribed"), "the subscribe recorded in the ledger")

    forged = _signed_stop(stack, "SM" + "f" * 32, "+14155552681", token="x" * 32)
    assert forged.status_code == 403
    unsigned = requests.post(stack.gateway_url + ROUTE, data={"MessageSid": "SM" + "e" * 32}, timeout=10)
    assert unsigned.status_code == 403
    assert _seen(stack) == []  # nothing of either was queued

    first = _signed_stop(stack, "SM" + "a" * 32, "+14155552681")
    again = _signed_stop(stack, "SM" + "a" * 32, "+14155552681")  # Twilio retrying the same message
    for answer in (first, again):
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
        assert answer.text.endswith("<Response/>")
    assert len(_seen(stack)) == 1
    eventually(lambda: stack.status_is(record_id, "Unsubscribed"), "the STOP in Salesforce")
    time.sleep(0.5)
    assert [r["Direction__c"] for r in stack.results(record_id)] == ["To Platform", "To Salesforce"]


def test_stop_is_on_the_record_within_seconds_sticky_against_salesforce_and_lifted_by_the_persons_start(
    stack: Stack,
) -> None:
    record_id = stack.contact("415-555-2682")
    eventually(lambda: stack.status_is(record_id, "Subscribed"), "the subscribe recorded in the ledger")

    started = time.monotonic()
    answer = stack.text_in("+14155552682", "STOP")
    assert answer["webhook"]["status"] == 200 and answer["keyword"] == "STOP"
    stopped = eventually(lambda: stack.status_is(record_id, "Unsubscribed"), "the STOP in Salesforce")
    assert time.monotonic() - started < 10
    assert stopped["Mobile_Subscriber__c"] is False and stopped["Messaging_Opted_Out_At__c"]

    stack.update(record_id, {"Mobile_Subscriber__c": True})  # an admin ticks the box again
    refused = eventually(
        lambda: [r for r in stack.results(record_id) if r["Status__c"] == "Partial Failure"], "the refusal"
    )
    assert refused[-1]["Error_Code__c"] == "invalid-messaging-status"
    assert refused[-1]["Request_Endpoint__c"] == "twilio:ledger"
    assert stack.record(record_id)["Messaging_Status__c"] == "Unsubscribed"
    assert stack.tw.state.contacts("+14155552682")[0]["blocked"] is True  # Twilio keeps blocking, untouched

    stack.text_in("+14155552682", "HELP")  # logged, not an opt change
    time.sleep(1)
    assert stack.record(record_id)["Messaging_Status__c"] == "Unsubscribed"

    stack.text_in("+14155552682", "START")  # the person's own word lifts it
    lifted = eventually(lambda: stack.status_is(record_id, "Subscribed"), "the START in Salesforce")
    assert lifted["Mobile_Subscriber__c"] is True and not lifted["Messaging_Opted_Out_At__c"]


def test_the_conversation_shows_on_the_record_page(stack: Stack) -> None:
    record_id = stack.contact("(415) 555-2683")
    for body in ("Is the rally still on?", "HELP", "STOP"):
        stack.text_in("+14155552683", body)
    bearer = token(stack.gateway_url, "salesforce-org", CLIENTS["salesforce-org"][0])
    answer = requests.get(
        f"{stack.gateway_url}/api/v1/contacts/messages",
        params={"crmId": record_id},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["supported"] is True and page["platform"] == "twilio"
    incoming = [m["body"] for m in page["messages"] if m["direction"] == "incoming"]
    # Twilio's times are whole seconds: texts within one second have no order to show (docs/platforms/twilio.md)
    assert sorted(incoming) == ["HELP", "Is the rally still on?", "STOP"]
    assert [m["at"] for m in page["messages"]] == sorted(m["at"] for m in page["messages"])
    assert page["counts"] == {"incoming": 3, "outgoing": 2}  # the HELP and STOP confirmations


def test_a_text_sent_outside_the_gateway_to_a_blocked_person_records_the_opt_out(stack: Stack) -> None:
    """The organisation's own tool texts through the Messaging Service; Twilio fails it with 21610 and the signed
    status callback tells the gateway, which records the person as opted out."""
    record_id = stack.contact("+14155552684")
    eventually(lambda: stack.status_is(record_id, "Subscribed"), "the subscribe recorded in the ledger")
    stack.tw.app.webhook_url = None  # the STOP's own webhook never arrives
    pool = stack.tw.state.service_numbers[0]
    stack.text_in("+14155552684", "STOP", to=pool)
    sent = requests.post(
        f"{stack.tw.url}/2010-04-01/Accounts/{stack.tw.account_sid}/Messages.json",
        data={"To": "+14155552684", "MessagingServiceSid": stack.tw.service_sid, "Body": "Rally tonight"},
        auth=(stack.tw.api_key_sid, stack.tw.api_key_secret),
        timeout=10,
    )
    assert sent.status_code == 201 and sent.json()["status"] == "accepted"
    eventually(lambda: stack.status_is(record_id, "Unsubscribed"), "the 21610 recorded in Salesforce")


def test_the_backstop_poll_finds_a_stop_whose_webhook_was_missed(stack: Stack) -> None:
    record_id = stack.contact("4155552685")
    eventually(lambda: stack.status_is(record_id, "Subscribed"), "the subscribe recorded in the ledger")
    stack.tw.app.webhook_url = None  # the gateway was unreachable when the STOP came
    stack.text_in("+14155552685", "stop")
    time.sleep(0.5)
    assert stack.record(record_id)["Messaging_Status__c"] == "Subscribed"
    Queue("realtime", connection=stack.redis).enqueue("gateway.jobs.poll_platform_changes")  # what cron runs
    eventually(lambda: stack.status_is(record_id, "Unsubscribed"), "the polled STOP in Salesforce")


def test_doctor_and_the_status_api_say_what_twilio_syncs_and_cannot(stack: Stack) -> None:
    doctor = Process(["doctor"], stack.env)
    doctor.popen.wait(60)
    out = doctor.output()
    assert stack.tw.auth_token not in out and stack.tw.api_key_secret not in out
    assert "ok   platform: Twilio (twilio) answered" in out
    assert "info syncs: opt status only" in out and "STOP and START pushed to Salesforce within seconds" in out
    assert "info cannot: create or update people on the platform" in out and "Advanced Opt-Out" in out

    bearer = token(stack.gateway_url, "admin-console", CLIENTS["admin-console"][0])
    status = requests.get(
        f"{stack.gateway_url}/api/v1/status", headers={"Authorization": f"Bearer {bearer}"}, timeout=30
    ).json()
    assert status["platform"]["name"] == "twilio" and status["platform"]["reachable"] is True
    assert any("backstop" in line for line in status["platform"]["syncs"])
    assert any("only the person's own STOP and START" in line for line in status["platform"]["cannot"])
