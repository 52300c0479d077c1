"""Bulk API 2.0 round trips through simple-salesforce's bulk2 client and the raw job resources."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest

from .conftest import Emulator


def wait_for(emulator: Emulator, path: str, states: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = emulator.http.get(f"{emulator.data_url}/{path}", headers=emulator.auth(), timeout=10).json()
        if info["state"] in states:
            return dict(info)
        time.sleep(0.02)
    raise AssertionError(f"job never reached {states}")


def test_bulk_query_pages_csv_with_locator(salesforce_emulator: Emulator) -> None:
    salesforce_emulator.seed("Contact", count=2500, seed=3)
    sf = salesforce_emulator.sf()
    pages = list(
        sf.bulk2.Contact.query(
            "SELECT Id, FirstName, LastName, MobilePhone, Mobile_Subscriber__c, "
            "Account.Name, SystemModstamp FROM Contact",
            max_records=1000,
            wait=0.1,
        )
    )
    assert len(pages) == 3
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(rows) == 2500 and len({r["Id"] for r in rows}) == 2500
    assert list(rows[0]) == [
        "Id",
        "FirstName",
        "LastName",
        "MobilePhone",
        "Mobile_Subscriber__c",
        "Account.Name",
        "SystemModstamp",
    ]
    assert rows[0]["Mobile_Subscriber__c"] in ("true", "false")
    assert rows[0]["SystemModstamp"].endswith("Z")


def test_bulk_query_job_resources_and_headers(salesforce_emulator: Emulator) -> None:
    salesforce_emulator.seed("Contact", count=3, seed=4)
    http, url, headers = salesforce_emulator.http, salesforce_emulator.data_url, salesforce_emulator.auth()
    created = http.post(
        f"{url}/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Contact"}, headers=headers, timeout=10
    )
    assert created.status_code == 200
    job = created.json()
    assert job["state"] == "UploadComplete" and job["jobType"] == "V2Query" and job["id"].startswith("750")
    done = wait_for(salesforce_emulator, f"jobs/query/{job['id']}", {"JobComplete"})
    assert done["numberRecordsProcessed"] == 3
    results = http.get(f"{url}/jobs/query/{job['id']}/results", params={"maxRecords": 2}, headers=headers, timeout=10)
    assert results.headers["Sforce-NumberOfRecords"] == "2" and results.headers["Sforce-Locator"] != "null"
    last = http.get(
        f"{url}/jobs/query/{job['id']}/results",
        params={"maxRecords": 2, "locator": results.headers["Sforce-Locator"]},
        headers=headers,
        timeout=10,
    )
    assert last.headers["Sforce-NumberOfRecords"] == "1" and last.headers["Sforce-Locator"] == "null"
    assert http.delete(f"{url}/jobs/query/{job['id']}", headers=headers, timeout=10).status_code == 204
    missing = http.get(f"{url}/jobs/query/{job['id']}", headers=headers, timeout=10)
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    bad = http.post(
        f"{url}/jobs/query",
        json={"operation": "query", "query": "SELECT Nope__c FROM Contact"},
        headers=headers,
        timeout=10,
    )
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_bulk_insert_through_simple_salesforce(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    records = [
        {"LastName": f"Bulk{i}", "MobilePhone": f"+1415555{i:04d}", "Messaging_Contact_Id__c": f"b-{i}"}
        for i in range(450)
    ]
    records.append({"LastName": "", "MobilePhone": "+14155559999"})  # LastName missing: this row fails
    results = sf.bulk2.Contact.insert(records=records, wait=0.1)
    assert results[0]["numberRecordsProcessed"] == 451
    assert results[0]["numberRecordsFailed"] == 1
    job_id = results[0]["job_id"]
    success = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(job_id))))
    assert len(success) == 450 and success[0]["sf__Created"] == "true" and success[0]["sf__Id"].startswith("003")
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(job_id))))
    assert len(failed) == 1 and failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 450
    upserted = sf.bulk2.Contact.upsert(
        records=[
            {"Messaging_Contact_Id__c": "B-1", "LastName": "Changed"},
            {"Messaging_Contact_Id__c": "b-new", "LastName": "New"},
        ],
        external_id_field="Messaging_Contact_Id__c",
        wait=0.1,
    )
    assert upserted[0]["numberRecordsFailed"] == 0
    assert sf.Contact.get_by_custom_id("Messaging_Contact_Id__c", "b-1")["LastName"] == "Changed"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 451


def test_ingest_state_machine(salesforce_emulator: Emulator) -> None:
    http, url, headers = salesforce_emulator.http, salesforce_emulator.data_url, salesforce_emulator.auth()
    job = http.post(
        f"{url}/jobs/ingest",
        json={"object": "Contact", "operation": "insert", "lineEnding": "LF"},
        headers=headers,
        timeout=10,
    ).json()
    assert job["state"] == "Open" and job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"
    too_early = http.get(f"{url}/jobs/ingest/{job['id']}/successfulResults", headers=headers, timeout=10)
    assert too_early.status_code == 409
    cannot_delete = http.delete(f"{url}/jobs/ingest/{job['id']}", headers=headers, timeout=10)
    assert cannot_delete.status_code == 400
    upload = http.put(
        f"{url}/jobs/ingest/{job['id']}/batches/",
        data="LastName,Email\nA,a@example.org\nB,bad\n",
        headers={**headers, "Content-Type": "text/csv"},
        timeout=10,
    )
    assert upload.status_code == 201 and upload.content == b""
    closed = http.patch(f"{url}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, headers=headers, timeout=10)
    assert closed.json()["state"] == "UploadComplete"
    late = http.put(
        f"{url}/jobs/ingest/{job['id']}/batches",
        data="LastName\nC\n",
        headers={**headers, "Content-Type": "text/csv"},
        timeout=10,
    )
    assert late.status_code == 409
    done = wait_for(salesforce_emulator, f"jobs/ingest/{job['id']}", {"JobComplete", "Failed"})
    assert done["state"] == "JobComplete"
    assert (done["numberRecordsProcessed"], done["numberRecordsFailed"]) == (2, 1)
    for path in ("unprocessedrecords", "unprocessedRecords", "UNPROCESSEDRECORDS/"):
        unprocessed = http.get(f"{url}/jobs/ingest/{job['id']}/{path}", headers=headers, timeout=10)
        assert unprocessed.status_code == 200 and unprocessed.text.strip() == '"LastName","Email"'
    assert http.delete(f"{url}/jobs/ingest/{job['id']}", headers=headers, timeout=10).status_code == 204


@pytest.mark.parametrize(("header", "message"), [("LastName,Nope__c", "InvalidBatch : Field name not found : Nope__c")])
def test_ingest_with_an_unknown_column_fails_the_job(salesforce_emulator: Emulator, header: str, message: str) -> None:
    http, url, headers = salesforce_emulator.http, salesforce_emulator.data_url, salesforce_emulator.auth()
    job = http.post(
        f"{url}/jobs/ingest", json={"object": "Contact", "operation": "insert"}, headers=headers, timeout=10
    ).json()
    http.put(
        f"{url}/jobs/ingest/{job['id']}/batches",
        data=f"{header}\nA,b\n",
        headers={**headers, "Content-Type": "text/csv"},
        timeout=10,
    )
    http.patch(f"{url}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, headers=headers, timeout=10)
    failed = wait_for(salesforce_emulator, f"jobs/ingest/{job['id']}", {"JobComplete", "Failed"})
    assert failed["state"] == "Failed" and failed["errorMessage"] == message
    bad_object = http.post(
        f"{url}/jobs/ingest", json={"object": "Nope__c", "operation": "insert"}, headers=headers, timeout=10
    )
    assert bad_object.status_code == 400


def test_bulk_calls_are_metered_by_class(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    sf.bulk2.Contact.insert(records=[{"LastName": "A"}], wait=0.05)
    list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0.05))
    by_class = salesforce_emulator.stats()["api_calls"]["by_class"]
    assert by_class["bulk_ingest"] >= 4 and by_class["bulk_query"] >= 3
