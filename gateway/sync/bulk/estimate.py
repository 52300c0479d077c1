"""How long a bulk run will take, said before it starts: from the records it has to move and the pace the platform's
package declares (`PlatformEntry.pace`: the request limit every worker shares, requests per record, people per
read). A platform limited to a few requests a second turns 100,000 records into hours, and the operator should
know that before committing the shared budget to it.

Guarantees: one Salesforce COUNT() call per Salesforce → platform run, none for the other direction, no platform
call; the figures are a floor (real-time work shares the same limit, and retries add to it); where a figure cannot
be known in advance (a platform that does not say how many people it holds, or declares no limit) the text says so
instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.platforms.base import Pace
from gateway.salesforce import queries
from gateway.sync.bulk.runs import TO_PLATFORM
from gateway.sync.context import SyncContext

REFERENCE_PEOPLE = 100_000  # what a read rate is shown for when the platform does not say how many it holds


@dataclass(frozen=True, slots=True)
class Estimate:
    """One run's estimate: `records` to move (None: unknown until read), the platform requests and seconds they
    take at the declared limit (None: nothing declared, or nothing to count), and the sentence that says it."""

    direction: str
    records: int | None
    requests: float | None
    seconds: float | None
    text: str


def duration(seconds: float) -> str:
    """`45 s`, `17 min`, `6.9 h`, `3.2 days`."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def describe(direction: str, object_name: str, records: int | None, pace: Pace | None, title: str) -> Estimate:
    """The estimate of one run from its counts (pure)."""
    rate = pace.requests_per_second if pace is not None else None
    if direction == TO_PLATFORM:
        assert records is not None, "a Salesforce → platform run is counted first"
        head = f"to-platform {object_name}: {records:,} record(s)"
        if pace is not None and pace.calls_per_write == 0:
            return Estimate(direction, records, 0, None, f"{head}; no {title} request (only Salesforce is written).")
        if pace is None or rate is None:
            return Estimate(direction, records, None, None, f"{head}; {title} declares no request limit.")
        requests = records * pace.calls_per_write
        seconds = requests / rate
        return Estimate(
            direction,
            records,
            requests,
            seconds,
            f"{head}, ~{pace.calls_per_write:g} {title} request(s) each at {rate:g} requests/s "
            f"(the pace all workers share) ≈ {duration(seconds)}.",
        )
    head = f"to-salesforce {object_name}"
    if pace is None or rate is None:
        return Estimate(direction, None, None, None, f"{head}: {title} declares no request limit.")
    per_second = rate * pace.people_per_read
    reference = REFERENCE_PEOPLE / per_second
    return Estimate(
        direction,
        None,
        None,
        None,
        f"{head}: {title} does not say how many people it holds; it is read {pace.people_per_read:g} people a "
        f"request at {rate:g} requests/s, {per_second:,.0f} people/s at most ({REFERENCE_PEOPLE:,} people ≈ "
        f"{duration(reference)}).",
    )


def estimate(
    context: SyncContext, directions: tuple[str, ...], object_name: str, since: datetime | None
) -> list[Estimate]:
    """The estimate of each run `gateway sync initial` queues (one COUNT() per Salesforce → platform run): said
    before it queues them when it asks, after with `--yes` or `--detach`."""
    settings = context.settings
    entry = settings.platform_entry
    pace = entry.pace(settings.platform) if entry is not None and entry.pace is not None else None
    title = entry.title if entry is not None else "The platform"
    found = []
    for direction in directions:
        records = None
        if direction == TO_PLATFORM:
            records = context.salesforce.count(queries.record_ids(object_name, since=since))
        found.append(describe(direction, object_name, records, pace, title))
    return found
