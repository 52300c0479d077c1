"""How `gateway demo` runs the Action Network emulator and points the gateway at it (`gateway.demo.DemoPlatform`).

The demo polls every `DEMO_POLL_SECONDS` so its STOP step finishes in seconds: Action Network pushes no opt-out, so
the gateway finds one by polling changed people, every `ACTIONNETWORK_POLL_SECONDS` (60 s unless configured).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SOURCE_TAG = "salesforce"
DEMO_POLL_SECONDS = 2


def emulator_args(gateway_url: str, webhook_secret: str) -> list[str]:
    """`gateway emulate actionnetwork …`: webhook arrays go to the gateway, secret in the path; the source tag
    exists (Action Network ignores tags it does not have)."""
    return [
        "--webhook-url",
        f"{gateway_url}/webhooks/platforms/actionnetwork/{webhook_secret}",
        "--tag",
        SOURCE_TAG,
    ]


def gateway_env(ready: Mapping[str, Any], webhook_secret: str) -> dict[str, str]:
    """The gateway's `ACTIONNETWORK_*` variables, from the emulator's ready line."""
    return {
        "ACTIONNETWORK_BASE_URL": ready["api_url"],
        "ACTIONNETWORK_API_TOKEN": ready["api_token"],
        "ACTIONNETWORK_WEBHOOK_SECRET": webhook_secret,
        "ACTIONNETWORK_SOURCE_TAG": SOURCE_TAG,
        "ACTIONNETWORK_POLL_SECONDS": str(DEMO_POLL_SECONDS),
    }
