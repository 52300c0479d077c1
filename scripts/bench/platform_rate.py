"""The request rate a platform sees from a whole deployment, measured at its emulator: does the limit every worker
shares (`gateway.ratelimit`) hold when several worker processes sync at once?

Runs the real stack (`gateway.demo.start_stack`: emulators, gunicorn, `--workers` RQ worker processes, scheduler,
embedded Redis) on a platform that declares a request limit (default Action Network, whose emulator answers 429 above
its 4 requests/s). Two measurements in the same run, side by side:

- baseline: two bare adapter processes hammering the emulator, each with its own Redis database — nothing shared, so
  each keeps the limit alone and together they exceed it;
- the deployment: `--records` Salesforce Contacts created at once (mobile phone, opted in) reach the platform
  through the gateway's workers, which share one limiter in Redis.

For each: API calls, mean and peak requests in any one-second window as the emulator saw them, 429s answered, and
for the deployment the platform calls per record and records/s. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gateway.demo import Scenario, start_stack

ROOT = Path(__file__).resolve().parents[2]


def _bare_worker(platform: str, redis_url: str, threads: int, calls: int) -> None:
    """One process calling `find_contact` through the platform's own adapter and limiter (for the baseline)."""
    import redis

    from gateway.config import load_settings
    from gateway.domain.errors import SyncFailure
    from gateway.platforms import build_adapter

    settings = load_settings(dict(os.environ))
    adapter = build_adapter(platform, settings.platform, redis.Redis.from_url(redis_url))

    def work() -> None:
        for _ in range(calls):
            with contextlib.suppress(SyncFailure):  # a refused call is what the baseline shows
                adapter.find_contact(platform_id="00000000-0000-4000-8000-000000000001")

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def _rate(stats: dict[str, Any]) -> dict[str, Any]:
    """Served calls, their mean and peak rate, and the 429s answered (offered = served + refused, per second)."""
    span = stats["rate"]["span_seconds"] or 0
    offered = stats["api_calls"]["total"] + stats["throttled"]
    return {
        "calls": stats["api_calls"]["total"],
        "offered_per_s": round(offered / span, 2) if span else None,
        "mean_per_s": stats["rate"]["mean_per_second"],
        "peak_in_any_s": stats["rate"]["peak_in_any_second"],
        "throttled_429": stats["throttled"],
    }


def baseline(scenario: Scenario, platform: str, calls: int) -> dict[str, Any]:
    """Two bare processes, each on its own Redis database: nothing shared."""
    stack = scenario.stack
    stack.platform_control("POST", "reset")
    base = stack.env["REDIS_URL"]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--bare", platform, f"{base}?db={db}", "2", str(calls)],
            cwd=ROOT,
            env={**stack.env},
        )
        for db in (7, 8)
    ]
    for proc in procs:
        proc.wait(300)
    return _rate(stack.platform_control("GET", "stats").json())


def deployment(scenario: Scenario, records: int) -> dict[str, Any]:
    """`records` new Salesforce Contacts at once (mobile phone, opted in), through the gateway's workers."""
    stack = scenario.stack
    stack.platform_control("POST", "reset")
    phones = [f"+1415{3100000 + i:07d}" for i in range(records)]
    started = time.monotonic()
    for offset in range(0, records, 200):  # sObject Collections, 200 a call, as an admin's data load would
        body = {
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "Contact"},
                    "LastName": f"Rate{offset + i}",
                    "Email": f"rate{offset + i}@example.org",
                    "MobilePhone": phone,
                    "Mobile_Subscriber__c": True,
                }
                for i, phone in enumerate(phones[offset : offset + 200])
            ],
        }
        scenario.sf("POST", "composite/sobjects", json=body)
    wanted = set(phones)
    deadline = time.monotonic() + 600
    seen: set[str] = set()
    while time.monotonic() < deadline:
        contacts = stack.platform_control("GET", "contacts").json()["contacts"]
        seen = {c["phone"] for c in contacts if c.get("phone") in wanted and c.get("sms_status") == "subscribed"}
        if seen == wanted:
            break
        time.sleep(0.2)
    wall = time.monotonic() - started
    measured = _rate(stack.platform_control("GET", "stats").json())
    # Polls (every few seconds) and readiness checks share the budget; count only what the records cost.
    by_class = stack.platform_control("GET", "stats").json()["api_calls"]["by_class"]
    writes = sum(n for name, n in by_class.items() if name.startswith("POST"))
    return {
        **measured,
        "records": len(wanted),
        "arrived": len(seen),
        "seconds": round(wall, 1),
        "records_per_s": round(len(seen) / wall, 2) if wall else 0,
        "signup_calls_per_record": round(writes / max(1, len(seen)), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--platform", default="actionnetwork")
    parser.add_argument("--records", type=int, default=40, help="Salesforce edits pushed at once")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-calls", type=int, default=10, help="calls per thread of each bare process")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="bench-rate-"))
    stack = start_stack(var, contacts=0, workers=args.workers, platform=args.platform)
    try:
        scenario = Scenario(stack)
        print("baseline: two bare processes, nothing shared ...", flush=True)
        alone = baseline(scenario, args.platform, args.baseline_calls)
        print(f"the gateway: {args.records} new Salesforce Contacts, {args.workers} workers ...", flush=True)
        shared = deployment(scenario, args.records)
        variable = f"{args.platform.upper()}_REQUESTS_PER_SECOND"
        limit = float(stack.env.get(variable) or os.environ.get(variable) or 4.0)
    finally:
        stack.stop()
    print(f"\n{args.platform}: requests the emulator saw (limit {limit:g}/s, 429 above it)\n")
    print(f"{'run':<44}{'sent/s':>8}{'served':>8}{'served/s':>10}{'peak/1s':>9}{'429s':>6}")
    for label, row in (
        ("baseline: 2 processes, limiter not shared", alone),
        (f"gateway: {args.workers} workers, one shared limiter", shared),
    ):
        print(
            f"{label:<44}{row['offered_per_s']:>8}{row['calls']:>8}{row['mean_per_s']:>10}"
            f"{row['peak_in_any_s']:>9}{row['throttled_429']:>6}"
        )
    print(
        f"\n{shared['arrived']}/{shared['records']} records on the platform in {shared['seconds']} s "
        f"({shared['records_per_s']} records/s, {shared['signup_calls_per_record']} signup calls per record)"
    )
    print(
        json.dumps(
            {
                "bench": "platform_rate",
                "platform": args.platform,
                "limit_per_s": limit,
                "workers": args.workers,
                "baseline_unshared": alone,
                "gateway_shared": shared,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        _bare_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
