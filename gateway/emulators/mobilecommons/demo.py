"""How `gateway demo` runs the Mobile Commons emulator and points the gateway at it (`gateway.demo.DemoPlatform`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEMO_POLL_SECONDS = 10  # the floor (MIN_POLL_SECONDS): a STOP shows within seconds; production polls every 60 s


def emulator_args(gateway_url: str, webhook_secret: str) -> list[str]:
    """`gateway emulate mobilecommons …`: the JOIN keyword's mData calls the gateway's webhook, secret in the path
    (STOP is never pushed: the gateway polls)."""
    return [
        "--mdata-url",
        f"{gateway_url}/webhooks/platforms/mobilecommons/{webhook_secret}",
        "--mdata-keyword",
        "JOIN",
    ]


def gateway_env(ready: Mapping[str, Any], webhook_secret: str) -> dict[str, str]:
    """The gateway's `MOBILECOMMONS_*` variables, from the emulator's ready line."""
    return {
        "MOBILECOMMONS_BASE_URL": ready["api_url"],
        "MOBILECOMMONS_USERNAME": ready["username"],
        "MOBILECOMMONS_PASSWORD": ready["password"],
        "MOBILECOMMONS_CAMPAIGN_ID": str(ready["campaign_id"]),
        "MOBILECOMMONS_OPT_IN_PATH_ID": str(ready["opt_in_path_id"]),
        "MOBILECOMMONS_WEBHOOK_SECRET": webhook_secret,
        "MOBILECOMMONS_POLL_SECONDS": str(DEMO_POLL_SECONDS),
    }
