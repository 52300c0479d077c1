"""How `gateway demo` runs the Mobile Commons emulator and points the gateway at it (`gateway.demo.DemoPlatform`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def emulator_args(gateway_url: str, webhook_secret: str) -> list[str]:
    """`gateway emulate mobilecommons …`: its mData calls go to the gateway's webhook, secret in the path."""
    return ["--mdata-url", f"{gateway_url}/webhooks/platforms/mobilecommons/{webhook_secret}"]


def gateway_env(ready: Mapping[str, Any], webhook_secret: str) -> dict[str, str]:
    """The gateway's `MOBILECOMMONS_*` variables, from the emulator's ready line."""
    return {
        "MOBILECOMMONS_BASE_URL": ready["api_url"],
        "MOBILECOMMONS_USERNAME": ready["username"],
        "MOBILECOMMONS_PASSWORD": ready["password"],
        "MOBILECOMMONS_CAMPAIGN_ID": str(ready["campaign_id"]),
        "MOBILECOMMONS_OPT_IN_PATH_ID": str(ready["opt_in_path_id"]),
        "MOBILECOMMONS_WEBHOOK_SECRET": webhook_secret,
    }
