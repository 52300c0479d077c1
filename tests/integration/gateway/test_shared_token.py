"""One Salesforce access token for every worker process: real `gateway worker`s against the Salesforce emulator."""

from __future__ import annotations

import redis
from rq.job import Job
from rq.registry import FinishedJobRegistry

from gateway.queues import SYNC
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import Process, post_events, seeded_events, wait_for

JOBS = 8


def _forget_shared_token(conn: redis.Redis) -> None:
    """Start from no shared token (the web app of the test may have logged in and shared one)."""
    for key in conn.scan_iter("gateway:salesforce:token*"):
        conn.delete(key)


def _run_two_workers(conn: redis.Redis, env: dict[str, str], done: int) -> set[str]:
    """Two workers until `done` sync jobs are finished; the names of the workers that ran them."""
    slow = {**env, "RECORDING_ADAPTER_DELAY_MS": "150"}  # each job lasts long enough for both workers to take some
    workers = [Process(["worker", "--name", f"w{i}-{id(conn)}"], slow) for i in (1, 2)]
    registry = FinishedJobRegistry(SYNC, connection=conn)
    try:
        wait_for(lambda: registry.count >= done, timeout=90, interval=0.2, what=f"{done} finished jobs")
    finally:
        for worker in workers:
            assert worker.stop() == 0, worker.output()
    return {Job.fetch(i, connection=conn).worker_name or "" for i in registry.get_job_ids()}


def test_two_workers_share_one_token_and_one_of_them_replaces_it_after_invalid_session(
    gateway_url: str, org_token: str, redis_url: str, sync_env: dict[str, str], org_id: str, sf: Emulator
) -> None:
    conn = redis.Redis.from_url(redis_url)
    events = seeded_events(sf, range(2 * JOBS))
    for i in range(JOBS):
        post_events(gateway_url, org_token, events[i : i + 1], org_id)
    _forget_shared_token(conn)
    issued = sf.stats()["tokens_issued"]

    ran = _run_two_workers(conn, sync_env, JOBS)

    assert len(ran) == 2, f"one worker ran every job ({ran}): nothing was shared"
    assert sf.stats()["tokens_issued"] == issued + 1  # one login for 8 forked jobs in 2 processes (was: 8)

    # Salesforce ends every session: the first job to meet INVALID_SESSION_ID drops the shared token and one
    # process logs in again for everyone
    assert sf.control("POST", "tokens/expire").status_code == 200
    for i in range(JOBS, 2 * JOBS):
        post_events(gateway_url, org_token, events[i : i + 1], org_id)
    ran = _run_two_workers(conn, sync_env, 2 * JOBS)

    assert len(ran) == 2
    assert sf.stats()["tokens_issued"] == issued + 2


def test_the_shared_token_is_not_readable_from_redis(
    gateway_url: str, org_token: str, redis_url: str, sync_env: dict[str, str], org_id: str, sf: Emulator
) -> None:
    conn = redis.Redis.from_url(redis_url)
    post_events(gateway_url, org_token, seeded_events(sf, [1]), org_id)
    _forget_shared_token(conn)
    worker = Process(["worker", "--burst"], sync_env)
    assert worker.popen.wait(60) == 0, worker.output()
    output = worker.output()
    (key,) = [k for k in conn.scan_iter("gateway:salesforce:token:*")]
    stored = conn.hgetall(key)
    assert set(stored) == {b"fp", b"blob"}
    # the emulator's tokens start with the org id and "!", as Salesforce's do: no token in Redis in the clear, none
    # in the worker's log
    session = f"{sf.org_id[:15]}!".encode()
    strings = [conn.get(k) or b"" for k in conn.scan_iter() if conn.type(k) == b"string"]
    assert session not in stored[b"blob"] and not any(session in value for value in strings)
    assert session.decode() not in output
