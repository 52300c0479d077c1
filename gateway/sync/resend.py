"""Replaying a failed sync from its `Sync_Result__c` row: the stored request is read back and synced again.

Guarantees: only `Failure` and `Partial Failure` rows are replayed; the replay bypasses the version and echo checks
(the admin asked for it) but not the rules (a STOP stays sticky); the row is stamped `Resent_At__c` once the replay
is queued (a failed stamp is logged, the replay stays queued); every refusal is a `ResendError` with the HTTP status
and code to answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.domain.mapping import salesforce_datetime
from gateway.salesforce import queries
from gateway.salesforce.errors import SalesforceError
from gateway.sync import status
from gateway.sync.context import SyncContext

log = logging.getLogger(__name__)

RESENDABLE = ("Failure", "Partial Failure")


class ResendError(Exception):
    """Why a row cannot be resent; `status` is the HTTP answer (404, 409, 422)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Replay:
    """What to sync again: a Salesforce event (`direction` "To Platform") or a platform contact ("To Salesforce")."""

    result_id: str
    direction: str
    payload: dict[str, Any]


def load_replay(context: SyncContext, result_id: str) -> Replay:
    rows = context.salesforce.query_records(queries.sync_result(result_id))
    if not rows:
        raise ResendError(404, "not-found", f"no Sync_Result__c with Id {result_id}")
    row = rows[0]
    if row.get("Status__c") not in RESENDABLE:
        raise ResendError(409, "not-resendable", f"only failed syncs are resent; this one is {row.get('Status__c')}")
    try:
        body = json.loads(row.get("Request_Body__c") or "")
    except json.JSONDecodeError:
        raise ResendError(422, "no-stored-request", "this result holds no readable request to replay") from None
    key = "event" if row.get("Direction__c") == "To Platform" else "contact"
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise ResendError(422, "no-stored-request", f"this result holds no stored {key} to replay")
    return Replay(result_id=row["Id"], direction=row["Direction__c"], payload=body[key])


def mark_resent(context: SyncContext, result_id: str) -> None:
    context.salesforce.update(
        "Sync_Result__c", [{"Id": result_id, "Resent_At__c": salesforce_datetime(datetime.now(UTC))}]
    )


def resend(context: SyncContext, result_id: str, enqueue: Callable[[Replay], str]) -> dict[str, Any]:
    """Queue the replay of a failed result with `enqueue` (which returns the job id); the answer the API gives."""
    try:
        replay = load_replay(context, result_id)
    except SalesforceError as exc:
        raise ResendError(503, "salesforce-unavailable", f"could not read the result from Salesforce: {exc}") from None
    job_id = enqueue(replay)
    try:
        mark_resent(context, replay.result_id)
    except SalesforceError:
        log.warning("could not stamp Resent_At__c on %s", replay.result_id, exc_info=True)
    status.forget_recent_failures(context.redis)
    return {"resent": True, "job": job_id, "direction": replay.direction}
