"""A worker process for the shared-limit tests: `python -m tests.integration.actionnetwork.rate_worker
<api_url> <api_token> <redis_url> <requests_per_second> <max_concurrent> <threads> <calls_per_thread>`.
Prints one JSON line: how many calls it made and how many raised."""

from __future__ import annotations

import json
import sys
import threading

import redis

from gateway.config import Secret
from gateway.domain.errors import SyncFailure
from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter
from gateway.platforms.actionnetwork.settings import ActionNetworkSettings


def main() -> None:
    api_url, token, redis_url, rate, concurrent, threads, calls = sys.argv[1:8]
    settings = ActionNetworkSettings(
        api_token=Secret(token),
        base_url=api_url,
        requests_per_second=float(rate),
        max_concurrent=int(concurrent),
        backoff_seconds=0.05,
        max_backoff_seconds=1.0,
    )
    adapter = ActionNetworkAdapter.build(settings, redis.Redis.from_url(redis_url))
    done = failed = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal done, failed
        for _ in range(int(calls)):
            try:
                adapter.find_contact(platform_id="00000000-0000-4000-8000-000000000001")
                ok = True
            except SyncFailure:
                ok = False
            with lock:
                done += ok
                failed += not ok

    pool = [threading.Thread(target=work) for _ in range(int(threads))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(json.dumps({"done": done, "failed": failed}))


if __name__ == "__main__":
    main()
