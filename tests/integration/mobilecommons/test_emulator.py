"""The emulator as tests, scripts and the demo drive it: its CLI, its control API, MC's raw answers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from gateway.domain.contact import Contact
from gateway.emulators.mobilecommons import MobileCommonsEmulator
from gateway.platforms.mobilecommons import MobileCommonsAdapter

from .conftest import Control, settings_for


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_cli_prints_one_ready_line_serves_and_stops_on_a_signal(stop_signal: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.emulators.mobilecommons.cli", "--port", "0", "--campaign-id", "555",
         "--opt-in-path-id", "777", "--password", "pw-1", "--seed", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert {"url", "control_token", "username", "password", "campaign_id", "opt_in_path_id"} <= set(ready)
        assert (ready["campaign_id"], ready["opt_in_path_id"], ready["password"]) == ("555", "777", "pw-1")

        no_token = requests.get(ready["url"] + "/__emulator__/contacts", timeout=5)
        assert no_token.status_code == 401
        token = {"X-Emulator-Token": ready["control_token"]}
        contacts = requests.get(ready["url"] + "/__emulator__/contacts", headers=token, timeout=5).json()["contacts"]
        assert len(contacts) == 3
        assert all(c["phone"].startswith("+1") and c["first_name"] for c in contacts)

        adapter = MobileCommonsAdapter(
            settings_for(_Ready(ready), campaign_id="555", opt_in_path_id="777")  # type: ignore[arg-type]
        )
        adapter.check()
        assert adapter.find_contact(phone=contacts[0]["phone"]) is not None
        adapter.close()
    finally:
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=5) == 0
        assert proc.stdout is not None
        assert proc.stdout.read() == ""  # exactly one line


class _Ready:
    def __init__(self, ready: dict[str, str]) -> None:
        self.username, self.password, self.api_url = ready["username"], ready["password"], ready["api_url"]
        self.campaign_id, self.opt_in_path_id = ready["campaign_id"], ready["opt_in_path_id"]


def test_bad_basic_auth_gets_mc_s_401_page(emulator: MobileCommonsEmulator) -> None:
    response = requests.get(emulator.api_url + "campaigns", auth=(emulator.username, "nope"), timeout=5)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h4>" in response.text and "<p>" in response.text


def test_errors_are_xml_with_http_200(emulator: MobileCommonsEmulator) -> None:
    auth = (emulator.username, emulator.password)
    response = requests.post(emulator.api_url + "profile_update", data={"first_name": "X"}, auth=auth, timeout=5)
    assert response.status_code == 200
    assert '<response success="false"><error id="28"' in response.text
    missing = requests.get(emulator.api_url + "profile", params={"phone_number": "15105550000"}, auth=auth, timeout=5)
    assert '<error id="5" message="Invalid phone number"/>' in missing.text


def test_control_calls_validate_and_are_not_counted(control: Control) -> None:
    bad = control.session.post(control.base + "faults", json={"status": 503, "ratio": 3}, timeout=5)
    assert bad.status_code == 400
    assert control.session.get(control.base + "nothing", timeout=5).status_code == 404
    seeded = control.post("seed", {"count": 25, "messages": 2, "seed": 1})
    assert seeded["created"] == 25 and len({p["phone"] for p in seeded["profiles"]}) == 25
    assert control.get("stats")["api_calls"]["total"] == 0
    assert control.post("reset")["reset"] is True
    assert control.get("contacts")["contacts"] == []


def test_concurrent_writers_all_land(emulator: MobileCommonsEmulator, control: Control) -> None:
    adapter = MobileCommonsAdapter(settings_for(emulator))

    def create(i: int) -> str | None:
        return adapter.upsert_contact(
            Contact(phone=f"+1415555{i:04d}", crm_id=f"003{i:015d}"), subscribe=True
        ).platform_id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(200)))

    assert len(set(ids)) == 200
    contacts = control.get("contacts")["contacts"]
    assert len(contacts) == 200
    assert {c["custom_fields"]["sf_id"] for c in contacts} == {f"003{i:015d}" for i in range(200)}
    assert all(c["sms_status"] == "subscribed" for c in contacts)
    adapter.close()


def test_the_change_feed_shows_each_change_once_with_the_moment_it_landed(
    emulator: MobileCommonsEmulator, control: Control
) -> None:
    """A benchmark watching a burst reads only what changed since its last look, and when each change landed to the
    microsecond (MC's own `updated_at` has whole seconds): polling cannot blur the latency it measures."""
    adapter = MobileCommonsAdapter(settings_for(emulator))
    start = control.get("contacts", changed_after="0")["changes"]
    before = time.time()
    adapter.upsert_contact(Contact(phone="+14155550101", crm_id="003000000000101"), subscribe=True)
    adapter.upsert_contact(Contact(phone="+14155550102", crm_id="003000000000102"), subscribe=True)
    after = time.time()

    first = control.get("contacts", changed_after=str(start))
    assert sorted(c["phone"] for c in first["contacts"]) == ["+14155550101", "+14155550102"]
    assert all(before <= c["changed_at"] <= after for c in first["contacts"])
    assert first["changes"] > start
    assert control.get("contacts", changed_after=str(first["changes"]))["contacts"] == []

    adapter.upsert_contact(Contact(phone="+14155550101", crm_id="003000000000101", first_name="Ada"), subscribe=True)
    [again] = control.get("contacts", changed_after=str(first["changes"]))["contacts"]
    assert (again["phone"], again["first_name"]) == ("+14155550101", "Ada")
    assert again["changed_at"] >= after

    counted = control.get("contacts", changed_after="0")["changes"]
    control.post("reset")  # a reader's count stays valid across a reset: counts never go back
    adapter.upsert_contact(Contact(phone="+14155550103", crm_id="003000000000103"), subscribe=True)
    assert [c["phone"] for c in control.get("contacts", changed_after=str(counted))["contacts"]] == ["+14155550103"]
    adapter.close()


@pytest.mark.parametrize(
    "params", [{"changed_after": "soon"}, {"updated_since": "yesterday"}, {"updated_since": "2026-11-30T08:00:00"}]
)
def test_a_bad_change_feed_query_is_refused_by_name(control: Control, params: dict[str, str]) -> None:
    answer = control.session.get(control.base + "contacts", params=params, timeout=5)
    assert answer.status_code == 400
    assert "changed_after" in answer.json()["error"] and "updated_since" in answer.json()["error"]
