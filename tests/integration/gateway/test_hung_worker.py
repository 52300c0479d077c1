"""Stopped (SIGSTOP: a hung process that keeps its Redis connection) and killed `gateway worker` processes, with
work arriving: no job is held hostage, none is lost, and a worker that wakes up late changes nothing.

Real Redis, real worker processes, the Salesforce emulator and the recording platform, which logs every write it
receives in Redis (so writes are counted across processes). The guarantee is `gateway/workers.py`'s.
"""

from __future__ import annotations

import collections
import json
import signal
import time
from pathlib import Path

import redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from gateway.domain.freshness import parse_timestamp
from gateway.platforms.recording import adapter as recording
from gateway.queues import RETRY, SYNC
from gateway.sync import state
from gateway.sync.to_platform import PLATFORM_CONCURRENCY
from gateway.sync.writeback import PENDING_KEY
from gateway.workers import HEARTBEAT_TTL, GatewayWorker
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import Process, post_events, salesforce_event, seed_people, wait_for

TAKEN_OVER_WITHIN = 120  # seconds: the bound for a job held by a stopped worker


def _events(ids: list[str], *, first: int = 0, modstamp: str = "2026-11-25T08:00:00.000+0000") -> list[dict]:
    """One update event per Contact `seed_people` loaded (the sync reads each record back: its values, Person<n> and
    +1415555<n>, and its SystemModstamp are the org's, not the event's)."""
    events = []
    for n, record_id in enumerate(ids, first):
        event = salesforce_event(n, uuid=f"e0000000-0000-4000-8000-{n:04d}{modstamp[11:13]}{modstamp[14:16]}000000")
        event["recordId"] = event["record"]["Id"] = record_id
        event["record"]["SystemModstamp"] = modstamp
        events.append(event)
    return events


def _writes(conn: redis.Redis) -> collections.Counter[str]:
    """Platform writes received, per Salesforce id."""
    return collections.Counter(json.loads(raw)["crm_id"] for raw in conn.lrange(recording.LOG_KEY, 0, -1))


def _results(sf: Emulator) -> collections.Counter[str]:
    """`Sync_Result__c` rows, per record."""
    rows = sf.sf("admin").query_all("SELECT Record_Id__c FROM Sync_Result__c")["records"]
    return collections.Counter(row["Record_Id__c"] for row in rows)


def _worker(name: str, env: dict[str, str], tmp_path: Path, conn: redis.Redis) -> Process:
    """A `gateway worker` that has registered and is waiting for work."""
    worker = Process(["worker", "--name", name], env, log=tmp_path / f"{name}.log")
    wait_for(lambda: conn.hget(f"rq:worker:{name}", "state") == b"idle", timeout=60, what=f"worker {name} to start")
    return worker


def _wave_on_the_wire(conn: redis.Redis) -> None:
    """Wait until at least `PLATFORM_CONCURRENCY` writes were sent and no thread of the job is about to send one.
    A job's window starts below its ceiling and widens once the first answers are in (`to_platform.Pace`), so the
    count can reach `PLATFORM_CONCURRENCY` while the widened wave is still starting: its threads between their claim
    check and their send. Each write's answer takes 3 s, so a count that stays put for half a second is a wave that
    has all gone out."""
    wait_for(lambda: conn.llen(recording.LOG_KEY) >= PLATFORM_CONCURRENCY, timeout=30, what="the first platform writes")
    sent = -1
    while sent != (sent := conn.llen(recording.LOG_KEY)):
        time.sleep(0.5)


def _settled(conn: redis.Redis, sf: Emulator, ids: list[str]) -> None:
    """Every job done and every `Sync_Result__c` written."""
    wait_for(
        lambda: (
            Queue(SYNC, connection=conn).count == 0
            and not conn.zcard(f"rq:wip:{SYNC}")
            and conn.llen(PENDING_KEY) == 0
            and set(_results(sf)) >= set(ids)
        ),
        timeout=60,
        interval=0.5,
        what="the jobs and their write-back",
    )


