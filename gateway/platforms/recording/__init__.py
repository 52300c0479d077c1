"""A test platform that records what it is asked in Redis instead of texting anyone (`MESSAGING_PLATFORM=recording`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazy_imports import exports
from gateway.platforms.base import Capabilities, Imported, PlatformEntry
from gateway.platforms.recording.settings import RecordingSettings, Variables

if TYPE_CHECKING:
    from gateway.platforms.recording.adapter import RecordingAdapter

CAPABILITIES = Capabilities(contact_store=True, lookup_by_phone=True, lookup_by_crm_id=True, lookup_by_platform_id=True)

ENTRY = PlatformEntry(
    name="recording",
    title="Recording (test platform)",
    variables=Variables,
    settings=RecordingSettings.from_variables,
    adapter=Imported("gateway.platforms.recording.adapter:RecordingAdapter.build"),
    capabilities=CAPABILITIES,
)


# the adapter class, imported when first asked for (the registry does not load it either: `base.Imported`)
__getattr__ = exports(__name__, {"RecordingAdapter": "gateway.platforms.recording.adapter"})


__all__ = ["CAPABILITIES", "ENTRY", "RecordingAdapter", "RecordingSettings"]
