"""The bench stack as child processes: Redis (AOF everysec, as in production), the Salesforce and Mobile Commons
emulators, `gateway worker` processes; plus seeding helpers and a sampler of each process's peak memory.

Guarantees: every process started here is stopped on exit from `Stack.start()` (terminate, then kill); memory is
read from /proc (VmHWM: the peak resident set of each process, work horses included, sampled twice a second).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import redis
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
from extract_support.emulator import Emulator as SalesforceEmulator  # noqa: E402

GATEWAY = str(Path(sys.executable).with_name("gateway"))
AREA_CODES = (212, 213, 312, 415, 503, 617, 646, 702, 718, 917, 202, 206)


def phone(n: int) -> str:
    area, line = AREA_CODES[n // 10_000], n % 10_000
    return (f"({area}) 555-{line:04d}", f"+1{area}555{line:04d}", f"{area}.555.{line:04d}")[n % 3]


def contacts(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "FirstName": f"Person{n}",
            "LastName": "Bench",
            "Email": f"person{n}@example.org",
            "MobilePhone": phone(n),
            "MailingCity": "Springfield",
            "MailingPostalCode": "62701",
            "Mobile_Subscriber__c": n % 5 != 0,
        }
        for n in range(start, start + count)
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> list[int]:
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


def _peak_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler:
    """Peak RSS per role: `worker` (the RQ parents) and `job` (their forked work horses, one per job)."""

    def __init__(self) -> None:
        self.roots: dict[int, str] = {}
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, pid: int, role: str) -> None:
        self.roots[pid] = role

    def reset(self) -> None:
        self.peaks = {}

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for pid, role in list(self.roots.items()):
                self._note(role, _peak_kib(pid))
                for child in descendants(pid):
                    self._note("job", _peak_kib(child))

    def _note(self, role: str, kib: int) -> None:
        self.peaks[role] = max(self.peaks.get(role, 0), kib)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Stack:
    def __init__(self, workdir: Path, sf: SalesforceEmulator, mc: dict[str, Any], redis_url: str, env: dict[str, str]):
        self.workdir = workdir
        self.sf = sf
        self.mc = mc
        self.redis_url = redis_url
        self.env = env
        self.workers: list[subprocess.Popen[bytes]] = []
        self.memory = MemorySampler()
        self.mc_http = requests.Session()
        self.mc_http.headers["X-Emulator-Token"] = mc["control_token"]

    @classmethod
    @contextmanager
    def start(cls, workdir: Path, extra_env: dict[str, str]) -> Iterator[Stack]:
        workdir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            redis_url = stack.enter_context(_redis(workdir))
            sf = stack.enter_context(SalesforceEmulator.start(workdir))
            mc = stack.enter_context(_mobilecommons(workdir))
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_file = workdir / "signing-key.pem"
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            secret = secrets.token_urlsafe(16)
            integration = sf.clients["integration"]
            env = {
                "REDIS_URL": redis_url,
                "GATEWAY_OAUTH_CLIENTS": json.dumps(
                    [
                        {
                            "client_id": "bench",
                            "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
                            "scopes": ["admin"],
                        }
                    ]
                ),
                "GATEWAY_TOKEN_SIGNING_KEY": str(key_file),
                "GATEWAY_VAR_DIR": str(workdir / "var"),
                "GATEWAY_LOG_LEVEL": "WARNING",
                "SALESFORCE_LOGIN_URL": sf.url,
                "SALESFORCE_CLIENT_ID": integration["client_id"],
                "SALESFORCE_CLIENT_SECRET": integration["client_secret"],
                "SALESFORCE_CA_BUNDLE": sf.ca_bundle,
                "MESSAGING_PLATFORM": "mobilecommons",
                "MOBILECOMMONS_BASE_URL": mc["api_url"],
                "MOBILECOMMONS_USERNAME": mc["username"],
                "MOBILECOMMONS_PASSWORD": mc["password"],
                "MOBILECOMMONS_CAMPAIGN_ID": mc["campaign_id"],
                "MOBILECOMMONS_OPT_IN_PATH_ID": mc["opt_in_path_id"],
                **extra_env,
            }
            bench = cls(workdir, sf, mc, redis_url, env)
            stack.enter_context(bench.memory)
            stack.callback(bench.stop_workers)
            yield bench

    # -- processes
    def start_workers(self, count: int) -> None:
        for i in range(count):
            log = (self.workdir / f"worker-{len(self.workers)}.log").open("w")
            proc = subprocess.Popen(
                [GATEWAY, "worker", "--queues", "bulk", "--name", f"bench-{os.getpid()}-{len(self.workers)}"],
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.workers.append(proc)
            self.memory.watch(proc.pid, "worker")
            del i

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                for pid in [proc.pid, *descendants(proc.pid)]:
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait()
        self.workers = []

    def sync(self, *args: str, **extra_env: str) -> dict[str, Any]:
        done = subprocess.run(
            [GATEWAY, "sync", *args],
            check=False,
            env={**os.environ, **self.env, **extra_env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if done.returncode not in (0, 1):
            raise RuntimeError(f"gateway sync {' '.join(args)} failed: {done.stderr[-2000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def report(self, run_id: str) -> dict[str, Any]:
        done = subprocess.run(
            [GATEWAY, "sync", "report", run_id, "--json"],
            check=False,
            env={**os.environ, **self.env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return dict(json.loads(done.stdout))

    # -- data
    def reset(self) -> None:
        self.sf.control("POST", "reset")
        self.mc_http.post(f"{self.mc['url']}/__emulator__/reset", timeout=60).raise_for_status()
        redis.Redis.from_url(self.redis_url).flushdb()

    def seed_contacts(self, count: int) -> list[str]:
        ids: list[str] = []
        for start in range(0, count, 20_000):
            answer = self.sf.control(
                "POST", "seed", json={"object": "Contact", "records": contacts(start, min(20_000, count - start))}
            )
            ids.extend(answer["ids"])
        return ids

    def seed_profiles(self, count: int) -> None:
        for start in range(0, count, 20_000):
            specs = [
                {
                    "phone": f"+1{AREA_CODES[n // 10_000]}555{n % 10_000:04d}",
                    "first_name": f"Profile{n}",
                    "last_name": "Bench",
                    "email": f"profile{n}@example.org",
                    "sms_status": "unsubscribed" if n % 20 == 0 else "subscribed",
                }
                for n in range(start, min(count, start + 20_000))
            ]
            response = self.mc_http.post(f"{self.mc['url']}/__emulator__/seed", json={"profiles": specs}, timeout=600)
            response.raise_for_status()

    def mc_stats(self) -> dict[str, Any]:
        return dict(self.mc_http.get(f"{self.mc['url']}/__emulator__/stats", timeout=60).json())


@contextmanager
def _redis(workdir: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def _mobilecommons(workdir: Path) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [GATEWAY, "emulate", "mobilecommons", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=(workdir / "mobilecommons.log").open("w"),
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the Mobile Commons emulator exited before it was ready")
        yield dict(json.loads(line))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
