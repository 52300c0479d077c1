"""The bulk paths' share of the Salesforce API budget: bulk work stops early so real-time syncs (opt-outs first)
always find calls left.

Guarantees: `bulk_allowance` is pure; it refuses bulk work once the deployment's calls today reach the real-time
line of the daily budget minus `reserve` of it, or the org's usage reaches the client's real-time stop line minus
`reserve` of that line, and says how long to wait. The real-time line is the budget less the share only opt-outs
may spend (`opt_out_reserve` in the snapshot, `salesforce.usage.Lane`), so the three step aside in order: bulk
work first, then real-time syncs and reads, and opt-outs last. The client's own `UsageMeter.ensure_budget()` still
guards every single call (real-time included); this only makes bulk work step aside first.
`prime_org_allocation` reads `/limits` once when no worker has yet seen the org's allocation, so a
share-of-allocation cap works from the first bulk call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.salesforce.client import SalesforceClient

DEFAULT_RESERVE = 0.1
USAGE_RECHECK_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Allowance:
    """Whether bulk work may spend calls now; when not, why and after how many seconds to look again."""

    allowed: bool
    reason: str = ""
    retry_after: float = 0.0


def bulk_allowance(snapshot: dict[str, Any], *, reserve: float = DEFAULT_RESERVE, now: float = 0.0) -> Allowance:
    """Decide from a `UsageMeter.snapshot()` whether bulk work may continue (`now` is epoch seconds, UTC)."""
    paused = float(snapshot.get("paused_for_seconds") or 0.0)
    if paused > 0:
        return Allowance(False, "Salesforce answered REQUEST_LIMIT_EXCEEDED; waiting for calls to return", paused)
    daily = snapshot.get("daily_budget")
    ours = int(snapshot.get("calls_today") or 0)
    realtime = 1.0 - float(snapshot.get("opt_out_reserve") or 0.0)  # the part of each line real time may use
    if daily:
        line = int(int(daily * realtime) * (1 - reserve))
        if ours >= line:
            tomorrow = (now // 86400 + 1) * 86400 if now else 0.0
            return Allowance(
                False,
                f"bulk work stops at {line} of the daily budget of {daily} calls (the rest is kept for real-time "
                f"syncs and opt-outs); {ours} used today (UTC)",
                max(60.0, tomorrow - now) if now else USAGE_RECHECK_SECONDS,
            )
    stop_at, used = snapshot.get("stop_at"), snapshot.get("org_used")
    if stop_at and used is not None:
        line = int(int(stop_at * realtime) * (1 - reserve))
        if used >= line:
            return Allowance(
                False,
                f"the org has used {used} API requests; bulk work stops at {line} (the gateway's stop line is "
                f"{stop_at}, the rest is kept for real-time syncs and opt-outs)",
                USAGE_RECHECK_SECONDS,
            )
    return Allowance(True)


def prime_org_allocation(client: SalesforceClient) -> None:
    """Read `/limits` (one call) when no worker has seen the org's allocation yet, so share caps apply at once."""
    if client.usage().get("org_max") is None:
        client.limits()
