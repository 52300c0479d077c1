"""`gateway emulate mobilecommons`: run the emulator until SIGTERM/SIGINT.

Guarantees: exactly one JSON line on stdout once the server listens (DESIGN §6, plus `username`,
`password`, `campaign_id`, `opt_in_path_id` and `api_url`); a clean stop on SIGTERM or SIGINT.
"""

from __future__ import annotations

import click

from gateway.emulators.mobilecommons.seed import seed_generated
from gateway.emulators.mobilecommons.server import (
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_OPT_IN_PATH_ID,
    MobileCommonsEmulator,
)
from gateway.emulators.serving import run_until_signalled


@click.command("mobilecommons")
@click.option("--port", default=0, show_default=True, help="Port to listen on (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--campaign-id", default=DEFAULT_CAMPAIGN_ID, show_default=True, type=int)
@click.option("--opt-in-path-id", default=DEFAULT_OPT_IN_PATH_ID, show_default=True, type=int)
@click.option("--username", default="emulator@example.org", show_default=True, help="API login (Basic auth).")
@click.option("--password", default=None, help="API password (default: generated).")
@click.option("--bearer-token", default=None, help="Also accept this bearer token (UCM accounts).")
@click.option("--company-key", default=None, help="Refuse calls naming another company (MC error 4).")
@click.option("--control-token", default=None, help="X-Emulator-Token for /__emulator__/ (default: generated).")
@click.option("--mdata-url", default=None, help="The mData web service URL (the gateway's mData webhook URL).")
@click.option(
    "--mdata-keyword",
    "mdata_keywords",
    multiple=True,
    default=("JOIN",),
    show_default=True,
    help="A keyword whose texts go to --mdata-url (repeat for more). STOP and START never do: MC answers them.",
)
@click.option("--mdata-method", type=click.Choice(["GET", "POST"]), default="POST", show_default=True)
@click.option("--seed", "seed_count", default=0, show_default=True, help="Generate this many profiles at start.")
def command(
    port: int,
    host: str,
    campaign_id: int,
    opt_in_path_id: int,
    username: str,
    password: str | None,
    bearer_token: str | None,
    company_key: str | None,
    control_token: str | None,
    mdata_url: str | None,
    mdata_keywords: tuple[str, ...],
    mdata_method: str,
    seed_count: int,
) -> None:
    """Emulate Upland Mobile Commons (XML API, opt-in rules, texting, mData per keyword) on HTTP."""
    emulator = MobileCommonsEmulator(
        host=host,
        port=port,
        username=username,
        password=password,
        bearer_token=bearer_token,
        company_key=company_key,
        campaign_id=campaign_id,
        opt_in_path_id=opt_in_path_id,
        mdata_url=mdata_url,
        mdata_keywords=mdata_keywords,
        mdata_method=mdata_method,
        control_token=control_token,
    )
    if seed_count:
        seed_generated(emulator.state, seed_count)
    run_until_signalled(emulator)


if __name__ == "__main__":  # pragma: no cover
    command()
