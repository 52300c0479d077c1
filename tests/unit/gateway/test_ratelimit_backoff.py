"""How long a throttled or failed platform request waits before it is retried."""

from __future__ import annotations

import pytest

from gateway.ratelimit import backoff_delay


def test_retry_after_wins_but_is_capped() -> None:
    assert backoff_delay(1, retry_after=3.0) == 3.0
    assert backoff_delay(4, retry_after=0.0) == 0.0
    assert backoff_delay(1, retry_after=600.0, cap=30.0) == 30.0


def test_without_retry_after_the_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    ceilings = [backoff_delay(n, base=0.5, cap=30.0, rng=lambda: 1.0) for n in range(1, 10)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff_delay(3, base=0.5, rng=lambda: 0.25) == 0.5  # full jitter: anywhere below the ceiling


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(0)
