"""Readiness from shared, background checks (`gateway.web.readiness`) on a real Redis: the answer never waits for a
check, a deployment runs each check at most once per interval, a hung check shows as stale."""

from __future__ import annotations

import threading
import time

from flask import Flask

from gateway.web.readiness import Readiness
from tests.support import wait_for


def test_checks_run_in_the_background_once_per_interval_for_all_processes(redis_url: str) -> None:
    calls: list[str] = []
    release = threading.Event()

    def slow_salesforce() -> None:
        calls.append("salesforce")
        release.wait(10)

    def broken_platform() -> None:
        raise RuntimeError("https://internal.example/api said 500 with password=hunter2")

    checks = {"salesforce": slow_salesforce, "platform": broken_platform}
    one = Readiness(Flask("one"), redis_url, checks, interval=1.0, stale_after=0.6)
    other = Readiness(Flask("other"), redis_url, checks, interval=1.0, stale_after=0.6)

    begun = time.perf_counter()
    assert one.state() == {"redis": "ok", "salesforce": "unknown", "platform": "unknown"}
    assert other.state()["salesforce"] == "unknown"
    assert time.perf_counter() - begun < 0.5  # the slow check is not waited for
    wait_for(lambda: one.state()["salesforce"] == "stale", timeout=5, what="the hung check to show as stale")
    assert calls == ["salesforce"]  # one check for both "processes" while it runs
    release.set()
    wait_for(lambda: other.state() == {"redis": "ok", "salesforce": "ok", "platform": "failing"}, what="results")
    done = len(calls)
    time.sleep(1.1)  # older than the interval: still answered, and refreshed once more
    assert one.state()["salesforce"] == "ok"
    assert other.state()["salesforce"] == "ok"
    wait_for(lambda: len(calls) == done + 1, what="the next check")
    time.sleep(0.3)
    assert len(calls) == done + 1  # one for the deployment, not one per process or per call
