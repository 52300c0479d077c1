"""The package's own records: sync configuration (custom metadata) and the Sync_Result__c log."""

from __future__ import annotations

from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.salesforce.config_reader import FIELD_MAPPING_FIELDS, SYNC_OBJECT_FIELDS, read_sync_configuration
from gateway.salesforce.sync_results import Direction, Status, SyncResultEntry, write_sync_results
from tests.integration.salesforce_emulator.conftest import Emulator

from .conftest import api_calls, fast_client, settings_for


def test_configuration_is_read_raw_from_the_custom_metadata(emulator: Emulator) -> None:
    with fast_client(settings_for(emulator)) as client:
        config = read_sync_configuration(client)
    assert api_calls(emulator)["query"] == 2
    objects = {r["Object_API_Name__c"]: r for r in config.sync_objects}
    assert {"Contact", "Lead"} <= set(objects)
    assert objects["Contact"]["Active__c"] is True
    assert objects["Contact"]["Opt_Out_Field__c"] == "Mobile_Subscriber__c"
    assert all(set(r) == set(SYNC_OBJECT_FIELDS) for r in config.sync_objects)
    assert all(set(r) == set(FIELD_MAPPING_FIELDS) for r in config.field_mappings)
    phone = [
        m
        for m in config.field_mappings
        if m["Object_API_Name__c"] == "Contact" and m["Salesforce_Field__c"] == "MobilePhone"
    ]
    assert len(phone) == 1 and phone[0]["Platform_Field__c"] == "phone" and phone[0]["Is_Matching__c"] is True


def test_sync_results_are_written_in_batches_and_readable(emulator: Emulator) -> None:
    contact_id = emulator.seed("Contact", count=1)[0]
    entries = [
        SyncResultEntry(Direction.TO_PLATFORM, Status.SUCCESS, "Contact", contact_id, platform="mobilecommons")
        for _ in range(201)
    ]
    entries.append(
        SyncResultEntry(
            Direction.TO_SALESFORCE,
            Status.FAILURE,
            "Contact",
            contact_id,
            error=SyncError(SyncErrorCode.INVALID_PHONE, "MobilePhone '12' is not a phone number."),
            request_body={"phone": "12", "token": "abc"},
            run_id="run-1",
        )
    )
    with fast_client(settings_for(emulator)) as client:
        results = write_sync_results(client, entries)
        assert len(results) == 202 and all(r.success for r in results)
        assert api_calls(emulator)["collections"] == 2
        rows = client.query_records(
            "SELECT Direction__c, Status__c, Error_Code__c, Message__c, Request_Body__c, Record_Id__c, Run_Id__c "
            "FROM Sync_Result__c WHERE Status__c = 'Failure'"
        )
    (failure,) = rows
    assert failure["Direction__c"] == "To Salesforce" and failure["Error_Code__c"] == "invalid-phone"
    assert failure["Record_Id__c"] == contact_id and failure["Run_Id__c"] == "run-1"
    assert "abc" not in failure["Request_Body__c"] and "Correct it on the record" in failure["Message__c"]


def test_a_keyed_sync_result_written_twice_is_one_row(emulator: Emulator) -> None:
    """A write-back repeated after a crash, or by a flusher that woke up late, must not log a sync twice."""
    contact_id = emulator.seed("Contact", count=1)[0]
    first = SyncResultEntry(Direction.TO_PLATFORM, Status.SUCCESS, "Contact", contact_id, key="wb-1")
    unkeyed = SyncResultEntry(Direction.TO_PLATFORM, Status.SKIPPED, "Contact", contact_id)
    with fast_client(settings_for(emulator)) as client:
        once = write_sync_results(client, [unkeyed, first])
        again = write_sync_results(client, [first])
        rows = client.query_records("SELECT Status__c, Sync_Key__c FROM Sync_Result__c ORDER BY Status__c")
    assert [r.success for r in once] == [True, True] and [r.index for r in once] == [0, 1]
    assert once[1].created is True and again[0].created is False
    assert [(r["Status__c"], r["Sync_Key__c"]) for r in rows] == [("Skipped", None), ("Success", "wb-1")]
