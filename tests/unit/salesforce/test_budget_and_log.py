"""The API budget guard (in-process state) and the Sync_Result__c row builder."""

from __future__ import annotations

import json

import pytest

from gateway.domain.errors import SyncError, SyncErrorCode
from gateway.salesforce.errors import ApiBudgetExhausted
from gateway.salesforce.sync_results import Direction, Status, SyncResultEntry, to_record
from gateway.salesforce.usage import Lane, UsageMeter, budget_lane

DATA_URL = "https://x/services/data/v62.0/query/?q=SELECT+Id+FROM+Contact"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_budget_share_of_the_org_allocation_stops_calls_until_usage_is_read_again() -> None:
    clock = Clock()
    meter = UsageMeter(budget_share=0.8, usage_ttl=60, clock=clock)
    meter.record_response("GET", DATA_URL, {"Sforce-Limit-Info": "api-usage=799/1000"})
    meter.ensure_budget()
    meter.record_response("GET", DATA_URL, {"Sforce-Limit-Info": "api-usage=800/1000"})
    with pytest.raises(ApiBudgetExhausted) as caught:
        meter.ensure_budget()
    assert (caught.value.reason, caught.value.used, caught.value.limit) == ("budget_share", 800, 800)
    assert 0 < (caught.value.retry_after or 0) <= 60
    clock.now += 61  # the reading is stale: the next call may go and read the header again
    meter.ensure_budget()


def test_daily_budget_counts_our_own_calls_but_not_token_requests() -> None:
    clock = Clock()
    meter = UsageMeter(budget_share=1.0, daily_budget=2, clock=clock)
    meter.record_response("POST", "https://login.salesforce.com/services/oauth2/token", {})
    meter.record_response("GET", DATA_URL, {})
    meter.ensure_budget()
    meter.record_response("GET", DATA_URL, {})
    with pytest.raises(ApiBudgetExhausted) as caught:
        meter.ensure_budget()
    assert caught.value.reason == "daily_budget"
    snapshot = meter.snapshot()
    assert snapshot["calls_today"] == 2 and snapshot["calls_today_by_class"] == {"token": 1, "query": 2}
    clock.now += 86_400  # a new UTC day
    meter.ensure_budget()


def test_only_opt_outs_may_spend_the_reserved_share_of_each_line() -> None:
    clock = Clock()
    meter = UsageMeter(budget_share=0.8, daily_budget=1000, opt_out_reserve=0.1, clock=clock)
    meter.record_response("GET", DATA_URL, {"Sforce-Limit-Info": "api-usage=720/1000"})  # 90 % of the 800 line
    with pytest.raises(ApiBudgetExhausted) as caught:
        meter.ensure_budget()  # a read, a real-time sync, bulk work
    assert (caught.value.reason, caught.value.limit) == ("budget_share", 720)
    assert "kept for opt-outs" in caught.value.detail
    with budget_lane(Lane.OPT_OUT):
        meter.ensure_budget()  # a STOP still goes
    meter.record_response("GET", DATA_URL, {"Sforce-Limit-Info": "api-usage=800/1000"})
    with budget_lane(Lane.OPT_OUT), pytest.raises(ApiBudgetExhausted):
        meter.ensure_budget()  # the whole budget is spent: opt-outs wait too
    with pytest.raises(ApiBudgetExhausted) as caught:
        meter.ensure_budget()
    assert caught.value.limit == 720


def test_the_reserve_applies_to_the_daily_budget_too() -> None:
    clock = Clock()
    meter = UsageMeter(budget_share=1.0, daily_budget=10, opt_out_reserve=0.2, clock=clock)
    for _ in range(8):
        meter.record_response("GET", DATA_URL, {})
    with pytest.raises(ApiBudgetExhausted) as caught:
        meter.ensure_budget()
    assert (caught.value.reason, caught.value.limit) == ("daily_budget", 8)
    with budget_lane(Lane.OPT_OUT):
        meter.ensure_budget()
        meter.record_response("GET", DATA_URL, {})
        meter.record_response("GET", DATA_URL, {})
        with pytest.raises(ApiBudgetExhausted):
            meter.ensure_budget()


def test_request_limit_exceeded_pauses_every_call_for_the_pause() -> None:
    clock = Clock()
    meter = UsageMeter(budget_share=0.8, limit_pause=30, clock=clock)
    assert meter.record_limit_exceeded() == 30
    with pytest.raises(ApiBudgetExhausted) as caught:
        meter.ensure_budget()
    assert caught.value.reason == "request_limit_exceeded" and caught.value.retry_after == pytest.approx(30)
    clock.now += 31
    meter.ensure_budget()


def test_sync_result_rows_carry_the_error_cut_fields_and_no_secrets() -> None:
    error = SyncError(SyncErrorCode.INVALID_PHONE, "MobilePhone '12' is not a phone number.")
    entry = SyncResultEntry(
        direction=Direction.TO_PLATFORM,
        status=Status.FAILURE,
        object_name="Contact",
        record_id="003000000000001AAA",
        error=error,
        request_endpoint="https://secure.mcommons.com/api/profile_update" + "x" * 300,
        request_body={"phone_number": "12", "auth": {"password": "hunter2", "api_key": "k"}},
        platform="mobilecommons",
        run_id="",
    )
    record = to_record(entry)
    assert record["Direction__c"] == "To Platform" and record["Status__c"] == "Failure"
    assert record["Error_Code__c"] == "invalid-phone"
    assert record["Message__c"].startswith("MobilePhone '12' is not a phone number.")
    assert len(record["Request_Endpoint__c"]) == 255
    body = json.loads(record["Request_Body__c"])
    assert body == {"phone_number": "12", "auth": {"password": "********", "api_key": "********"}}
    assert "Run_Id__c" not in record and "Platform_Contact_Id__c" not in record
