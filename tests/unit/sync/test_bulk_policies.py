"""The pure rules of bulk runs: when bulk work steps aside for real-time syncs, when a scheduled run is due in the
organisation's time zone, how a run's report reads, when a run writes its links back, and how bad tuning is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.config import ConfigError, load_settings
from gateway.salesforce.sync_results import Direction, Status
from gateway.sync.budget import bulk_allowance
from gateway.sync.bulk.links import Due, due
from gateway.sync.reports import format_report, status_of, summary_entry, summary_message
from gateway.sync.schedule import due_slot

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()


def snapshot(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "org_used": None,
        "org_max": None,
        "stop_at": None,
        "daily_budget": None,
        "calls_today": 0,
        "paused_for_seconds": 0.0,
    }
    return {**base, **values}


def test_bulk_work_proceeds_with_no_limit_in_sight() -> None:
    assert bulk_allowance(snapshot(org_used=100, org_max=100_000, stop_at=80_000), now=NOON).allowed


def test_bulk_work_keeps_a_reserve_of_the_daily_budget_for_real_time() -> None:
    under = bulk_allowance(snapshot(daily_budget=1000, calls_today=899), reserve=0.1, now=NOON)
    over = bulk_allowance(snapshot(daily_budget=1000, calls_today=900), reserve=0.1, now=NOON)
    assert under.allowed
    assert not over.allowed
    assert "900 of the daily budget of 1000" in over.reason
    assert over.retry_after == pytest.approx(12 * 3600)  # tomorrow, UTC, when the day's count starts again


def test_bulk_work_stops_before_the_orgs_stop_line() -> None:
    refused = bulk_allowance(snapshot(org_used=72_000, org_max=100_000, stop_at=80_000), reserve=0.1, now=NOON)
    assert not refused.allowed
    assert "72000" in refused.reason and refused.retry_after > 0


def test_bulk_work_stops_before_real_time_which_stops_before_opt_outs() -> None:
    # the org's line is 80,000; opt-outs alone may spend its last 10 %, so real time stops at 72,000, and bulk work
    # 10 % before that
    snap = snapshot(org_used=64_800, org_max=100_000, stop_at=80_000, opt_out_reserve=0.1)
    assert not bulk_allowance(snap, reserve=0.1, now=NOON).allowed
    assert bulk_allowance({**snap, "org_used": 64_799}, reserve=0.1, now=NOON).allowed


def test_a_request_limit_pause_stops_bulk_work_for_its_duration() -> None:
    refused = bulk_allowance(snapshot(paused_for_seconds=42.0), now=NOON)
    assert not refused.allowed and refused.retry_after == 42.0


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 11, 25, 7, 0, tzinfo=UTC), "2026-11-25 02:00"),  # 02:00 in New York (EST, UTC-5)
        (datetime(2026, 11, 25, 6, 59, tzinfo=UTC), None),  # 01:59 local: not yet
        (datetime(2026, 11, 25, 13, 30, tzinfo=UTC), None),  # 08:30 local: the slot is too far past
        (datetime(2026, 7, 1, 6, 5, tzinfo=UTC), "2026-07-01 02:00"),  # summer time (EDT, UTC-4)
    ],
)
def test_the_nightly_slot_follows_the_organisations_time_zone(utc: datetime, expected: str | None) -> None:
    assert due_slot(utc, ["02:00"], "America/New_York") == expected


def test_of_two_slots_the_latest_passed_one_is_due() -> None:
    at = datetime(2026, 11, 25, 18, 30, tzinfo=UTC)
    assert due_slot(at, ["06:00", "18:00"], "UTC") == "2026-11-25 18:00"


def test_schedule_and_tuning_refuse_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_SYNC_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="GATEWAY_SYNC_TIMEZONE"):
        load_settings()
    monkeypatch.setenv("GATEWAY_SYNC_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("GATEWAY_INCREMENTAL_AT", "25:00")
    with pytest.raises(ConfigError, match="GATEWAY_INCREMENTAL_AT"):
        load_settings()
    monkeypatch.setenv("GATEWAY_INCREMENTAL_AT", "01:30")
    assert load_settings().schedule.incremental_at == ("01:30",)
    monkeypatch.setenv("GATEWAY_BULK_READ_CHUNK", "lots")
    with pytest.raises(ConfigError, match="GATEWAY_BULK_READ_CHUNK"):
        load_settings()


RUN = {
    "run_id": "20261125T020000Z-abc",
    "kind": "initial",
    "direction": "to-platform",
    "object": "Contact",
    "status": "done",
    "total": 1000,
    "processed": 1000,
    "rate": 812.5,
    "counts": {"created": 900, "updated": 80, "skipped": 15, "failed": 5},
    "errors": {"invalid-phone": 4, "duplicate-contact": 1},
}


def test_a_run_with_some_failures_is_a_partial_failure_naming_each_code() -> None:
    entry = summary_entry(RUN, platform="mobilecommons")
    assert entry.status is Status.PARTIAL_FAILURE
    assert entry.direction is Direction.TO_PLATFORM
    assert entry.run_id == RUN["run_id"] and entry.record_id is None
    assert entry.message is not None
    assert "created 900, updated 80, skipped 15, failed 5" in entry.message
    assert "invalid-phone: 4, duplicate-contact: 1" in entry.message


def test_status_of_counts() -> None:
    assert status_of({"created": 3}) is Status.SUCCESS
    assert status_of({"failed": 3}) is Status.FAILURE
    assert status_of({"skipped": 1, "failed": 1}) is Status.PARTIAL_FAILURE


def test_a_dry_run_report_says_what_would_happen() -> None:
    assert "would be created 900" in summary_message({**RUN, "dry_run": True})
    text = format_report({**RUN, "dry_run": True})
    assert "dry run: nothing written" in text
    assert "1000 / 1000" in text and "invalid-phone" in text


def _due(owed: int, left: int, early_spent: bool = False) -> Due | None:
    return due(owed=owed, left=left, link_batch=50_000, bulk_threshold=2_000, early_spent=early_spent)


def test_a_run_writes_its_links_a_full_batch_at_a_time_and_once_early_near_its_end() -> None:
    assert _due(50_000, left=900_000) == Due(50_000)
    assert _due(30_000, left=900_000) is None  # far from the end: more will come
    assert _due(3_000, left=5_000) is None
    # near the end (what is owed outnumbers what is left): one Bulk job while the last chunks run, once
    assert _due(3_300, left=3_000) == Due(2_001, early=True)
    assert _due(3_300, left=3_000, early_spent=True) is None


def test_the_runs_tail_writes_each_whole_collections_call_as_soon_as_it_is_owed() -> None:
    # no more than a Bulk-sized batch left to sync: their links go 200 a call whenever they go, so they go now
    assert _due(250, left=1_500) == Due(200)
    assert _due(250, left=1_500, early_spent=True) == Due(200)
    assert _due(199, left=1_500) is None  # not one whole call yet
    assert _due(1_900, left=2_001) is None
    # the early Bulk job first when it is due: one job instead of a call per 200
    assert _due(3_300, left=1_500) == Due(2_001, early=True)


def test_a_run_with_nothing_left_to_sync_leaves_its_links_to_its_finish() -> None:
    assert _due(1_500, left=0) is None
    assert _due(3_300, left=0) is None
    assert _due(50_000, left=0) == Due(50_000)
