"""`gateway emulate actionnetwork`: run the emulator until SIGTERM/SIGINT (registered with the platform registry).

Guarantees: exactly one JSON line on stdout once the server listens (DESIGN §6, plus `api_url` and `api_token`
for the adapter); a clean stop on SIGTERM or SIGINT.
"""

from __future__ import annotations

import click

from gateway.emulators.actionnetwork.server import ActionNetworkEmulator
from gateway.emulators.serving import run_until_signalled


@click.command("actionnetwork")
@click.option("--port", default=0, show_default=True, help="Port to listen on (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--api-token", default=None, help="The OSDI-API-Token to accept (default: generated).")
@click.option("--control-token", default=None, help="X-Emulator-Token for /__emulator__/ (default: generated).")
@click.option(
    "--requests-per-second",
    default=4.0,
    show_default=True,
    type=float,
    help="Answer 429 above this many API requests in any second (0: no limit).",
)
@click.option("--retry-after", default=None, type=float, help="Send this Retry-After (s) with each 429.")
@click.option("--webhook-url", default=None, help="Where to POST webhook arrays (the gateway's webhook URL).")
@click.option("--seed", "seed_count", default=0, show_default=True, help="Generate this many people at start.")
@click.option("--tag", "tags", multiple=True, help="A tag the group has from the start (repeatable).")
def command(
    port: int,
    host: str,
    api_token: str | None,
    control_token: str | None,
    requests_per_second: float,
    retry_after: float | None,
    webhook_url: str | None,
    seed_count: int,
    tags: tuple[str, ...],
) -> None:
    """Emulate Action Network (API v2, signup helper, SMS opt-outs, webhooks) on HTTP."""
    emulator = ActionNetworkEmulator(
        host=host,
        port=port,
        api_token=api_token,
        control_token=control_token,
        requests_per_second=requests_per_second or None,
        webhook_url=webhook_url,
        retry_after_seconds=retry_after,
    )
    for tag in tags:
        emulator.state.create_tag(tag)

    def seed() -> None:
        if seed_count:
            with emulator.control() as control:
                control.post(f"{emulator.url}/__emulator__/seed", json={"count": seed_count}, timeout=600)

    run_until_signalled(emulator, when_listening=seed)


if __name__ == "__main__":  # pragma: no cover
    command()
