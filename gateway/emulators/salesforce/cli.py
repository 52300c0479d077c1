"""`gateway emulate salesforce`: run the emulator until SIGTERM/SIGINT, printing one JSON line when ready."""

from __future__ import annotations

import click

from gateway.emulators.serving import run_until_signalled

from .relay import RelayTarget
from .server import EmulatorServer


@click.command("salesforce")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=0, show_default=True, type=int, help="Port to listen on; 0 picks a free one.")
@click.option(
    "--db",
    "db",
    default=":memory:",
    show_default=True,
    help="SQLite file holding the org (shared by every process that opens it); default in memory.",
)
@click.option(
    "--package-dir",
    default="./sfdx-package",
    show_default=True,
    help="The SFDX package whose objects, fields and custom metadata the org has.",
)
@click.option("--var-dir", default="./var", show_default=True, help="Where certificates and keys are kept.")
@click.option("--daily-limit", default=100_000, show_default=True, type=int, help="Daily API request allocation.")
@click.option("--token-ttl", default=7200, show_default=True, type=int, help="Access-token lifetime in seconds.")
@click.option("--relay-url", default=None, help="Gateway base URL that receives relayed change events.")
@click.option("--relay-client-id", default=None, help="Client id for the gateway's /oauth/token.")
@click.option("--relay-client-secret", default=None, help="Client secret for the gateway's /oauth/token.")
@click.option("--verbose", is_flag=True, help="Log every request on stderr.")
def command(
    host: str,
    port: int,
    db: str,
    package_dir: str,
    var_dir: str,
    daily_limit: int,
    token_ttl: int,
    relay_url: str | None,
    relay_client_id: str | None,
    relay_client_secret: str | None,
    verbose: bool,
) -> None:
    """Run a local Salesforce org (HTTPS, OAuth, REST, Bulk 2.0, the package's schema) until stopped."""
    relay = None
    if relay_url:
        if not relay_client_id or not relay_client_secret:
            raise click.UsageError("--relay-url needs --relay-client-id and --relay-client-secret")
        relay = RelayTarget(relay_url, relay_client_id, relay_client_secret)
    server = EmulatorServer(
        package_dir=package_dir,
        var_dir=var_dir,
        db=db,
        host=host,
        port=port,
        daily_limit=daily_limit,
        token_ttl=token_ttl,
        relay=relay,
        quiet=not verbose,
    )
    run_until_signalled(server)


if __name__ == "__main__":  # pragma: no cover
    command()
