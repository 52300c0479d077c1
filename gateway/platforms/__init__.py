"""The platform registry: every messaging platform the gateway can use, by the name `MESSAGING_PLATFORM` takes.

Each platform is a package `gateway/platforms/<name>/` (adapter, settings, webhooks) whose `ENTRY` says how to
configure, build, emulate and demonstrate it (`base.PlatformEntry`). Adding a platform is that package, its
emulator under `gateway/emulators/<name>/`, and one line below. Nothing else names a platform: configuration,
the web app, the workers, `gateway emulate`, `gateway demo` and `gateway doctor` all look platforms up here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from redis import Redis

from gateway.platforms import actionnetwork, mobilecommons, recording, twilio
from gateway.platforms.base import PlatformAdapter, PlatformEntry

REGISTRY: Mapping[str, PlatformEntry] = MappingProxyType(
    {
        entry.name: entry
        for entry in (
            mobilecommons.ENTRY,
            actionnetwork.ENTRY,
            recording.ENTRY,
            twilio.ENTRY,
        )
    }
)


def entry(name: str) -> PlatformEntry:
    """The registered platform `name`; `KeyError` naming the known ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no platform {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def build_adapter(name: str, settings: Any, redis: Redis) -> PlatformAdapter:
    """The adapter of platform `name`, built from its settings fragment (`Settings.platform`)."""
    return entry(name).adapter(settings, redis)


__all__ = ["REGISTRY", "PlatformEntry", "build_adapter", "entry"]
