"""The same documented shapes, both ways: the adapter's parsers read them, and the emulator answers with them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from gateway.domain.contact import SmsStatus
from gateway.emulators.actionnetwork import ActionNetworkEmulator
from gateway.platforms.actionnetwork import wire

from .shapes import BAD_ID, FORBIDDEN_PAGE_KEYS, NOT_FOUND, PEOPLE_PAGE, PERSON, WEBHOOK_ARRAY, conforms

CRM = "salesforce_id"


# -- the adapter reads the documented shapes


def test_the_adapter_reads_a_documented_person() -> None:
    read = wire.parse_person(PERSON, crm_id_field=CRM)
    assert read is not None
    assert read.contact.platform_id == "d91b4b2e-ae0e-4cd3-9ed7-d0ec501b0bc3"
    assert read.contact.crm_id == "003000000000009AAA"
    assert read.contact.phone == "+12025550401" and read.contact.sms_status is SmsStatus.SUBSCRIBED
    assert read.contact.address.postal_code == "20009"


def test_the_adapter_reads_a_documented_page_without_totals() -> None:
    page = wire.parse_page(PEOPLE_PAGE)
    assert len(page.items) == 1 and page.next_href == "https://actionnetwork.org/api/v2/people?page=2"


def test_the_adapter_reads_documented_errors() -> None:
    missing = wire.error_for_status(404, NOT_FOUND, what="the linked person")
    assert missing is not None and missing.code.value == "not-found" and NOT_FOUND["error"] in missing.detail
    bad = wire.error_for_status(400, BAD_ID, what="the linked person")
    assert bad is not None and bad.code.value == "platform-rejected" and BAD_ID["error"] in bad.detail


def test_the_adapter_reads_a_documented_webhook_array() -> None:
    [item] = wire.parse_webhook_array(json.dumps(WEBHOOK_ARRAY).encode(), crm_id_field=CRM)
    assert item.kind == "osdi:submission"
    assert item.idempotency_key == WEBHOOK_ARRAY[0]["idempotency_key"]
    assert item.person_uuid == "d91b4b2e-ae0e-4cd3-9ed7-d0ec501b0bc3"
    assert item.person is not None and item.person.contact.email == "rosa@example.org"


# -- the emulator answers with the documented shapes


@pytest.fixture(scope="module")
def emulator() -> Iterator[ActionNetworkEmulator]:
    with ActionNetworkEmulator(requests_per_second=None) as running:
        control = running.control()
        control.post(
            running.url + "/__emulator__/seed",
            json={
                "count": 30,
                "people": [
                    {
                        "email": "rosa@example.org",
                        "phone": "+12025550401",
                        "given_name": "Rosa",
                        "family_name": "Marín",
                        "postal_address": {"postal_code": "20009", "country": "US"},
                        "custom_fields": {CRM: "003000000000009AAA"},
                    }
                ],
            },
            timeout=30,
        ).raise_for_status()
        yield running


def api(emulator: ActionNetworkEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"OSDI-API-Token": emulator.api_token, "Content-Type": "application/json"}
    return requests.request(method, emulator.api_url + path, headers=headers, timeout=10, **kwargs)


def test_the_emulators_person_has_the_documented_shape(emulator: ActionNetworkEmulator) -> None:
    page = api(emulator, "GET", "people", params={"filter": "email_address eq 'rosa@example.org'"}).json()
    [person] = page["_embedded"]["osdi:people"]
    assert conforms(PERSON, person) == []
    uuid = wire.person_uuid(person["identifiers"][0])
    assert conforms(PERSON, api(emulator, "GET", f"people/{uuid}").json()) == []
    signup = api(emulator, "POST", "people/", json={"person": {"email_addresses": [{"address": "rosa@example.org"}]}})
    assert signup.status_code in (200, 201) and conforms(PERSON, signup.json()) == []


def test_the_emulators_pages_have_the_documented_shape_and_no_totals(emulator: ActionNetworkEmulator) -> None:
    body = api(emulator, "GET", "people", params={"per_page": "100"}).json()
    assert conforms(PEOPLE_PAGE, body) == []
    assert body["per_page"] == 25 and len(body["_embedded"]["osdi:people"]) == 25  # capped at 25
    assert not any(key in body for key in FORBIDDEN_PAGE_KEYS)
    last = requests.get(body["_links"]["next"]["href"], headers={"OSDI-API-Token": emulator.api_token}, timeout=10)
    assert len(last.json()["_embedded"]["osdi:people"]) == 6 and "next" not in last.json()["_links"]


def test_the_emulators_errors_have_the_documented_shape(emulator: ActionNetworkEmulator) -> None:
    missing = api(emulator, "GET", "people/d91b4b2e-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json() == NOT_FOUND
    bad = api(emulator, "GET", "people/not-an-id")
    assert bad.status_code == 400 and bad.json() == BAD_ID
    refused = api(emulator, "GET", "people", params={"filter": "phone_number eq '12025550401'"})
    assert refused.status_code == 400 and conforms({"error": ""}, refused.json()) == []


def test_the_emulator_answers_429_above_its_rate() -> None:
    with ActionNetworkEmulator(requests_per_second=4) as limited:
        answers = [api(limited, "GET", "people", params={"per_page": "1"}) for _ in range(8)]
    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200] * 4 and 429 in statuses[4:]
    assert conforms({"error": ""}, answers[statuses.index(429)].json()) == []


def test_the_emulators_webhook_array_has_the_documented_shape(emulator: ActionNetworkEmulator) -> None:
    received: list[bytes] = []
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        received.append(Request(environ).get_data())
        return Response("")(environ, start_response)

    import threading

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        emulator.app.webhook_url = f"http://127.0.0.1:{server.server_port}/hook"
        control = emulator.control()
        control.post(
            emulator.url + "/__emulator__/action",
            json={"email": "rosa@example.org", "given_name": "Rosa", "postal_code": "20009"},
            timeout=10,
        ).raise_for_status()
    finally:
        server.shutdown()
        thread.join(5)
        emulator.app.webhook_url = None
    [body] = received
    assert conforms(WEBHOOK_ARRAY, json.loads(body)) == []
