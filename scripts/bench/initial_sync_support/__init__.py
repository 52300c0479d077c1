"""Support for scripts/bench/initial_sync: the stack as child processes, seeding, memory sampling."""
