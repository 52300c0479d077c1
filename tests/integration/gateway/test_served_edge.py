"""The gateway's door as it is served in production (`gateway serve`: gunicorn), attacked the way issue 11 found it:
slow clients, a readiness probe hammered while Salesforce fails, hostile webhook bodies."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import requests
from rq import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from gateway.platforms.recording import RecordingAdapter
from gateway.queues import SYNC
from gateway.salesforce.ids import checksum_suffix
from tests.conftest import CLIENTS, free_port
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import Process, batch, salesforce_event, seed_people, token, wait_for


@contextmanager
def served(env: dict[str, str], log: Path, *args: str) -> Iterator[str]:
    """`gateway serve` on a free port with `args`; yields its URL; stops it (SIGTERM) and checks a clean exit."""
    port = free_port()
    web = Process(["serve", "--port", str(port), *args], env, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=30, what="gateway serve")
        yield url
    finally:
        assert web.stop() == 0, web.output()[-3000:]


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:  # refused, or accepted while the worker still boots
        return False


def _closed(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset)."""
    sock.settimeout(0.01)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_slow_clients_neither_stop_healthz_nor_keep_their_thread_past_the_read_deadline(
    gateway_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**gateway_env, "GATEWAY_REQUEST_READ_TIMEOUT_SECONDS": "4"}
    with served(env, tmp_path / "serve.log", "--workers", "1") as url:  # one process, the default 4 threads
        port = int(url.rsplit(":", 1)[1])
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")
        started = time.monotonic()
        closed_after: dict[int, float] = {}
        latencies = []
        while time.monotonic() - started < 7:
            for n, sock in enumerate(slow):
                if n not in closed_after and _closed(sock):
                    closed_after[n] = time.monotonic() - started
                elif n not in closed_after:
                    sock.sendall(b"X-Slow: 1\r\n")  # one header every 2 s, never the blank line
            for _ in range(3):
                begun = time.perf_counter()
                assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
                latencies.append(time.perf_counter() - begun)
            time.sleep(2)
        for sock in slow:
            sock.close()
        assert max(latencies) < 0.5, latencies  # everyone else is answered at once, all along
        assert sorted(closed_after) == [0, 1, 2], closed_after  # each slow client was dropped …
        assert max(closed_after.values()) < 4 + 2.5, closed_after  # … at the read deadline (4 s, polled every 2 s)

        bearer = token(url, "salesforce-org", CLIENTS["salesforce-org"][0])
        trickle = socket.create_connection(("127.0.0.1", port))
        trickle.sendall(
            b"POST /webhooks/salesforce HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\nAuthorization: Bearer " + bearer.encode() + b"\r\n\r\n{"
        )
        trickle.settimeout(0.5)
        begun, answer = time.monotonic(), b""
        while b"\r\n\r\n" not in answer and time.monotonic() - begun < 10:
            try:
                answer += trickle.recv(4096)
            except TimeoutError:
                trickle.sendall(b" ")  # a body that never finishes
        trickle.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert time.monotonic() - begun < 4 + 1.5


def test_readyz_is_cheap_shared_and_never_logs_in_per_call(
    sync_env: dict[str, str], sf: Emulator, tmp_path: Path
) -> None:
    with served(sync_env, tmp_path / "serve.log", "--workers", "2") as url:
        ready = wait_for(lambda: requests.get(f"{url}/readyz", timeout=5).status_code == 200, what="readiness")
        assert ready
        logins_before = sf.stats()["api_calls"]["by_class"]["token"]
        begun = time.monotonic()
        answers = [requests.get(f"{url}/readyz", timeout=5) for _ in range(200)]
        elapsed = time.monotonic() - begun
        assert {a.status_code for a in answers} == {200}
        assert answers[-1].json()["checks"] == {"redis": "ok", "platform": "ok", "salesforce": "ok"}
        assert elapsed < 10, elapsed
        assert sf.stats()["api_calls"]["by_class"]["token"] - logins_before <= 2  # one per web process at most


def test_a_failing_salesforce_makes_readyz_say_so_fast_without_urls_or_exception_text(
    sync_env: dict[str, str], sf: Emulator, tmp_path: Path
) -> None:
    fault = {"status": 503, "error_code": "SERVER_UNAVAILABLE", "latency_ms": 1500, "count": 1000, "scope": "token"}
    assert sf.control("POST", "faults", json=fault).status_code in (200, 201)
    with served(sync_env, tmp_path / "serve.log", "--workers", "2") as url:
        slowest, last = 0.0, None
        begun = time.monotonic()
        while time.monotonic() - begun < 6:
            started = time.perf_counter()
            last = requests.get(f"{url}/readyz", timeout=5)
            slowest = max(slowest, time.perf_counter() - started)
            if last.json()["checks"].get("salesforce") == "failing":
                break
        assert last is not None
        assert slowest < 0.5, slowest  # the 1.5 s token endpoint is waited for in the background only
        assert last.status_code == 503
        assert last.json()["failing"] == ["salesforce"]
        text = last.text
        assert "://" not in text and "127.0.0.1" not in text and "Error" not in text and "503" not in text
        attempts = sf.stats()["api_calls"]["by_class"]["token"]
        assert attempts <= 2, attempts  # the failing login is tried once per interval, not per call


