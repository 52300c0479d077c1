"""The same documented Twilio shapes against the adapter's parsers and the emulator's output (tests/contract/twilio/
shapes.py holds them with their sources)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway.config import Secret
from gateway.domain.errors import SyncErrorCode
from gateway.emulators.twilio import TwilioEmulator
from gateway.platforms.base import Direction, InboundKind
from gateway.platforms.twilio.adapter import message_from_resource, parse_twilio_time
from gateway.platforms.twilio.errors import error_for, read_error
from gateway.platforms.twilio.settings import TwilioSettings
from gateway.platforms.twilio.webhooks import events_for, is_status_callback
from tests.contract.twilio import shapes

PERSON = "+14155550123"


def doc_settings() -> TwilioSettings:
    return TwilioSettings(
        account_sid=shapes.ACCOUNT,
        auth_token=Secret("t" * 32),
        messaging_service_sid=shapes.SERVICE,
        webhook_base_url="https://gw.example.org",
    )


# -- the adapter's parsers read the documented shapes


def test_the_adapter_reads_the_documented_message_resources() -> None:
    outgoing, incoming = (message_from_resource(m) for m in shapes.DOCUMENTED_PAGE["messages"])  # type: ignore[union-attr]
    assert outgoing is not None and incoming is not None
    assert outgoing.direction is Direction.OUTGOING and incoming.direction is Direction.INCOMING
    assert outgoing.at.isoformat() == "2019-05-24T17:44:50+00:00"
    assert outgoing.status == "delivered" and incoming.reason is None


def test_the_adapter_reads_the_documented_inbound_stop_and_failed_callback() -> None:
    [stop] = events_for(shapes.DOCUMENTED_INBOUND_STOP, doc_settings())
    assert stop.kind is InboundKind.OPT_OUT and stop.phone == PERSON
    assert is_status_callback(shapes.DOCUMENTED_FAILED_CALLBACK)
    [blocked] = events_for(shapes.DOCUMENTED_FAILED_CALLBACK, doc_settings())
    assert blocked.kind is InboundKind.OPT_OUT and blocked.phone == PERSON


def test_the_adapter_reads_the_documented_error_body() -> None:
    read = read_error(400, json.dumps(shapes.DOCUMENTED_ERROR))
    assert read.code == 21610 and read.more_info == shapes.DOCUMENTED_ERROR["more_info"]
    assert error_for(read).code is SyncErrorCode.INVALID_MESSAGING_STATUS


# -- the emulator produces the documented shapes


@pytest.fixture
def emulator() -> Iterator[TwilioEmulator]:
    with TwilioEmulator(status_delay_ms=5) as running:
        yield running


def api(emulator: TwilioEmulator, method: str, resource: str, **kwargs: Any) -> requests.Response:
    url = f"{emulator.url}/2010-04-01/Accounts/{emulator.account_sid}/{resource}"
    return requests.request(method, url, auth=(emulator.api_key_sid, emulator.api_key_secret), timeout=10, **kwargs)


def test_the_emulators_list_page_has_the_documented_fields_and_paging(emulator: TwilioEmulator) -> None:
    emulator.control().post(f"{emulator.url}/__emulator__/seed", json={"phone": PERSON, "count": 3}, timeout=10)
    page = api(emulator, "GET", "Messages.json", params={"To": PERSON, "PageSize": "1"}).json()
    assert set(page) == set(shapes.DOCUMENTED_PAGE)
    [message] = page["messages"]
    assert set(message) == shapes.MESSAGE_PROPERTIES
    assert message["status"] in shapes.STATUSES and message["direction"] in shapes.DIRECTIONS
    assert parse_twilio_time(message["date_sent"]) is not None
    next_uri = page["next_page_uri"]
    assert next_uri.startswith(f"/2010-04-01/Accounts/{emulator.account_sid}/Messages.json?")
    query = parse_qs(urlsplit(next_uri).query)
    assert query["PageToken"] == ["PA" + message["sid"]] and query["To"] == [PERSON]
    second = requests.get(
        emulator.url + next_uri, auth=(emulator.api_key_sid, emulator.api_key_secret), timeout=10
    ).json()
    assert second["page"] == 1 and second["messages"][0]["sid"] != message["sid"]
    assert parse_twilio_time(second["messages"][0]["date_sent"]) <= parse_twilio_time(message["date_sent"])  # type: ignore[operator]


def test_the_emulators_errors_have_the_documented_body(emulator: TwilioEmulator) -> None:
    unauthorized = requests.get(
        f"{emulator.url}/2010-04-01/Accounts/{emulator.account_sid}/Messages.json",
        auth=("AC" + "0" * 32, "x"),
        timeout=10,
    )
    assert unauthorized.status_code == 401
    assert set(unauthorized.json()) == shapes.ERROR_BODY and unauthorized.json()["code"] == 20003
    bad_to = api(emulator, "POST", "Messages.json", data={"To": "555-0123", "From": "+12025550100", "Body": "x"})
    assert bad_to.status_code == 400 and bad_to.json()["code"] == 21211
    assert error_for(read_error(bad_to.status_code, bad_to.content)).code is SyncErrorCode.INVALID_PHONE
    page_size = api(emulator, "GET", "Messages.json", params={"PageSize": "1001"})
    assert page_size.status_code == 400 and set(page_size.json()) == shapes.ERROR_BODY


def test_the_initial_status_is_queued_without_a_service_and_accepted_with_one(emulator: TwilioEmulator) -> None:
    plain = api(emulator, "POST", "Messages.json", data={"To": PERSON, "From": "+12025550100", "Body": "x"})
    service = api(
        emulator, "POST", "Messages.json", data={"To": PERSON, "MessagingServiceSid": emulator.service_sid, "Body": "x"}
    )
    assert (plain.status_code, plain.json()["status"]) == (201, "queued")
    assert (service.status_code, service.json()["status"]) == (201, "accepted")
    assert set(plain.json()) == shapes.MESSAGE_PROPERTIES


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(Request(environ).form.to_dict())
        return Response("<Response/>", 200, content_type="text/xml")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_emulators_webhooks_carry_the_documented_parameters(
    emulator: TwilioEmulator, recorder: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = recorder
    emulator.app.webhook_url = url
    emulator.app.deliver_inbound(PERSON, "stop", "+12025550101")
    [stop] = seen
    assert set(stop) >= shapes.INBOUND_PARAMETERS and stop["OptOutType"] in shapes.OPT_OUT_TYPES
    [event] = events_for(stop, doc_settings_for(emulator))
    assert event.kind is InboundKind.OPT_OUT
    seen.clear()
    emulator.app.status_callback_url = url
    api(
        emulator, "POST", "Messages.json", data={"To": PERSON, "MessagingServiceSid": emulator.service_sid, "Body": "x"}
    )
    deadline = time.monotonic() + 5
    while not any(s.get("MessageStatus") == "failed" for s in seen):
        assert time.monotonic() < deadline, seen
        time.sleep(0.02)
    failed = next(s for s in seen if s.get("MessageStatus") == "failed")
    assert set(failed) >= shapes.STATUS_CALLBACK_PARAMETERS and failed["ErrorCode"] == "21610"
    assert all(s["MessageStatus"] in shapes.STATUSES for s in seen)
    assert [e.kind for e in events_for(failed, doc_settings_for(emulator))] == [InboundKind.OPT_OUT]


def doc_settings_for(emulator: TwilioEmulator) -> TwilioSettings:
    return TwilioSettings(
        account_sid=emulator.account_sid,
        auth_token=Secret(emulator.auth_token),
        messaging_service_sid=emulator.service_sid,
        webhook_base_url="https://gw.example.org",
    )
