"""The gateway's health at a glance: last successful sync and lag per direction, queue depths, failures of the last
24 hours by error code, Salesforce API usage against its budget, platform reachability, syncs per minute.

Guarantees:
- Every figure comes from Redis (shared by all web and worker processes); building the summary makes no Salesforce
  call, and asks the platform at most once per `PLATFORM_CHECK_TTL` seconds for the whole deployment.
- The counters are written by `count_results`, inside the transaction that queues each sync's write-back
  (`writeback.queue_entries`), so a sync is counted exactly when its outcome is recorded.
- Failures are counted per clock hour; "the last 24 hours" is the current hour plus the 23 before it.
- Syncs per minute counts every record synced (any outcome) in the last 60 seconds, in 10-second buckets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job

from gateway.domain.errors import SyncFailure
from gateway.redis_client import text
from gateway.salesforce import queries
from gateway.sync.bulk import runs as bulk_runs
from gateway.sync.context import SyncContext

LAST_SUCCESS_KEY = "gateway:status:last-success:{}"  # direction slug -> ISO timestamp of the last successful sync
FAILURES_KEY = "gateway:status:failures:{}"  # hour since epoch -> hash error code -> count
SYNCS_KEY = "gateway:status:syncs:{}"  # 10-second bucket since epoch -> records synced in it
PLATFORM_CHECK_KEY = "gateway:status:platform-check"
RECENT_FAILURES_KEY = "gateway:status:recent-failures"
RECENT_FAILURES_TTL = 15

FAILURE_HOURS = 24
FAILURES_TTL = (FAILURE_HOURS + 2) * 3600
SYNC_BUCKET_SECONDS = 10
SYNCS_TTL = 15 * 60
PLATFORM_CHECK_TTL = 30

# `Sync_Result__c.Direction__c` values -> the summary's keys; and which RQ queue carries each direction's work.
DIRECTIONS = {"To Platform": "toPlatform", "To Salesforce": "toSalesforce"}
DIRECTION_QUEUES = {"toPlatform": "sync", "toSalesforce": "realtime"}
FAILED_STATUSES = ("Failure", "Partial Failure")


def _slug(direction: str) -> str:
    return direction.lower().replace(" ", "-")


def count_results(pipe: Any, results: Iterable[Mapping[str, Any]], *, now: float | None = None) -> None:
    """Count sync outcomes (`writeback.result_values` dicts) inside the caller's Redis transaction."""
    moment = time.time() if now is None else now
    stamp = datetime.fromtimestamp(moment, UTC).isoformat()
    hour_key = FAILURES_KEY.format(int(moment // 3600))
    syncs_key = SYNCS_KEY.format(int(moment // SYNC_BUCKET_SECONDS))
    synced = 0
    failed = False
    for result in results:
        synced += 1
        status = result.get("status")
        direction = result.get("direction")
        if status == "Success" and direction in DIRECTIONS:
            pipe.set(LAST_SUCCESS_KEY.format(_slug(direction)), stamp)
        if status in FAILED_STATUSES:
            pipe.hincrby(hour_key, result.get("error_code") or "unknown", 1)
            failed = True
    if failed:
        pipe.expire(hour_key, FAILURES_TTL)
    if synced:
        pipe.incrby(syncs_key, synced)
        pipe.expire(syncs_key, SYNCS_TTL)


def failures_last_24h(connection: Redis, *, now: float | None = None) -> dict[str, int]:
    """Failed and partly failed syncs by error code, most frequent first."""
    hour = int((time.time() if now is None else now) // 3600)
    pipe = connection.pipeline(transaction=False)
    for h in range(hour - FAILURE_HOURS + 1, hour + 1):
        pipe.hgetall(FAILURES_KEY.format(h))
    totals: dict[str, int] = {}
    for counts in pipe.execute():
        for code, count in counts.items():
            totals[text(code)] = totals.get(text(code), 0) + int(count)
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def syncs_last_minute(connection: Redis, *, now: float | None = None) -> int:
    """Records synced (any outcome) in the last 60 seconds."""
    bucket = int((time.time() if now is None else now) // SYNC_BUCKET_SECONDS)
    span = 60 // SYNC_BUCKET_SECONDS
    values = connection.mget([SYNCS_KEY.format(b) for b in range(bucket - span + 1, bucket + 1)])
    return sum(int(v) for v in values if v is not None)


def _oldest_waiting_seconds(connection: Redis, queue_name: str, now: float) -> float:
    """Age of the oldest job waiting in the queue (0 when none waits)."""
    queue = Queue(queue_name, connection=connection)
    for job_id in queue.get_job_ids(0, 4):  # the head may be a job deleted under our feet: look a little further
        job = Job.fetch(job_id, connection=connection) if connection.exists(Job.key_for(job_id)) else None
        if job is not None and job.enqueued_at is not None:
            enqueued = job.enqueued_at if job.enqueued_at.tzinfo else job.enqueued_at.replace(tzinfo=UTC)
            return max(0.0, round(now - enqueued.timestamp(), 1))
    return 0.0


def directions(connection: Redis, *, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Per direction: when a record last synced successfully, and how far behind the direction is now (the age
    of the oldest change still waiting in its queue; 0 when nothing waits)."""
    moment = time.time() if now is None else now
    summary: dict[str, dict[str, Any]] = {}
    for direction, key in DIRECTIONS.items():
        last = connection.get(LAST_SUCCESS_KEY.format(_slug(direction)))
        summary[key] = {
            "lastSuccessAt": _iso(text(last)) if last is not None else None,
            "lagSeconds": _oldest_waiting_seconds(connection, DIRECTION_QUEUES[key], moment),
        }
    return summary


def _iso(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def queue_depths(connection: Redis, queue_names: Iterable[str]) -> dict[str, int]:
    return {name: Queue(name, connection=connection).count for name in queue_names}


def salesforce_api(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """The binding budget: the gateway's own daily budget when set, else the org's allocation times the share the
    gateway may use; `used` is measured against that one. Both null until Salesforce has been called once."""
    if usage is None:
        return {"used": None, "budget": None, "callsToday": 0, "pausedForSeconds": 0.0}
    candidates = []
    if usage.get("daily_budget"):
        candidates.append((int(usage.get("calls_today") or 0), int(usage["daily_budget"])))
    if usage.get("stop_at") and usage.get("org_used") is not None:
        candidates.append((int(usage["org_used"]), int(usage["stop_at"])))
    used, budget = max(candidates, key=lambda c: c[0] / c[1]) if candidates else (None, None)
    return {
        "used": used,
        "budget": budget,
        "callsToday": int(usage.get("calls_today") or 0),
        "pausedForSeconds": round(float(usage.get("paused_for_seconds") or 0.0), 1),
    }


def platform_reachability(connection: Redis, name: str, check: Any) -> dict[str, Any]:
    """`{"name", "reachable", "detail"}`, from `check()` at most once per `PLATFORM_CHECK_TTL` s (shared in Redis)."""
    cached = connection.get(PLATFORM_CHECK_KEY)
    if cached is not None:
        answer: dict[str, Any] = json.loads(cached)
        if answer.get("name") == name:
            return answer
    try:
        check()
        answer = {"name": name, "reachable": True, "detail": None}
    except SyncFailure as failure:
        answer = {"name": name, "reachable": False, "detail": f"{failure.error.code}: {failure.error.detail}"[:300]}
    except Exception as exc:  # noqa: BLE001 - any failure of the check means "not reachable"
        answer = {"name": name, "reachable": False, "detail": type(exc).__name__}
    connection.set(PLATFORM_CHECK_KEY, json.dumps(answer), ex=PLATFORM_CHECK_TTL)
    return answer


def summary(context: SyncContext, *, queue_names: Iterable[str], version: str) -> dict[str, Any]:
    """The status summary of `GET /api/v1/status` and the operator's page, with the newest bulk runs' progress."""
    settings = context.settings
    result = build_summary(
        context.redis,
        queue_names=queue_names,
        platform_name=settings.messaging_platform,
        platform_check=context.platform.check if context.has_platform else None,
        salesforce_usage=context.salesforce.usage() if settings.salesforce is not None else None,
        version=version,
    )
    result["bulkRuns"] = [_bulk_run(run) for run in bulk_runs.recent_runs(context.redis, 5)]
    return result


def _bulk_run(run: dict[str, Any]) -> dict[str, Any]:
    """A bulk run's progress for the status API (camelCase, as the rest of it)."""
    return {
        "runId": run["run_id"],
        "kind": run["kind"],
        "direction": run["direction"],
        "status": run["status"],
        "pauseReason": run["pause_reason"],
        "total": run["total"],
        "processed": run["processed"],
        "counts": run["counts"],
        "errors": run["errors"],
        "rate": run["rate"],
        "etaSeconds": run["eta_seconds"],
        "dryRun": run["dry_run"],
    }


def build_summary(
    connection: Redis,
    *,
    queue_names: Iterable[str],
    platform_name: str | None,
    platform_check: Any,
    salesforce_usage: Mapping[str, Any] | None,
    version: str,
) -> dict[str, Any]:
    """The summary's figures from Redis (and the platform's cached reachability)."""
    now = time.time()
    platform = (
        platform_reachability(connection, platform_name, platform_check)
        if platform_name is not None
        else {"name": None, "reachable": False, "detail": "MESSAGING_PLATFORM is not set"}
    )
    return {
        "directions": directions(connection, now=now),
        "queues": queue_depths(connection, queue_names),
        "failures24h": failures_last_24h(connection, now=now),
        "salesforceApi": salesforce_api(salesforce_usage),
        "platform": platform,
        "syncsPerMinute": syncs_last_minute(connection, now=now),
        "version": version,
        "generatedAt": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def recent_failures(connection: Redis, salesforce: Any, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest failed `Sync_Result__c` rows of the last day (one SOQL query per `RECENT_FAILURES_TTL` s)."""
    cached = connection.get(RECENT_FAILURES_KEY)
    if cached is not None:
        return list(json.loads(cached))
    rows = salesforce.query_records(queries.recent_failures(limit))
    failures = [
        {
            "id": row["Id"],
            "name": row.get("Name"),
            "at": row.get("CreatedDate"),
            "direction": row.get("Direction__c"),
            "status": row.get("Status__c"),
            "errorCode": row.get("Error_Code__c"),
            "message": (row.get("Message__c") or "")[:500],
            "recordId": row.get("Record_Id__c"),
            "object": row.get("Object__c"),
            "resentAt": row.get("Resent_At__c"),
        }
        for row in rows
    ]
    connection.set(RECENT_FAILURES_KEY, json.dumps(failures), ex=RECENT_FAILURES_TTL)
    return failures


def forget_recent_failures(connection: Redis) -> None:
    """Drop the cached list (after a resend changed a row)."""
    connection.delete(RECENT_FAILURES_KEY)
