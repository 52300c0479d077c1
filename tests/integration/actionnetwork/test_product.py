"""`MESSAGING_PLATFORM=actionnetwork` switches the whole product: the Salesforce emulator (with its relay), the
Action Network emulator, the gateway's web app over HTTP, a real `gateway worker` and a real Redis — and the CLI
verbs that find the platform through the registry (`gateway doctor`, `gateway sync initial`)."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import requests
from click.testing import CliRunner
from rq import Queue

from gateway import create_app
from gateway.config import load_settings
from gateway.emulators.actionnetwork import ActionNetworkEmulator
from gateway.sync.bulk import runs
from tests.conftest import CLIENTS
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import GATEWAY, ROOT, Process, serve_in_thread, token, wait_for

from .conftest import SOURCE_TAG, Control

SF_ID_FIELD = "salesforce_id"


def actionnetwork_env(emulator: ActionNetworkEmulator, webhook_secret: str, **extra: str) -> dict[str, str]:
    """The variables that point a gateway at the emulator (its rate is under test elsewhere: fast here)."""
    return {
        "MESSAGING_PLATFORM": "actionnetwork",
        "ACTIONNETWORK_BASE_URL": emulator.api_url,
        "ACTIONNETWORK_API_TOKEN": emulator.api_token,
        "ACTIONNETWORK_WEBHOOK_SECRET": webhook_secret,
        "ACTIONNETWORK_SOURCE_TAG": SOURCE_TAG,
        "ACTIONNETWORK_REQUESTS_PER_SECOND": "50",
        **extra,
    }


@dataclass
class Stack:
    sf: Emulator
    an: Control
    emulator: ActionNetworkEmulator
    gateway_url: str
    env: dict[str, str]

    def sf_create(self, values: dict[str, Any]) -> str:
        response = self.sf.control("POST", "records/Contact?as=admin", json=values)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def sf_update(self, record_id: str, values: dict[str, Any]) -> None:
        response = self.sf.control("PATCH", f"records/Contact/{record_id}?as=admin", json=values)
        assert response.status_code == 204, response.text

    def sf_record(self, record_id: str) -> dict[str, Any]:
        return self.sf.record("Contact", record_id)

    def results(self, record_id: str | None = None) -> list[dict[str, Any]]:
        where = f" WHERE Record_Id__c = '{record_id}'" if record_id else ""
        soql = (
            "SELECT Direction__c, Status__c, Error_Code__c, Message__c, Platform__c, Platform_Contact_Id__c "
            f"FROM Sync_Result__c{where} ORDER BY CreatedDate"
        )
        return list(self.sf.sf("admin").query_all(soql)["records"])

    def person(self, phone: str) -> dict[str, Any] | None:
        found = self.an.people(phone=phone)
        return found[0] if found else None

    def poll_now(self) -> None:
        """What `gateway cron` does every ACTIONNETWORK_POLL_SECONDS."""
        Queue("realtime", connection=redis.Redis.from_url(self.env["REDIS_URL"])).enqueue(
            "gateway.jobs.poll_platform_changes"
        )


@pytest.fixture
def stack(sync_env: dict[str, str], sf: Emulator, emulator: ActionNetworkEmulator, control: Control) -> Iterator[Stack]:
    webhook_secret = secrets.token_urlsafe(24)
    env = {**sync_env, **actionnetwork_env(emulator, webhook_secret)}
    settings = load_settings(env, roles=("web", "worker"))
    with serve_in_thread(create_app(settings)) as url:
        emulator.app.webhook_url = f"{url}/webhooks/platforms/actionnetwork/{webhook_secret}"
        org_id, org_secret = "salesforce-org", CLIENTS["salesforce-org"][0]
        relay = sf.control("POST", "relay", json={"url": url, "client_id": org_id, "client_secret": org_secret})
        assert relay.status_code == 200, relay.text
        worker = Process(["worker"], env)
        try:
            yield Stack(sf=sf, an=control, emulator=emulator, gateway_url=url, env=env)
        finally:
            worker.stop()
            sf.control("DELETE", "relay")


def eventually(predicate: Any, what: str, timeout: float = 30) -> Any:
    return wait_for(predicate, timeout=timeout, interval=0.1, what=what)


def _contact(phone: str, **extra: object) -> dict[str, object]:
    return {
        "FirstName": "Fannie",
        "LastName": "Hamer",
        "MobilePhone": phone,
        "Email": "fannie@example.org",
        "Mobile_Subscriber__c": True,
        **extra,
    }


def test_a_salesforce_contact_reaches_action_network_tagged_with_its_id_and_is_linked_back(stack: Stack) -> None:
    record_id = stack.sf_create(_contact("(415) 555-2681"))
    # Not merely present: a new number is first probed phone-only (may it be subscribed?), then signed up.
    person = eventually(
        lambda: (p := stack.person("+14155552681")) and p.get("given_name") and p, "the person on Action Network"
    )
    assert person["given_name"] == "Fannie" and person["email"] == "fannie@example.org"
    assert person["sms_status"] == "subscribed"  # a number new to Action Network, opted in from Salesforce
    assert person["custom_fields"][SF_ID_FIELD][:15] == record_id[:15]
    assert person["tags"] == [SOURCE_TAG]
    linked = eventually(
        lambda: (r := stack.sf_record(record_id)).get("Messaging_Contact_Id__c") and r, "the uuid written back"
    )
    assert linked["Messaging_Contact_Id__c"] == person["id"]
    assert linked["Messaging_Status__c"] == "Subscribed"
    (result,) = eventually(lambda: stack.results(record_id), "the Sync_Result__c")
    assert (result["Status__c"], result["Platform__c"]) == ("Success", "actionnetwork")

    # The record page asks for the conversation: Action Network keeps none, and says so by its name.
    reader = token(stack.gateway_url, "reader", CLIENTS["reader"][0])
    answer = requests.get(
        f"{stack.gateway_url}/api/v1/contacts/{person['id']}/messages",
        headers={"Authorization": f"Bearer {reader}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["supported"], body["platform"], body["platformTitle"]) == (False, "actionnetwork", "Action Network")

    # The status page's summary checks the platform through the same adapter.
    status = requests.get(
        f"{stack.gateway_url}/api/v1/status", headers={"Authorization": f"Bearer {reader}"}, timeout=30
    )
    assert status.status_code == 200, status.text
    platform = status.json()["platform"]
    assert (platform["name"], platform["reachable"], platform["detail"]) == ("actionnetwork", True, None)
    assert "STOP found by polling the platform's changes" in platform["syncs"]
    assert any(line.startswith("find a person by phone") for line in platform["cannot"]), platform


def test_stop_reaches_salesforce_by_polling_and_a_salesforce_edit_cannot_undo_it(stack: Stack) -> None:
    record_id = stack.sf_create(_contact("+14155552682"))
    eventually(lambda: stack.sf_record(record_id).get("Messaging_Contact_Id__c"), "the link")
    stack.an.post("inbound", {"phone": "+14155552682", "body": "STOP"})  # Action Network pushes nothing for it
    stack.poll_now()
    record = eventually(
        lambda: (r := stack.sf_record(record_id)).get("Messaging_Status__c") == "Unsubscribed" and r, "the STOP"
    )
    assert record["Mobile_Subscriber__c"] is False and record["Messaging_Opted_Out_At__c"]

    stack.sf_update(record_id, {"Mobile_Subscriber__c": True, "FirstName": "Still Fannie"})
    eventually(lambda: (stack.person("+14155552682") or {}).get("given_name") == "Still Fannie", "the edit")
    partial = eventually(
        lambda: [r for r in stack.results(record_id) if r["Status__c"] == "Partial Failure"], "the refusal"
    )
    assert partial[-1]["Error_Code__c"] == "invalid-messaging-status"
    assert stack.person("+14155552682")["sms_status"] == "unsubscribed"


def test_a_new_salesforce_record_cannot_subscribe_a_number_action_network_holds_unsubscribed(stack: Stack) -> None:
    """No phone lookup exists, so matching cannot see the earlier STOP: the signup helper's answer shows it, and the
    refusal is logged the way matching would have logged it."""
    stack.an.post(
        "seed", {"people": [{"email": "rosa@example.org", "phone": "+14155552684", "sms_status": "unsubscribed"}]}
    )
    record_id = stack.sf_create(
        _contact("+14155552684", FirstName="Rosa", LastName="Parks", Email="rosa.p@example.org")
    )
    partial = eventually(
        lambda: [r for r in stack.results(record_id) if r["Status__c"] == "Partial Failure"], "the refusal"
    )
    assert partial[-1]["Error_Code__c"] == "invalid-messaging-status"
    assert stack.person("+14155552684")["sms_status"] == "unsubscribed"
    record = eventually(lambda: (r := stack.sf_record(record_id)).get("Messaging_Contact_Id__c") and r, "the link")
    assert record["Messaging_Status__c"] == "Unsubscribed"


def test_an_activist_acting_on_action_network_is_re_read_and_reaches_salesforce(stack: Stack) -> None:
    """Each webhook element is re-read by uuid: what the form typed is not the person's state. Someone who opted
    their phone in is created in Salesforce; someone whose phone Action Network holds unsubscribed (a form without
    the opt-in box) is, to the gateway, an opted-out person, and is not created for that alone (the domain's rule)."""
    acted = stack.an.post(
        "action",
        {
            "actions": [
                {
                    "given_name": "Ella",
                    "family_name": "Baker",
                    "email": "ella@example.org",
                    "phone": "+14155552683",
                    "sms_opt_in": True,
                },
                {
                    "given_name": "Bayard",
                    "family_name": "Rustin",
                    "email": "bayard@example.org",
                    "phone": "+14155552684",
                },
            ]
        },
    )
    assert acted["delivered"] == 200  # the gateway's webhook took the array
    ella, bayard = acted["people"]
    rows = eventually(
        lambda: stack.sf.sf("admin").query(
            "SELECT Id, FirstName, Email, Messaging_Contact_Id__c, Messaging_Status__c FROM Contact "
            "WHERE LastName = 'Baker'"
        )["records"],
        "the new Salesforce contact",
    )
    assert rows[0]["FirstName"] == "Ella" and rows[0]["Messaging_Contact_Id__c"] == ella
    assert rows[0]["Messaging_Status__c"] == "Subscribed"  # read from Action Network, not typed in the form
    skipped = eventually(
        lambda: [r for r in stack.results() if r["Platform_Contact_Id__c"] == bayard], "Bayard's Sync_Result__c"
    )
    assert "no record is created for that alone" in skipped[0]["Message__c"], skipped
    assert stack.sf.sf("admin").query("SELECT Id FROM Contact WHERE LastName = 'Rustin'")["records"] == []

    replayed = stack.an.post("webhooks/replay")
    assert replayed["delivered"] == 200  # a redelivery is acknowledged (and deduplicated on idempotency_key)
    assert len([r for r in stack.results() if r["Direction__c"] == "To Salesforce"]) == 2


# -- the CLI verbs, through the registry -------------------------------------------------------------------------


def _gateway(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, *args],
        env={**os.environ, **env},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_doctor_checks_action_network_and_that_its_source_tag_exists(
    sync_env: dict[str, str], emulator: ActionNetworkEmulator, control: Control
) -> None:
    env = {**sync_env, **actionnetwork_env(emulator, secrets.token_urlsafe(24))}
    good = _gateway(env, "doctor")
    assert "ok   platform: Action Network (actionnetwork) answered" in good.stdout
    assert "info syncs: people and their mapped fields, both ways, with their opt status; STOP found by polling" in (
        good.stdout
    )
    cannot = next(line for line in good.stdout.splitlines() if line.startswith("info cannot: "))
    assert "show the conversation" in cannot and "find a person by phone or by a custom field" in cannot
    assert f"ok   actionnetwork source tag: '{SOURCE_TAG}' exists" in good.stdout
    assert emulator.api_token not in good.stdout + good.stderr

    missing = _gateway({**env, "ACTIONNETWORK_SOURCE_TAG": "sales-force"}, "doctor")
    assert missing.returncode == 1
    assert "FAIL actionnetwork source tag: ACTIONNETWORK_SOURCE_TAG 'sales-force' is not a tag" in missing.stdout


def test_sync_initial_says_how_long_the_platform_s_rate_makes_it_before_starting(
    sync_env: dict[str, str], sf: Emulator, emulator: ActionNetworkEmulator, redis_url: str
) -> None:
    for n in range(3):
        response = sf.control("POST", "records/Contact?as=integration", json=_contact(f"+1415555270{n}"))
        assert response.status_code == 201, response.text
    env = {
        **sync_env,
        **actionnetwork_env(emulator, secrets.token_urlsafe(24)),
        "ACTIONNETWORK_REQUESTS_PER_SECOND": "4",
    }
    done = _gateway(env, "sync", "initial", "--to", "both", "--detach")
    assert done.returncode == 0, done.stderr
    assert (
        "to-platform Contact: 3 record(s), ~2 Action Network request(s) each at 3.6 requests/s "
        "(the pace all workers share) ≈ 2 s." in done.stderr
    )
    assert "to-salesforce Contact: Action Network does not say how many people it holds" in done.stderr
    assert "90 people/s at most (100,000 people ≈ 19 min)" in done.stderr
    assert len(runs.recent_runs(redis.Redis.from_url(redis_url))) == 2


def test_sync_initial_asks_at_a_terminal_and_queues_nothing_when_told_no(
    sync_env: dict[str, str], emulator: ActionNetworkEmulator, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway import cli_sync

    monkeypatch.setattr(cli_sync, "_interactive", lambda: True)
    env = {**sync_env, **actionnetwork_env(emulator, secrets.token_urlsafe(24))}
    answered = CliRunner().invoke(cli_sync.sync, ["initial", "--to", "platform"], input="n\n", env=env)
    assert answered.exit_code == 1, answered.output
    assert "Start the run? [Y/n]" in answered.output and "nothing queued" in answered.output
    assert runs.recent_runs(redis.Redis.from_url(redis_url)) == []


def test_the_nightly_pull_of_action_network_people_looks_back_48_hours(
    redis_url: str, emulator: ActionNetworkEmulator
) -> None:
    settings = load_settings({"REDIS_URL": redis_url, **actionnetwork_env(emulator, secrets.token_urlsafe(24))})
    connection = redis.Redis.from_url(redis_url)
    mark = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
    for direction in (runs.TO_PLATFORM, runs.TO_SALESFORCE):
        runs.set_high_water_mark(connection, direction, "Contact", mark)

    class Jobs:
        def now(self, function: str, *args: Any) -> None:
            pass

    started = runs.start_incremental(connection, Jobs(), settings)  # type: ignore[arg-type]
    since = {(m["direction"], m["object"]): m["since"] for m in (runs.meta(connection, r) for r in started)}
    assert since[(runs.TO_SALESFORCE, "Contact")] == (mark - timedelta(hours=48)).isoformat()
    overlap = timedelta(seconds=settings.bulk.overlap_seconds)  # Salesforce's own changes: the usual overlap
    assert since[(runs.TO_PLATFORM, "Contact")] == (mark - overlap).isoformat()
