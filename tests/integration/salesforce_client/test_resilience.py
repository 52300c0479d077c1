"""Transient failures are retried (bounded); a spent API budget stops work cleanly and it resumes later."""

from __future__ import annotations

import time

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest

from gateway.salesforce.errors import ApiBudgetExhausted, SalesforceRequestError, SalesforceUnavailable
from gateway.salesforce.usage import SharedUsageCollector
from tests.integration.salesforce_emulator.conftest import Emulator

from .conftest import api_calls, fast_client, settings_for

SOQL = "SELECT Id FROM Contact"


@pytest.mark.parametrize(
    "fault",
    [
        {"error_code": "UNABLE_TO_LOCK_ROW", "count": 2},
        {"status": 503, "count": 3},
        {"status": 502, "count": 1},
    ],
)
def test_transient_faults_are_retried_until_the_call_succeeds(emulator: Emulator, fault: dict[str, object]) -> None:
    emulator.seed("Contact", count=2001)
    with fast_client(settings_for(emulator)) as client:
        stream = client.iter_query(SOQL, api="rest")
        first = next(stream)
        emulator.control("POST", "faults", json=fault)
        rest = list(stream)
        created = client.create("Contact", [{"LastName": "After the fault"}])
    assert len({first["Id"], *(r["Id"] for r in rest)}) == 2001
    assert created[0].success
    assert emulator.stats()["faults"]["fired"] == fault["count"]


def test_retries_are_bounded_and_end_in_a_typed_error(emulator: Emulator) -> None:
    with fast_client(settings_for(emulator), max_attempts=3) as client:
        client.check()
        emulator.control("POST", "faults", json={"status": 503, "count": 10})
        with pytest.raises(SalesforceUnavailable) as caught:
            client.query_records(SOQL)
    assert caught.value.attempts == 3 and "503" in caught.value.last_error
    assert emulator.stats()["faults"]["fired"] == 3


def test_a_create_is_not_repeated_after_an_ambiguous_server_error(emulator: Emulator) -> None:
    with fast_client(settings_for(emulator)) as client:
        client.check()
        emulator.control("POST", "faults", json={"status": 500, "count": 1})
        with pytest.raises(SalesforceRequestError) as caught:
            client.create("Contact", [{"LastName": "Once"}])
    assert caught.value.status == 500 and caught.value.codes == ("UNKNOWN_EXCEPTION",)
    assert emulator.stats()["faults"]["fired"] == 1


def test_bad_soql_is_a_request_error_not_retried(emulator: Emulator) -> None:
    with fast_client(settings_for(emulator)) as client, pytest.raises(SalesforceRequestError) as caught:
        client.query_records("SELECT Nope__c FROM Contact")
    assert caught.value.codes == ("INVALID_FIELD",)
    assert api_calls(emulator)["query"] == 1


def test_budget_share_stops_reads_and_the_query_resumes_where_it_stopped(emulator: Emulator) -> None:
    emulator.seed("Contact", count=9000)  # 5 pages
    emulator.control("POST", "limits", json={"max": 10, "used": 0})
    # stop once the org has used 3 of 10 (no share kept for opt-outs: this is about the line itself)
    settings = settings_for(emulator, budget_share=0.3, opt_out_reserve=0.0)
    seen: list[str] = []
    with fast_client(settings) as client:
        stream = client.iter_query(SOQL, api="rest")
        with pytest.raises(ApiBudgetExhausted) as caught:
            seen.extend(r["Id"] for r in stream)
        stop = caught.value
        assert (stop.reason, stop.used, stop.limit) == ("budget_share", 3, 3)
        assert len(seen) == 6000 and stop.resume_token == stream.resume_token and stop.resume_token
        assert api_calls(emulator)["data"] == 3  # the refused call was never sent
    emulator.control("POST", "limits", json={"max": 1000})  # the next day, or a larger allocation
    with fast_client(settings) as client:
        seen.extend(r["Id"] for r in client.resume_query(stop.resume_token or ""))
    assert len(seen) == len(set(seen)) == 9000


def test_request_limit_exceeded_pauses_and_work_resumes_after_the_pause(emulator: Emulator) -> None:
    emulator.seed("Contact", count=4001)
    seen: list[str] = []
    with fast_client(settings_for(emulator), limit_pause=0.5) as client:
        stream = client.iter_query(SOQL, api="rest")
        seen.extend(next(stream)["Id"] for _ in range(2000))
        emulator.control("POST", "faults", json={"error_code": "REQUEST_LIMIT_EXCEEDED", "count": 1})
        with pytest.raises(ApiBudgetExhausted) as caught:
            seen.extend(r["Id"] for r in stream)
        assert caught.value.reason == "request_limit_exceeded" and 0 < (caught.value.retry_after or 0) <= 0.5
        sent = api_calls(emulator)["data"]
        with pytest.raises(ApiBudgetExhausted):  # paused: refused without calling Salesforce
            client.query_records(SOQL)
        assert api_calls(emulator)["data"] == sent
        time.sleep(0.55)
        seen.extend(r["Id"] for r in client.resume_query(caught.value.resume_token or ""))
    assert len(seen) == len(set(seen)) == 4001


def test_daily_budget_stops_a_write_between_batches_and_it_resumes_from_next_index(emulator: Emulator) -> None:
    records = [{"LastName": f"R{i}", "Messaging_Contact_Id__c": f"r-{i}"} for i in range(450)]
    spendable = settings_for(emulator, daily_budget=2, opt_out_reserve=0.0)
    with fast_client(spendable) as client, pytest.raises(ApiBudgetExhausted) as caught:
        client.create("Contact", records)
    stop = caught.value
    assert stop.reason == "daily_budget" and stop.next_index == 400
    assert [r.index for r in stop.results] == list(range(400)) and all(r.success for r in stop.results)
    with fast_client(settings_for(emulator)) as client:
        rest = client.create("Contact", records[stop.next_index or 0 :])
        assert all(r.success for r in rest)
        keys = [
            r["Messaging_Contact_Id__c"] for r in client.query_records("SELECT Messaging_Contact_Id__c FROM Contact")
        ]
    assert sorted(keys) == sorted(f"r-{i}" for i in range(450))


def test_the_budget_is_shared_by_every_worker_through_redis(emulator: Emulator, redis_url: str) -> None:
    emulator.seed("Contact", count=1)
    connection = redis.Redis.from_url(redis_url)
    settings = settings_for(emulator, daily_budget=3, opt_out_reserve=0.0)
    worker_a = fast_client(settings, redis=connection)
    worker_b = fast_client(settings, redis=connection)
    worker_a.query_records(SOQL)
    worker_a.query_records(SOQL)
    worker_b.query_records(SOQL)
    with pytest.raises(ApiBudgetExhausted):
        worker_a.query_records(SOQL)
    usage = worker_b.usage()
    assert usage["calls_today"] == 3 and usage["calls_today_by_class"]["query"] == 3
    assert usage["org_used"] == 3 and usage["org_max"] == 100_000
    registry = CollectorRegistry()
    registry.register(SharedUsageCollector(connection, budget_share=0.8, daily_budget=3))
    scraped = generate_latest(registry).decode()
    assert 'gateway_salesforce_shared_calls_today{call_class="query"} 3.0' in scraped
    assert "gateway_salesforce_shared_org_api_used 3.0" in scraped
    assert "gateway_salesforce_shared_budget_stop_at 80000.0" in scraped
