"""The relay: changes become webhook batches to a (tiny, real) gateway stand-in, as the package's Apex sends."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from .conftest import PACKAGE_DIR, Emulator

FIXTURE = PACKAGE_DIR / "main" / "default" / "staticresources" / "MessagingSyncWebhookFixture.json"


@dataclass
class Receiver:
    url: str
    client_id: str = "salesforce-org"
    client_secret: str = "s3cret"
    posts: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    hold: threading.Event = field(default_factory=threading.Event)  # set: answer 503 until cleared

    def events(self) -> list[dict[str, Any]]:
        return [e for p in self.posts for e in p["events"]]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.events()) < count:
            time.sleep(0.02)
        return self.events()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = Flask("receiver")
    state = Receiver(url="")

    @app.post("/oauth/token")
    def token() -> Any:
        auth = request.headers.get("Authorization", "")
        user, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        state.token_requests.append({"client": user, "form": request.form.to_dict()})
        if (user, secret) != (state.client_id, state.client_secret):
            return {"error": "invalid_client"}, 401
        return {"access_token": "tok-1", "token_type": "Bearer", "expires_in": 300}

    @app.post("/webhooks/salesforce")
    def webhook() -> Any:
        if request.headers.get("Authorization") != "Bearer tok-1":
            return {"error": "unauthorized"}, 401
        if state.hold.is_set() or state.fail_next > 0:
            state.fail_next = max(0, state.fail_next - 1)
            return {"error": "boom"}, 503
        body = request.get_json()
        state.posts.append(body)
        return {"accepted": len(body["events"]), "duplicates": 0}, 202

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    thread.join(timeout=5)


def connect(emulator: Emulator, receiver: Receiver) -> None:
    response = emulator.control(
        "POST",
        "relay",
        json={"url": receiver.url, "client_id": receiver.client_id, "client_secret": receiver.client_secret},
    )
    assert response.status_code == 200 and response.json()["configured"] is True


def test_admin_insert_is_relayed_in_the_fixtures_shape(salesforce_emulator: Emulator, receiver: Receiver) -> None:
    connect(salesforce_emulator, receiver)
    sf = salesforce_emulator.sf("admin")
    contact_id = sf.Contact.create(
        {
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "MobilePhone": "+14155550123",
            "Email": "ada@example.org",
            "Mobile_Subscriber__c": True,
            "Title": "Countess",
        }
    )["id"]
    events = receiver.wait_for(1)
    assert len(events) == 1
    fixture = json.loads(FIXTURE.read_text())
    post = receiver.posts[0]
    assert set(post) == set(fixture)
    assert post["orgId"] == salesforce_emulator.server.ready_line()["org_id"] and len(post["orgId"]) == 18
    event = events[0]
    assert set(event) == set(fixture["events"][0])
    assert event["operation"] == "insert" and event["sobjectType"] == "Contact" and event["recordId"] == contact_id
    assert event["replayId"].isdigit() and event["publishedAt"].endswith("Z")
    assert set(event["changedFields"]) == {"FirstName", "LastName", "MobilePhone", "Email", "Mobile_Subscriber__c"}
    record = salesforce_emulator.record("Contact", contact_id)
    assert event["record"]["SystemModstamp"] == record["SystemModstamp"]
    assert event["record"]["MobilePhone"] == "+14155550123" and event["record"]["Mobile_Subscriber__c"] is True
    assert "Messaging_Contact_Id__c" in event["record"] and "Title" not in event["record"]
    assert set(fixture["events"][0]["record"]) <= set(event["record"])  # every mapped field, as in the fixture
    assert receiver.token_requests[0]["form"] == {"grant_type": "client_credentials", "scope": "events:write"}


def test_updates_relay_only_watched_changes_and_never_the_integration_users(
    salesforce_emulator: Emulator, receiver: Receiver
) -> None:
    admin = salesforce_emulator.sf("admin")
    contact_id = admin.Contact.create({"LastName": "Hopper", "MobilePhone": "+14155550100"})["id"]
    connect(salesforce_emulator, receiver)
    admin.Contact.update(contact_id, {"Title": "Rear Admiral"})  # not mapped: no event
    salesforce_emulator.sf("integration").Contact.update(contact_id, {"MobilePhone": "+14155550101"})  # gateway's
    admin.Contact.update(contact_id, {"MobilePhone": "+14155550199", "Mobile_Subscriber__c": True})
    events = receiver.wait_for(1)
    time.sleep(0.3)
    assert len(receiver.events()) == 1
    event = events[0]
    assert event["operation"] == "update"
    assert event["changedFields"] == ["MobilePhone", "Mobile_Subscriber__c"]
    assert set(event["record"]) >= {
        "Id",
        "SystemModstamp",
        "MobilePhone",
        "Mobile_Subscriber__c",
        "Messaging_Contact_Id__c",
    }
    assert "LastName" not in event["record"]  # delta: unchanged mapped fields stay out unless matching


def test_collections_bulk_and_control_changes_are_relayed_in_order(
    salesforce_emulator: Emulator, receiver: Receiver
) -> None:
    connect(salesforce_emulator, receiver)
    admin = salesforce_emulator.sf("admin")
    admin.restful(
        "composite/sobjects",
        method="POST",
        json={
            "records": [
                {"attributes": {"type": "Lead"}, "LastName": f"L{i}", "Company": "C", "MobilePhone": f"+1415555{i:04d}"}
                for i in range(150)
            ]
        },
    )
    admin.bulk2.Contact.insert(
        records=[{"LastName": f"B{i}", "MobilePhone": f"+1415666{i:04d}"} for i in range(300)], wait=0.05
    )
    salesforce_emulator.control("POST", "records/Contact?as=admin", json={"LastName": "Console"})
    salesforce_emulator.control("POST", "records/Contact?as=integration", json={"LastName": "Gateway"})
    events = receiver.wait_for(451)
    assert len(events) == 451
    assert [int(e["replayId"]) for e in events] == sorted(int(e["replayId"]) for e in events)
    assert [e["sobjectType"] for e in events[:150]] == ["Lead"] * 150
    assert events[-1]["record"]["Id"] and events[-1]["operation"] == "insert"
    stats = salesforce_emulator.stats()["relay"]
    assert stats["published"] == stats["delivered"] == 451 and stats["pending"] == 0


def test_deletes_follow_include_deletions(salesforce_emulator: Emulator, receiver: Receiver) -> None:
    connect(salesforce_emulator, receiver)
    admin = salesforce_emulator.sf("admin")
    contact_id = admin.Contact.create({"LastName": "Gone"})["id"]
    receiver.wait_for(1)
    admin.Contact.delete(contact_id)
    time.sleep(0.4)
    include = {
        r["Object_API_Name__c"]: r["Include_Deletions__c"]
        for r in admin.query("SELECT Object_API_Name__c, Include_Deletions__c FROM Messaging_Sync_Object__mdt")[
            "records"
        ]
    }
    operations = [e["operation"] for e in receiver.events()]
    assert operations == (["insert", "delete"] if include["Contact"] else ["insert"])


def test_failed_deliveries_are_retried_without_losing_or_reordering(
    salesforce_emulator: Emulator, receiver: Receiver
) -> None:
    receiver.fail_next = 2
    connect(salesforce_emulator, receiver)
    admin = salesforce_emulator.sf("admin")
    ids = [admin.Contact.create({"LastName": f"R{i}", "MobilePhone": f"+1415777{i:04d}"})["id"] for i in range(5)]
    events = receiver.wait_for(5, timeout=10)
    assert [e["recordId"] for e in events] == ids
    stats = salesforce_emulator.stats()["relay"]
    assert stats["failed"] >= 2 and stats["delivered"] == 5 and stats["last_error"] is None


def test_no_relay_target_means_no_events(salesforce_emulator: Emulator) -> None:
    salesforce_emulator.sf("admin").Contact.create({"LastName": "Quiet"})
    assert salesforce_emulator.stats()["relay"]["published"] == 0


def test_a_backlog_is_delivered_in_batches_of_at_most_2000(salesforce_emulator: Emulator, receiver: Receiver) -> None:
    receiver.hold.set()  # the gateway is down while the backlog builds up
    connect(salesforce_emulator, receiver)
    admin = salesforce_emulator.sf("admin")
    admin.bulk2.Contact.insert(
        records=[{"LastName": f"B{i}", "MobilePhone": f"+1415888{i:04d}"} for i in range(2500)], wait=0.05
    )
    assert salesforce_emulator.stats()["relay"]["pending"] == 2500
    receiver.hold.clear()
    events = receiver.wait_for(2500, timeout=15)
    assert len(events) == 2500
    sizes = [len(p["events"]) for p in receiver.posts]
    assert sizes[0] == 2000 and sum(sizes) == 2500 and max(sizes) == 2000
    assert len({e["eventUuid"] for e in events}) == 2500
