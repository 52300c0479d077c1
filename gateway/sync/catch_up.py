"""Salesforce → platform, the safety net under real time: a change reaches the platform even when no event about it
ever reaches a worker.

Real time hangs on one webhook call per batch. A batch can be lost after the gateway answered 202: accepted in the
last second a Redis killed with AOF `everysec` had not written to disk (Redis 6.2 has no `WAITAOF` to wait for
it), or held by a relay that gave up. Nothing else would ever tell the gateway about those records.

Guarantee: a record Salesforce changed is synced within `SETTLE + interval` (the cron runs `catch_up` every
`CATCH_UP_SECONDS`) of its change, or of the moment Salesforce takes calls again (a budget stop), whatever happened
to its event. Every run lists, per active object, the records whose `SystemModstamp` lies in the window from the
last run's end minus `OVERLAP` to now minus `SETTLE` (real time's own turn comes first), one SOQL query an object
(`LIMIT` rows at most; the window then ends at the last row listed, and the next one goes on right after that row,
by `SystemModstamp` then Id, so a mass update of more than `LIMIT` records is worked through a page a run), and
compares each with its version mark
(`state.record_states`, one MGET). Those Salesforce holds newer than what was synced go through the real-time path
as one batch of `Messaging_Sync__e`-shaped events (`jobs.accept_salesforce_events`: read back, claimed, version and
echo checked, logged), each event keyed by record and `SystemModstamp`, so one version is queued once however many
windows list it (a failed sync leaves a `Sync_Result__c`, not one a minute). The window's end is stored only after
its events are queued, so a crash repeats a window, never skips one.

Why no "Redis restarted" trigger: AOF loses a suffix of what Redis was told, never a middle part. A cursor that
survived was written before anything lost, and the records a lost event named changed after its window's end
(`SETTLE` before it was written), so the next window lists them; a cursor that did not survive starts the next window
`FIRST_LOOKBACK` back.

The event carries no changed fields: the sync sends what changed since the record was last reconciled with the
platform (`state.RecordState.sent`), or every field to a person the platform does not hold yet. A record synced a
moment ago is listed once more, since the sync's own write-back moved its `SystemModstamp`: that costs its share of
one read-back query and is skipped as an echo, without a platform call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.domain.freshness import is_newer, parse_timestamp
from gateway.domain.mapping import salesforce_datetime
from gateway.redis_client import text
from gateway.salesforce import queries
from gateway.salesforce.errors import ApiBudgetExhausted
from gateway.sync import state
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 60
CURSOR_KEY = "gateway:catch-up:cursor:{}"  # object -> end of the last window looked at (ISO[ last Id listed])
OVERLAP = timedelta(minutes=2)
SETTLE = timedelta(seconds=60)
FIRST_LOOKBACK = timedelta(minutes=30)
LIMIT = 2000
ORG = "catch-up"  # the org id the queued batches name (for the logs)

Accept = Callable[[list[dict[str, Any]]], Any]  # queues one batch of events (`jobs.accept_salesforce_events`)


def window(
    context: SyncContext, object_name: str, now: datetime | None = None
) -> tuple[datetime, datetime, str | None]:
    """The `SystemModstamp` range the next run looks at for `object_name`, and the Id of the last row already listed
    at its start when the last run stopped at `LIMIT` (the listing goes on after it, without overlap)."""
    now = now or datetime.now(UTC)
    raw = context.redis.get(CURSOR_KEY.format(object_name))
    until = now - SETTLE
    if not raw:
        return min(now - FIRST_LOOKBACK, until), until, None
    at, _, after_id = text(raw).partition(" ")
    if after_id:
        return min(parse_timestamp(at), until), until, after_id
    return min(parse_timestamp(at) - OVERLAP, until), until, None


def catch_up(context: SyncContext, accept: Accept, now: datetime | None = None) -> int:
    """Queue a sync of every record of every active object that Salesforce holds newer than its version mark, in
    the window (`window`); returns how many were queued. A Salesforce budget stop queues nothing and keeps the
    window for the next run."""
    queued = 0
    try:
        for obj in context.sync_config().active_objects:
            since, until, after_id = window(context, obj.object_name, now)
            soql = queries.changed_between(obj, since, until, limit=LIMIT, after_id=after_id)
            rows = context.salesforce.query_records(soql)
            behind = _behind(context, obj.object_name, rows)
            if behind:
                accept([_event(obj.object_name, row) for row in behind])
                queued += len(behind)
            if len(rows) >= LIMIT:  # more to list: go on after the last row listed
                last = rows[-1]
                cursor = f"{parse_timestamp(str(last['SystemModstamp'])).isoformat()} {last['Id']}"
            else:
                cursor = until.isoformat()
            context.redis.set(CURSOR_KEY.format(obj.object_name), cursor)
    except ApiBudgetExhausted as exc:
        log.warning("catch-up waits for the Salesforce budget: %s", exc)
    if queued:  # mostly records whose own write-back moved their version (skipped as echoes), or events lost
        log.info("catch-up: %d record(s) newer in Salesforce than their last sync; queued", queued)
    return queued


def _behind(context: SyncContext, object_name: str, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows Salesforce holds newer than the version last synced for them."""
    marks = state.record_states(context.redis, object_name, [str(r["Id"]) for r in rows])
    return [
        row
        for row, last in zip(rows, marks, strict=True)
        if last.version is None or is_newer(parse_timestamp(str(row["SystemModstamp"])), last.version)
    ]


def _event(object_name: str, row: dict[str, Any]) -> dict[str, Any]:
    """A `Messaging_Sync__e`-shaped event for a listed record: which record, at which version (its values are read
    back by the sync, as for every event)."""
    stamp = salesforce_datetime(parse_timestamp(str(row["SystemModstamp"])))
    return {
        "eventUuid": f"catch-up:{row['Id']}:{stamp}",
        "sobjectType": object_name,
        "recordId": str(row["Id"]),
        "operation": "update",
        "changedFields": [],
        "record": {"Id": str(row["Id"]), "SystemModstamp": stamp},
        "publishedAt": stamp,
    }