def _raw(url: str, bearer: str, body: bytes | object, **headers: str) -> requests.Response:
    return requests.post(
        f"{url}/webhooks/salesforce",
        data=body,
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json", **headers},
        timeout=30,
    )


def test_hostile_bodies_are_refused_with_the_problem_named_and_nothing_queued(
    sync_env: dict[str, str], sf: Emulator, redis_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with served(sync_env, log, "--workers", "1") as url:
        bearer = token(url, "salesforce-org", CLIENTS["salesforce-org"][0])
        org = sf.org_id
        head = json.dumps({"orgId": org, "events": []})[:-3].encode()  # '{"orgId": "…", "events": '

        deep = _raw(url, bearer, head + b"[" * 10_000 + b"]" * 10_000 + b"}")
        assert deep.status_code == 400 and "deeper than 32" in deep.json()["error"]["message"], deep.text
        digits = _raw(url, bearer, head + b'[], "n": ' + b"7" * 500_000 + b"}")
        assert digits.status_code == 400 and "500,000 characters" in digits.json()["error"]["message"]
        nan = _raw(url, bearer, head + b'[], "n": NaN}')
        assert nan.status_code == 400 and "NaN" in nan.json()["error"]["message"]

        limit = 1024 * 1024
        valid = json.dumps(batch([salesforce_event(1)], org)).encode()
        padded = valid[:-1] + b" " * (limit - len(valid)) + b"}"  # valid JSON of exactly the limit …
        assert len(padded) == limit

        def chunks(body: bytes, junk: bytes = b"") -> Iterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                yield body[start : start + 64 * 1024]
            if junk:
                yield junk

        over = _raw(url, bearer, chunks(padded, b"junk that is not JSON"))  # … then more: no Content-Length
        assert over.status_code == 413, over.text
        assert Queue(SYNC, connection=redis.Redis.from_url(redis_url)).count == 0

        def event(**record: object) -> dict:
            e = salesforce_event(2)
            e["record"] = {**e["record"], **record}
            return e

        cases = {
            "garbage modstamp": (batch([event(SystemModstamp="garbage")], org), "SystemModstamp"),
            "numeric modstamp": (batch([event(SystemModstamp=20261125)], org), "SystemModstamp"),
            "future modstamp": (batch([event(SystemModstamp="9999-12-31T23:59:59.000+0000")], org), "future"),
            "lone surrogate": (json.dumps(batch([event(LastName="\ud800")], org)), "surrogate"),
            "trailing newline recordId": (
                batch([{**salesforce_event(3), "recordId": "003000000000003AAA\n"}], org),
                "recordId",
            ),
            "trailing newline orgId": (batch([salesforce_event(4)], org + "\n"), "orgId"),
            "another org": (batch([salesforce_event(5)], "00D000000000009EAA"), "not the org"),
            "account id as contact": (
                batch([{**salesforce_event(6), "recordId": "001000000000006AAA"}], org),
                "Account id",
            ),
            "lead id as contact": (
                batch([{**salesforce_event(7), "recordId": sf_id("00Q000000000007")}], org),
                "Lead id",
            ),
            "bad checksum": (batch([{**salesforce_event(8), "recordId": "003000000000008AAB"}], org), "last 3"),
            "record of another id": (batch([event(Id="003000000000099AAA")], org), "record.Id"),
        }
        for name, (body, needle) in cases.items():
            sent = body if isinstance(body, str) else json.dumps(body)
            answer = _raw(url, bearer, sent.encode())
            assert answer.status_code == 400, (name, answer.text)
            assert needle in answer.text, (name, answer.text)
            if name not in ("trailing newline orgId", "another org", "lone surrogate"):
                assert "e0000000-0000-4000-8000-" in answer.text, (name, answer.text)  # names the event

        conn = redis.Redis.from_url(redis_url)
        assert Queue(SYNC, connection=conn).count == 0
        assert conn.keys("gateway:events:seen:*") == []

        # What passed the door, however odd, is what the job can sync: a chunked body below the limit, unicode,
        # a compound field, an empty SystemModstamp (the job falls back to publishedAt), one 60 s ahead (skew).
        # (The job reads each record back and syncs Salesforce's values: the odd ones must not crash it either.)
        ids = seed_people(sf, [2, 10, 11])
        odd = [
            {**event(LastName="Ñandú 🦤", MailingAddress={"city": "Zürich", "geo": [47.37, 8.54]}), "recordId": ids[2]},
            {**salesforce_event(10, record_id=ids[10]), "record": {"Id": ids[10], "SystemModstamp": ""}},
            {**salesforce_event(11, record_id=ids[11]), "record": {"Id": ids[11], "SystemModstamp": _in(60)}},
        ]
        odd[0]["record"]["Id"] = ids[2]
        accepted = _raw(url, bearer, chunks(json.dumps(batch(odd, org)).encode()))
        assert accepted.status_code == 202, accepted.text
        worker = Process(["worker", "--burst"], sync_env)
        assert worker.popen.wait(60) == 0, worker.output()
        assert FailedJobRegistry(SYNC, connection=conn).count == 0
        assert FinishedJobRegistry(SYNC, connection=conn).count == 1
        assert len(RecordingAdapter(conn).recorded()) == 3
    assert "Traceback" not in log.read_text()


def sf_id(id15: str) -> str:
    return id15 + checksum_suffix(id15)


def _in(seconds: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