def test_a_bad_day_stopped_idle_worker_killed_busy_worker_fresh_workers_nothing_lost_nothing_doubled(
    gateway_url: str, org_token: str, redis_url: str, sync_env: dict[str, str], sf: Emulator, tmp_path: Path
) -> None:
    """Issue 12's reproduction: the stack's worker is stopped while it waits for work, 300 Contacts arrive in three
    batches, the worker that takes them is SIGKILLed mid-job (with its work horse) and two fresh workers join."""
    conn = redis.Redis.from_url(redis_url)
    ids = list(seed_people(sf, range(300)).values())
    stopped = _worker("stopped", sync_env, tmp_path, conn)
    stopped.signal_group(signal.SIGSTOP)
    busy = _worker("busy", {**sync_env, "RECORDING_ADAPTER_DELAY_MS": "1000"}, tmp_path, conn)
    fresh: list[Process] = []
    try:
        started = time.monotonic()
        for part in range(3):
            post_events(
                gateway_url, org_token, _events(ids[part * 100 : part * 100 + 100], first=part * 100), sf.org_id
            )
        wait_for(lambda: conn.llen(recording.LOG_KEY) >= 1, timeout=30, what="the busy worker's first write")
        busy.kill_group()
        fresh = [_worker(f"fresh-{n}", sync_env, tmp_path, conn) for n in (1, 2)]
        wait_for(lambda: len(_writes(conn)) == 300, timeout=TAKEN_OVER_WITHIN, interval=0.5, what="all 300 people")
        elapsed = time.monotonic() - started
        _settled(conn, sf, ids)
        stopped.signal_group(signal.SIGCONT)  # it held nothing, so waking it changes nothing
        time.sleep(2)
    finally:
        stopped.signal_group(signal.SIGCONT)
        for worker in (stopped, *fresh):
            worker.stop()
    assert elapsed < TAKEN_OVER_WITHIN
    assert set(_writes(conn).values()) == {1}, "a person was written to the platform twice"
    assert _writes(conn).keys() == set(ids)
    assert set(_results(sf).values()) == {1}, "a record got two Sync_Result__c rows"
    assert FailedJobRegistry(SYNC, connection=conn).count == 0
    assert FinishedJobRegistry(SYNC, connection=conn).count == 3


def test_a_job_held_by_a_stopped_worker_is_done_by_another_and_its_late_completion_changes_nothing(
    gateway_url: str,
    org_token: str,
    redis_url: str,
    sync_env: dict[str, str],
    sf: Emulator,
    tmp_path: Path,
) -> None:
    """The worker and its work horse are stopped mid-job (killpg SIGSTOP) with platform calls in flight; another
    worker does the job, and newer edits of some records, while it sleeps; then it wakes up."""
    conn = redis.Redis.from_url(redis_url)
    ids = list(seed_people(sf, range(40)).values())
    updated = 5  # records edited again in Salesforce while the worker is stopped
    stopped = _worker("stopped", {**sync_env, "RECORDING_ADAPTER_DELAY_MS": "3000"}, tmp_path, conn)
    rescuer: Process | None = None
    try:
        post_events(gateway_url, org_token, _events(ids), sf.org_id)
        # Frozen once its first wave of writes is on the wire (each thread then waits 3 s for the platform's answer):
        # a thread frozen between its last claim check and its send would deliver that one request when it wakes,
        # which no fence can stop (see `gateway/workers.py`); the guarantee is about everything after it.
        _wave_on_the_wire(conn)
        stopped.signal_group(signal.SIGSTOP)
        frozen_at = time.monotonic()
        in_flight = conn.llen(recording.LOG_KEY)
        assert in_flight < len(ids), "the job finished before the worker was stopped"
        (job_id,) = [raw.decode().split(":")[0] for raw in conn.zrange(f"rq:wip:{SYNC}", 0, -1)]
        admin = sf.sf("admin")
        for record_id in ids[:updated]:
            admin.Contact.update(record_id, {"FirstName": "Edited"})
        edited = [parse_timestamp(sf.record("Contact", record_id)["SystemModstamp"]) for record_id in ids[:updated]]
        newer = _events(ids[:updated], modstamp="2026-11-25T09:00:00.000+0000")
        for event in newer:
            event["record"]["FirstName"], event["changedFields"] = "Edited", ["FirstName"]
        post_events(gateway_url, org_token, newer, sf.org_id)
        rescuer = _worker("rescuer", sync_env, tmp_path, conn)
        wait_for(lambda: len(_writes(conn)) == len(ids), timeout=TAKEN_OVER_WITHIN, interval=0.5, what="the rescue")
        taken_over_after = time.monotonic() - frozen_at
        _settled(conn, sf, ids)
        before = (_writes(conn), _results(sf), state.record_states(conn, "Contact", ids))

        stopped.signal_group(signal.SIGCONT)
        wait_for(lambda: conn.hget("rq:worker:stopped", "state") == b"idle", timeout=60, what="the late execution")
        time.sleep(2)
        after = (_writes(conn), _results(sf), state.record_states(conn, "Contact", ids))
    finally:
        stopped.signal_group(signal.SIGCONT)
        stopped.stop()
        if rescuer is not None:
            rescuer.stop()
    assert taken_over_after < TAKEN_OVER_WITHIN
    assert after[0] == before[0], "the late execution wrote to the platform"
    assert after[1] == before[1], "the late execution wrote to Salesforce's log"
    assert after[2] == before[2], "the late execution changed the version marks"
    writes, results, marks = after
    assert [writes[i] for i in ids[updated:]] == [1] * (len(ids) - updated), "a person was written twice"
    assert [results[i] for i in ids[updated:]] == [1] * (len(ids) - updated), "a record got two Sync_Result__c"
    assert all(writes[i] <= 2 and results[i] <= 2 for i in ids[:updated])  # the edit, and the first version at most
    held = recording.RecordingAdapter(conn).find_contact(crm_id=ids[0])
    assert held is not None and held.first_name == "Edited", "an older version overwrote the newer one"
    versions = [m.version for m in marks]
    assert None not in versions, "a record has no version mark"
    assert all(v >= e for v, e in zip(versions[:updated], edited, strict=True) if v), "a mark went back before the edit"
    job = Job.fetch(job_id, connection=conn)
    assert job.get_status() == "finished"
    assert job.retries_left == RETRY.max - 1, "the held job was not retried"
    assert FailedJobRegistry(SYNC, connection=conn).count == 0
    assert conn.hget("gateway:metrics:jobs", "sync_salesforce_events|superseded") == b"1"
    assert "handed to another worker while this one was stopped" in (tmp_path / "stopped.log").read_text()


