"""The platform emulators' shared fault plan: what a test or benchmark asks for is exactly what calls suffer."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest

from gateway.emulators.faults import Admission, Faults, FaultSpecError


def _calls(faults: Faults, n: int) -> list[Admission]:
    answers = []
    for _ in range(n):
        with faults.call() as admission:
            answers.append(admission)
    return answers


def test_a_counted_fault_is_used_by_exactly_that_many_calls() -> None:
    faults = Faults()
    faults.set({"error_code": 27, "count": 2})
    answers = _calls(faults, 4)
    assert [a.error_code for a in answers] == [27, 27, None, None]
    assert faults.stats()["faults_injected"] == 2


def test_a_ratio_with_a_seed_is_reproducible_and_latency_applies_to_every_call() -> None:
    first, second = Faults(), Faults()
    for faults in (first, second):
        faults.set({"status": 503, "ratio": 0.5, "latency_ms": 20, "jitter_ms": 10, "seed": 7})
    a, b = _calls(first, 50), _calls(second, 50)
    assert [x.status for x in a] == [x.status for x in b]
    assert 10 < sum(1 for x in a if x.status == 503) < 40
    assert all(0.010 <= x.delay <= 0.030 for x in a)


def test_beyond_the_concurrency_cap_calls_are_throttled_and_the_plan_overrides_the_account_cap() -> None:
    faults = Faults(account_max_concurrent=2)
    with ExitStack() as held:
        answers = [held.enter_context(faults.call()) for _ in range(3)]
    assert [a.throttled for a in answers] == [False, False, True]
    faults.set({"max_concurrent": 3})
    with ExitStack() as held:
        answers = [held.enter_context(faults.call()) for _ in range(3)]
    assert not any(a.throttled for a in answers)
    assert faults.stats()["peak_in_flight"] == 3
    faults.clear()
    assert faults.stats()["max_concurrent"] == 2


def test_more_calls_a_second_than_allowed_are_throttled() -> None:
    faults = Faults()
    faults.set({"max_per_second": 3})
    assert [a.throttled for a in _calls(faults, 5)] == [False, False, False, True, True]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "give status"),
        ({"status": 503, "ratio": 3}, "ratio"),
        ({"status": 700}, "status"),
        ({"status": 503, "count": 0}, "count"),
        ({"status": 503, "count": 1, "ratio": 0.5}, "count or ratio"),
        ({"error_id": 27}, "unknown field"),
        ({"error_code": True}, "error_code"),
        ([1], "JSON object"),
    ],
)
def test_a_plan_that_makes_no_sense_is_refused_naming_the_field(spec: object, field: str) -> None:
    with pytest.raises(FaultSpecError, match=field):
        Faults().set(spec)


def test_the_time_calls_spend_in_flight_is_summed_so_a_bench_can_tell_the_platforms_share() -> None:
    faults = Faults()
    faults.set({"latency_ms": 30})
    for _ in range(3):
        with faults.call() as admission:
            time.sleep(admission.delay)  # as an emulator serves a delayed call: inside the block
    stats = faults.stats()
    assert stats["busy_calls"] == 3
    assert 0.09 <= stats["busy_seconds"] < 0.5
    faults.reset()
    assert (faults.stats()["busy_calls"], faults.stats()["busy_seconds"]) == (0, 0.0)
