"""Helpers for tests that run the gateway for real: HTTP servers in threads, subprocesses, polling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = str(Path(sys.executable).with_name("gateway"))


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve a WSGI app over real HTTP on a free port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")


def token(base_url: str, client_id: str, secret: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = requests.post(f"{base_url}/oauth/token", data=data, auth=(client_id, secret), timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class Process:
    """A `gateway` subprocess in its own process group (so a test can SIGKILL it with its children)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path | None = None, log: Path | None = None) -> None:
        """`log`: write the output to this file (for long-running, chatty processes) instead of a pipe."""
        self.log = log
        out = log.open("ab") if log is not None else subprocess.PIPE
        self.popen = subprocess.Popen(
            [GATEWAY, *args],
            env={**os.environ, **env},
            cwd=cwd or ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if log is not None:
            out.close()  # type: ignore[union-attr]

    def output(self) -> str:
        if self.log is not None:
            return self.log.read_text(errors="replace")
        if self.popen.stdout is None:
            return ""
        return self.popen.stdout.read().decode(errors="replace")

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the process and every descendant (RQ's work horse runs in a session of its own)."""
        for pid in [self.popen.pid, *descendants(self.popen.pid)]:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the process and every descendant, and wait for the process to end."""
        self.signal_group(sig)
        self.popen.wait(20)

    def stop(self, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_group()
        return self.popen.returncode


def descendants(pid: int) -> list[int]:
    """Pids of every live descendant of `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains `text`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def salesforce_event(
    n: int, *, uuid: str | None = None, modstamp: str = "2026-11-25T08:00:00.000+0000", record_id: str | None = None
) -> dict:
    """The event of person `n` (`seed_people` loads the record it names: the sync reads every event's record back)."""
    record_id = record_id or f"003{n:012d}AAA"[:18]
    return {
        "eventUuid": uuid or f"e0000000-0000-4000-8000-{n:012d}",
        "replayId": str(1000 + n),
        "sobjectType": "Contact",
        "recordId": record_id,
        "operation": "update",
        "changedFields": ["MobilePhone"],
        "record": {
            "Id": record_id,
            "FirstName": f"Person{n}",
            "LastName": "Test",
            "MobilePhone": f"+1415555{n:04d}",
            "Mobile_Subscriber__c": True,
            "SystemModstamp": modstamp,
        },
        "publishedAt": "2026-11-25T08:00:00.123Z",
    }


def person(n: int) -> dict[str, Any]:
    """Person `n` as a Contact holds them (what `salesforce_event(n)` says of them)."""
    return {key: value for key, value in salesforce_event(n)["record"].items() if key not in ("Id", "SystemModstamp")}


def seed_people(sf: Any, numbers: Iterable[int]) -> dict[int, str]:
    """Load persons `numbers` as Contacts into the emulated org `sf` (a data load: nothing is relayed); n -> Id.
    The sync reads back the record each event names, so the events of a test must name records the org holds."""
    wanted = list(numbers)
    ids = sf.seed("Contact", records=[person(n) for n in wanted])
    return dict(zip(wanted, ids, strict=True))


def seeded_events(sf: Any, numbers: Iterable[int], **options: Any) -> list[dict]:
    """`salesforce_event(n)` for each of `numbers`, naming the Contact `seed_people` loaded for it."""
    ids = seed_people(sf, numbers)
    return [salesforce_event(n, record_id=record_id, **options) for n, record_id in ids.items()]


ORG_ID = "00D000000000001EAA"


def post_events(gateway_url: str, bearer: str, events: list[dict], org_id: str) -> dict:
    """POST a webhook batch of Salesforce events; returns the gateway's 202 answer."""
    response = requests.post(
        f"{gateway_url}/webhooks/salesforce",
        json=batch(events, org_id),
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def batch(events: list[dict], org_id: str = ORG_ID) -> dict:
    return {"orgId": org_id, "events": events}


class EmulatorControl:
    """A platform emulator's control API (DESIGN §6: `/__emulator__/…` with `X-Emulator-Token`), as a test drives it.
    `emulator` is any platform emulator with `url` and `control()`."""

    def __init__(self, emulator: Any) -> None:
        self.base = emulator.url + "/__emulator__/"
        self.session = emulator.control()

    def post(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        response = self.session.post(self.base + name, json=payload or {}, timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def get(self, name: str, **params: str) -> Any:
        response = self.session.get(self.base + name, params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()
