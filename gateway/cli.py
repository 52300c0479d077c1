"""The `gateway` command: serve, worker, cron, doctor, emulate, demo, stack. Thin: each verb parses, builds, runs.

Every verb reads the configuration once (`gateway.config.load_settings`) and fails fast, one line per bad
variable. With no `REDIS_URL`, the verbs that need Redis start (or attach to) the embedded one under `var/`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import redis

from gateway.cli_sync import settings_or_exit, sync
from gateway.config import Settings, mask_url
from gateway.platforms import REGISTRY


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@contextmanager
def _redis(settings: Settings) -> Iterator[Settings]:
    """Settings with a usable `redis_url`; stops the embedded Redis on exit if this process started it."""
    from dataclasses import replace

    from gateway.redis_server import resolve_redis_url

    url, embedded = resolve_redis_url(settings.redis_url, settings.var_dir)
    try:
        yield replace(settings, redis_url=url)
    finally:
        if embedded is not None:
            embedded.stop()


def _terminate_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks (stopping the embedded Redis) run."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="messaging-sync-gateway")
def main() -> None:
    """Salesforce ⇄ messaging-platform sync gateway.

    Configuration comes from environment variables (see README); `gateway doctor` shows what is in effect.
    """
    from gateway.log_redaction import install

    install()  # no secret, token or phone number reaches a log line, from any verb, at any level


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=2 * (os.cpu_count() or 1),
    show_default="2 per CPU",
    type=int,
    help="gunicorn worker processes.",
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=int,
    help="Threads per worker: requests waiting on Redis or a slow client do not hold up the others.",
)
@click.option("--reload", is_flag=True, help="Development server with auto-reload instead of gunicorn.")
def serve(host: str, port: int, workers: int, threads: int, reload: bool) -> None:
    """Serve the web app: OAuth token endpoint, webhooks, API, health and metrics."""
    settings = settings_or_exit("web")
    _logging(settings)
    _terminate_on_sigterm()
    with _redis(settings) as settings:
        from gateway import create_app

        if reload:
            create_app(settings).run(host=host, port=port, debug=True, use_reloader=True)
            return
        from gateway.web.server import run_gunicorn

        run_gunicorn(settings, host=host, port=port, workers=workers, threads=threads)


def _stack_file() -> Path:
    return Path(os.environ.get("GATEWAY_VAR_DIR") or "var") / "stack.json"


def _running_stack_env(path: Path) -> dict[str, str]:
    """The environment of the local stack `path` describes, once its Redis answers (else exit 2, saying why)."""
    from gateway.redis_client import connect
    from gateway.stack import StackFileError, stack_env

    try:
        env = stack_env(path)
    except StackFileError as exc:
        click.echo(f"gateway: {exc}", err=True)
        raise SystemExit(2) from None
    url = env.get("REDIS_URL", "")
    try:
        connect(url, socket_timeout=5).ping()
    except (redis.RedisError, ValueError):
        click.echo(
            f"gateway: the stack {path} describes is not running (its Redis does not answer at {mask_url(url)}): "
            "start it with `gateway demo --stack-only`",
            err=True,
        )
        raise SystemExit(2) from None
    return env


@main.command()
@click.option(
    "--queues",
    default="realtime,sync,bulk",
    show_default=True,
    help="Comma-separated queues, in priority order.",
)
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: host and pid).")
@click.option(
    "--join",
    "stack_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Join the local stack this file describes (var/stack.json): run with its processes' environment.",
)
def worker(queues: str, burst: bool, name: str | None, stack_file: Path | None) -> None:
    """Run an RQ worker that does the syncing (run as many as you like, on any machine)."""
    if stack_file is not None:
        os.environ.update(_running_stack_env(stack_file))
    settings = settings_or_exit("worker")
    _logging(settings)
    _terminate_on_sigterm()
    with _redis(settings) as settings:
        from gateway import jobs  # noqa: F401 - the job functions, loaded once here: each job's forked process has them
        from gateway.queues import QUEUES
        from gateway.redis_client import connect
        from gateway.workers import GatewayWorker

        names = [q.strip() for q in queues.split(",") if q.strip()]
        unknown = sorted(set(names) - set(QUEUES))
        if unknown:
            raise click.BadParameter(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}")
        assert settings.redis_url is not None
        os.environ["REDIS_URL"] = settings.redis_url  # job processes read their settings from the environment
        if settings.platform_entry is not None:
            settings.platform_entry.preload()  # once here, not in each job's forked process
        connection = connect(settings.redis_url)
        rq_worker = GatewayWorker(names, connection=connection, name=name)
        rq_worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)


@main.command()
def cron() -> None:
    """Run RQ's cron scheduler with the gateway's periodic jobs (one per deployment is enough)."""
    settings = settings_or_exit()
    _logging(settings)
    _terminate_on_sigterm()
    with _redis(settings) as settings:
        from rq.cron import CronScheduler

        from gateway import jobs
        from gateway.redis_client import connect

        assert settings.redis_url is not None
        scheduler = CronScheduler(connection=connect(settings.redis_url))
        table = jobs.cron_table(settings)
        for entry in table:
            scheduler.register(**entry)
        click.echo(f"cron: {len(table)} periodic job(s) registered", err=True)
        scheduler.start()  # type: ignore[no-untyped-call]


@main.command()
def doctor() -> None:
    """Print the effective configuration (secrets masked) and check every connection."""
    from gateway.doctor import run_checks

    settings = settings_or_exit()
    click.echo(json.dumps(settings.describe(), indent=2, default=str))
    failures = 0
    with _redis(settings) as settings:
        for name, ok, detail in run_checks(settings):
            failures += 1 if ok is False else 0
            click.echo(f"{'info' if ok is None else 'ok  ' if ok else 'FAIL'} {name}: {detail}")
    raise SystemExit(1 if failures else 0)


@main.command("hash-secret")
def hash_secret() -> None:
    """Print the `secret_scrypt` for an OAuth client's secret, read from standard input (never from the command
    line, where it would land in the shell's history and the process list).

    \b
    openssl rand -base64 32 | tee org-secret.txt | gateway hash-secret
    """
    from gateway.client_secrets import hash_secret as scrypt_hash

    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass("client secret (not shown): ")
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        click.echo("gateway hash-secret: no secret on standard input", err=True)
        raise SystemExit(2)
    if len(secret) < 16:
        click.echo("gateway hash-secret: warning: a secret shorter than 16 characters is easy to guess", err=True)
    click.echo(scrypt_hash(secret))


class _LazyGroup(click.Group):
    """Subcommands imported only when invoked, so production verbs never load the emulators."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return None
        module, _, attr = self.lazy[cmd_name].rpartition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@main.group(
    cls=_LazyGroup,
    lazy={
        "salesforce": "gateway.emulators.salesforce.cli:command",
        **{name: entry.emulator for name, entry in REGISTRY.items() if entry.emulator},
    },
)
def emulate() -> None:
    """Run a local emulator of Salesforce or a messaging platform (for development, demos and tests)."""


