"""The Salesforce emulator fixtures of the emulator's own tests (a server per module, an org reset per test)."""

from tests.integration.salesforce_emulator.conftest import (  # noqa: F401 - fixtures, found by name
    salesforce_emulator,
    salesforce_emulator_server,
)
