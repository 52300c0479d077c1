"""How many records a job keeps going at once (`to_platform.Pace`, `run_paced`): sized by Little's law from the
platform's latency and the CPU a record costs, never above the ceiling, results in order; one record's error fails
no other, a job handed over starts nothing new, and the next job starts at the pace the last one measured (real
Redis)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from gateway.sync import fencing
from gateway.sync.to_platform import GAIN, LEAST_SECONDS, MIN_WINDOW, Pace, platform_call, run_paced


@pytest.fixture
def conn(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_a_slow_platform_gets_many_records_in_flight_a_fast_one_few() -> None:
    slow = Pace(ceiling=160)
    slow.observe(platform_seconds=0.250, cpu_seconds=0.003)  # 250 ms a call, 3 ms of CPU a record
    assert slow.window() == MIN_WINDOW + 84
    fast = Pace(ceiling=160)
    fast.observe(platform_seconds=0.001, cpu_seconds=0.003)  # answers at once: the CPU is the limit
    assert fast.window() == MIN_WINDOW + 1
    capped = Pace(ceiling=20)
    capped.observe(platform_seconds=2.0, cpu_seconds=0.003)
    assert capped.window() == 20  # never more than the platform's shared cap allows a job
    assert Pace(ceiling=160).window() == 80  # nothing measured yet: what the cap allows (160 = 2 threads a slot)


def test_the_window_follows_the_platform_as_it_slows_down_once_its_least_wait_is_forgotten() -> None:
    pace = Pace(ceiling=200)
    pace.observe(0.010, 0.003, now=100.0)
    before = pace.window()
    for n in range(30):
        pace.observe(0.300, 0.003, now=100.0 + n / 10)
    assert before == MIN_WINDOW + math.ceil(0.010 / 0.003)
    # for LEAST_SECONDS, sized for no more than GAIN times the least wait: a platform that got 30 times slower in a
    # moment reads as one the job's own records queue at
    assert pace.window() == MIN_WINDOW + math.ceil(GAIN * 0.010 / 0.003)
    pace.observe(0.300, 0.003, now=100.0 + LEAST_SECONDS + 0.5)
    assert pace.window() > 90  # then it is the platform's own time: 300 ms
    pace.observe(0.0, 0.003, now=100.0 + LEAST_SECONDS + 0.6)
    # a record that made no call (skipped) is no least wait: it only lowers the mean (it waited on nothing), where
    # taken for the least it would have cut the window to MIN_WINDOW
    assert pace.window() > 60


def test_a_job_does_not_widen_its_window_for_the_queue_its_own_records_make(conn: redis.Redis) -> None:
    """A platform that serves one call at a time (2 ms each): each call waits behind the job's other calls, so the
    wait measured grows with the records in flight. Sized from that wait, the window grew with it up to the ceiling
    (160 here); sized from the least wait, it stays near what the platform's own 2 ms take."""
    platform = threading.Lock()
    going = 0
    peaks: list[int] = []
    lock = threading.Lock()

    def sync(n: int) -> int:
        nonlocal going
        with lock:
            going += 1
            peaks.append(going)
        spin_until = time.thread_time() + 0.0005  # half a millisecond of the worker's CPU a record
        while time.thread_time() < spin_until:
            pass
        with platform_call(), platform:
            time.sleep(0.002)
        with lock:
            going -= 1
        return n

    assert run_paced(conn, "t-pace-queue", 160, sync, range(600)) == list(range(600))
    after_the_first_measures = peaks[200:]
    assert max(after_the_first_measures) <= 40, max(after_the_first_measures)


def test_records_in_flight_stay_within_the_ceiling_and_results_keep_their_order(conn: redis.Redis) -> None:
    going = peak = 0
    lock = threading.Lock()

    def sync(n: int) -> int:
        nonlocal going, peak
        with lock:
            going += 1
            peak = max(peak, going)
        with platform_call():
            time.sleep(0.02)  # a platform answering in 20 ms
        with lock:
            going -= 1
        return n * n

    assert run_paced(conn, "t-pace", 6, sync, range(40)) == [n * n for n in range(40)]
    assert 1 < peak <= 6


def test_the_next_job_starts_at_the_pace_the_last_one_measured(conn: redis.Redis) -> None:
    def slow(n: int) -> int:
        with platform_call():
            time.sleep(0.05)  # a platform answering in 50 ms, for records costing almost no CPU
        return n

    run_paced(conn, "t-pace", 50, slow, range(20))
    cold = Pace(ceiling=50).window()
    started: list[int] = []
    timed_out: list[int] = []
    more_than_a_cold_start = threading.Event()

    def held(n: int) -> int:
        started.append(n)
        if len(started) > cold:
            more_than_a_cold_start.set()
        if not more_than_a_cold_start.wait(5):
            timed_out.append(n)  # only a cold start's window was let start: none of them could finish before this
        return n

    assert run_paced(conn, "t-pace", 50, held, range(40)) == list(range(40))
    assert timed_out == []  # the first records of this job already went beyond a cold start's window


def test_one_records_error_leaves_the_others_synced_and_is_raised_at_the_end(conn: redis.Redis) -> None:
    done: list[int] = []

    def sync(n: int) -> int:
        if n == 2:
            raise ValueError("record 2 failed")
        time.sleep(0.01)
        done.append(n)
        return n

    with pytest.raises(ValueError, match="record 2"):
        run_paced(conn, "t-pace-fail", 4, sync, range(100))
    assert sorted(done) == [n for n in range(100) if n != 2]  # as before pacing: one record's bug fails no other


def test_a_job_handed_to_another_worker_starts_no_new_record(conn: redis.Redis) -> None:
    done: list[int] = []

    def sync(n: int) -> int:
        if n == 2:
            raise fencing.Superseded(fencing.Fence("test:lease", "mine"))
        time.sleep(0.01)
        done.append(n)
        return n

    with pytest.raises(fencing.Superseded):
        run_paced(conn, "t-pace-superseded", 4, sync, range(100))
    assert len(done) < 100  # nothing new started once the job was no longer this worker's
