"""Mobile Commons' recorded shapes (`shapes.py`) read by the adapter's parser and produced by the emulator, so the two
cannot drift apart: whatever the emulator answers, the adapter has been shown to read in the form the real API
sends it, and the emulator answers in that form."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET  # only for the Element type and tostring
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from defusedxml import ElementTree as SafeET
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gateway.domain.contact import SmsStatus
from gateway.domain.errors import SyncErrorCode
from gateway.emulators.mobilecommons import MobileCommonsEmulator
from gateway.platforms.base import InboundKind
from gateway.platforms.mobilecommons import MobileCommonsAdapter, MobileCommonsSettings
from gateway.platforms.mobilecommons.webhooks import parse_mdata
from gateway.platforms.mobilecommons.wire import (
    error_for_id,
    parse_response,
    profile_status,
    profile_to_contact,
    response_error,
    subscription_status,
)
from tests.contract.mobilecommons import shapes

SECRET = "contract-secret-0123"


def _skeleton(profile: ET.Element) -> dict[str, set[str]]:
    """Every element path under a profile with the attribute names seen on it."""
    found: dict[str, set[str]] = defaultdict(set)

    def walk(element: ET.Element, path: str) -> None:
        found[path] |= set(element.attrib)
        for child in element:
            walk(child, f"{path}/{child.tag}")

    walk(profile, "profile")
    return found


def _documented_skeleton() -> dict[str, set[str]]:
    union: dict[str, set[str]] = defaultdict(set)
    for profile in parse_response(shapes.PROFILES).findall("profiles/profile"):
        for path, attributes in _skeleton(profile).items():
            union[path] |= attributes
    return union


# -- the adapter reads what Mobile Commons sends


def test_the_adapter_reads_a_recorded_profiles_page() -> None:
    root = parse_response(shapes.PROFILES)
    assert root.find("profiles").get("page_count") is None  # type: ignore[union-attr]
    stopped, active = (
        profile_to_contact(p, crm_id_column="sf_id", campaign_id="189358") for p in root.findall("profiles/profile")
    )
    assert (stopped.phone, stopped.sms_status, stopped.platform_id) == (
        "+13073997990",
        SmsStatus.UNSUBSCRIBED,
        "700100200",
    )
    assert stopped.opted_out_at == datetime(2024, 3, 5, 12, 30, 45, tzinfo=UTC)
    assert stopped.crm_id == "003000000000042AAA"  # the padding around the column's text is not part of it
    assert dict(stopped.custom_fields) == {"volunteer_shift": "Saturday morning"}  # empty columns are no value
    assert (active.sms_status, active.crm_id, dict(active.custom_fields)) == (SmsStatus.SUBSCRIBED, None, {})
    by_profile = [
        profile_to_contact(p, crm_id_column="sf_id", campaign_id=None) for p in root.findall("profiles/profile")
    ]
    assert [c.sms_status for c in by_profile] == [SmsStatus.UNSUBSCRIBED, SmsStatus.SUBSCRIBED]


@pytest.mark.parametrize(("status", "expected"), shapes.SUBSCRIPTION_STATUSES.items())
def test_each_recorded_subscription_status_is_read(status: str, expected: str) -> None:
    sub = SafeET.fromstring(f'<subscription status="{status}" activated_at="2024-01-01T00:00:00Z" opted_out_at=""/>')
    assert subscription_status(sub).value == expected
    spelled = SafeET.fromstring(f'<subscription status="{status.upper().replace("-", " ")}" opted_out_at=""/>')
    assert subscription_status(spelled).value == expected  # any case or spelling of the same word


@pytest.mark.parametrize(("status", "expected"), shapes.PROFILE_STATUSES.items())
def test_each_recorded_profile_status_is_read(status: str, expected: str) -> None:
    opted_out = "2024-03-05 12:30:45 UTC" if expected == "unsubscribed" else ""
    profile = SafeET.fromstring(f"<profile><status>{status}</status><opted_out_at>{opted_out}</opted_out_at></profile>")
    assert profile_status(profile).value == expected


def test_a_person_active_again_keeps_an_old_opt_out_time_and_is_still_subscribed() -> None:
    profile = SafeET.fromstring(
        "<profile><status>Active Subscriber</status><opted_out_at>2024-03-05 12:30:45 UTC</opted_out_at></profile>"
    )
    assert profile_status(profile) is SmsStatus.SUBSCRIBED
    again = SafeET.fromstring(
        '<subscription status="Active" activated_at="2024-04-01T00:00:00Z" opted_out_at="2024-03-05T12:30:45Z"/>'
    )
    assert subscription_status(again) is SmsStatus.SUBSCRIBED


@pytest.mark.parametrize(
    ("body", "code"),
    [(shapes.INVALID_PHONE, SyncErrorCode.INVALID_PHONE), (shapes.RATE_LIMITED, SyncErrorCode.RATE_LIMITED)],
)
def test_the_adapter_reads_a_recorded_error(body: str, code: SyncErrorCode) -> None:
    failure = response_error(parse_response(body))
    assert failure is not None
    assert error_for_id(*failure, not_found_on_5=False).code is code


def test_the_adapter_reads_a_recorded_mdata_call() -> None:
    settings = MobileCommonsSettings(bearer_token="t", webhook_secret=SECRET)
    [event] = parse_mdata(settings, SECRET, shapes.MDATA_CALL)
    assert (event.kind, event.phone, event.body) == (InboundKind.MESSAGE, "+13073997991", "rally yes count me in")
    assert event.contact is not None
    assert (event.contact.platform_id, event.contact.first_name, event.contact.crm_id) == (
        "700100201",
        "Ella",
        "003000000000043AAA",
    )


# -- the emulator sends what Mobile Commons sends


@pytest.fixture
def emulator() -> Iterator[MobileCommonsEmulator]:
    with MobileCommonsEmulator() as running:
        yield running


def _api(emulator: MobileCommonsEmulator, method: str, **params: str) -> requests.Response:
    auth = (emulator.username, emulator.password)
    return requests.get(f"{emulator.api_url}{method}", params=params, auth=auth, timeout=10)


def _stopped_and_active(emulator: MobileCommonsEmulator) -> None:
    control = emulator.control()
    specs = [
        {"phone": "+13073997990", "first_name": "Rosa", "custom_fields": {"sf_id": "003000000000042AAA"}},
        {"phone": "+13073997991", "first_name": "Ella"},
    ]
    assert control.post(f"{emulator.url}/__emulator__/seed", json={"profiles": specs}).status_code == 201
    control.post(f"{emulator.url}/__emulator__/inbound", json={"phone": "+13073997990", "body": "STOP"})


def test_the_emulator_lists_profiles_in_the_recorded_shape(emulator: MobileCommonsEmulator) -> None:
    _stopped_and_active(emulator)
    now = datetime.now(UTC)
    window = {
        "from": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    response = _api(emulator, "profiles", **window, include_custom_columns="true", include_subscriptions="true")

    assert response.status_code == 200
    root = parse_response(response.content)
    listing = root.find("profiles")
    assert listing is not None and set(listing.attrib) == {"num", "page"}  # no page_count
    assert (listing.get("num"), listing.get("page")) == ("2", "1")
    documented = _documented_skeleton()
    for profile in listing.findall("profile"):
        emulated = _skeleton(profile)
        assert set(emulated) == set(documented)
        for path, attributes in emulated.items():
            assert attributes <= documented[path], path
    stopped, active = listing.findall("profile")
    assert stopped.findtext("status") == "Undeliverable"
    assert stopped.findtext("opted_out_source") in shapes.OPT_OUT_SOURCES
    (sub,) = stopped.findall("subscriptions/subscription")
    assert sub.get("status") in shapes.SUBSCRIPTION_STATUSES and sub.get("opt_out_source") in shapes.OPT_OUT_SOURCES
    assert active.findtext("status") in shapes.PROFILE_STATUSES
    column = next(c for c in stopped.findall("custom_columns/custom_column") if c.get("name") == "sf_id")
    assert column.text != column.text.strip() and column.text.strip() == "003000000000042AAA"  # type: ignore[union-attr]
    assert {"created_at", "updated_at"} <= set(column.attrib)
    # and what it sends, the adapter reads
    contacts = [profile_to_contact(p, crm_id_column="sf_id", campaign_id=None) for p in listing.findall("profile")]
    assert [c.sms_status for c in contacts] == [SmsStatus.UNSUBSCRIBED, SmsStatus.SUBSCRIBED]
    assert contacts[0].crm_id == "003000000000042AAA"


def test_an_api_opt_out_reads_as_recorded(emulator: MobileCommonsEmulator) -> None:
    _stopped_and_active(emulator)
    auth = (emulator.username, emulator.password)
    requests.post(f"{emulator.api_url}profile_opt_out", data={"phone_number": "13073997991"}, auth=auth, timeout=10)
    profile = parse_response(_api(emulator, "profile", phone_number="13073997991").content).find("profile")
    assert profile is not None and profile.findtext("opted_out_source") == "Opt-out from API"
    assert profile.findtext("status") == "Undeliverable"


def test_the_emulator_refuses_in_the_recorded_shape(emulator: MobileCommonsEmulator) -> None:
    response = _api(emulator, "profile", phone_number="13075550000")
    assert response.status_code == 200
    assert ET.tostring(parse_response(response.content)) == ET.tostring(parse_response(shapes.INVALID_PHONE))


def test_beyond_the_account_s_concurrency_the_emulator_answers_error_27_which_the_adapter_retries(
    emulator: MobileCommonsEmulator,
) -> None:
    control = emulator.control()
    control.post(f"{emulator.url}/__emulator__/faults", json={"max_per_second": 1})
    _api(emulator, "campaigns")
    throttled = _api(emulator, "campaigns")
    assert ET.tostring(parse_response(throttled.content)) == ET.tostring(parse_response(shapes.RATE_LIMITED))
    assert emulator.app.faults.account_max_concurrent == 160  # Upland: 160 concurrent API calls per company

    adapter = MobileCommonsAdapter(
        MobileCommonsSettings(
            username=emulator.username, password=emulator.password, base_url=emulator.api_url, backoff_seconds=0.6
        )
    )
    adapter.check()  # throttled at first, retried after the backoff, then answered
    adapter.close()


class _MDataReceiver:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append({**request.args.to_dict(), **request.form.to_dict()})
        return Response("", 200)(environ, start_response)


def test_the_emulator_calls_mdata_with_the_recorded_parameters(emulator: MobileCommonsEmulator) -> None:
    receiver = _MDataReceiver()
    server = make_server("127.0.0.1", 0, receiver, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        emulator.app.configure_mdata("RALLY", f"http://127.0.0.1:{server.server_port}/m")
        _stopped_and_active(emulator)
        control = emulator.control()
        control.post(
            f"{emulator.url}/__emulator__/inbound", json={"phone": "+13073997991", "body": "Rally yes count me in"}
        )
        control.post(f"{emulator.url}/__emulator__/inbound", json={"phone": "+13073997991", "body": "STOP"})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    [call] = receiver.calls  # the STOP reached no mData
    documented = set(shapes.MDATA_CALL)
    assert {"phone", "keyword", "args", "profile_id"} <= set(call)
    assert all(name in documented or name.startswith("profile_") for name in call)
    assert (len(call["phone"]), call["keyword"], call["args"]) == (10, "rally", "yes count me in")
    settings = MobileCommonsSettings(bearer_token="t", webhook_secret=SECRET)
    [event] = parse_mdata(settings, SECRET, call)
    assert (event.kind, event.phone) == (InboundKind.MESSAGE, "+13073997991")
