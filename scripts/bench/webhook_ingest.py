"""Drive authenticated webhook POSTs (batches of 1 and of 200 events) with wrk against `gateway serve` (gunicorn)
and, in the same run, against a bare Flask endpoint served by the same gunicorn settings; print events/s,
p50/p99 latency and the CPU each request cost the server's processes and Redis (from /proc, Linux) side by side, and
end with one JSON line. `--profile N` adds a cProfile of N single-event requests through the app in process.

Every request carries new event ids (no duplicate short-cuts); Redis runs as production does (AOF everysec).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.client_secrets import hash_secret

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

LUA = r"""
local events_per_request = tonumber(os.getenv("BENCH_EVENTS"))
local token = os.getenv("BENCH_TOKEN")
local org_id = os.getenv("BENCH_ORG_ID")
local run_id = os.getenv("BENCH_RUN")
local threads = {}
local counter = 0
local thread_id = 0

-- Each wrk thread runs its own Lua state: `setup` (main state) hands each one its number, `init` (the thread's
-- state) takes it, so no two threads, and no two runs (BENCH_RUN), send the same event id.
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  thread_id = thread_number
end

local function event(n)
  local uid = string.format("%s-%04x-4000-8000-%012x", run_id, thread_id, n)
  local rid = string.format("003%012dAAA", n % 1000000000000)
  return '{"eventUuid":"' .. uid .. '","replayId":"' .. n .. '","sobjectType":"Contact","recordId":"' .. rid ..
    '","operation":"update","changedFields":["MobilePhone"],"record":{"Id":"' .. rid ..
    '","FirstName":"Ada","LastName":"Lovelace","MobilePhone":"+14155550123","Mobile_Subscriber__c":true,' ..
    '"SystemModstamp":"2026-11-25T08:00:00.000+0000"},"publishedAt":"2026-11-25T08:00:00.123Z"}'
end

function request()
  local parts = {}
  for i = 1, events_per_request do
    counter = counter + 1
    parts[i] = event(counter)
  end
  local body = '{"orgId":"' .. org_id .. '","events":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/webhooks/salesforce",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"""

BARE_APP = """
from flask import Flask, jsonify, request

def create_bare_app():
    app = Flask("bare")

    @app.post("/webhooks/salesforce")
    def accept():
        request.get_data()
        response = jsonify({"accepted": 1, "duplicates": 0})
        response.status_code = 202
        return response

    return app
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit(f"bench: {url} did not come up")


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench: {url} did not become ready")


def parse_wrk(output: str) -> dict[str, float]:
    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    p50 = ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    sent = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": rps,
        "requests": sent,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }  # type: ignore[dict-item]


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) of process `root` and all its descendants so far (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


def run_wrk(
    url: str,
    token: str,
    org_id: str,
    events: int,
    seconds: int,
    connections: int,
    lua: Path,
    cpu_of: dict[str, int] | None = None,
) -> dict[str, float]:
    """wrk's figures, plus `cpu_us_per_request_<name>` for each process tree of `cpu_of` (name -> pid)."""
    env = {
        **os.environ,
        "BENCH_EVENTS": str(events),
        "BENCH_TOKEN": token,
        "BENCH_ORG_ID": org_id,
        "BENCH_RUN": secrets.token_hex(4),  # new event ids in every run (a warm-up's ids would be duplicates)
    }
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url]
    before = {name: cpu_seconds(pid) for name, pid in (cpu_of or {}).items()}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    result = parse_wrk(out)
    requests_done = max(1, result["requests"])
    for name, pid in (cpu_of or {}).items():
        result[f"cpu_us_per_request_{name}"] = round((cpu_seconds(pid) - before[name]) * 1e6 / requests_done)
    result["events_per_s"] = result["rps"] * events
    return result


