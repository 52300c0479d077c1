"""From the wire to the platform through a real `gateway worker`, including a worker killed mid-job."""

from __future__ import annotations

import collections
import time

import redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from gateway.platforms.recording import RecordingAdapter
from gateway.queues import RETRY, SYNC
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import Process, post_events, salesforce_event, seeded_events, wait_for


def test_every_event_reaches_the_platform_exactly_once(
    gateway_url: str, org_token: str, redis_url: str, sync_env: dict[str, str], org_id: str, sf: Emulator
) -> None:
    recorder = RecordingAdapter(redis.Redis.from_url(redis_url))
    *first, last = seeded_events(sf, range(51))
    assert post_events(gateway_url, org_token, first, org_id) == {"accepted": 50, "duplicates": 0}
    assert post_events(gateway_url, org_token, [*first[:10], last], org_id) == {
        "accepted": 1,
        "duplicates": 10,
    }
    worker = Process(["worker", "--burst"], sync_env)
    assert worker.popen.wait(60) == 0, worker.output()
    seen = collections.Counter(c.crm_id for c in recorder.recorded())
    assert len(seen) == 51
    assert set(seen.values()) == {1}
    contact = next(c for c in recorder.recorded() if c.crm_id == first[3]["recordId"])
    assert contact.phone == "+14155550003"
    assert contact.first_name == "Person3"
    conn = redis.Redis.from_url(redis_url)
    assert FinishedJobRegistry(SYNC, connection=conn).count == 2


def test_a_replayed_older_version_is_not_applied(
    gateway_url: str, org_token: str, redis_url: str, sync_env: dict[str, str], org_id: str, sf: Emulator
) -> None:
    recorder = RecordingAdapter(redis.Redis.from_url(redis_url))
    [newer] = seeded_events(sf, [1], modstamp="2026-11-25T09:00:00.000+0000")
    older = salesforce_event(
        1, uuid="e0000000-0000-4000-8000-00000000aaaa", modstamp="2026-11-25T08:00:00.000+0000",
        record_id=newer["recordId"],
    )  # fmt: skip
    older["record"]["MobilePhone"] = "+14155559999"
    post_events(gateway_url, org_token, [newer], org_id)
    post_events(gateway_url, org_token, [older], org_id)
    worker = Process(["worker", "--burst"], sync_env)
    assert worker.popen.wait(60) == 0, worker.output()
    recorded = recorder.recorded()
    assert [c.phone for c in recorded] == ["+14155550001"]


def test_a_worker_killed_mid_job_is_retried_within_a_minute_without_loss_or_double_writes(
    gateway_url: str, org_token: str, redis_url: str, sync_env: dict[str, str], org_id: str, sf: Emulator
) -> None:
    conn = redis.Redis.from_url(redis_url)
    recorder = RecordingAdapter(conn)
    events = seeded_events(sf, range(20))
    post_events(gateway_url, org_token, events, org_id)
    slow = {**sync_env, "RECORDING_ADAPTER_DELAY_MS": "250"}
    first = Process(["worker", "--name", "doomed"], slow)
    try:
        wait_for(lambda: conn.llen("gateway:recording:log") >= 4, timeout=30, what="the first writes")
    finally:
        first.kill_group()  # SIGKILL the worker and its work horse: no cleanup runs
    killed_at = time.monotonic()
    done_before_kill = conn.llen("gateway:recording:log")
    assert done_before_kill < 20
    second = Process(["worker", "--name", "rescuer"], sync_env)
    try:
        wait_for(lambda: conn.llen("gateway:recording:log") >= 20, timeout=75, interval=0.5, what="the retry")
        retried_after = time.monotonic() - killed_at
    finally:
        second.stop()
    assert retried_after < 60, f"the killed job was retried only after {retried_after:.0f} s"
    time.sleep(1)
    seen = collections.Counter(c.crm_id for c in recorder.recorded())
    assert sorted(seen) == sorted(e["recordId"] for e in events)
    assert set(seen.values()) == {1}, "an event was applied twice"
    assert FailedJobRegistry(SYNC, connection=conn).count == 0
    assert Queue(SYNC, connection=conn).count == 0
    (job_id,) = FinishedJobRegistry(SYNC, connection=conn).get_job_ids()
    job = Job.fetch(job_id, connection=conn)
    assert job.retries_left == RETRY.max - 1, "the job finished without being retried: nothing was killed"
