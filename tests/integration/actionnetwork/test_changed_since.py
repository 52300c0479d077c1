"""Reading who changed: the modified_date filter, HAL paging past 25, and the look-back overlap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter

from .conftest import Control


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_paging_follows_next_links_past_25_until_the_last_page(adapter: ActionNetworkAdapter, control: Control) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    recent = control.post(
        "seed",
        {"count": 60, "modified_at": iso(now - timedelta(minutes=2)), "created_at": iso(now - timedelta(days=9))},
    )["ids"]
    control.post(
        "seed", {"count": 5, "modified_at": iso(now - timedelta(days=3)), "created_at": iso(now - timedelta(days=9))}
    )
    found = [c.platform_id for c in adapter.changed_since(now - timedelta(minutes=10), now)]
    assert sorted(found) == sorted(recent)
    assert control.calls("GET people") == 3  # 25 + 25 + 10, each page capped at 25


def test_the_look_back_rereads_people_changed_just_before_the_window(
    make_adapter: Callable[..., ActionNetworkAdapter], control: Control
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    since = now - timedelta(minutes=5)
    spec = {"created_at": iso(now - timedelta(days=9))}
    [inside] = control.post(
        "seed", {"people": [{**spec, "email": "in@example.org", "modified_at": iso(since + timedelta(seconds=30))}]}
    )["ids"]
    [overlap] = control.post(
        "seed", {"people": [{**spec, "email": "lb@example.org", "modified_at": iso(since - timedelta(minutes=3))}]}
    )["ids"]
    control.post(
        "seed", {"people": [{**spec, "email": "old@example.org", "modified_at": iso(since - timedelta(hours=1))}]}
    )
    [later] = control.post(
        "seed", {"people": [{**spec, "email": "late@example.org", "modified_at": iso(now + timedelta(minutes=1))}]}
    )["ids"]
    with_lookback = make_adapter(lookback_seconds=300)
    assert {c.platform_id for c in with_lookback.changed_since(since, now)} == {inside, overlap}
    without = make_adapter(lookback_seconds=0)
    assert {c.platform_id for c in without.changed_since(since, now)} == {inside}
    assert later not in {c.platform_id for c in with_lookback.changed_since(since, now)}  # left to the next window


def test_a_refused_timestamp_filter_falls_back_to_the_day(adapter: ActionNetworkAdapter, control: Control) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    [pid] = control.post(
        "seed",
        {
            "people": [
                {
                    "email": "d@example.org",
                    "modified_at": iso(now - timedelta(minutes=1)),
                    "created_at": iso(now - timedelta(days=2)),
                }
            ]
        },
    )["ids"]
    control.post("faults", {"status": 400, "message": "Invalid filter", "count": 1})
    assert [c.platform_id for c in adapter.changed_since(now - timedelta(minutes=5), now)] == [pid]
    assert control.calls("GET people") == 2
