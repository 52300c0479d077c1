"""Row 4 of the trust-boundaries issue, the sync's part: an event with the org's credential names a record, and the
sync reads that record back from Salesforce before it creates, links, subscribes or texts anyone, syncing
Salesforce's values, not the event's; an id of another object is refused; a write-back Salesforce refuses is a
Failure carrying Salesforce's error. Both emulators over HTTP, the gateway's web app, a real worker, Redis."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import redis
import requests

from gateway.config import load_settings
from gateway.domain.sync_config import SyncObjectConfig
from gateway.platforms.recording import RecordingAdapter
from gateway.salesforce.client import SalesforceClient
from gateway.salesforce.ids import checksum_suffix
from gateway.sync import readback, writeback
from gateway.sync.context import SyncContext
from tests.conftest import CLIENTS
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.integration.sync.conftest import Stack, eventually
from tests.support import token


def forge(stack: Stack, record_id: str, operation: str, changed: list[str], **record: Any) -> None:
    """What a holder of the org's gateway credential can send: any event about any record id."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    event = {
        "eventUuid": str(uuid.uuid4()),
        "replayId": "1",
        "sobjectType": "Contact",
        "recordId": record_id,
        "operation": operation,
        "changedFields": changed,
        "record": {"Id": record_id, "SystemModstamp": now, **record},
        "publishedAt": now.replace(".000+0000", ".000Z"),
    }
    bearer = token(stack.gateway_url, "salesforce-org", CLIENTS["salesforce-org"][0])
    answer = requests.post(
        f"{stack.gateway_url}/webhooks/salesforce",
        json={"orgId": stack.sf.org_id, "events": [event]},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def settle(stack: Stack, phone: str) -> None:
    """A genuine change queued after the forged ones has reached the platform: the single worker took the jobs in
    order, so the forged ones are done."""
    stack.sf_create("Contact", {"LastName": "Control", "MobilePhone": phone, "Mobile_Subscriber__c": True})
    eventually(lambda: stack.mc_contact(phone), "the control change on the platform")


def seeded(stack: Stack, **values: Any) -> str:
    """A record loaded into Salesforce (a data load: not relayed to the gateway)."""
    answer = stack.sf.control("POST", "seed", json={"object": "Contact", "records": [values]})
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["ids"][0])


def test_forged_events_create_link_subscribe_and_rename_no_one(stack: Stack) -> None:
    nobody = "003" + "0" * 9 + "404"
    nobody += checksum_suffix(nobody)
    forge(stack, nobody, "insert", ["MobilePhone"], LastName="Ghost", MobilePhone="+12125550101",
          Mobile_Subscriber__c=True)  # fmt: skip
    quiet = seeded(
        stack, FirstName="Grace", LastName="Hopper", MobilePhone="(415) 555-2691", Mobile_Subscriber__c=False
    )
    forge(stack, quiet, "insert", ["MobilePhone", "Mobile_Subscriber__c"], FirstName="Mallory", LastName="Hopper",
          MobilePhone="+12125550102", Mobile_Subscriber__c=True)  # fmt: skip
    linked = stack.sf_create(
        "Contact", {"LastName": "Lamarr", "MobilePhone": "+14155552692", "Mobile_Subscriber__c": True}
    )
    profile_id = eventually(lambda: stack.sf_record("Contact", linked).get("Messaging_Contact_Id__c"), "the link")
    forge(stack, linked, "update", ["MobilePhone"], MobilePhone="+12125550103", Messaging_Contact_Id__c=profile_id)

    settle(stack, "+14155552699")

    contacts = stack.mc.control().get(f"{stack.mc.url}/__emulator__/contacts").json()["contacts"]
    phones = {c["phone"] for c in contacts}
    assert not phones & {"+12125550101", "+12125550102", "+12125550103"}  # no made-up phone reached the platform
    assert stack.sync_results(nobody) == []  # a record Salesforce does not hold leaves no row to flood the log
    held = stack.mc_contact("+14155552691")
    assert held is not None and held["first_name"] == "Grace"  # Salesforce's values, not the event's
    assert held["sms_status"] != "subscribed"  # no consent in Salesforce: no opt-in text
    assert stack.sf_record("Contact", quiet)["FirstName"] == "Grace"
    assert stack.sf_record("Contact", quiet)["Messaging_Contact_Id__c"] == str(held["id"])
    relinked = stack.mc_contact("+14155552692")
    assert relinked is not None and str(relinked["id"]) == profile_id  # the link and its phone stand


