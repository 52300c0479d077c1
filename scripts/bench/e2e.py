"""N record changes made in the Salesforce emulator reach Mobile Commons, and N STOPs texted to Mobile Commons reach
Salesforce, through the real stack (`gateway.demo.start_stack`: emulators, gunicorn, two workers, scheduler,
embedded Redis). Prints p50/p99 hop latency and records/s for each direction next to the webhook-ingest rate of the
same gateway in the same run, then one JSON line.

Latency of a record = when its effect was first seen (polling every 100 ms) minus when its change was sent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from gateway.demo import Scenario, start_stack

POLL = 0.1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def to_platform(scenario: Scenario, n: int) -> dict[str, float]:
    stack = scenario.stack
    rows = scenario.query(f"SELECT Id FROM Contact ORDER BY CreatedDate LIMIT {n}")
    phones = {row["Id"]: f"+1415{2000000 + i:07d}" for i, row in enumerate(rows)}
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    ids = list(phones)
    started = time.monotonic()
    for offset in range(0, len(ids), 200):  # sObject Collections, 200 a call, as an admin's data load would
        chunk = ids[offset : offset + 200]
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "id": rid, "MobilePhone": phones[rid], "Mobile_Subscriber__c": True}
                for rid in chunk
            ],
        }
        scenario.sf("PATCH", "composite/sobjects", json=body)
        now = time.monotonic()
        for rid in chunk:
            sent[phones[rid]] = now
    wanted = set(phones.values())
    deadline = time.monotonic() + 300
    while len(seen) < len(wanted) and time.monotonic() < deadline:
        contacts = stack.platform_control("GET", "contacts").json()["contacts"]
        now = time.monotonic()
        for contact in contacts:
            phone = contact["phone"]
            if phone in wanted and phone not in seen:
                seen[phone] = now
        time.sleep(POLL)
    latencies = [seen[p] - sent[p] for p in seen]
    return _figures(
        latencies, len(wanted), time.monotonic() - started if len(seen) < len(wanted) else max(seen.values()) - started
    )


def to_salesforce(scenario: Scenario, n: int) -> dict[str, float]:
    stack = scenario.stack
    rows = scenario.query(
        f"SELECT Id, MobilePhone FROM Contact WHERE Messaging_Contact_Id__c != null ORDER BY CreatedDate LIMIT {n}"
    )
    sent: dict[str, float] = {}
    started = time.monotonic()

    def stop(row: dict[str, Any]) -> None:
        stack.platform_control("POST", "inbound", json={"phone": row["MobilePhone"], "body": "STOP"})
        sent[row["Id"]] = time.monotonic()

    with ThreadPoolExecutor(8) as pool:  # people text at once
        list(pool.map(stop, rows))
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 300
    while len(seen) < len(rows) and time.monotonic() < deadline:
        done = scenario.query("SELECT Id FROM Contact WHERE Messaging_Status__c = 'Unsubscribed'")
        now = time.monotonic()
        for row in done:
            if row["Id"] in sent and row["Id"] not in seen:
                seen[row["Id"]] = now
        time.sleep(POLL)
    latencies = [seen[i] - sent[i] for i in seen]
    return _figures(latencies, len(rows), max(seen.values(), default=started) - started)


def _figures(latencies: list[float], wanted: int, wall: float) -> dict[str, float]:
    return {
        "records": wanted,
        "arrived": len(latencies),
        "p50_s": round(percentile(latencies, 50), 3) if latencies else -1,
        "p99_s": round(percentile(latencies, 99), 3) if latencies else -1,
        "mean_s": round(statistics.fmean(latencies), 3) if latencies else -1,
        "records_per_s": round(len(latencies) / wall, 1) if wall > 0 else 0,
    }


def ingest_rate(gateway_url: str, client: dict[str, str], org_id: str, seconds: float = 3.0) -> float:
    """Webhook intake of this gateway: 200-event batches from 4 threads for `seconds` (events/s accepted)."""
    token = requests.post(
        f"{gateway_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    ).json()["access_token"]
    accepted = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def post() -> None:
        nonlocal accepted
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {token}"
            while time.monotonic() < stop_at:
                events = [
                    {
                        "eventUuid": str(uuid.uuid4()),
                        "sobjectType": "Lead",
                        "recordId": "00Q000000000001EAA",
                        "operation": "update",
                        "changedFields": ["Company"],
                        "publishedAt": "2026-11-25T08:00:00Z",
                        "record": {"Id": "00Q000000000001EAA", "SystemModstamp": "2026-11-25T08:00:00.000+0000"},
                    }
                    for _ in range(200)
                ]
                response = http.post(
                    f"{gateway_url}/webhooks/salesforce",
                    json={"orgId": org_id, "events": events},
                    timeout=30,
                )
                with lock:
                    accepted += response.json().get("accepted", 0) if response.status_code == 202 else 0

    threads = [threading.Thread(target=post) for _ in range(4)]
    begun = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return accepted / (time.monotonic() - begun)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1000, help="Salesforce changes to push to the platform")
    parser.add_argument("--stops", type=int, default=200, help="STOPs to text")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    stack = start_stack(var, contacts=args.records, workers=args.workers)
    try:
        scenario = Scenario(stack)
        out = to_platform(scenario, args.records)
        back = to_salesforce(scenario, min(args.stops, args.records))
        ingest = ingest_rate(stack.gateway_url, stack.clients["salesforce-org"], stack.salesforce["org_id"])
    finally:
        stack.stop()
    print(f"\nend to end — {args.workers} workers, emulators on this machine, polled every {POLL * 1000:.0f} ms\n")
    print(f"{'direction':<28}{'records':>8}{'arrived':>9}{'p50 s':>8}{'p99 s':>8}{'records/s':>11}{'target p99':>12}")
    print(
        f"{'Salesforce -> platform':<28}{out['records']:>8}{out['arrived']:>9}{out['p50_s']:>8}{out['p99_s']:>8}"
        f"{out['records_per_s']:>11}{'< 2 s':>12}"
    )
    print(
        f"{'STOP -> Salesforce (push)':<28}{back['records']:>8}{back['arrived']:>9}{back['p50_s']:>8}"
        f"{back['p99_s']:>8}{back['records_per_s']:>11}{'< 2 s':>12}"
    )
    print(f"{'webhook ingest (same gateway)':<28}{'':>8}{'':>9}{'':>8}{'':>8}{ingest:>11.0f}  events/s accepted")
    print(
        json.dumps(
            {
                "bench": "e2e",
                "workers": args.workers,
                "to_platform": out,
                "stop_to_salesforce": back,
                "webhook_ingest_events_per_s": round(ingest),
                "targets": {"to_platform_p99_s": 2, "stop_push_p99_s": 2, "records_per_s": 500},
            }
        )
    )


if __name__ == "__main__":
    main()
