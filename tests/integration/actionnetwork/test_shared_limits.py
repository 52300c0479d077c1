"""The limits hold across worker processes: two processes hammering the emulator through one Redis stay within
ACTIONNETWORK_REQUESTS_PER_SECOND and ACTIONNETWORK_MAX_CONCURRENT as the emulator measures them; the same two
processes on separate Redis databases (nothing shared) do not, which shows the test can fail."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from gateway.emulators.actionnetwork import ActionNetworkEmulator
from tests.support import ROOT

from .conftest import Control

RATE = 4.0


def run_workers(emulator: ActionNetworkEmulator, redis_urls: list[str], *args: object) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.actionnetwork.rate_worker",
                emulator.api_url,
                emulator.api_token,
                url,
                *map(str, args),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url in redis_urls
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def other_db(redis_url: str) -> str:
    base, db = redis_url.rsplit("/", 1)
    return f"{base}/{(int(db) + 31) % 64 or 1}"


def test_two_worker_processes_share_one_request_rate(
    emulator: ActionNetworkEmulator, control: Control, redis_url: str
) -> None:
    results = run_workers(emulator, [redis_url, redis_url], RATE, 8, 2, 6)  # 2 processes x 2 threads x 6 calls
    assert [r["failed"] for r in results] == [0, 0] and sum(r["done"] for r in results) == 24
    rate = control.get("stats")["rate"]
    assert rate["mean_per_second"] <= RATE * 1.02, rate
    # One-second windows catch both ends of an evenly spaced run (0, .25, .5, .75, 1.0): at most one extra.
    assert rate["peak_in_any_second"] <= RATE + 1, rate

    control.post("reset")
    unshared = run_workers(emulator, [redis_url, other_db(redis_url)], RATE, 8, 2, 6)
    assert sum(r["done"] for r in unshared) == 24
    assert control.get("stats")["rate"]["mean_per_second"] > RATE * 1.5  # each process alone: about twice the rate


def test_two_worker_processes_share_one_concurrency_cap(
    emulator: ActionNetworkEmulator, control: Control, redis_url: str
) -> None:
    control.post("faults", {"latency_ms": 120, "jitter_ms": 40, "ratio": 1.0})
    results = run_workers(emulator, [redis_url, redis_url], 500, 2, 3, 3)  # 2 processes x 3 threads x 3 calls
    assert sum(r["done"] for r in results) == 18
    assert control.get("stats")["max_in_flight"] <= 2