def api_calls(sf: Emulator) -> int:
    """Metered calls so far (token requests are not API calls)."""
    calls = sf.stats()["api_calls"]
    return int(calls["total"] - calls["by_class"]["token"])


def _context(sync_env: dict[str, str], sf: Emulator) -> SyncContext:
    settings = load_settings(sync_env, roles=("worker",))
    connection = redis.Redis.from_url(sync_env["REDIS_URL"])
    assert settings.salesforce is not None
    client = SalesforceClient(settings.salesforce, redis=connection)
    return SyncContext.build(settings, connection, platform=RecordingAdapter(connection), salesforce=client)


def test_an_id_of_another_object_is_refused_by_the_custom_objects_key_prefix(
    sync_env: dict[str, str], sf: Emulator
) -> None:
    context = _context(sync_env, sf)
    custom = SyncObjectConfig(object_name="Sync_Result__c", mappings=())  # a custom object: its prefix is the org's
    prefix = sf.sf("admin").restful("sobjects/Sync_Result__c/describe")["keyPrefix"]
    other = "a9Z" + "0" * 12 if prefix != "a9Z" else "a9Y" + "0" * 12
    event = {"recordId": other + checksum_suffix(other), "operation": "update", "changedFields": []}
    calls = api_calls(sf)

    first = readback.read_back(context, [(custom, event)])
    second = readback.read_back(context, [(custom, {**event})])

    for [checked] in (first, second):
        assert checked.record is None and checked.refusal is not None
        assert checked.refusal.code.value == "invalid-record-id"
        assert prefix in checked.refusal.detail
    assert readback.id_fits(context, prefix + "000000000001AAA", "Sync_Result__c")
    # one call in all: the describe, then its prefix from Redis (for every worker); a refused id costs no query
    assert api_calls(sf) == calls + 1
    context.close()


def test_a_write_back_salesforce_refuses_is_a_failure_with_salesforces_error(
    sync_env: dict[str, str], sf: Emulator
) -> None:
    context = _context(sync_env, sf)
    gone = "003" + "0" * 9 + "405"
    gone += checksum_suffix(gone)
    result = writeback.result_values(
        direction=writeback.Direction.TO_PLATFORM,
        status="Success",
        object_name="Contact",
        record_id=gone,
        error_code=None,
        message=None,
        request_endpoint="recording:upsert",
        request_body={"event": {"recordId": gone}},
        platform="recording",
        platform_contact_id="rec-1",
    )
    pipe = context.redis.pipeline(transaction=True)
    owed = {"Messaging_Contact_Id__c": "rec-1", "Messaging_Status__c": "Subscribed"}
    writeback.queue_entries(pipe, [writeback.WriteBack(result, "Contact", gone, owed)])
    pipe.execute()

    assert writeback.flush(context.redis, context.salesforce) == 1

    soql = "SELECT Status__c, Error_Code__c, Message__c, Request_Body__c FROM Sync_Result__c WHERE Record_Id__c = "
    [row] = sf.sf("admin").query_all(f"{soql}'{gone}'")["records"]
    assert (row["Status__c"], row["Error_Code__c"]) == ("Failure", "salesforce-rejected")
    assert "INVALID_CROSS_REFERENCE_KEY" in row["Message__c"]
    assert "Messaging_Contact_Id__c" in row["Message__c"]
    assert json.loads(row["Request_Body__c"])["event"]["recordId"] == gone  # an admin can resend it
    context.close()
