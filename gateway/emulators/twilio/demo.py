"""How `gateway demo` runs the Twilio emulator and points the gateway at it (`gateway.demo.DemoPlatform`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WEBHOOK_PATH = "/webhooks/platforms/twilio"


def emulator_args(gateway_url: str, webhook_secret: str) -> list[str]:
    """`gateway emulate twilio …`: incoming messages and status callbacks go to the gateway's Twilio webhook,
    signed with the account's Auth Token (Twilio signs its requests; no secret travels in the path)."""
    url = gateway_url + WEBHOOK_PATH
    return ["--webhook-url", url, "--status-callback-url", url]


def gateway_env(ready: Mapping[str, Any], webhook_secret: str) -> dict[str, str]:
    """The gateway's `TWILIO_*` variables, from the emulator's ready line. The public base URL the signature covers
    is the one the emulator calls (its webhook URL without the route's path)."""
    return {
        "TWILIO_BASE_URL": ready["url"],
        "TWILIO_ACCOUNT_SID": ready["account_sid"],
        "TWILIO_AUTH_TOKEN": ready["auth_token"],
        "TWILIO_API_KEY_SID": ready["api_key_sid"],
        "TWILIO_API_KEY_SECRET": ready["api_key_secret"],
        "TWILIO_MESSAGING_SERVICE_SID": ready["messaging_service_sid"],
        "TWILIO_FROM_NUMBERS": ",".join(ready["from_numbers"]),
        "TWILIO_WEBHOOK_BASE_URL": str(ready["webhook_url"]).removesuffix(WEBHOOK_PATH),
    }
