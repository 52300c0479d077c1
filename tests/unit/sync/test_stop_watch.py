"""A bulk chunk notices an operator's stop before its next record, within `STOP_CHECK_SECONDS`, reading the run's
status from Redis at most that often, and looks at what the run owes Salesforce as often (real Redis; the clock is
the test's)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from gateway.sync.bulk.chunks import STOP_CHECK_SECONDS, StopWatch
from gateway.sync.bulk.runs import RunStopped, key, set_meta


class _CountedReads:
    def __init__(self, client: redis.Redis) -> None:
        self.client, self.reads = client, 0

    def hget(self, *args: Any) -> Any:
        self.reads += 1
        return self.client.hget(*args)


def test_a_stop_is_seen_within_the_check_interval_and_read_once_an_interval(connection: redis.Redis) -> None:
    set_meta(connection, "run-1", status="running")
    counted, now = _CountedReads(connection), [100.0]
    watch = StopWatch(counted, "run-1", clock=lambda: now[0])

    for _ in range(500):  # a chunk's records, all within one interval
        watch.check()
    assert counted.reads == 1

    set_meta(connection, "run-1", status="stopped")
    watch.check()  # not looked at yet: the records under way go on
    now[0] += STOP_CHECK_SECONDS
    with pytest.raises(RunStopped):
        watch.check()
    with pytest.raises(RunStopped):
        watch.check()  # and stays stopped, without another read
    assert counted.reads == 2
    connection.delete(key("run-1", "meta"))


def test_each_look_at_a_going_run_also_runs_the_chunks_own_look_and_a_stopped_one_does_not(
    connection: redis.Redis,
) -> None:
    set_meta(connection, "run-2", status="running")
    now, looks = [100.0], []
    watch = StopWatch(connection, "run-2", clock=lambda: now[0], on_look=lambda: looks.append(now[0]))

    for _ in range(3):
        for _ in range(50):
            watch.check()
        now[0] += STOP_CHECK_SECONDS
    assert looks == [100.0, 100.5, 101.0]  # once an interval, not once a record

    set_meta(connection, "run-2", status="stopped")
    with pytest.raises(RunStopped):
        watch.check()
    assert len(looks) == 3  # a stopped run queues nothing more
    connection.delete(key("run-2", "meta"))
