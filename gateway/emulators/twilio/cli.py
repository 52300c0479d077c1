"""`gateway emulate twilio`: run the emulator until SIGTERM/SIGINT.

Guarantees: exactly one JSON line on stdout once the server listens (DESIGN §6: `url`, `control_token`, plus the
account SID, Auth Token, API key, Messaging Service SID and numbers); a clean stop on SIGTERM or SIGINT.
"""

from __future__ import annotations

import click

from gateway.emulators.serving import run_until_signalled
from gateway.emulators.twilio.server import DEFAULT_NUMBER, DEFAULT_SERVICE_NUMBERS, TwilioEmulator


@click.command("twilio")
@click.option("--port", default=0, show_default=True, help="Port to listen on (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--account-sid", default=None, help="The account's SID (default: generated AC…).")
@click.option(
    "--auth-token", default=None, help="The account's Auth Token, which also signs webhooks (default: generated)."
)
@click.option("--number", default=DEFAULT_NUMBER, show_default=True, help="A standalone phone number of the account.")
@click.option(
    "--service-numbers",
    default=",".join(DEFAULT_SERVICE_NUMBERS),
    show_default=True,
    help="Comma-separated numbers in the Messaging Service pool.",
)
@click.option("--advanced-opt-out/--no-advanced-opt-out", default=True, show_default=True,
              help="Whether the service sends OptOutType (Advanced Opt-Out).")  # fmt: skip
@click.option("--control-token", default=None, help="X-Emulator-Token for /__emulator__/ (default: generated).")
@click.option("--webhook-url", default=None, help="Where incoming messages are posted (the gateway's Twilio webhook).")
@click.option("--status-callback-url", default=None, help="Where status callbacks go when a send names none.")
@click.option("--status-delay-ms", default=50, show_default=True, help="Time between two status changes of a message.")
@click.option(
    "--public-base-url",
    default=None,
    help="The gateway's public base URL when a proxy sits in front: signatures cover it (delivery goes to the URLs).",
)
def command(
    port: int,
    host: str,
    account_sid: str | None,
    auth_token: str | None,
    number: str,
    service_numbers: str,
    advanced_opt_out: bool,
    control_token: str | None,
    webhook_url: str | None,
    status_callback_url: str | None,
    status_delay_ms: int,
    public_base_url: str | None,
) -> None:
    """Emulate Twilio Programmable Messaging (Messages API, keywords, 21610 blocks, signed webhooks) on HTTP."""
    emulator = TwilioEmulator(
        host=host,
        port=port,
        account_sid=account_sid,
        auth_token=auth_token,
        number=number,
        service_numbers=tuple(n.strip() for n in service_numbers.split(",") if n.strip()),
        advanced_opt_out=advanced_opt_out,
        control_token=control_token,
        webhook_url=webhook_url,
        status_callback_url=status_callback_url,
        status_delay_ms=status_delay_ms,
        public_base_url=public_base_url,
    )
    run_until_signalled(emulator)


if __name__ == "__main__":  # pragma: no cover
    command()
