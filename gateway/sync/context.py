"""What a sync needs at hand: settings, the Redis connection and the platform adapter, built once per job."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from gateway.config import Settings
from gateway.platforms.base import PlatformAdapter
from gateway.redis_server import connect


@dataclass
class SyncContext:
    settings: Settings
    redis: Redis
    platform: PlatformAdapter

    @classmethod
    def build(cls, settings: Settings, connection: Redis | None = None) -> SyncContext:
        if connection is None:
            if not settings.redis_url:
                raise RuntimeError("REDIS_URL is not set: start workers through `gateway worker`")
            connection = connect(settings.redis_url)
        return cls(settings=settings, redis=connection, platform=_platform(settings, connection))


def _platform(settings: Settings, connection: Redis) -> PlatformAdapter:
    if settings.messaging_platform == "recording":
        from gateway.platforms.recording import RecordingAdapter

        return RecordingAdapter(connection)
    if settings.messaging_platform == "mobilecommons":
        from gateway.platforms.mobilecommons import MobileCommonsAdapter

        return MobileCommonsAdapter.from_config(settings.mobilecommons)  # type: ignore[attr-defined,no-any-return]
    raise RuntimeError(f"MESSAGING_PLATFORM={settings.messaging_platform!r} has no adapter")
