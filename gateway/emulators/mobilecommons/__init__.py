"""A local stand-in for Upland Mobile Commons: its XML API, its opt-in rules, people texting, mData calls."""

from gateway.emulators.mobilecommons.server import MobileCommonsEmulator

__all__ = ["MobileCommonsEmulator"]
