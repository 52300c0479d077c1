"""Initial sync platform → Salesforce: people are matched by phone (however Salesforce typed it), created once
otherwise, linked on both sides, and conflicts are reported instead of guessed."""

from __future__ import annotations

from tests.integration.bulk.conftest import BulkStack
from tests.phone_table import FORMS, typed_as


def test_platform_people_are_matched_or_created_and_linked_both_ways(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    specs = [
        {"phone": f"+1646555{n:04d}", "first_name": f"Mc{n}", "last_name": "Person", "email": f"mc{n}@example.org"}
        for n in range(900)
    ]
    seeded = stack.mc.control().post(f"{stack.mc.url}/__emulator__/seed", json={"profiles": specs}).json()
    assert seeded["created"] == 900
    # 100 of them already exist in Salesforce as Contacts and 9 as Leads, typed in every form people type; one phone
    # is held by two Salesforce records
    existing = stack.sf.seed(
        "Contact",
        records=[
            {"LastName": f"Existing{n}", "MobilePhone": typed_as(FORMS[n % len(FORMS)], f"646555{n:04d}")}
            for n in range(100)
        ]
        + [{"LastName": "Twin", "MobilePhone": "646.555.0899"}, {"LastName": "Twin", "MobilePhone": "+16465550899"}],
    )
    leads = stack.sf.seed(
        "Lead",
        records=[
            {"LastName": f"Lead{n}", "Company": "Acme", "MobilePhone": typed_as(form, f"646555{100 + n:04d}")}
            for n, form in enumerate(FORMS)
        ],
    )
    stack.start_worker()
    stack.start_worker()
    (run_id,) = stack.start("initial", "--to", "salesforce")
    run = stack.wait_done(run_id)

    assert run["processed"] == 900
    assert run["counts"] == {"created": 790, "updated": 109, "failed": 1}, run
    assert run["errors"] == {"multiple-salesforce-matches": 1}
    contacts = stack.sf_query("SELECT Id, LastName, Messaging_Contact_Id__c, MobilePhone FROM Contact")
    assert len(contacts) == 102 + 790
    matched_leads = stack.sf_query("SELECT Id, Messaging_Contact_Id__c FROM Lead")
    assert sorted(lead["Id"] for lead in matched_leads if lead["Messaging_Contact_Id__c"]) == sorted(leads)
    linked = [c for c in contacts if c["Messaging_Contact_Id__c"]] + matched_leads
    assert len(linked) == 899
    assert len({c["Messaging_Contact_Id__c"] for c in linked}) == 899
    by_id = {c["Id"]: c for c in contacts + matched_leads}
    assert all(by_id[i]["Messaging_Contact_Id__c"] for i in existing[:100])  # matched, not duplicated
    assert not any(by_id[i]["Messaging_Contact_Id__c"] for i in existing[100:])
    # the platform holds each person's Salesforce id
    profiles = {p["phone"]: p for p in stack.mc_contacts()}
    sf_ids = [p["custom_fields"].get("sf_id") for p in profiles.values()]
    assert sum(1 for i in sf_ids if i in by_id) == 899


def test_dry_run_counts_and_writes_nothing(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    specs = [{"phone": f"+1212555{n:04d}", "first_name": "Dry", "last_name": f"Run{n}"} for n in range(300)]
    stack.mc.control().post(f"{stack.mc.url}/__emulator__/seed", json={"profiles": specs})
    stack.start_worker()
    done = stack.sync("initial", "--to", "salesforce", "--dry-run", timeout=90)
    assert done.returncode == 0, done.stderr
    assert "created    300" in done.stdout, done.stdout
    assert stack.sf_query("SELECT Id FROM Contact") == []
    assert stack.sf_query("SELECT Id FROM Sync_Result__c WHERE Record_Id__c != null") == []


def test_records_salesforce_keeps_locked_are_written_by_the_chunks_retry_not_failed(bulk_stack: BulkStack) -> None:
    """A row still locked after the client's own retries (`UNABLE_TO_LOCK_ROW` in a collection's answer, HTTP 200)
    is no refusal: the chunk stores the rest, fails for RQ to retry it, and the retry writes those people."""
    stack = bulk_stack
    specs = [{"phone": f"+1718555{n:04d}", "first_name": "Locked", "last_name": f"Row{n}"} for n in range(40)]
    stack.mc.control().post(f"{stack.mc.url}/__emulator__/seed", json={"profiles": specs})
    existing = stack.sf.seed(
        "Contact", records=[{"LastName": f"Row{n}", "MobilePhone": f"718555{n:04d}"} for n in range(10)]
    )
    locked = {"error_code": "UNABLE_TO_LOCK_ROW", "per_record": True, "count": 4, "path": "/composite/sobjects"}
    fault = stack.sf.control("POST", "/faults", json=locked)
    assert fault.status_code == 201, fault.text
    stack.start_worker()
    (run_id,) = stack.start("initial", "--to", "salesforce")
    run = stack.wait_done(run_id)

    assert run["counts"] == {"created": 30, "updated": 10}, run
    assert stack.sf.control("GET", "/faults").json()["faults"] == []  # all 4 fired
    linked = stack.sf_query("SELECT Id FROM Contact WHERE Messaging_Contact_Id__c != null")
    assert len(linked) == 40 and set(existing) <= {c["Id"] for c in linked}
    assert stack.sf_query("SELECT Id FROM Sync_Result__c WHERE Status__c = 'Failure'") == []
