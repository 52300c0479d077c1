"""How many records a job keeps going at once (`to_platform.Pace`, `run_paced`): sized by Little's law from the
platform's latency and the CPU a record costs, never above the ceiling, results in order; one record's error fails
no other, a job handed over starts nothing new, and the next job starts at the pace the last one measured (real
Redis)."""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import pytest
import redis

from gateway.sync import fencing
from gateway.sync.to_platform import FAST_RECORDS, GAIN, MIN_WINDOW, QUICKEST, Pace, platform_call, run_paced


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


def test_the_window_follows_the_platform_as_it_slows_down() -> None:
    pace = Pace(ceiling=200)
    pace.observe(0.001, 0.003)
    before = pace.window()
    for _ in range(30):
        pace.observe(0.300, 0.003)
    assert before < 10
    assert pace.window() > 90


def test_a_fast_platform_is_sized_from_its_quickest_writes_a_slow_one_from_its_mean() -> None:
    fast = Pace(ceiling=160)
    for _ in range(QUICKEST):  # writes answered in 2 ms, for 2 ms of CPU a record
        fast.observe(0.002, 0.002, sample_seconds=0.002)
    for _ in range(30):
        fast.observe(0.100, 0.002, sample_seconds=0.100)  # then 100 ms: the job's own records queued at the platform
    assert fast.window() == MIN_WINDOW + math.ceil(GAIN * 0.002 / 0.002)  # not the 54 the mean would give
    slow = Pace(ceiling=160)
    outliers = {50, 100, 150}
    for n in range(200):  # 250 ms a write, a few answered in 15 ms: the mean, as if those had not come
        slow.observe(0.250, 0.003, sample_seconds=0.015 if n in outliers else 0.250)
    assert len(outliers) < QUICKEST and GAIN * 0.015 < FAST_RECORDS * 0.003  # counted, they would have bound it
    assert slow.window() == MIN_WINDOW + math.ceil(slow.platform_seconds / 0.003) > 80
    steady = Pace(ceiling=1000)
    for _ in range(50):  # answered in 60 ms: slower than FAST_RECORDS records' CPU, so never bound, whatever comes
        steady.observe(0.060, 0.001, sample_seconds=0.060)
    assert GAIN * 0.060 >= FAST_RECORDS * 0.001
    for _ in range(30):
        steady.observe(0.400, 0.001, sample_seconds=0.400)
    assert steady.window() == MIN_WINDOW + math.ceil(steady.platform_seconds / 0.001) > 300
    skipped = Pace(ceiling=160)
    skipped.observe(0.004, 0.002, sample_seconds=0.004)
    for _ in range(30):
        skipped.observe(0.0, 0.002)  # records that wrote nothing are no write sample: they only lower the mean
    assert skipped.quickest == [0.004]


class FifoPlatform:
    """A platform that answers one call at a time, in the order they came, each in `seconds`: a call waits behind
    every call sent before it, as at a real server's queue (a lock would let late callers jump it)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: queue.SimpleQueue[threading.Event | None] = queue.SimpleQueue()
        self.server = threading.Thread(target=self._serve, daemon=True)
        self.server.start()

    def _serve(self) -> None:
        while (answered := self.calls.get()) is not None:
            time.sleep(self.seconds)
            answered.set()

    def call(self) -> None:
        answered = threading.Event()
        self.calls.put(answered)
        answered.wait()

    def close(self) -> None:
        self.calls.put(None)
        self.server.join()


def _spin(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def _stored_pace(
    conn: redis.Redis, platform: str, ceiling: int, fn: Callable[[int], int], items: Iterable[int]
) -> dict[str, float]:
    """What one `run_paced` job stored for the next job of `platform` (the key is removed afterwards)."""
    key = f"gateway:sync:pace:{platform}"
    try:
        run_paced(conn, platform, ceiling, fn, items)
        return dict(json.loads(conn.get(key) or "{}"))
    finally:
        conn.delete(key)


def test_a_job_does_not_widen_its_window_for_the_queue_its_own_records_make(conn: redis.Redis) -> None:
    """Each write waits at the platform behind the job's other writes, and for the interpreter lock behind their CPU,
    so the wait measured grows with the records in flight. Sized from that wait, the window grew with it to the
    ceiling (160 here, and 0.32 s stored for the next job); sized from the quickest writes it stays bounded (20-30
    measured, 34 with two busy loops beside it), and so does the pace each job leaves to the next one."""
    platform = FifoPlatform(0.002)
    going = 0
    peaks: list[int] = []
    lock = threading.Lock()

    def sync(n: int) -> int:
        nonlocal going
        with lock:
            going += 1
            peaks.append(going)
        _spin(0.002)  # 2 ms of the worker's CPU a record
        with platform_call(write=True):
            platform.call()
        with lock:
            going -= 1
        return n

    try:
        for job in range(3):  # each job starts where the last one left off: what it stored must not grow
            peaks.clear()
            assert run_paced(conn, "t-pace-queue", 160, sync, range(400)) == list(range(400))
            after_the_first_measures = peaks[200:]
            assert max(after_the_first_measures) <= 80, (job, max(after_the_first_measures))
            stored = json.loads(conn.get("gateway:sync:pace:t-pace-queue") or "{}")
            assert stored["platform_seconds"] < 0.150, (job, stored)
    finally:
        platform.close()
        conn.delete("gateway:sync:pace:t-pace-queue")


def test_a_write_that_failed_is_no_sample_of_the_platforms_time(conn: redis.Redis) -> None:
    def sync(n: int) -> int:
        _spin(0.002)
        try:
            with platform_call(write=True):
                if n % 2:
                    raise RuntimeError("refused at once")  # an error answered without the platform's usual work
                time.sleep(0.005)
        except RuntimeError:
            pass
        return n

    stored = _stored_pace(conn, "t-pace-refused", 8, sync, range(40))
    # sized from the refusals' microseconds it would be GAIN times those; from the 5 ms writes, the mean of all
    assert stored["platform_seconds"] > 0.001, stored


def test_an_items_sample_is_its_whole_time_on_the_platform_and_only_when_it_wrote(conn: redis.Redis) -> None:
    """One thread (a ceiling of 1), so every item's figures pass through the same thread: items that look up for
    30 ms and write in 1 ms are samples of 31 ms, not of their write's 1 ms; items after them that only look up
    (1 ms) are no samples at all."""
    writes = set(range(4)) | set(range(14, 24))

    def sync(n: int) -> int:
        _spin(0.003)
        with platform_call():
            time.sleep(0.030 if n in writes else 0.001)  # a lookup
        if n in writes:
            with platform_call(write=True):
                time.sleep(0.001)
        return n

    stored = _stored_pace(conn, "t-pace-items", 1, sync, range(24))
    # a quickest of 1 ms (the writes alone, or the lookups taken for samples) would bound it to 3 ms; the items that
    # wrote took 31 ms: GAIN times that, 93 ms, is under FAST_RECORDS items' CPU (120 ms), so the bound is 93 ms,
    # above the mean
    assert stored["platform_seconds"] > 0.010, stored


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
