"""Bulk runs against the real pieces: the Salesforce emulator (HTTPS), the Mobile Commons emulator, real
`gateway worker` processes on a real Redis, and the `gateway sync` CLI. Chunks are small so that thousands of
records make many chunk jobs."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from gateway.emulators.mobilecommons.server import MobileCommonsEmulator
from tests.integration.gateway.conftest import sf, sf_server, sync_env  # noqa: F401 - fixtures reused here
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import GATEWAY, ROOT, Process, wait_for

BULK_ENV = {
    "GATEWAY_BULK_READ_CHUNK": "250",
    "GATEWAY_BULK_WRITE_CHUNK": "400",
    "GATEWAY_BULK_THREADS": "6",
    "GATEWAY_BULK_LINK_BATCH": "700",
    "SALESFORCE_BULK_QUERY_THRESHOLD": "1000",
    "SALESFORCE_BULK_INGEST_THRESHOLD": "300",
    "GATEWAY_LOG_LEVEL": "WARNING",
}


@dataclass
class BulkStack:
    sf: Emulator
    mc: MobileCommonsEmulator
    env: dict[str, str]
    workers: list[Process] = field(default_factory=list)

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["REDIS_URL"])

    def start_worker(self, **extra_env: str) -> Process:
        worker = Process(["worker", "--queues", "bulk"], {**self.env, **extra_env})
        self.workers.append(worker)
        return worker

    def sync(self, *args: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [GATEWAY, "sync", *args],
            check=False,
            env={**_os_env(), **self.env, **extra_env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str) -> list[str]:
        """Queue a run with `--detach`; returns its run ids."""
        done = self.sync(*args, "--detach")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout.strip().splitlines()[-1])["runs"])

    def report(self, run_id: str) -> dict[str, Any]:
        done = self.sync("report", run_id, "--json")
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def wait_done(self, run_id: str, timeout: float = 90) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run = self.report(run_id)
            return run if run["status"] == "done" else None

        return dict(wait_for(finished, timeout=timeout, interval=0.5, what=f"bulk run {run_id} to finish"))

    def mc_contacts(self) -> list[dict[str, Any]]:
        return list(self.mc.control().get(f"{self.mc.url}/__emulator__/contacts").json()["contacts"])

    def mc_stats(self) -> dict[str, Any]:
        return dict(self.mc.control().get(f"{self.mc.url}/__emulator__/stats").json())

    def sf_query(self, soql: str) -> list[dict[str, Any]]:
        return list(self.sf.sf("admin").query_all(soql)["records"])


AREA_CODES = (212, 213, 312, 415, 503, 617, 646, 702, 718, 917)


def phone(n: int) -> str:
    """A valid US mobile number, unique for n < 100,000, typed the way people type them."""
    area, line = AREA_CODES[n // 10_000], n % 10_000
    return (f"({area}) 555-{line:04d}", f"+1{area}555{line:04d}", f"{area}.555.{line:04d}")[n % 3]


def people(count: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "FirstName": f"Person{n}",
            "LastName": "Bulk",
            "Email": f"person{n}@example.org",
            "MobilePhone": phone(n),
            "Mobile_Subscriber__c": n % 5 != 0,
            **extra,
        }
        for n in range(start, start + count)
    ]


def _os_env() -> dict[str, str]:
    return dict(os.environ)


@pytest.fixture
def bulk_stack(sync_env: dict[str, str], sf: Emulator) -> Iterator[BulkStack]:  # noqa: F811 - fixture injection
    with MobileCommonsEmulator() as mc:
        env = {
            **sync_env,
            **BULK_ENV,
            "MESSAGING_PLATFORM": "mobilecommons",
            "MOBILECOMMONS_BASE_URL": mc.api_url,
            "MOBILECOMMONS_USERNAME": mc.username,
            "MOBILECOMMONS_PASSWORD": mc.password,
            "MOBILECOMMONS_CAMPAIGN_ID": str(mc.campaign_id),
            "MOBILECOMMONS_OPT_IN_PATH_ID": str(mc.opt_in_path_id),
        }
        stack = BulkStack(sf=sf, mc=mc, env=env)
        try:
            yield stack
        finally:
            for worker in stack.workers:
                worker.stop()