def test_a_worker_stopped_while_its_work_horse_runs_lets_the_horse_finish_the_job_once(
    gateway_url: str, org_token: str, redis_url: str, sync_env: dict[str, str], sf: Emulator, tmp_path: Path
) -> None:
    """Only the worker process is stopped; its work horse goes on (waiting 24 s for the platform's answers, past the
    heartbeat's grace and the next sweep), so the job is neither retried elsewhere nor applied twice."""
    conn = redis.Redis.from_url(redis_url)
    ids = list(seed_people(sf, range(16)).values())  # one round of the job's concurrent platform calls
    stopped = _worker("stopped", {**sync_env, "RECORDING_ADAPTER_DELAY_MS": "24000"}, tmp_path, conn)
    idle: Process | None = None
    try:
        post_events(gateway_url, org_token, _events(ids), sf.org_id)
        wait_for(lambda: conn.llen(recording.LOG_KEY) >= 1, timeout=30, what="the first platform writes")
        stopped.popen.send_signal(signal.SIGSTOP)
        idle = _worker("idle", sync_env, tmp_path, conn)
        wait_for(lambda: len(_writes(conn)) == len(ids), timeout=90, interval=0.5, what="the horse to finish")
        _settled(conn, sf, ids)
    finally:
        stopped.popen.send_signal(signal.SIGCONT)
        stopped.stop()
        if idle is not None:
            idle.stop()
    assert set(_writes(conn).values()) == {1}
    assert set(_results(sf).values()) == {1}
    (job_id,) = FinishedJobRegistry(SYNC, connection=conn).get_job_ids()
    assert Job.fetch(job_id, connection=conn).retries_left == RETRY.max, "the job was taken from its live horse"


def test_a_stopped_worker_that_wakes_before_anyone_took_its_job_writes_nothing_more(
    gateway_url: str, org_token: str, redis_url: str, sync_env: dict[str, str], sf: Emulator, tmp_path: Path
) -> None:
    """The sweep finds the job's heartbeat lapsed and puts the job back on its queue, but every other worker is busy:
    the stopped worker wakes first. It writes nothing more (RQ's worker, waking, stops its work horse; the lease
    fences what a horse would still try), and the job is done by the next worker free."""
    conn = redis.Redis.from_url(redis_url)
    ids = sf.seed("Contact", count=80)
    stopped = _worker("stopped", {**sync_env, "RECORDING_ADAPTER_DELAY_MS": "3000"}, tmp_path, conn)
    rescuer: Process | None = None
    try:
        post_events(gateway_url, org_token, _events(ids), sf.org_id)
        # Frozen once its first wave of writes is on the wire (each thread then waits 3 s for the platform's answer):
        # a thread frozen between its last claim check and its send would deliver that one request when it wakes,
        # which no fence can stop (see `gateway/workers.py`); the guarantee is about everything after it.
        _wave_on_the_wire(conn)
        stopped.signal_group(signal.SIGSTOP)
        time.sleep(HEARTBEAT_TTL + 1)
        sweeper = GatewayWorker([SYNC], connection=conn, name="sweeper")
        (job_id,) = [raw.decode().split(":")[0] for raw in conn.zrange(f"rq:wip:{SYNC}", 0, -1)]
        sweeper.clean_registries()  # what any worker's maintenance does; this one then takes no job
        assert Queue(SYNC, connection=conn).count == 1, "the sweep did not put the held job back on its queue"
        written = conn.llen(recording.LOG_KEY)

        stopped.signal_group(signal.SIGCONT)
        wait_for(lambda: conn.hget("rq:worker:stopped", "state") != b"busy", timeout=60, what="the late execution")
        time.sleep(2)
        late = conn.llen(recording.LOG_KEY) - written
        rescuer = _worker("rescuer", sync_env, tmp_path, conn)
        _settled(conn, sf, ids)
    finally:
        stopped.signal_group(signal.SIGCONT)
        stopped.stop()
        if rescuer is not None:
            rescuer.stop()
    # At most the requests whose thread had passed its lease check when the process stopped (one per thread, the
    # documented instant no client can close), not the ~60 people left.
    assert late <= PLATFORM_CONCURRENCY, f"the woken execution wrote {late} more people after it lost the job"
    job = Job.fetch(job_id, connection=conn)
    assert job.get_status() == "finished"  # and `_settled`: every record has its Sync_Result__c
