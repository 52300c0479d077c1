"""Writing the org: sObject Collections with per-record results, upsert by external id, Bulk API 2.0 ingest."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.salesforce.client import SalesforceClient
from gateway.salesforce.errors import BulkJobFailed
from tests.integration.salesforce_emulator.conftest import Emulator

from .conftest import api_calls, fast_client, settings_for


def people(n: int, prefix: str = "P") -> list[dict[str, object]]:
    return [{"FirstName": f"{prefix}{i}", "LastName": f"Last{i}", "MobilePhone": f"+1555010{i:04d}"} for i in range(n)]


def test_collections_report_partial_success_per_record_in_input_order(emulator: Emulator) -> None:
    records = people(250)
    records[3] = {"FirstName": "No last name"}  # REQUIRED_FIELD_MISSING
    records[210] = {"LastName": "X", "Not_A_Field__c": 1}  # INVALID_FIELD
    with fast_client(settings_for(emulator)) as client:
        results = client.create("Contact", records)
        assert api_calls(emulator)["collections"] == 2  # 200 + 50
        assert [r.index for r in results] == list(range(250))
        failed = {r.index: r for r in results if not r.success}
        assert set(failed) == {3, 210}
        assert failed[3].errors[0].status_code == "REQUIRED_FIELD_MISSING"
        assert "LastName" in failed[3].errors[0].fields
        assert failed[210].errors[0].status_code == "INVALID_FIELD" and failed[210].id is None
        stored = {r["Id"]: r for r in client.query_records("SELECT Id, FirstName FROM Contact")}
    assert len(stored) == 248
    assert stored[results[0].id or ""]["FirstName"] == "P0"


def test_update_and_delete_through_collections(emulator: Emulator) -> None:
    ids = emulator.seed("Contact", count=3)
    with fast_client(settings_for(emulator)) as client:
        updated = client.update(
            "Contact", [{"Id": ids[0], "LastName": "Renamed"}, {"Id": ids[1], "Email": "not-an-email"}]
        )
        assert [r.success for r in updated] == [True, False]
        assert updated[1].errors[0].status_code == "INVALID_EMAIL_ADDRESS"
        deleted = client.delete("Contact", [ids[2], "003000000000000AAA"])
        assert deleted[0].success and not deleted[1].success
        names = {r["Id"]: r["LastName"] for r in client.query_records("SELECT Id, LastName FROM Contact")}
    assert names[ids[0]] == "Renamed" and ids[2] not in names
    with pytest.raises(ValueError):
        client.update("Contact", [{"LastName": "no id"}])


@pytest.mark.parametrize("api", ["collections", "bulk"])
def test_upsert_by_external_id_creates_then_updates(emulator: Emulator, api: str) -> None:
    first = [{"Messaging_Contact_Id__c": f"mc-{i}", "LastName": f"Before{i}"} for i in range(3)]
    second = [
        {"Messaging_Contact_Id__c": "mc-1", "LastName": "After1", "Email": None},
        {"Messaging_Contact_Id__c": "mc-9", "LastName": "New9"},
        {"Messaging_Contact_Id__c": "mc-bad", "LastName": "Bad", "Email": "nope"},
    ]
    with fast_client(settings_for(emulator)) as client:
        created = client.upsert("Contact", "Messaging_Contact_Id__c", first, api=api)  # type: ignore[arg-type]
        assert [(r.success, r.created) for r in created] == [(True, True)] * 3
        again = client.upsert("Contact", "Messaging_Contact_Id__c", second, api=api)  # type: ignore[arg-type]
        assert [(r.success, r.created) for r in again[:2]] == [(True, False), (True, True)]
        assert again[0].id == created[1].id
        assert not again[2].success and again[2].errors[0].status_code == "INVALID_EMAIL_ADDRESS"
        rows = client.query_records("SELECT Messaging_Contact_Id__c, LastName FROM Contact")
    by_ext = {r["Messaging_Contact_Id__c"]: r["LastName"] for r in rows}
    assert by_ext == {"mc-0": "Before0", "mc-1": "After1", "mc-2": "Before2", "mc-9": "New9"}
    with pytest.raises(ValueError):
        client.upsert("Contact", "Messaging_Contact_Id__c", [{"LastName": "no key"}])


def test_bulk_ingest_above_the_threshold_matches_results_to_records(emulator: Emulator) -> None:
    records = people(40)
    records[7] = {"FirstName": "Missing last name"}
    records[30] = dict(records[29])  # a duplicate row still gets its own result
    with fast_client(settings_for(emulator, bulk_ingest_threshold=25)) as client:
        results = client.create("Contact", records)
        calls = api_calls(emulator)
        assert calls["collections"] == 0 and calls["bulk_ingest"] >= 5
        assert [r.index for r in results] == list(range(40))
        assert [r.index for r in results if not r.success] == [7]
        assert results[7].errors[0].status_code == "REQUIRED_FIELD_MISSING"
        assert results[29].id != results[30].id and results[29].id and results[30].id
        stored = client.query_records("SELECT Id FROM Contact")
    assert {r["Id"] for r in stored} == {r.id for r in results if r.success}


def test_bulk_delete_by_id(emulator: Emulator) -> None:
    ids = emulator.seed("Contact", count=30)
    client: SalesforceClient
    with fast_client(settings_for(emulator, bulk_ingest_threshold=10)) as client:
        results = client.delete("Contact", ids[:20])
        assert all(r.success for r in results) and [r.id for r in results] == ids[:20]
        assert len(client.query_records("SELECT Id FROM Contact")) == 10


def test_a_failed_bulk_job_is_a_typed_error_naming_the_cause(emulator: Emulator) -> None:
    with fast_client(settings_for(emulator)) as client, pytest.raises(BulkJobFailed) as caught:
        client.create("Contact", [{"LastName": "X", "Not_A_Field__c": "y"}], api="bulk")
    assert caught.value.state == "Failed" and "Not_A_Field__c" in str(caught.value)


class LocksRowsOnce(SalesforceClient):
    """Salesforce reports UNABLE_TO_LOCK_ROW for some records of a collection; the emulator fails whole
    requests only, so the first answer for the records at `locked` is made here and the rest goes to the org."""

    locked = frozenset({1, 4})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[list[str]] = []

    def _send_collection(self, sf: Any, operation: str, sobject: str, batch: Any, *rest: Any) -> Any:  # type: ignore[override]
        self.batches.append([str(r["LastName"]) for r in batch])
        if len(self.batches) > 1:
            return SalesforceClient._send_collection(sf, operation, sobject, batch, *rest)
        others = [r for i, r in enumerate(batch) if i not in self.locked]
        answers = iter(SalesforceClient._send_collection(sf, operation, sobject, others, *rest))
        lock = {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}]}
        return [lock if i in self.locked else next(answers) for i in range(len(batch))]


def test_records_refused_for_a_locked_row_are_resent_alone(emulator: Emulator) -> None:
    records = people(6)
    client = LocksRowsOnce(settings_for(emulator), backoff=0.01, max_backoff=0.02)
    results = client.create("Contact", records)
    assert all(r.success for r in results) and [r.index for r in results] == list(range(6))
    assert client.batches[1] == ["Last1", "Last4"] and len(client.batches) == 2
    stored = client.query_records("SELECT Id, LastName FROM Contact")
    assert sorted(r["LastName"] for r in stored) == sorted(str(r["LastName"]) for r in records)
    assert {r["Id"] for r in stored} == {r.id for r in results}
