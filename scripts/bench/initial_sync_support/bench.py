"""Benchmark: initial sync of 100,000 records each way, and the 1%-changed incremental, on this machine.

Scenario A: 100,000 Contacts in the Salesforce emulator, an empty Mobile Commons emulator → `gateway sync initial
--to platform`. Then the incremental right after it (it re-reads the records whose link and status the initial run
wrote back, and skips them as echoes), then 1% of the Contacts are edited and the incremental runs again.
Scenario B: 100,000 Mobile Commons profiles, an empty org → `gateway sync initial --to salesforce`.

Everything runs as in production, each in its own process: Redis (AOF everysec), both emulators, `--workers`
`gateway worker` processes on the `bulk` queue, the `gateway sync` CLI. Salesforce API calls are counted by the
emulator; token requests are shown apart (they do not count against an org's API allocation). Peak memory is each
process's VmHWM: the RQ worker parents and their forked work horses (one per job).

Prints a table, then one JSON line `{"bench": "initial_sync", …}`.
Targets: ≥ 1,000 records/s end to end; ≤ 60 calls per 100,000 read, ≤ 550 per 100,000 written (≤ 30 with Bulk
ingest); memory flat in the number of records.

Usage: scripts/bench/initial_sync [--records N] [--workers N] [--skip-to-salesforce] [--skip-to-platform]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from initial_sync_support.stack import ROOT, Stack

ENV = {
    "GATEWAY_BULK_READ_CHUNK": "2000",
    "GATEWAY_BULK_WRITE_CHUNK": "25000",
    "GATEWAY_BULK_THREADS": "8",
    "GATEWAY_BULK_LINK_BATCH": "50000",
    # a night is long and the overlap short; on a bench that runs everything within minutes, a 10-minute overlap
    # would make every incremental re-read the whole org, so the bench uses a few seconds
    "GATEWAY_INCREMENTAL_OVERLAP_SECONDS": "5",
}


def _calls(stack: Stack, before: dict[str, Any]) -> dict[str, Any]:
    spent = stack.sf.calls_since(before)["by_class"]
    tokens = int(spent.pop("token", 0))
    return {"api_calls": sum(spent.values()), "tokens": tokens, "by_class": spent}


def _scenario(stack: Stack, name: str, records: int, *sync_args: str, **env: str) -> dict[str, Any]:
    before = stack.sf.stats()
    mc_before = stack.mc_stats()["api_calls"]["total"]
    stack.memory.reset()
    started = time.monotonic()
    out = stack.sync(*sync_args, **env)
    wall = time.monotonic() - started
    runs = [stack.report(r) for r in out["runs"]]
    processed = sum(int(r["processed"]) for r in runs)
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    for run in runs:
        for k, v in run["counts"].items():
            counts[k] = counts.get(k, 0) + int(v)
        for k, v in run["errors"].items():
            errors[k] = errors.get(k, 0) + int(v)
    calls = _calls(stack, before)
    result = {
        "scenario": name,
        "records": records,
        "processed": processed,
        "wall_s": round(wall, 2),
        "records_per_s": round(processed / wall, 1) if wall else None,
        **calls,
        "calls_per_100k": round(calls["api_calls"] * 100_000 / records, 1) if records else None,
        "platform_calls": stack.mc_stats()["api_calls"]["total"] - mc_before,
        "counts": counts,
        "errors": errors,
        "peak_rss_mib": {k: round(v / 1024, 1) for k, v in stack.memory.peaks.items()},
    }
    print(
        f"{name:<34} {processed:>8} rec {wall:>8.1f} s {result['records_per_s'] or 0:>8.0f} rec/s "
        f"{calls['api_calls']:>5} SF calls (+{calls['tokens']} tokens) {result['platform_calls']:>7} platform calls  "
        f"peak MiB {result['peak_rss_mib']}",
        flush=True,
    )
    print(f"{'':<34} by class {calls['by_class']}  outcomes {counts}  errors {errors}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-to-platform", action="store_true")
    parser.add_argument("--skip-to-salesforce", action="store_true")
    args = parser.parse_args()
    n = args.records
    results: list[dict[str, Any]] = []
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var" / "bench") as tmp, Stack.start(Path(tmp), ENV) as stack:
        print(f"initial_sync bench: {n} records each way, {args.workers} workers", flush=True)
        if not args.skip_to_platform:
            ids = stack.seed_contacts(n)
            stack.start_workers(args.workers)
            results.append(_scenario(stack, "A. initial Salesforce → platform", n, "initial", "--to", "platform"))
            only_contacts = {"GATEWAY_INCREMENTAL_DIRECTIONS": "to-platform", "GATEWAY_INCREMENTAL_OBJECTS": "Contact"}
            results.append(_scenario(stack, "A2. incremental after the initial", n, "incremental", **only_contacts))
            changed = ids[:: max(1, 100)][: max(1, n // 100)]

            def edit(record_id: str) -> None:
                stack.sf.control("PATCH", f"records/Contact/{record_id}", json={"FirstName": "Edited"})

            time.sleep(6)  # nights are apart: let the overlap window pass, as it does between two nightly runs
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(edit, changed))
            results.append(
                _scenario(
                    stack, f"A3. incremental, {len(changed)} changed", len(changed), "incremental", **only_contacts
                )
            )
            stack.stop_workers()
        if not args.skip_to_salesforce:
            stack.reset()
            stack.seed_profiles(n)
            stack.start_workers(args.workers)
            results.append(_scenario(stack, "B. initial platform → Salesforce", n, "initial", "--to", "salesforce"))
            stack.stop_workers()
    print(json.dumps({"bench": "initial_sync", "records": n, "workers": args.workers, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
