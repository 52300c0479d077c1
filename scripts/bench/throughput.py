"""Throughput against a platform that answers like a real one: slow, and capped in concurrency.

The local stack (`gateway.demo.start_stack`: both emulators, gunicorn, `--workers` `gateway worker`s, cron, embedded
Redis) with the Mobile Commons emulator answering every API call in `--latency-ms` (250) and at most `--cap` (80)
calls in flight (beyond them: error 27, MC's throttling answer), and the gateway told the same cap
(`MOBILECOMMONS_MAX_CONCURRENT`). For 1, 2 and 4 workers, on a fresh stack each:

- an initial sync (`gateway sync initial --to platform`) of `--records` (5,000) Contacts with valid mobile phones,
  opted in: records/s from the command to the run's end (links written back), and the ratio to what the platform
  allows — cap / latency = 80 / 0.25 s = 320 calls/s, about one call a record;
- a real-time burst: `--burst` (1,000) of those Contacts edited at once (sObject Collections, 200 a call) and relayed
  as platform events: records/s and the p50/p99 latency from the edit to the platform holding it (the emulator's
  change feed, read every 100 ms, stamps when each change landed: `e2e.PlatformFeed`; `seen p99` is when the bench
  saw it, the figure to compare with a baseline's emulator, which has no stamps);

The cron polls Mobile Commons every `--poll-seconds` (3600): a poll right after the initial sync reads back every
profile it wrote (each an echo, skipped) — real work, but the poll's, not the sync's, and with one worker it runs
between the sync's jobs (the `realtime` queue first), so a short interval mixes it into the figures by chance.

Each leg shows the throttling answers the platform gave (target 0), the peak of calls in flight it saw, the Salesforce
API calls (token requests apart; the bench's own calls are taken off), and the gateway's CPU milliseconds per
record: user + system time of the worker processes, with the work horses they forked and reaped (RQ forks one per
job), from /proc. The same legs run on the code of `--baseline-ref` for `--baseline-workers` (default 4) first, in
the same run (`e2e.code_of`): its figures sit beside each leg's. The machine is shared (2 cores, other engineers'
work), and everything — emulators, Redis, web, workers — runs on it: read CPU per record beside its baseline, not
alone.

The initial sync's platform phase (its first platform call to its last) is shown apart, with where the platform's
slots went during it: how many the gateway held on average (its leases in Redis, `ratelimit.usage`, read with each
look at the run) and how many calls the emulator had in flight on average, with its mean time a call (its
`busy_seconds`); what the gateway holds beyond the calls in flight is its own share of each slot. Beside it, the
run's fixed costs: its start (the command to its first platform call: the CLI, planning, reading the first chunks,
the first phone lookups) and its end (its last platform call to done: that call's answer, the last chunk's end, the
links and summary written back), both at 0.1 s resolution.

Prints a table, then one JSON line `{"bench": "throughput", …}`. Target: ratio ≥ 0.8 with 4 workers, 0 throttling.

Usage: scripts/bench/throughput [--workers 1,2,4] [--records 5000] [--burst 1000] [--latency-ms 250] [--cap 80]
       [--baseline-ref main] [--baseline-workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import PlatformFeed, api_calls, code_of, cpu_seconds, percentile

from gateway.demo import GATEWAY, Scenario, Stack, start_stack
from gateway.ratelimit import usage
from gateway.sync.bulk.runs import progress


def phone(n: int) -> str:
    return f"+1212555{n:04d}" if n < 10_000 else f"+1646555{n - 10_000:04d}"


class Leg:
    """One stack: the gateway (of the current working directory's code) with `workers` workers."""

    def __init__(self, workers: int, records: int, latency_ms: int, cap: int, poll_seconds: int) -> None:
        self.workers = workers
        self.records = records
        var = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
        self.stack: Stack = start_stack(var, contacts=0, workers=workers, poll_seconds=poll_seconds)
        self.scenario = Scenario(self.stack)
        self.redis = redis.Redis.from_url(self.stack.env["REDIS_URL"])
        self.pids = [p.pid for name, p in self.stack.processes.items() if name.startswith("worker")]
        self.emulator_pid = self.stack.processes[self.stack.platform_entry.name].pid
        people = [
            {"FirstName": f"Person{n}", "LastName": "Throughput", "MobilePhone": phone(n), "Mobile_Subscriber__c": True}
            for n in range(records)
        ]
        seeded = self.stack.sf_control("POST", "seed?as=integration", json={"object": "Contact", "records": people})
        seeded.raise_for_status()  # a data load by the integration user: nothing is relayed
        faults = self.stack.platform_control("POST", "faults", json={"latency_ms": latency_ms, "max_concurrent": cap})
        faults.raise_for_status()

    def close(self) -> None:
        self.redis.close()
        self.stack.stop()

    def _platform(self) -> dict[str, Any]:
        return dict(self.stack.platform_control("GET", "stats").json())

    def _measure(self, before: dict[str, Any]) -> dict[str, Any]:
        time.sleep(1.0)  # the last work horses reaped, their CPU added to their worker's
        stats = self._platform()
        return {
            "cpu_s": cpu_seconds(self.pids) - before["cpu"],
            "emulator_cpu_s": round(cpu_seconds([self.emulator_pid]) - before["emulator_cpu"], 2),
            "throttled": int(stats["throttled"]) - before["throttled"],
            "platform_calls": int(stats["api_calls"]["total"]) - before["platform_calls"],
            "peak_in_flight": int(stats["peak_in_flight"]),
        }

    def _before(self) -> dict[str, Any]:
        stats = self._platform()
        return {
            "cpu": cpu_seconds(self.pids),
            "emulator_cpu": cpu_seconds([self.emulator_pid]),
            "throttled": int(stats["throttled"]),
            "platform_calls": int(stats["api_calls"]["total"]),
            "salesforce": api_calls(self.scenario),
        }

    def _salesforce_calls(self, before: dict[str, int], own: dict[str, int]) -> int:
        spent = {k: v - before.get(k, 0) - own.get(k, 0) for k, v in api_calls(self.scenario).items()}
        return sum(spent.values())

    def initial(self) -> dict[str, Any]:
        before = self._before()
        started = time.monotonic()
        done = subprocess.run(
            [*GATEWAY, "sync", "initial", "--to", "platform", "--detach"],
            env={**os.environ, **self.stack.env},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        (run_id,) = json.loads(done.stdout.strip().splitlines()[-1])["runs"]
        deadline = started + 900
        calls, first, last = before["platform_calls"], 0.0, 0.0  # when the platform's call count first/last moved
        samples: list[tuple[float, int, dict[str, Any]]] = []  # (when, slots the gateway held, the emulator's stats)
        while (run := progress(self.redis, run_id))["status"] != "done":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the initial sync did not end within 900 s: {run}")
            time.sleep(0.1)
            held = usage(self.redis, self.stack.platform_entry.name).slots_in_use
            now, stats = time.monotonic(), self._platform()
            count = int(stats["api_calls"]["total"])
            if count != calls:
                first, last, calls = first or now, now, count
                samples.append((now, held, stats))
        ended = time.monotonic()
        wall = ended - started
        out = self._measure(before)
        busy = last - first
        return {
            "records": run["processed"],
            "created": run["counts"].get("created", 0),
            "failed": run["counts"].get("failed", 0),
            "wall_s": round(wall, 2),
            "records_per_s": round(run["processed"] / wall, 1),
            # the platform phase alone (from its first call to its last, at 0.1 s resolution): what the limiter
            # reaches, without the run's fixed costs (CLI, planning, reading chunks, writing links back)
            "platform_calls_per_s": round(out["platform_calls"] / busy, 1) if busy > 0 else None,
            "start_s": round(first - started, 2) if first else None,
            "end_s": round(ended - last, 2) if last else None,
            **_slot_time(samples),
            **out,
            "salesforce_calls": self._salesforce_calls(before["salesforce"], {}),
        }

    def burst(self, n: int) -> dict[str, Any]:
        rows = self.scenario.query(f"SELECT Id, MobilePhone FROM Contact ORDER BY CreatedDate LIMIT {n}")
        wanted = {row["MobilePhone"]: f"Burst{i}" for i, row in enumerate(rows)}
        names = {row["Id"]: wanted[row["MobilePhone"]] for row in rows}
        results = self._results()
        before = self._before()
        feed = PlatformFeed(self.stack)
        sent: dict[str, float] = {}
        started = time.time()
        ids = list(names)
        by_id = {row["Id"]: row["MobilePhone"] for row in rows}
        for offset in range(0, len(ids), 200):
            chunk = ids[offset : offset + 200]
            records = [{"attributes": {"type": "Contact"}, "id": i, "FirstName": names[i]} for i in chunk]
            self.scenario.sf("PATCH", "composite/sobjects", json={"allOrNone": False, "records": records})
            now = time.time()
            sent.update({by_id[i]: now for i in chunk})
        deadline = time.monotonic() + 300
        seen, landed = feed.watch(wanted, lambda contact: contact.get("first_name") == wanted[contact["phone"]])
        wall = max(landed.values(), default=started) - started
        while time.monotonic() < deadline and self._results() < results + len(wanted):
            time.sleep(0.5)  # every record's Sync_Result__c written back: the burst's Salesforce cost is whole
        out = self._measure(before)
        latencies = [landed[p] - sent[p] for p in landed]
        seen_latencies = [seen[p] - sent[p] for p in seen]
        return {
            "records": len(wanted),
            "arrived": len(seen),
            "records_per_s": round(len(seen) / wall, 1) if wall > 0 else 0,
            "p50_s": round(percentile(latencies, 50), 3) if latencies else -1,
            "p99_s": round(percentile(latencies, 99), 3) if latencies else -1,
            "p99_seen_s": round(percentile(seen_latencies, 99), 3) if seen_latencies else -1,
            **out,
            "salesforce_calls": self._salesforce_calls(
                before["salesforce"], {"query": 1, "collections": -(-len(wanted) // 200)}
            ),
        }

    def _results(self) -> int:
        return int(self.stack.sf_control("GET", "stats").json()["records"].get("Sync_Result__c", 0))


def _slot_time(samples: list[tuple[float, int, dict[str, Any]]]) -> dict[str, Any]:
    """Where the platform's slots went during the platform phase: how many the gateway held on average (its leases
    in Redis, `ratelimit.usage`) and how many calls the platform had in flight on average, with its mean time a call
    (the emulator's `busy_seconds`). The difference is the gateway's own share of each slot: the request sent and the
    answer read on a busy machine, the send guard's check, the slot's release. None where the emulator does not
    count busy time (an older one)."""
    figures: dict[str, Any] = {"slots_held_mean": None, "platform_in_flight_mean": None, "platform_call_ms": None}
    if len(samples) < 2:
        return figures
    figures["slots_held_mean"] = round(sum(held for _, held, _ in samples) / len(samples), 1)
    (t0, _, a), (t1, _, b) = samples[0], samples[-1]
    if b.get("busy_seconds") is not None:
        busy, answered = b["busy_seconds"] - a["busy_seconds"], b["busy_calls"] - a["busy_calls"]
        figures["platform_in_flight_mean"] = round(busy / (t1 - t0), 1)
        figures["platform_call_ms"] = round(1000 * busy / answered, 1) if answered else None
    return figures


def leg(workers: int, args: argparse.Namespace) -> dict[str, Any]:
    run = Leg(workers, args.records, args.latency_ms, args.cap, args.poll_seconds)
    try:
        initial = run.initial()
        burst = run.burst(args.burst)
    finally:
        run.close()
    limit = args.cap / (args.latency_ms / 1000)
    for part in (initial, burst):
        part["ratio"] = round(part["records_per_s"] / limit, 2)
        if part.get("platform_calls_per_s"):
            part["platform_phase_ratio"] = round(part["platform_calls_per_s"] / limit, 2)
        part["cpu_ms_per_record"] = round(1000 * part["cpu_s"] / max(1, part["records"]), 2)
    return {"workers": workers, "initial": initial, "burst": burst}


def _line(label: str, leg: dict[str, Any], part: str) -> str:
    f = leg[part]
    latency = f"{f['p50_s']:>6} {f['p99_s']:>6}{f['p99_seen_s']:>9}" if part == "burst" else f"{'':>6} {'':>6}{'':>9}"
    return (
        f"{label:<22}{f['records']:>7}{f['records_per_s']:>10}{f['ratio']:>7}  {latency}{f['throttled']:>8}"
        f"{f['peak_in_flight']:>6}{f['salesforce_calls']:>9}{f['cpu_ms_per_record']:>11}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, one fresh stack each")
    parser.add_argument("--records", type=int, default=5000, help="Contacts in the initial sync")
    parser.add_argument("--burst", type=int, default=1000, help="Contacts edited at once after it")
    parser.add_argument("--latency-ms", type=int, default=250, help="the platform's answer time")
    parser.add_argument("--cap", type=int, default=80, help="the platform's concurrency cap (and the gateway's)")
    parser.add_argument(
        "--poll-seconds",
        type=int,
        default=3600,
        help="MOBILECOMMONS_POLL_SECONDS: long, so the legs measure the sync to the platform alone (see the docstring)",
    )
    parser.add_argument("--baseline-ref", default="main", help="git revision measured beside (empty: none)")
    parser.add_argument("--baseline-workers", default="4", help="worker counts measured on the baseline's code")
    args = parser.parse_args()
    os.environ["MOBILECOMMONS_MAX_CONCURRENT"] = str(args.cap)
    limit = args.cap / (args.latency_ms / 1000)
    baseline: dict[int, dict[str, Any]] = {}
    if args.baseline_ref:  # first, so that a warmer machine does not favour the code under test
        with code_of(args.baseline_ref):
            for workers in (int(w) for w in args.baseline_workers.split(",") if w):
                baseline[workers] = leg(workers, args)
    legs = [leg(int(w), args) for w in args.workers.split(",") if w]

    print(
        f"\nthroughput — Mobile Commons emulator at {args.latency_ms} ms, {args.cap} calls in flight at most: the "
        f"platform allows {limit:g} calls/s (~records/s). Everything on this machine: 2 shared cores, other "
        "engineers' work running\n"
    )
    print(
        f"{'':<22}{'records':>7}{'rec/s':>10}{'ratio':>7}  {'p50 s':>6} {'p99 s':>6}{'seen p99':>9}{'throttl':>8}"
        f"{'peak':>6}{'SF calls':>9}{'CPU ms/rec':>11}"
    )
    for figures in legs:
        workers = figures["workers"]
        for part, name in (("initial", "initial"), ("burst", "burst")):
            print(_line(f"{workers} worker(s), {name}", figures, part))
            if workers in baseline:
                print(_line(f"  {args.baseline_ref}'s code", baseline[workers], part))
    print("\nthe initial sync's platform phase alone (first to last platform call; the rest is the run's fixed costs):")
    for figures in legs:
        f = figures["initial"]
        base = baseline.get(figures["workers"], {}).get("initial")
        beside = f"   {args.baseline_ref}'s code: ratio {base.get('platform_phase_ratio')}" if base else ""
        print(
            f"  {figures['workers']} worker(s): {f['platform_calls_per_s']} calls/s in {f['wall_s']} s of run,"
            f" ratio {f.get('platform_phase_ratio')}{beside}"
        )
        for label, part in (("", f), (f"{args.baseline_ref}'s code: ", base or {})):
            if part.get("slots_held_mean") is None:
                continue
            at_platform = (
                f"calls in flight at the platform {part['platform_in_flight_mean']}, {part['platform_call_ms']} ms each"
                if part.get("platform_in_flight_mean") is not None
                else "its emulator does not count the calls in flight"
            )
            held = f"slots held by the gateway {part['slots_held_mean']} of {args.cap} on average"
            print(f"    {label}{held}; {at_platform}")
        for label, part in (("", f), (f"{args.baseline_ref}'s code: ", base or {})):
            if part.get("end_s") is not None:
                print(
                    f"    {label}the run's start {part['start_s']} s (to its first platform call),"
                    f" end {part['end_s']} s (from its last)"
                )
    four = next((f for f in legs if f["workers"] == 4), None)
    if four is not None:
        print(f"\ntarget: ratio ≥ 0.8 with 4 workers (initial {four['initial']['ratio']}), 0 throttling answers")
    print(
        json.dumps(
            {
                "bench": "throughput",
                "latency_ms": args.latency_ms,
                "cap": args.cap,
                "platform_limit_per_s": limit,
                "legs": legs,
                "baseline": {"ref": args.baseline_ref, "legs": list(baseline.values())} if baseline else None,
                "targets": {"ratio_4_workers": 0.8, "throttled": 0},
            }
        )
    )


if __name__ == "__main__":
    main()