def profile_one_request(env: dict[str, str], token: str, org_id: str, requests_to_profile: int) -> str:
    """The gateway app built in this process on the bench's Redis (the org id is known there already), fed
    `requests_to_profile` single-event webhook requests straight through WSGI (no server, no client) under cProfile;
    returns the CPU µs per request of the app and of the bare app, and the top entries by cumulative time."""
    import cProfile
    import io
    import pstats

    from werkzeug.test import EnvironBuilder

    from gateway import create_app
    from gateway.config import load_settings

    sys.path.insert(0, str(Path(env["BENCH_WORK"])))
    from bare_app import create_bare_app  # type: ignore[import-not-found]

    gateway_app = create_app(load_settings(env, roles=("web",))).wsgi_app
    bare_app = create_bare_app().wsgi_app
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    counter = iter(range(10**9))

    def environs(n: int) -> list[dict[str, object]]:
        out = []
        for _ in range(n):
            i = next(counter)
            rid = f"003{i:012d}AAA"
            event = {
                "eventUuid": f"ffffffff-0000-4000-8000-{i:012x}",
                "replayId": str(i),
                "sobjectType": "Contact",
                "recordId": rid,
                "operation": "update",
                "changedFields": ["MobilePhone"],
                "record": {"Id": rid, "MobilePhone": "+14155550123", "SystemModstamp": "2026-11-25T08:00:00.000+0000"},
                "publishedAt": "2026-11-25T08:00:00.123Z",
            }
            body = json.dumps({"orgId": org_id, "events": [event]})
            out.append(
                EnvironBuilder(path="/webhooks/salesforce", method="POST", data=body, headers=headers).get_environ()
            )
        return out

    statuses: set[str] = set()

    def run(app: object, batch: list[dict[str, object]]) -> None:
        for environ in batch:
            for _ in app(environ, lambda status, headers, exc_info=None: statuses.add(status)):  # type: ignore[operator]
                pass

    lines = []
    for name, app in (("bare", bare_app), ("gateway", gateway_app)):
        run(app, environs(200))  # warm-up
        batch = environs(requests_to_profile)
        started = time.process_time()
        run(app, batch)
        lines.append(f"{name}: {(time.process_time() - started) * 1e6 / requests_to_profile:.0f} µs CPU per request")
    profiler = cProfile.Profile()
    batch = environs(requests_to_profile)
    profiler.enable()
    run(gateway_app, batch)
    profiler.disable()
    if statuses != {"202 ACCEPTED"}:
        raise SystemExit(f"bench: the profiled requests were answered {statuses}")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(r"gateway/|redis/client|rq/|marshmallow/schema|flask/(app|ctx)", 30)
    return "\n".join(lines) + "\n" + text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers for both servers")
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per gunicorn worker for both servers (gateway serve's default)"
    )
    parser.add_argument("--connections", type=int, default=16, help="concurrent senders of single events")
    parser.add_argument(
        "--batch-connections",
        type=int,
        default=8,
        help="concurrent senders of 200-event batches (an org relays one batch at a time per subscriber)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile N single-event requests through the gateway app in this process (cProfile) and print "
        "its CPU per request beside the bare app's and the profile's top entries",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is not installed (apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis_port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(work),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--maxmemory-policy",
                    "noeviction",
                    "--save",
                    "",
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (work / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        # The gateway checks each batch's orgId against the org its own Salesforce login names: it logs in to the
        # Salesforce emulator (once, for readiness) and the senders use that org's id.
        emulator = subprocess.Popen(
            [str(VENV_BIN / "gateway"), "emulate", "salesforce", "--port", str(free_port()), "--var-dir", str(work)],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        procs.append(emulator)
        assert emulator.stdout is not None
        salesforce = json.loads(emulator.stdout.readline())
        integration = salesforce["clients"]["integration"]
        secret = secrets.token_urlsafe(24)
        env = {
            **os.environ,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "GATEWAY_TOKEN_SIGNING_KEY": str(work / "key.pem"),
            "GATEWAY_OAUTH_CLIENTS": json.dumps(
                [
                    {
                        "client_id": "bench",
                        "scopes": ["events:write"],
                        "secret_scrypt": hash_secret(secret),
                    }
                ]
            ),
            "GATEWAY_LOG_LEVEL": "WARNING",
            "SALESFORCE_LOGIN_URL": salesforce["url"],
            "SALESFORCE_CLIENT_ID": integration["client_id"],
            "SALESFORCE_CLIENT_SECRET": integration["client_secret"],
            "SALESFORCE_CA_BUNDLE": salesforce["ca_bundle"],
        }
        gw_port, bare_port = free_port(), free_port()
        procs.append(
            subprocess.Popen(
                [
                    str(VENV_BIN / "gateway"),
                    "serve",
                    "--port",
                    str(gw_port),
                    "--workers",
                    str(args.workers),
                    "--threads",
                    str(args.threads),
                ],
                env=env,
                cwd=ROOT,
            )
        )
        (work / "bare_app.py").write_text(BARE_APP)
        gthread = ["--worker-class", "gthread", "--threads", str(args.threads)]  # gateway serve's worker is gthread
        procs.append(
            subprocess.Popen(
                [
                    str(VENV_BIN / "gunicorn"),
                    "--bind",
                    f"127.0.0.1:{bare_port}",
                    "--workers",
                    str(args.workers),
                    *gthread,
                    "--log-level",
                    "warning",
                    "bare_app:create_bare_app()",
                ],
                cwd=work,
            )
        )
        gw, bare = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{bare_port}"
        wait_ready(f"{gw}/readyz")
        wait_http(bare)
        token = requests.post(
            f"{gw}/oauth/token", data={"grant_type": "client_credentials"}, auth=("bench", secret), timeout=10
        ).json()["access_token"]
        org_id = salesforce["org_id"]
        lua = work / "events.lua"
        lua.write_text(LUA)
        results: dict[str, dict[str, float]] = {}
        servers = {"bare": (bare, procs[-1].pid), "gateway": (gw, procs[-2].pid)}
        gateway_requests = 0  # each one sent new event ids, so each one queued a job
        for events in (1, 200):
            connections = args.connections if events == 1 else args.batch_connections
            for name, (url, pid) in servers.items():
                warm_up = run_wrk(url, token, org_id, events, 2, connections, lua)
                results[f"{name}_{events}"] = run_wrk(
                    url, token, org_id, events, args.seconds, connections, lua, {"server": pid, "redis": procs[0].pid}
                )
                if name == "gateway":
                    gateway_requests += int(warm_up["requests"] + results[f"{name}_{events}"]["requests"])
        queued = int(
            subprocess.run(
                ["redis-cli", "-p", str(redis_port), "llen", "rq:queue:sync"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            or 0
        )
        profile = (
            profile_one_request({**env, "BENCH_WORK": str(work)}, token, org_id, args.profile) if args.profile else ""
        )
    finally:
        for proc in reversed(procs):  # servers first, Redis last: nothing in flight loses its Redis
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nwebhook ingest — {args.seconds} s per run, wrk 2 threads, {args.connections} connections (single events) "
        f"and {args.batch_connections} (batches), gunicorn {args.workers} workers x {args.threads} threads for both\n"
    )
    print(
        f"{'batch':>6} {'server':>8} {'req/s':>9} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
        f" {'CPU µs/req: server':>19} {'redis':>6}"
    )
    for events in (1, 200):
        for name in ("bare", "gateway"):
            r = results[f"{name}_{events}"]
            print(
                f"{events:>6} {name:>8} {r['rps']:>9.0f} {r['events_per_s']:>10.0f} {r['p50_ms']:>8.2f} "
                f"{r['p99_ms']:>8.2f} {r['non_2xx']:>8.0f} {r['cpu_us_per_request_server']:>19.0f}"
                f" {r['cpu_us_per_request_redis']:>6.0f}"
            )
    if profile:
        print(f"\none single-event request, in process (no server, no client), {args.profile} requests:\n{profile}")
    print(
        f"\njobs queued: {queued:,} for {gateway_requests:,} answered requests (wrk does not count the few in flight "
        "when it stops; each request sends new event ids, so every one queues a job)"
    )
    ratio = results["gateway_1"]["rps"] / results["bare_1"]["rps"]
    figures = {
        "bench": "webhook_ingest",
        "single_event_ratio_to_bare": round(ratio, 3),
        "gateway_single_rps": round(results["gateway_1"]["rps"]),
        "bare_single_rps": round(results["bare_1"]["rps"]),
        "gateway_single_p99_ms": results["gateway_1"]["p99_ms"],
        "gateway_single_cpu_us_per_request": results["gateway_1"]["cpu_us_per_request_server"],
        "bare_single_cpu_us_per_request": results["bare_1"]["cpu_us_per_request_server"],
        "redis_single_cpu_us_per_request": results["gateway_1"]["cpu_us_per_request_redis"],
        "gateway_batch200_events_per_s": round(results["gateway_200"]["events_per_s"]),
        "gateway_batch200_p99_ms": results["gateway_200"]["p99_ms"],
        "bare_batch200_events_per_s": round(results["bare_200"]["events_per_s"]),
        "gateway_non_2xx": results["gateway_1"]["non_2xx"] + results["gateway_200"]["non_2xx"],
        "jobs_queued": queued,
        "gateway_requests": gateway_requests,
        "targets": {"single_ratio": 0.5, "batch200_events_per_s": 20000, "p99_ms": 50},
    }
    print(
        f"\nsingle-event rate vs bare: {ratio:.2f} (target ≥ 0.5); 200-event batches: "
        f"{figures['gateway_batch200_events_per_s']} events/s (target ≥ 20,000); p99 single "
        f"{figures['gateway_single_p99_ms']:.1f} ms, batch {figures['gateway_batch200_p99_ms']:.1f} ms (target < 50)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
