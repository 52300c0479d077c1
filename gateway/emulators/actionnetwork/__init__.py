"""A local stand-in for Action Network: its API v2 (signup helper, people, HAL paging, 429s), its SMS opt-outs and
its webhook arrays."""

from gateway.emulators.actionnetwork.server import ActionNetworkEmulator

__all__ = ["ActionNetworkEmulator"]
