"""The synchronization report of a bulk run: counts per outcome and error code, as text for people and as the one
summary `Sync_Result__c` the run leaves in Salesforce.

Guarantees: `summary_entry` is pure; a run with no failure is `Success`, one with failures and successes is
`Partial Failure`, one where everything failed is `Failure`; the message names every error code with its count,
so an admin can filter the per-record failure rows (same `Run_Id__c`) by code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.salesforce.sync_results import Direction, Status, SyncResultEntry

OUTCOMES = ("created", "updated", "skipped", "failed")


def status_of(counts: Mapping[str, int]) -> Status:
    failed = int(counts.get("failed", 0))
    worked = sum(int(counts.get(k, 0)) for k in ("created", "updated", "skipped"))
    if failed == 0:
        return Status.SUCCESS
    return Status.PARTIAL_FAILURE if worked else Status.FAILURE


def summary_message(run: Mapping[str, Any]) -> str:
    counts: Mapping[str, int] = run.get("counts", {})
    verb = "would be " if run.get("dry_run") else ""
    lines = [
        f"{run.get('kind', 'bulk')} sync {run.get('direction', '')} of {run.get('object', '')} "
        f"(run {run.get('run_id', '')}): {int(run.get('processed', 0))} of {int(run.get('total', 0))} records",
        ", ".join(f"{verb}{name} {int(counts.get(name, 0))}" for name in OUTCOMES),
    ]
    errors: Mapping[str, int] = run.get("errors", {})
    if errors:
        lines.append("errors: " + ", ".join(f"{code}: {n}" for code, n in sorted(errors.items(), key=lambda e: -e[1])))
    if run.get("status") and run.get("status") != "done":
        lines.append(f"status: {run['status']}")
    return "\n".join(lines)


def summary_entry(run: Mapping[str, Any], *, platform: str | None) -> SyncResultEntry:
    """The run's summary row (`Record_Id__c` empty, counts in `Message__c`, `Run_Id__c` set)."""
    direction = Direction.TO_PLATFORM if run.get("direction") == "to-platform" else Direction.TO_SALESFORCE
    return SyncResultEntry(
        direction=direction,
        status=status_of(run.get("counts", {})),
        object_name=str(run.get("object") or "") or None,
        message=summary_message(run),
        request_endpoint=f"bulk:{run.get('kind', 'initial')}:{run.get('direction', '')}",
        platform=platform,
        run_id=str(run.get("run_id") or "") or None,
        key=f"run-summary:{run.get('run_id')}" if run.get("run_id") else None,  # a repeated finish: still one row
    )


def format_report(run: Mapping[str, Any]) -> str:
    """A run as people read it in a terminal."""
    counts: Mapping[str, int] = run.get("counts", {})
    rows = [
        f"run        {run.get('run_id')}",
        f"kind       {run.get('kind')} {run.get('direction')} {run.get('object')}"
        + ("  (dry run: nothing written)" if run.get("dry_run") else ""),
        f"status     {run.get('status')}" + (f" - {run['pause_reason']}" if run.get("pause_reason") else ""),
        f"progress   {int(run.get('processed', 0))} / {int(run.get('total', 0))}"
        f"  ({float(run.get('rate', 0.0)):.0f} records/s)",
    ]
    for name in OUTCOMES:
        rows.append(f"{name:<10} {int(counts.get(name, 0))}")
    errors: Mapping[str, int] = run.get("errors", {})
    for code, n in sorted(errors.items(), key=lambda e: -e[1]):
        rows.append(f"  {code:<40} {n}")
    return "\n".join(rows)
