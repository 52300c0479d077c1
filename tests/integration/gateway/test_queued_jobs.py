"""A job the webhook door stores with its own script (`gateway.queued_jobs`) is the job RQ would have stored: same
hash, and a real RQ worker runs it, retries it and files it in its registries as it does its own jobs."""

from __future__ import annotations

import zlib

import pytest
import redis
from rq import Queue, Retry, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from gateway.queued_jobs import enqueue_claiming, job_fields
from gateway.redis_client import text

FUNCTION = "tests.integration.gateway.test_queued_jobs.flaky"
ATTEMPTS_KEY = "test:queued-jobs:attempts:{}"


def flaky(name: str, failures: int) -> str:
    """Fails its first `failures` runs (counted in Redis per `name`), then returns a value."""
    from rq import get_current_job

    job = get_current_job()
    assert job is not None
    attempt = job.connection.incr(ATTEMPTS_KEY.format(name))
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} of {name} fails")
    return f"{name} done after {attempt} attempt(s)"


def _fields(args: tuple[object, ...], retry: Retry) -> dict[str, str | bytes | int]:
    return job_fields(
        "sync", FUNCTION, args, timeout=300, result_ttl=3600, failure_ttl=7200, retry=retry, description="a test job"
    )


@pytest.fixture
def connection(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_the_stored_hash_is_the_one_rq_enqueue_call_stores(connection: redis.Redis) -> None:
    args = ("00D000000000001AAA", [{"eventUuid": "e-1", "record": {"Id": "003000000000001AAA", "Name": "Ada"}}])
    retry = Retry(max=6, interval=[0, 10, 30, 120, 600, 1800])
    enqueue_claiming(connection, "sync", "ours", _fields(args, retry), ["claim:1"], 60)
    Queue("sync", connection=connection).enqueue_call(
        FUNCTION,
        args=args,
        job_id="rqs",
        timeout=300,
        result_ttl=3600,
        failure_ttl=7200,
        retry=retry,
        description="a test job",
    )
    ours, rqs = connection.hgetall("rq:job:ours"), connection.hgetall("rq:job:rqs")
    assert sorted(ours) == sorted(rqs)
    for moment in (b"created_at", b"enqueued_at"):  # RQ's own format; the moments differ
        assert len(ours.pop(moment)) == len(rqs.pop(moment))
    assert zlib.decompress(ours.pop(b"data")) == zlib.decompress(rqs.pop(b"data"))
    assert ours == rqs
    assert connection.ttl("rq:job:ours") == connection.ttl("rq:job:rqs") == -1  # no expiry while queued, as RQ's
    assert [text(j) for j in connection.lrange("rq:queue:sync", 0, -1)] == ["ours", "rqs"]
    assert connection.smembers("rq:queues") == {b"rq:queue:sync"}
    job = Job.fetch("ours", connection=connection)
    assert (job.func_name, job.args, job.origin, job.get_status()) == (FUNCTION, args, "sync", JobStatus.QUEUED)


def test_a_worker_runs_retries_and_files_the_job_as_its_own(connection: redis.Redis) -> None:
    queue = Queue("sync", connection=connection)
    once = Retry(max=1, interval=[0])  # the gateway's first retry is immediate too
    assert enqueue_claiming(connection, "sync", "recovers", _fields(("recovers", 1), once), ["claim:a"], 60) == 1
    assert enqueue_claiming(connection, "sync", "gives-up", _fields(("gives-up", 5), once), ["claim:b"], 60) == 1

    SimpleWorker([queue], connection=connection).work(burst=True)

    recovered = Job.fetch("recovers", connection=connection)
    assert recovered.get_status() == JobStatus.FINISHED
    assert recovered.return_value() == "recovers done after 2 attempt(s)"
    assert recovered.retries_left == 0
    assert "recovers" in FinishedJobRegistry(queue=queue).get_job_ids()
    assert 0 < connection.ttl("rq:job:recovers") <= 3600  # result_ttl

    failed = Job.fetch("gives-up", connection=connection)
    assert failed.get_status() == JobStatus.FAILED
    assert "attempt 2 of gives-up fails" in (failed.latest_result().exc_string or "")  # type: ignore[union-attr]
    assert "gives-up" in FailedJobRegistry(queue=queue).get_job_ids()
    assert 3600 < connection.ttl("rq:job:gives-up") <= 7200  # failure_ttl
    assert int(connection.get(ATTEMPTS_KEY.format("gives-up")) or 0) == 2


def test_a_job_is_stored_only_with_a_new_claim(connection: redis.Redis) -> None:
    fields = _fields(("x", 0), Retry(max=1))
    assert enqueue_claiming(connection, "sync", "first", fields, ["claim:1", "claim:2"], 60) == 2
    assert enqueue_claiming(connection, "sync", "second", fields, ["claim:2", "claim:3"], 60) == 1
    assert enqueue_claiming(connection, "sync", "third", fields, ["claim:1", "claim:3"], 60) == 0

    assert [text(j) for j in connection.lrange("rq:queue:sync", 0, -1)] == ["first", "second"]
    assert not connection.exists("rq:job:third")
    assert [text(connection.get(f"claim:{i}") or b"") for i in (1, 2, 3)] == ["first", "first", "second"]
    assert 0 < connection.ttl("claim:3") <= 60
