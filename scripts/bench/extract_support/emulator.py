"""The Salesforce emulator as a child process for benchmarks: start, control API, stats, stop.

Guarantees: `Emulator.start()` returns once the emulator printed its JSON ready line and always stops the
process on exit from the `with` block (terminate, then kill after 10 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[3]


class Emulator:
    def __init__(self, ready: dict[str, Any], proc: subprocess.Popen[str]) -> None:
        self.url: str = ready["url"].rstrip("/")
        self.control_token: str = ready["control_token"]
        self.ca_bundle: str = ready["ca_bundle"]
        self.clients: dict[str, dict[str, str]] = ready["clients"]
        self.proc = proc
        self.http = requests.Session()

    @classmethod
    @contextmanager
    def start(cls, workdir: Path, *extra_args: str) -> Iterator[Emulator]:
        gateway = Path(sys.executable).with_name("gateway")
        argv = [str(gateway), "emulate", "salesforce", "--port", "0", "--var-dir", str(workdir)]
        argv += ["--package-dir", str(ROOT / "sfdx-package")]
        proc = subprocess.Popen(
            [*argv, *extra_args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=(workdir / "emulator.log").open("w"),
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the emulator exited before it was ready; see {workdir / 'emulator.log'}")
            emulator = cls(json.loads(line), proc)
            yield emulator
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(
            method,
            f"{self.url}/__emulator__/{path}",
            headers={"X-Emulator-Token": self.control_token},
            verify=self.ca_bundle,
            timeout=600,
            **kwargs,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def seed(self, sobject: str, count: int) -> None:
        remaining = count
        while remaining > 0:
            batch = min(remaining, 50_000)
            self.control("POST", "seed", json={"object": sobject, "count": batch})
            remaining -= batch

    def stats(self) -> dict[str, Any]:
        return dict(self.control("GET", "stats"))

    def calls_since(self, before: dict[str, Any]) -> dict[str, Any]:
        after = self.stats()
        old = before["api_calls"].get("by_class", {})
        new = after["api_calls"].get("by_class", {})
        by_class = {k: int(new.get(k, 0)) - int(old.get(k, 0)) for k in new}
        by_class = {k: v for k, v in by_class.items() if v}
        return {"api_calls": int(after["api_calls"]["total"]) - int(before["api_calls"]["total"]), "by_class": by_class}

    def token(self, client: str = "admin") -> dict[str, Any]:
        info = self.clients[client]
        response = self.http.post(
            f"{self.url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
            },
            verify=self.ca_bundle,
            timeout=30,
        )
        response.raise_for_status()
        return dict(response.json())

    def describe(self, sobject: str) -> dict[str, Any]:
        token = self.token()
        response = self.http.get(
            f"{token['instance_url']}/services/data/v62.0/sobjects/{sobject}/describe",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            verify=self.ca_bundle,
            timeout=30,
        )
        response.raise_for_status()
        return dict(response.json())
