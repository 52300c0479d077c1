"""Helpers of scripts/bench/extract (emulator process control, the peer's login wrapper)."""
