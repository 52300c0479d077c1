"""Bulk API 2.0 CSV: building ingest data, reading query pages, matching ingest results to input records."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from gateway.salesforce.bulk_csv import build_ingest_csv, match_ingest_results, parse_ingest_error, parse_query_csv
from gateway.salesforce.results import RecordError


def test_ingest_csv_unions_columns_and_encodes_values() -> None:
    records = [
        {"LastName": 'O"Brien, Pat', "Mobile_Subscriber__c": True, "Birthdate": None},
        {"LastName": "Line\nbreak", "Account": {"Ext__c": "A-1"}, "attributes": {"type": "Contact"}},
        {"LastName": "Later", "SystemModstamp": datetime(2026, 11, 25, 8, 0, tzinfo=UTC)},
    ]
    text, columns, keys = build_ingest_csv(records, "upsert")
    assert columns == ["LastName", "Mobile_Subscriber__c", "Birthdate", "Account.Ext__c", "SystemModstamp"]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == columns
    assert rows[1] == ['O"Brien, Pat', "true", "#N/A", "", ""]  # None clears the field, absence leaves it
    assert rows[2] == ["Line\nbreak", "", "", "A-1", ""]
    assert rows[3][4] == "2026-11-25T08:00:00+00:00"
    assert [tuple(r) for r in rows[1:]] == keys
    insert_text, _, _ = build_ingest_csv([{"LastName": "X", "Email": None}], "insert")
    assert insert_text.splitlines()[1] == "X,"  # on insert there is nothing to clear


def test_query_pages_read_like_rest_records() -> None:
    fields = {
        "id": ("Id", "id"),
        "mobile_subscriber__c": ("Mobile_Subscriber__c", "boolean"),
        "numberofemployees": ("NumberOfEmployees", "int"),
        "amount": ("Amount", "currency"),
        "systemmodstamp": ("SystemModstamp", "datetime"),
        "email": ("Email", "email"),
    }
    text = (
        "ID,mobile_subscriber__c,NumberOfEmployees,Amount,SystemModstamp,Email,Owner.Name,Account.Owner.Name\n"
        '003A,true,12,3.5,2026-11-25T08:00:00.000Z,a@b.org,"Ada, L",Bob\n'
        "003B,false,,,,,,\n"
    )
    first, second = parse_query_csv(text, fields)
    assert first == {
        "Id": "003A",
        "Mobile_Subscriber__c": True,
        "NumberOfEmployees": 12,
        "Amount": 3.5,
        "SystemModstamp": "2026-11-25T08:00:00.000+0000",
        "Email": "a@b.org",
        "Owner": {"Name": "Ada, L"},
        "Account": {"Owner": {"Name": "Bob"}},
    }
    assert second["Mobile_Subscriber__c"] is False
    assert second["NumberOfEmployees"] is None and second["Email"] is None
    assert second["Owner"] is None and second["Account"] is None
    assert list(parse_query_csv("", fields)) == []


def test_ingest_results_are_matched_to_inputs_including_duplicates_and_missing_rows() -> None:
    records = [{"LastName": "Same"}, {"LastName": "Bad"}, {"LastName": "Same"}, {"LastName": "Lost"}]
    _text, columns, keys = build_ingest_csv(records, "insert")
    successful = '"sf__Id","sf__Created",LastName\n003B,true,Same\n003A,true,Same\n'
    failed = (
        '"sf__Id","sf__Error",LastName\n"","REQUIRED_FIELD_MISSING:Required fields are missing: [Email]:Email --",Bad\n'
    )
    results = match_ingest_results(keys, columns, successful, failed)
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert (results[0].id, results[0].created, results[2].id) == ("003B", True, "003A")
    assert results[1].errors == (
        RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [Email]", ("Email",)),
    )
    assert not results[3].success and results[3].errors[0].status_code == "UNPROCESSED"


def test_ingest_error_cells_without_fields() -> None:
    assert parse_ingest_error("INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--") == RecordError(
        "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"
    )
    assert parse_ingest_error("DUPLICATE_VALUE") == RecordError("DUPLICATE_VALUE", "")
