"""Syncs of one person that overlap (found by `scripts/chaos`): several jobs holding edits of one record a moment
apart, on several real workers, against a platform whose answers take varying time; and a polled person whose job
runs after the platform changed them. The side that changed last is what both end up holding."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import redis
from rq import Queue, Worker

from gateway.domain.contact import Contact
from gateway.sync import to_salesforce
from tests.conftest import CLIENTS
from tests.integration.sync.conftest import Stack, eventually
from tests.support import Process, post_events, token


def test_an_older_edit_whose_sync_is_slow_never_lands_after_a_newer_one(stack: Stack) -> None:
    phone = "+14155552681"
    record_id = stack.sf_create(
        "Contact", {"FirstName": "V0", "LastName": "Race", "MobilePhone": phone, "Mobile_Subscriber__c": True}
    )
    eventually(lambda: stack.sf_record("Contact", record_id).get("Messaging_Contact_Id__c"), "the link")
    second = Process(["worker"], stack.env)  # two jobs of one record can run at once
    connection = redis.Redis.from_url(stack.env["REDIS_URL"])
    control = f"{stack.mc.url}/__emulator__"

    def calls() -> int:
        return int(stack.mc.control().get(f"{control}/stats").json()["api_calls"]["total"])

    try:
        eventually(lambda: len(Worker.all(connection=connection)) >= 2, "two workers listening")
        stack.mc.control().post(f"{control}/faults", json={"latency_ms": 3000}).raise_for_status()
        before = calls()
        stack.sf_update("Contact", record_id, {"FirstName": "Older"})
        eventually(lambda: calls() > before, "the older edit's sync waiting on a slow platform")
        stack.mc.control().delete(f"{control}/faults").raise_for_status()
        stack.sf_update("Contact", record_id, {"FirstName": "Newer"})  # its sync meets a fast platform

        queue = Queue("sync", connection=connection)
        eventually(
            lambda: (
                stack.sf.control("GET", "relay").json()["pending"] == 0
                and queue.count == 0
                and queue.started_job_registry.count == 0
                and len([r for r in stack.sync_results(record_id) if r["Direction__c"] == "To Platform"]) >= 2
            ),
            "both edits' jobs done",
        )
        assert (stack.mc_contact(phone) or {}).get("first_name") == "Newer"
    finally:
        stack.mc.control().delete(f"{control}/faults")
        second.stop()


def test_a_polled_person_whose_job_runs_late_writes_what_the_platform_holds_now(stack: Stack) -> None:
    phone = "+14155552682"
    record_id = stack.sf_create(
        "Contact", {"FirstName": "Katherine", "LastName": "Johnson", "MobilePhone": phone, "Mobile_Subscriber__c": True}
    )
    eventually(lambda: stack.sf_record("Contact", record_id).get("Messaging_Contact_Id__c"), "the link")
    profile = stack.mc_contact(phone) or {}
    polled = Contact(  # what a poll read before the edit below, waiting in its job (a retry, a stopped worker)
        phone=phone, platform_id=str(profile["id"]), first_name="Katherine", last_name="Johnson", crm_id=record_id
    )
    stale = to_salesforce.contact_to_json(polled)
    stack.sf_update("Contact", record_id, {"FirstName": "Kathy"})
    eventually(lambda: (stack.mc_contact(phone) or {}).get("first_name") == "Kathy", "the edit on the platform")

    queue = Queue("realtime", connection=redis.Redis.from_url(stack.env["REDIS_URL"]))
    job = queue.enqueue("gateway.jobs.sync_platform_contacts", [stale])
    eventually(lambda: job.get_status(refresh=True) in ("finished", "failed"), "the late job")

    assert job.get_status() == "finished"
    assert stack.sf_record("Contact", record_id)["FirstName"] == "Kathy"  # not the older name the poll had read


def _event(record_id: str, field: str, value: object, modstamp: str) -> dict[str, Any]:
    """The event the package publishes for one changed field of a record (its own change only)."""
    record = {"Id": record_id, "SystemModstamp": modstamp, field: value}
    return {
        "eventUuid": str(uuid4()),
        "sobjectType": "Contact",
        "recordId": record_id,
        "operation": "update",
        "changedFields": [field],
        "record": record,
        "publishedAt": modstamp.replace("+0000", "Z"),
    }


def test_an_edit_whose_event_never_came_reaches_the_platform_with_the_next_sync_of_its_record(stack: Stack) -> None:
    """Two edits of one record a moment apart; the first one's event is lost (accepted by the gateway in the second
    a restarted Redis had not written to disk yet) or held back behind the second (found by `scripts/chaos`: both
    land in one batch, which keeps the newest event only). The second event names its own changed field only; its
    sync sends every field changed since the record was last reconciled all the same. The first event, if it comes
    at last, changes nothing."""
    phone = "+14155552683"
    record_id = stack.sf_create(
        "Contact", {"FirstName": "Ann", "LastName": "Old", "MobilePhone": phone, "Mobile_Subscriber__c": True}
    )
    eventually(lambda: stack.sf_record("Contact", record_id).get("Messaging_Contact_Id__c"), "the link")
    stack.sf.control("DELETE", "relay")  # the test delivers this record's events itself
    stack.sf_update("Contact", record_id, {"LastName": "Older"})
    older = stack.sf_record("Contact", record_id)["SystemModstamp"]
    stack.sf_update("Contact", record_id, {"FirstName": "Newer"})
    newer = stack.sf_record("Contact", record_id)["SystemModstamp"]
    block = {"status": 503, "path": "composite/sobjects", "count": 10_000}  # the write-backs wait
    assert stack.sf.control("POST", "faults", json=block).status_code == 201
    org = token(stack.gateway_url, "salesforce-org", CLIENTS["salesforce-org"][0])
    try:
        post_events(stack.gateway_url, org, [_event(record_id, "FirstName", "Newer", newer)], stack.sf.org_id)
        eventually(lambda: (stack.mc_contact(phone) or {}).get("first_name") == "Newer", "the newer edit")
        assert (stack.mc_contact(phone) or {}).get("last_name") == "Older"  # the edit no event told of
        post_events(stack.gateway_url, org, [_event(record_id, "LastName", "Older", older)], stack.sf.org_id)
        queue = Queue("sync", connection=redis.Redis.from_url(stack.env["REDIS_URL"]))
        eventually(lambda: queue.count == 0 and queue.started_job_registry.count == 0, "the late event's job")
        held = stack.mc_contact(phone) or {}
        assert (held.get("first_name"), held.get("last_name")) == ("Newer", "Older")
    finally:
        stack.sf.control("DELETE", "faults")


def test_a_start_texted_after_an_admin_opt_out_is_not_undone_by_a_later_sync_of_the_record(stack: Stack) -> None:
    """An admin unticks Mobile_Subscriber__c; the person texts START on the platform; before the poll writes the
    START to Salesforce, a sync of the record compares every field (an older event arriving late, as after a
    `REQUEST_LIMIT_EXCEEDED` pause): the record's opt-out field only repeats what the platform last told Salesforce
    (`Messaging_Status__c` Unsubscribed), so the platform keeps the person's START (found by `scripts/chaos`)."""
    phone = "+14155552684"
    record_id = stack.sf_create(
        "Contact", {"FirstName": "Rosa", "LastName": "Parks", "MobilePhone": phone, "Mobile_Subscriber__c": True}
    )
    eventually(lambda: stack.sf_record("Contact", record_id).get("Messaging_Contact_Id__c"), "the link")
    stack.sf_update("Contact", record_id, {"Mobile_Subscriber__c": False})
    eventually(
        lambda: stack.sf_record("Contact", record_id).get("Messaging_Status__c") == "Unsubscribed",
        "the admin's opt-out on the platform and back in Salesforce",
    )
    opted_out = stack.sf_record("Contact", record_id)["SystemModstamp"]
    stack.sf.control("DELETE", "relay")  # the test delivers the late event itself
    stack.text_in(phone, "START")
    assert (stack.mc_contact(phone) or {}).get("sms_status") == "subscribed"
    stack.sf_update("Contact", record_id, {"FirstName": "Rosa Louise"})
    org = token(stack.gateway_url, "salesforce-org", CLIENTS["salesforce-org"][0])

    post_events(stack.gateway_url, org, [_event(record_id, "FirstName", "Rosa", opted_out)], stack.sf.org_id)

    eventually(lambda: (stack.mc_contact(phone) or {}).get("first_name") == "Rosa Louise", "the late event's sync")
    assert (stack.mc_contact(phone) or {}).get("sms_status") == "subscribed"
    stack.poll()
    record = eventually(
        lambda: (r := stack.sf_record("Contact", record_id)).get("Messaging_Status__c") == "Subscribed" and r,
        "the START in Salesforce",
    )
    assert record["Mobile_Subscriber__c"] is True, (record, stack.sync_results(record_id))
