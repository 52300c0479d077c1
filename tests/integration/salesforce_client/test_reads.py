"""Reading the org: REST pages of 2,000, Bulk API 2.0 queries, the automatic choice between them, and small
queries sent together in Composite calls."""

from __future__ import annotations

import pytest

from gateway.salesforce import SalesforceRequestError
from tests.integration.salesforce_emulator.conftest import Emulator

from .conftest import api_calls, fast_client, settings_for

FIELDS = "Id, FirstName, LastName, Email, MobilePhone, Mobile_Subscriber__c, SystemModstamp, Owner.Name"
CONTACTS = f"SELECT {FIELDS} FROM Contact"


@pytest.mark.parametrize(("rows", "pages"), [(2000, 1), (2001, 2), (4000, 2)])
def test_rest_paging_reads_every_row_once_in_pages_of_2000(emulator: Emulator, rows: int, pages: int) -> None:
    emulator.seed("Contact", count=rows)
    with fast_client(settings_for(emulator)) as client:
        stream = client.iter_query(CONTACTS, api="rest")
        assert stream.total == rows  # known after the first page, before iterating
        ids = [record["Id"] for record in stream]
    assert len(ids) == rows and len(set(ids)) == rows
    calls = api_calls(emulator)
    assert (calls["query"], calls["query_more"], calls["data"]) == (1, pages - 1, pages)
    assert stream.resume_token is None


def test_records_carry_no_attributes_and_keep_parent_fields(emulator: Emulator) -> None:
    emulator.seed("Contact", count=1)
    with fast_client(settings_for(emulator)) as client:
        (record,) = client.query_records(CONTACTS)
    assert "attributes" not in record and "attributes" not in record["Owner"]
    assert set(record) == {f.strip().split(".")[0] for f in FIELDS.split(",")}


def test_bulk_query_returns_the_same_records_as_rest(emulator: Emulator) -> None:
    emulator.seed("Contact", count=2500)
    emulator.seed("Contact", count=3, fields={"Email": None, "Mobile_Subscriber__c": False})
    soql = CONTACTS
    with fast_client(settings_for(emulator), bulk_page_size=1000) as client:
        rest = {r["Id"]: r for r in client.iter_query(soql, api="rest")}
        before = api_calls(emulator)
        stream = client.iter_query(soql, api="bulk")
        bulk = {r["Id"]: r for r in stream}
        assert stream.total == 2503
    assert bulk == rest
    calls = api_calls(emulator)
    # create + status poll(s) + 3 result pages (describe is cached from before? no: REST never describes)
    bulk_calls = calls["bulk_query"] - before["bulk_query"]
    assert 5 <= bulk_calls <= 6
    assert calls["describe"] - before["describe"] == 1


def test_auto_mode_counts_first_and_uses_bulk_above_the_threshold(emulator: Emulator) -> None:
    emulator.seed("Contact", count=30)
    soql = "SELECT Id FROM Contact WHERE LastName != null ORDER BY LastName"
    with fast_client(settings_for(emulator, bulk_query_threshold=20)) as client:
        big = client.iter_query(soql)
        assert big.api == "bulk" and len(list(big)) == 30
        small = client.iter_query(soql.replace("FROM", ", (SELECT Id FROM Cases) FROM"), estimate=None)
        hinted = client.iter_query(soql, estimate=5)
        assert (small.api, hinted.api) == ("rest", "rest")  # sub-queries never go to Bulk; a hint skips COUNT()
    with fast_client(settings_for(emulator, bulk_query_threshold=100)) as client:
        assert client.iter_query(soql).api == "rest"
    assert client.count(soql + " LIMIT 7") == 7


def test_query_all_includes_deleted_rows(emulator: Emulator) -> None:
    ids = emulator.seed("Contact", count=3)
    with fast_client(settings_for(emulator)) as client:
        assert all(r.success for r in client.delete("Contact", ids[:1]))
        live = client.query_records("SELECT Id FROM Contact")
        everything = list(client.iter_query("SELECT Id, IsDeleted FROM Contact", include_deleted=True, api="rest"))
        bulk_everything = list(client.iter_query("SELECT Id, IsDeleted FROM Contact", include_deleted=True, api="bulk"))
    assert len(live) == 2
    assert sorted(r["Id"] for r in everything) == sorted(ids)
    assert {r["Id"]: r["IsDeleted"] for r in bulk_everything} == {r["Id"]: r["IsDeleted"] for r in everything}


def test_several_queries_travel_five_to_a_composite_call_and_page_on(emulator: Emulator) -> None:
    emulator.seed("Contact", count=2100, seed=5)
    soqls = [f"SELECT Id FROM Contact LIMIT {n}" for n in (1, 2, 3, 4, 5, 2100)]
    before = api_calls(emulator)
    with fast_client(settings_for(emulator)) as client:
        answers = client.query_each(soqls)
        assert [len(records) for records in answers] == [1, 2, 3, 4, 5, 2100]
        assert "attributes" not in answers[5][2099]
        calls = {k: v - before[k] for k, v in api_calls(emulator).items()}
        assert (calls["composite"], calls["query_more"], calls["data"]) == (2, 1, 3)
        with pytest.raises(SalesforceRequestError) as refused:
            client.query_each(["SELECT Id FROM Contact", "SELECT Nope__c FROM Contact"])
        assert refused.value.codes == ("INVALID_FIELD",)
        emulator.control("POST", "faults", json={"status": 503, "count": 1, "path": "/composite"})
        assert [len(r) for r in client.query_each(soqls[:2])] == [1, 2]  # retried after the 503
