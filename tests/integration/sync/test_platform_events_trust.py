"""Rows 6 and 10 of the trust-boundaries issue, as they were found on the running stack: a STOP forged through the
mData URL unsubscribed a Salesforce record the platform still held as subscribed; a STOP from a phone unknown to
Salesforce tried to create a Contact and left a Failure row per request. Now the platform's own view decides, and an
unknown phone leaves one row a day and no Contact. Mobile Commons pushes no STOP (mData is per keyword): genuine
STOPs are found by the poll, as in production. Both emulators over HTTP, the gateway's web app, a real worker."""

from __future__ import annotations

import requests

from tests.integration.sync.conftest import MDATA_KEYWORD, Stack, eventually


def linked(stack: Stack, phone: str, first_name: str) -> str:
    record_id = stack.sf_create(
        "Contact", {"FirstName": first_name, "LastName": "Example", "MobilePhone": phone, "Mobile_Subscriber__c": True}
    )
    eventually(lambda: stack.sf_record("Contact", record_id).get("Messaging_Contact_Id__c"), "the link")
    eventually(lambda: stack.sync_results(record_id), "its Sync_Result__c")
    return record_id


def forged_stop(stack: Stack, phone: str, message_id: str) -> None:
    """An mData call shaped as Mobile Commons makes one (10-digit phone, lowercase keyword), sent by someone who
    learned the URL, not by Mobile Commons (which sends no STOP through mData)."""
    url = stack.mc.app.mdata[MDATA_KEYWORD].url
    national = phone.removeprefix("+1")
    answer = requests.post(
        url, data={"phone": national, "keyword": "stop", "args": "", "message_id": message_id}, timeout=10
    )
    assert answer.status_code == 200, answer.text


def stopped(stack: Stack, record_id: str) -> bool:
    return stack.sf_record("Contact", record_id).get("Messaging_Status__c") == "Unsubscribed"


def test_a_forged_stop_changes_nothing_and_a_genuine_one_is_written(stack: Stack) -> None:
    target = linked(stack, "+14155552701", "Target")
    control = linked(stack, "+14155552702", "Control")

    forged_stop(stack, "+14155552701", "forged-1")
    stack.text_in("+14155552702", "STOP")  # genuine: the platform itself now holds it ...
    stack.poll()  # ... and the poll finds it (queued after the forged call's drain)
    eventually(lambda: stopped(stack, control), "the genuine STOP in Salesforce")  # the forged one is done too

    record = stack.sf_record("Contact", target)
    assert record["Messaging_Status__c"] == "Subscribed" and record["Mobile_Subscriber__c"] is True
    assert stack.mc_contact("+14155552701")["sms_status"] == "subscribed"

    stack.text_in("+14155552701", "STOP")  # now the person says it
    stack.poll()
    eventually(lambda: stopped(stack, target), "the person's own STOP in Salesforce")


def test_a_phone_unknown_to_salesforce_leaves_one_row_a_day_and_no_contact(stack: Stack) -> None:
    control = linked(stack, "+14155552703", "Control")
    stranger = "+14155552704"

    for _ in range(3):  # the stranger texts STOP, and again, and again: each a new profile version, found by a poll
        stack.text_in(stranger, "STOP")
        stack.poll()
    stack.text_in("+14155552703", "STOP")
    stack.poll()
    eventually(  # the stranger's STOPs were polled before or with it, and their rows written first
        lambda: [r for r in stack.sync_results(control) if r["Direction__c"] == "To Salesforce"],
        "the control STOP's row in Salesforce",
    )

    profile = stack.mc_contact(stranger)
    assert profile is not None and profile["sms_status"] == "unsubscribed"
    rows = [r for r in stack.sync_results() if r["Platform_Contact_Id__c"] == str(profile["id"])]
    assert len(rows) == 1, rows
    assert rows[0]["Status__c"] == "Skipped" and "opt-out" in rows[0]["Message__c"], rows[0]
    contacts = stack.sf.sf("admin").query("SELECT Id FROM Contact WHERE MobilePhone LIKE '%555-2704%' OR "
                                          "MobilePhone LIKE '%5552704%'")["records"]  # fmt: skip
    assert contacts == []
