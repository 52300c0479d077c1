"""A test platform that records what it is asked in Redis instead of texting anyone (`MESSAGING_PLATFORM=recording`)."""

from __future__ import annotations

from gateway.platforms.base import PlatformEntry
from gateway.platforms.recording.adapter import RecordingAdapter
from gateway.platforms.recording.settings import RecordingSettings, Variables

ENTRY = PlatformEntry(
    name="recording",
    title="Recording (test platform)",
    variables=Variables,
    settings=RecordingSettings.from_variables,
    adapter=lambda settings, redis: RecordingAdapter(redis, settings),
    capabilities=RecordingAdapter.capabilities,
)

__all__ = ["ENTRY", "RecordingAdapter", "RecordingSettings"]