@main.group()
def stack() -> None:
    """The local stack `gateway demo` runs, seen from another shell."""


@stack.command("env")
@click.option(
    "--file",
    "stack_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The stack file.  [default: $GATEWAY_VAR_DIR/stack.json, else var/stack.json]",
)
def stack_env(stack_file: Path | None) -> None:
    """Print the stack's environment as shell-quoted `export` lines, so that every `gateway` verb run in this shell
    afterwards uses the stack:

    \b
    eval "$(gateway stack env)"
    """
    from gateway.stack import export_lines

    click.echo(export_lines(_running_stack_env(stack_file or _stack_file())), nl=False)


@main.command()
@click.option("--stack-only", is_flag=True, help="Start the stack and keep it running, without the scenario.")
@click.option("--exit-when-done", is_flag=True, help="Stop everything once the scenario has run (for scripts).")
@click.option("--contacts", default=1000, show_default=True, help="Contacts seeded into the Salesforce emulator.")
@click.option("--workers", default=1, show_default=True, help="Sync workers to start.")
@click.option(
    "--platform",
    type=click.Choice(sorted(name for name, entry in REGISTRY.items() if entry.demo)),
    default="mobilecommons",
    show_default=True,
    help="The messaging platform to emulate.",
)
def demo(stack_only: bool, exit_when_done: bool, contacts: int, workers: int, platform: str) -> None:
    """Run the whole product locally on embedded defaults (no accounts) and play a scenario you can watch."""
    from gateway.demo import run_demo

    var = _stack_file().parent
    raise SystemExit(
        run_demo(
            var,
            platform=platform,
            contacts=contacts,
            stack_only=stack_only,
            exit_when_done=exit_when_done,
            workers=workers,
        )
    )


main.add_command(sync)  # the `sync` verbs live in `gateway.cli_sync`
