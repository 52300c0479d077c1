"""Initial sync Salesforce → platform on thousands of records: everything arrives once, links come back in bulk,
duplicates by phone and invalid records are reported, and the API cost stays within the page arithmetic."""

from __future__ import annotations

import time

from tests.integration.bulk.conftest import BulkStack, people


def test_initial_sync_to_platform_creates_links_and_reports(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    ids = stack.sf.seed("Contact", records=people(1500))
    dup_a, dup_b = stack.sf.seed(
        "Contact",
        records=[
            {"LastName": "Twin", "FirstName": "Ada", "MobilePhone": "+1 (415) 555-0199", "Mobile_Subscriber__c": True},
            {"LastName": "Twin", "FirstName": "Bea", "MobilePhone": "415.555.0199", "Mobile_Subscriber__c": True},
        ],
    )
    (bad,) = stack.sf.seed("Contact", records=[{"LastName": "Broken", "MobilePhone": "12345"}])
    stack.start_worker()
    stack.start_worker()
    calls_before = stack.sf.stats()["api_calls"]["by_class"]
    (run_id,) = stack.start("initial", "--to", "platform")
    run = stack.wait_done(run_id)

    assert run["total"] == 1503
    assert run["processed"] == 1503
    counts = run["counts"]
    assert counts["created"] + counts.get("updated", 0) == 1501, (counts, run["errors"])
    assert counts["failed"] == 2, counts
    assert run["errors"] == {"invalid-phone": 1, "phone-match-found-but-crmId-mismatch": 1}
    profiles = stack.mc_contacts()
    assert len(profiles) == 1501

    linked = stack.sf_query("SELECT Id, Messaging_Contact_Id__c FROM Contact WHERE Messaging_Contact_Id__c != null")
    assert len(linked) == 1501
    by_id = {p["id"] for p in profiles}
    assert {str(r["Messaging_Contact_Id__c"]) for r in linked} <= {str(i) for i in by_id}
    assert bad not in {r["Id"] for r in linked}
    assert len({dup_a, dup_b} & {r["Id"] for r in linked}) == 1

    results = stack.sf_query("SELECT Status__c, Error_Code__c, Record_Id__c, Run_Id__c FROM Sync_Result__c")
    failures = [r for r in results if r["Record_Id__c"]]
    summary = [r for r in results if not r["Record_Id__c"]]
    assert sorted(r["Error_Code__c"] for r in failures) == ["invalid-phone", "phone-match-found-but-crmId-mismatch"]
    assert len(summary) == 1 and summary[0]["Status__c"] == "Partial Failure" and summary[0]["Run_Id__c"] == run_id

    calls = stack.sf.stats()["api_calls"]["by_class"]
    spent = {k: calls[k] - calls_before.get(k, 0) for k in calls}
    spent.pop("token")
    # 1,503 records in chunks of 250: ids by Bulk query (a handful of calls), 7 chunk pages, links by Bulk ingest
    assert sum(spent.values()) <= 40, spent
    assert ids

    # the run's progress is what the status API shows operators
    from gateway import create_app
    from gateway.config import load_settings
    from tests.conftest import CLIENTS
    from tests.support import serve_in_thread, token

    with serve_in_thread(create_app(load_settings(stack.env, roles=("web",)))) as url:
        bearer = token(url, "admin-console", CLIENTS["admin-console"][0])
        import requests

        summary = requests.get(f"{url}/api/v1/status", headers={"Authorization": f"Bearer {bearer}"}, timeout=30).json()
    (shown,) = [r for r in summary["bulkRuns"] if r["runId"] == run_id]
    assert shown["status"] == "done"
    assert shown["processed"] == shown["total"] == 1503
    assert shown["errors"] == run["errors"]


def test_links_are_written_back_while_the_run_still_goes_not_all_at_its_end(bulk_stack: BulkStack) -> None:
    """A run smaller than one link batch used to write every link after its last platform call, with nothing left to
    overlap that write; now, near its end, what it owes is written while its last chunks still run."""
    from gateway.sync.bulk.runs import progress

    stack = bulk_stack
    stack.sf.seed("Contact", records=people(1200))
    faults = stack.mc.control().post(f"{stack.mc.url}/__emulator__/faults", json={"latency_ms": 25})
    assert faults.status_code == 200, faults.text
    for _ in range(2):
        stack.start_worker(GATEWAY_BULK_LINK_BATCH="50000")  # more than the run: no full batch comes mid-run
    (run_id,) = stack.start("initial", "--to", "platform")
    linked_mid_run = 0
    deadline = time.monotonic() + 90
    while (run := progress(stack.redis, run_id))["status"] != "done":
        assert run["status"] not in ("stopped", "paused") and time.monotonic() < deadline, run
        linked = stack.sf_query("SELECT Id FROM Contact WHERE Messaging_Contact_Id__c != null")
        if progress(stack.redis, run_id)["processed"] < run["total"]:
            linked_mid_run = max(linked_mid_run, len(linked))
        time.sleep(0.1)

    # at least the Bulk-sized batch (SALESFORCE_BULK_INGEST_THRESHOLD, 300 here) was written before the last record
    # was synced, and every link is there at the end
    assert linked_mid_run >= 300, linked_mid_run
    assert len(stack.sf_query("SELECT Id FROM Contact WHERE Messaging_Contact_Id__c != null")) == 1200
