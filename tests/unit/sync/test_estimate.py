"""What `gateway sync initial` says before it starts: hours when a platform's pace makes it hours."""

from __future__ import annotations

from gateway.platforms.base import Pace
from gateway.sync.bulk.estimate import describe, duration


def test_a_hundred_thousand_records_at_four_requests_a_second_take_hours_not_minutes() -> None:
    found = describe("to-platform", "Contact", 100_000, Pace(4.0, calls_per_write=1, people_per_read=25), "Texty")
    assert found.seconds == 25_000 and found.requests == 100_000
    assert found.text == (
        "to-platform Contact: 100,000 record(s), ~1 Texty request(s) each at 4 requests/s "
        "(the pace all workers share) ≈ 6.9 h."
    )
    twice = describe("to-platform", "Contact", 100_000, Pace(4.0, calls_per_write=2, people_per_read=25), "Texty")
    assert twice.seconds == 50_000 and "≈ 13.9 h" in twice.text


def test_people_the_platform_does_not_count_are_given_a_read_rate_instead_of_a_guess() -> None:
    found = describe("to-salesforce", "Contact", None, Pace(4.0, calls_per_write=2, people_per_read=25), "Texty")
    assert found.records is None and found.seconds is None
    assert "Texty does not say how many people it holds" in found.text
    assert "100 people/s at most (100,000 people ≈ 17 min)" in found.text


def test_a_platform_without_a_declared_limit_is_said_to_have_none() -> None:
    found = describe("to-platform", "Lead", 12, None, "Texty")
    assert found.seconds is None and found.text == "to-platform Lead: 12 record(s); Texty declares no request limit."


def test_a_platform_that_keeps_no_people_costs_no_platform_request() -> None:
    found = describe("to-platform", "Contact", 500, Pace(None, calls_per_write=0), "Texty")
    assert (
        found.requests == 0
        and found.text == "to-platform Contact: 500 record(s); no Texty request (only Salesforce is written)."
    )


def test_durations_read_the_way_people_say_them() -> None:
    assert [duration(s) for s in (45, 1000, 25_000, 500_000)] == ["45 s", "17 min", "6.9 h", "5.8 days"]
