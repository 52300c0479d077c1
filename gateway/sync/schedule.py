"""When the periodic bulk work runs: the nightly incremental pull and the donation roll-up, at local times of day
in the organisation's time zone (`Settings.schedule`: `GATEWAY_SYNC_TIMEZONE`, `GATEWAY_INCREMENTAL_AT`,
`GATEWAY_DONATIONS_AT`).

Guarantees: `due_slot` is pure; `claim_due_slot` is true exactly once per due slot across every worker (a Redis
claim per slot, kept three days), so the cron job that asks every few minutes starts each slot's work once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

SLOT_KEY = "gateway:bulk:schedule:{}:{}"  # work name, local slot -> claimed


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"GATEWAY_SYNC_TIMEZONE: {name!r} is not an IANA time zone (e.g. America/New_York)") from None


def _slot_time(slot: str) -> tuple[int, int]:
    try:
        hours, minutes = (int(p) for p in slot.split(":"))
    except ValueError:
        raise ValueError(f"{slot!r} is not a time of day (HH:MM)") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"{slot!r} is not a time of day (HH:MM)")
    return hours, minutes


def due_slot(
    now: datetime, slots: Sequence[str], timezone: str, *, window: timedelta = timedelta(hours=6)
) -> str | None:
    """The slot (`YYYY-MM-DD HH:MM`, local) that is due at `now`: passed today (local time) less than `window` ago."""
    local = now.astimezone(_zone(timezone))
    for slot in sorted(slots, reverse=True):
        hours, minutes = _slot_time(slot)
        at = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        if at <= local < at + window:
            return f"{at:%Y-%m-%d %H:%M}"
    return None


def claim_due_slot(redis: Any, name: str, slots: Sequence[str], timezone: str, now: datetime | None = None) -> bool:
    """True exactly once per due slot across every worker (a Redis claim per slot)."""
    slot = due_slot(now or datetime.now(UTC), slots, timezone)
    if slot is None:
        return False
    return bool(redis.set(SLOT_KEY.format(name, slot), "1", nx=True, ex=3 * 86400))
