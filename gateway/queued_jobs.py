"""An RQ job stored by the gateway's own Redis script, so that queueing it and the writes that must go with it (the
webhook door's event-id claims) are one command: one round trip, atomic, nothing built twice.

`job_fields` is the job's hash exactly as RQ 2.x's `Queue.enqueue_call` writes it for a job with no dependencies,
callbacks, meta or ttl (`Job.create`, `Queue._prepare_for_queue`, `Job.to_dict`): the same fields with the same
encodings. `data` is the zlib-compressed pickle of `(function name, None, args, kwargs)` (RQ's default serializer),
timestamps are RQ's `utcformat`, the retry policy is `retries_left` and `retry_intervals`, `status` is `queued`.
A worker restores it with `Job.restore` like any job it enqueued itself: it runs, retries, expires and lands in the
registries the same way. `tests/integration/gateway/test_queued_jobs.py` compares it field by field with what the
installed RQ writes and runs it on a real worker, so an RQ release that changes the format fails there first.

Why not `enqueue_call` on a pipeline: building the `Job` object, its dictionary and the seven commands of the
transaction cost about 180 µs of CPU per single-event webhook, against about 115 µs for this script's call with its
round trip, out of about 400 µs for the whole request in process (scripts/bench/webhook_ingest --profile).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.serializers import DefaultSerializer
from rq.utils import now, utcformat

from gateway.redis_client import script

# KEYS: the job's hash, its queue, RQ's set of queues, then the claims. ARGV: the job id (each claim's value), the
# claims' TTL in seconds, then the hash's fields and values. Each claim is SET NX EX; the job is stored and queued
# only when at least one claim was new (a batch of duplicates leaves nothing behind). Returns the new claims.
_CLAIM_AND_ENQUEUE = """
local claimed = 0
for i = 4, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'EX', ARGV[2]) then claimed = claimed + 1 end
end
if claimed > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
  redis.call('SADD', KEYS[3], KEYS[2])
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
return claimed
"""
_CLAIM_AND_ENQUEUE_SCRIPT = script(_CLAIM_AND_ENQUEUE)


def _compress(data: bytes) -> bytes:
    """A zlib stream, as `zlib.compress` makes and `zlib.decompress` (RQ's `Job.restore`) reads, with a 4 KiB window
    and a small hash table. `zlib.compress`'s defaults set up about 256 KiB of state per call: measured 47 to 54 µs for
    a one-event batch in a fresh process (9 µs where the allocator happens to keep that memory), against 5 to 7 µs
    here; the output is as small or smaller for these payloads of repeated field names (200 events: 3.5 KB, 134 µs,
    against 3.7 KB, 188 µs)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 12, 4)
    return packer.compress(data) + packer.flush()


def job_fields(
    queue: str,
    function: str,
    args: Sequence[Any],
    *,
    timeout: int,
    result_ttl: int,
    failure_ttl: int,
    retry: Retry,
    description: str,
) -> dict[str, str | bytes | int]:
    """The hash RQ stores for `enqueue_call(function, args=args, …)` on `queue` (see the module's docstring)."""
    moment = utcformat(now())
    return {
        "created_at": moment,
        "data": _compress(DefaultSerializer.dumps((function, None, tuple(args), {}))),
        "success_callback_name": "",
        "failure_callback_name": "",
        "stopped_callback_name": "",
        "started_at": "",
        "ended_at": "",
        "last_heartbeat": "",
        "worker_name": "",
        "group_id": "",
        "retries_left": retry.max,
        "retry_intervals": json.dumps(retry.intervals),
        "origin": queue,
        "description": description,
        "enqueued_at": moment,
        "timeout": timeout,
        "result_ttl": result_ttl,
        "failure_ttl": failure_ttl,
        "status": JobStatus.QUEUED.value,
    }


def enqueue_claiming(
    connection: redis.Redis,
    queue: str,
    job_id: str,
    fields: Mapping[str, str | bytes | int],
    claims: Sequence[str],
    claim_ttl: int,
) -> int:
    """Claim each key of `claims` for `job_id` (SET NX, `claim_ttl` seconds) and, when at least one claim is new,
    store the job (`fields`, from `job_fields`) and push it on `queue`, all in one atomic script; returns how many
    claims were new (0: nothing was stored)."""
    flat: list[str | bytes | int] = []
    for name, value in fields.items():
        flat += (name, value)
    keys = [
        Job.redis_job_namespace_prefix + job_id,
        Queue.redis_queue_namespace_prefix + queue,
        Queue.redis_queues_keys,
    ]
    return int(_CLAIM_AND_ENQUEUE_SCRIPT(keys=[*keys, *claims], args=[job_id, claim_ttl, *flat], client=connection))
