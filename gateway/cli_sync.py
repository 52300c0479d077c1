"""`gateway sync …`: start and watch whole-database syncs (initial, incremental), read their reports, stop/resume them.

The work itself runs in `gateway worker` processes (the `bulk` queue); these verbs queue it and show its progress.
A verb that queues work names the Redis it uses and, when no worker listens on that queue after
`NO_WORKER_GRACE` seconds, says so and how to start one (instead of a progress bar that never moves).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from gateway.config import ConfigError, Settings, load_settings, mask_url

DIRECTIONS = {"platform": ("to-platform",), "salesforce": ("to-salesforce",), "both": ("to-platform", "to-salesforce")}
NO_WORKER_GRACE = 5.0


def settings_or_exit(*roles: str) -> Settings:
    """The configuration, or exit 2 with one line per bad variable (every `gateway` verb starts here)."""
    try:
        return load_settings(roles=roles)
    except ConfigError as exc:
        click.echo("gateway: invalid configuration:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(2) from None


@contextmanager
def _connected(*, queues_work: bool = False) -> Iterator[tuple[Settings, Any]]:
    """The settings, read once, and a Redis connection (the embedded server when `REDIS_URL` is unset); a verb that
    `queues_work` says which Redis that is."""
    from dataclasses import replace

    from gateway.redis_client import connect
    from gateway.redis_server import resolve_redis_url

    settings = settings_or_exit()
    url, embedded = resolve_redis_url(settings.redis_url, settings.var_dir)
    if queues_work:
        started = embedded is not None and embedded.owned
        note = " (an embedded Redis this command started: REDIS_URL is not set)" if started else ""
        click.echo(f"Redis: {mask_url(url)}{note}", err=True)
    connection = connect(url)
    try:
        yield replace(settings, redis_url=url), connection
    finally:
        connection.close()
        if embedded is not None:
            embedded.stop()


def _sync_object(settings: Settings, connection: Any, requested: str) -> str:
    """The object as the package's active `Messaging_Sync_Object__mdt` records name it (read through the sync
    configuration, cached for every process); a clear error for any other."""
    from gateway.salesforce.errors import SalesforceError
    from gateway.sync.context import SyncContext

    context = SyncContext.build(settings, connection)
    try:
        active = [obj.object_name for obj in context.sync_config().active_objects]
    except (SalesforceError, RuntimeError) as exc:
        raise click.ClickException(f"could not read the package's Messaging_Sync_Object__mdt records: {exc}") from None
    finally:
        context.close()
    for name in active:
        if name.casefold() == requested.casefold():
            return name
    listed = ", ".join(active) or "none"
    raise click.BadParameter(
        f"{requested!r} is not an active Messaging_Sync_Object__mdt record (active: {listed})", param_hint="--object"
    )


def _check_platform_lists_people(settings: Settings, directions: tuple[str, ...]) -> None:
    """A platform → Salesforce run needs a platform that can list its people."""
    entry = settings.platform_entry
    if "to-salesforce" in directions and entry is not None and not entry.capabilities.change_feed:
        raise click.BadParameter(
            f"{entry.title} cannot list its people, so only `--to platform` runs on it", param_hint="--to"
        )


def _interactive() -> bool:
    """Whether someone at a terminal can answer a question."""
    return sys.stdin.isatty()


def _estimate_and_confirm(
    settings: Settings,
    connection: Any,
    directions: tuple[str, ...],
    object_name: str,
    since: datetime | None,
    *,
    ask: bool,
) -> None:
    """Print how long the runs will take (one COUNT() per Salesforce → platform run); with `ask`, at a terminal,
    start only if the operator says yes (exit 1 otherwise: nothing was queued). Without `ask` the runs are already
    queued (their workers start while this counts): a failed count is a warning, not the command's failure."""
    from gateway.salesforce.errors import SalesforceError
    from gateway.sync.bulk import estimate
    from gateway.sync.context import SyncContext

    context = SyncContext.build(settings, connection)
    try:
        found = estimate.estimate(context, directions, object_name, since)
    except (SalesforceError, RuntimeError) as exc:
        if ask:
            raise click.ClickException(f"could not count the records to sync: {exc}") from None
        click.echo(f"Estimate unavailable (could not count the records to sync: {exc})", err=True)
        return
    except Exception as exc:
        if ask:
            raise
        # the run is queued: the command still says so and exits 0, so that nobody queues it a second time
        click.echo(f"Estimate unavailable ({type(exc).__name__} while counting the records to sync)", err=True)
        return
    finally:
        context.close()
    click.echo("Estimate (at the platform's declared limit; real-time syncs share it, so expect longer):", err=True)
    for line in found:
        click.echo(f"  {line.text}", err=True)
    if not ask:
        return
    if not _interactive():
        click.echo("  (no terminal to ask on: starting; pass --yes to say so)", err=True)
        return
    if not click.confirm("Start the run?", default=True, err=True):
        click.echo("nothing queued", err=True)
        raise SystemExit(1)


def _parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD) or ISO date-time", param_hint="--since"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bar(run: dict[str, Any], width: int = 30) -> str:
    total, done = int(run["total"]), int(run["processed"])
    share = done / total if total else (1.0 if run["status"] == "done" else 0.0)
    filled = int(share * width)
    eta = f" ETA {run['eta_seconds']:.0f}s" if run.get("eta_seconds") is not None else ""
    failed = int(run["counts"].get("failed", 0))
    status = run["status"] + (f" ({run['pause_reason']})" if run.get("pause_reason") else "")
    return (
        f"{run['direction']:<13} {run['object']:<8} [{'#' * filled}{'-' * (width - filled)}] {done}/{total} "
        f"{share:5.0%} {run['rate']:.0f}/s{eta} failed {failed} {status}"
    )


class _WorkerCheck:
    """Says once, when `NO_WORKER_GRACE` s have passed with nothing done, that no worker listens on the queue
    (looking again every `NO_WORKER_GRACE` s while nothing is done)."""

    def __init__(self, connection: Any, queue: str, redis_url: str | None) -> None:
        self.connection, self.queue, self.where = connection, queue, mask_url(redis_url or "")
        self.next_look = time.monotonic() + NO_WORKER_GRACE
        self.said = False

    def __call__(self, idle: bool, *, now: bool = False) -> None:
        from gateway import queues

        if self.said or not idle or (not now and time.monotonic() < self.next_look):
            return
        self.next_look = time.monotonic() + NO_WORKER_GRACE
        if queues.listening_workers(self.connection, self.queue):
            return
        self.said = True
        click.echo(
            ("\n" if sys.stderr.isatty() else "")
            + f"gateway: no worker is listening on the `{self.queue}` queue of {self.where}, so nothing moves: the "
            "work stays queued there until one does. Start a worker on this Redis in another shell (`gateway "
            "worker`, same configuration); or, if you meant the local stack (`gateway demo`), press Ctrl-C and run "
            'this command again after `eval "$(.venv/bin/gateway stack env)"`.',
            err=True,
        )


def _watch(settings: Settings, connection: Any, run_ids: list[str], interval: float = 0.5) -> list[dict[str, Any]]:
    from gateway import queues
    from gateway.sync.bulk import runs as bulk_runs

    tty = sys.stderr.isatty()
    last_print = 0.0
    no_worker = _WorkerCheck(connection, queues.BULK, settings.redis_url)
    while True:
        runs = [bulk_runs.progress(connection, r) for r in run_ids]
        no_worker(idle=not any(int(r["processed"]) for r in runs) and all(r["status"] != "done" for r in runs))
        halted = any(r["status"] == "stopped" for r in runs)  # a stopped run never starts the one chained after it
        finished = all(r["status"] in ("done", "stopped") or (halted and r["status"] == "waiting") for r in runs)
        if tty:
            click.echo("\r" + " | ".join(_bar(r) for r in runs), nl=False, err=True)
        elif finished or time.monotonic() - last_print > 5:
            last_print = time.monotonic()
            for r in runs:
                click.echo(_bar(r), err=True)
        if finished:
            if tty:
                click.echo("", err=True)
            return runs
        time.sleep(interval)


@click.group()
def sync() -> None:
    """Whole-database syncs: initial, nightly incremental, reports (work runs on the `bulk` queue)."""


@sync.command()
@click.option(
    "--to", "to", type=click.Choice(sorted(DIRECTIONS)), required=True, help="Which side to bring up to date."
)
@click.option(
    "--object",
    "object_name",
    default="Contact",
    show_default=True,
    help="An object with an active Messaging_Sync_Object__mdt record in the org.",
)
@click.option("--since", default=None, help="Only records changed since this date (YYYY-MM-DD or ISO date-time).")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--detach", is_flag=True, help="Queue the run and exit (watch it with `gateway sync status`).")
@click.option("--yes", "-y", "yes", is_flag=True, help="Start without asking (the estimate is still printed).")
def initial(to: str, object_name: str, since: str | None, dry_run: bool, detach: bool, yes: bool) -> None:
    """Sync every record between two databases that have never met (resumable; several workers share it).

    First it says how long the run will take at the platform's declared request limit, and asks before starting
    (at a terminal; `--yes` or `--detach` start at once, and say it once the run is queued)."""
    from gateway import queues
    from gateway.sync import reports

    moment = _parse_since(since)
    with _connected(queues_work=True) as (settings, connection):
        _check_platform_lists_people(settings, DIRECTIONS[to])
        chosen = _sync_object(settings, connection, object_name)
        ask = not (yes or detach)
        if ask:  # the operator decides on the estimate
            _estimate_and_confirm(settings, connection, DIRECTIONS[to], chosen, moment, ask=True)
        run_ids = queues.start_bulk_runs(
            connection,
            directions=DIRECTIONS[to],
            object_name=chosen,
            kind="initial",
            since=moment,
            dry_run=dry_run,
        )
        for run_id in run_ids:
            click.echo(f"queued run {run_id}", err=True)
        if not ask:  # queued first: the count (a Salesforce call) does not hold the workers back
            _estimate_and_confirm(settings, connection, DIRECTIONS[to], chosen, moment, ask=False)
        if detach:
            _WorkerCheck(connection, queues.BULK, settings.redis_url)(idle=True, now=True)
            click.echo(json.dumps({"runs": run_ids}))
            return
        runs = _watch(settings, connection, run_ids)
        for run in runs:
            click.echo(reports.format_report(run))
        click.echo(json.dumps({"runs": run_ids}))
        raise SystemExit(1 if any(r["counts"].get("failed") for r in runs) else 0)


@sync.command()
@click.option("--detach", is_flag=True, help="Queue the runs and exit.")
def incremental(detach: bool) -> None:
    """Run the incremental pull now (records changed since the high-water mark minus the overlap window)."""
    from gateway import queues
    from gateway.sync import reports
    from gateway.sync.bulk import runs as bulk_runs

    with _connected(queues_work=True) as (settings, connection):
        run_ids = bulk_runs.start_incremental(connection, queues.bulk_jobs(connection), settings)
        if detach:
            _WorkerCheck(connection, queues.BULK, settings.redis_url)(idle=True, now=True)
            click.echo(json.dumps({"runs": run_ids}))
            return
        for run in _watch(settings, connection, run_ids):
            click.echo(reports.format_report(run))
        click.echo(json.dumps({"runs": run_ids}))


@sync.command()
@click.argument("run_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report(run_id: str | None, as_json: bool) -> None:
    """Print the synchronization report of a run (default: the latest)."""
    from gateway.sync import reports
    from gateway.sync.bulk import runs as bulk_runs

    with _connected() as (_settings, connection):
        if run_id is None:
            recent = bulk_runs.recent_runs(connection, 1)
            if not recent:
                raise click.ClickException("no bulk run yet")
            run = recent[0]
        else:
            try:
                run = bulk_runs.progress(connection, run_id)
            except KeyError as exc:
                raise click.ClickException(str(exc.args[0])) from None
        if as_json:
            click.echo(json.dumps(run, indent=2))
        else:
            click.echo(reports.format_report(run))


@sync.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--limit", default=10, show_default=True, type=int)
def status(as_json: bool, limit: int) -> None:
    """Recent bulk runs with their progress, and the Salesforce API usage against the budget."""
    from gateway.salesforce.usage import UsageMeter
    from gateway.sync.bulk import runs as bulk_runs

    with _connected() as (settings, connection):
        runs = bulk_runs.recent_runs(connection, limit)
        share = settings.salesforce.budget_share if settings.salesforce else 0.8
        daily = settings.salesforce.daily_budget if settings.salesforce else None
        usage = UsageMeter(budget_share=share, daily_budget=daily, redis=connection).snapshot()
        if as_json:
            click.echo(json.dumps({"runs": runs, "api_usage": usage}, indent=2))
            return
        for run in runs:
            click.echo(f"{run['run_id']}  {_bar(run)}")
        click.echo(
            f"Salesforce API: {usage['calls_today']} calls today by the gateway"
            + (f" (daily budget {usage['daily_budget']})" if usage["daily_budget"] else "")
            + (f"; org {usage['org_used']}/{usage['org_max']}, stop at {usage['stop_at']}" if usage["org_max"] else "")
        )


@sync.command()
@click.argument("run_id")
def stop(run_id: str) -> None:
    """Stop a run; `gateway sync resume RUN_ID` goes on from its checkpoints."""
    from gateway.sync.bulk import runs as bulk_runs

    with _connected() as (_settings, connection):
        try:
            bulk_runs.stop_run(connection, run_id)
        except KeyError as exc:
            raise click.ClickException(str(exc.args[0])) from None
    click.echo(f"stopped {run_id}")


@sync.command()
@click.argument("run_id")
@click.option("--detach", is_flag=True)
def resume(run_id: str, detach: bool) -> None:
    """Go on with a stopped or failed run: chunks not done are queued again; done records are not re-sent."""
    from gateway import queues
    from gateway.sync import reports
    from gateway.sync.bulk import runs as bulk_runs

    with _connected(queues_work=True) as (settings, connection):
        try:
            bulk_runs.resume_run(connection, queues.bulk_jobs(connection), run_id)
        except KeyError as exc:
            raise click.ClickException(str(exc.args[0])) from None
        if detach:
            _WorkerCheck(connection, queues.BULK, settings.redis_url)(idle=True, now=True)
        else:
            (run,) = _watch(settings, connection, [run_id])
            click.echo(reports.format_report(run))


@sync.command()
@click.option("--timeout", default=600, show_default=True, type=int, help="Seconds to wait for the roll-up.")
def donations(timeout: int) -> None:
    """Roll closed-won Opportunities up to the platform's donation field now (it also runs on its schedule)."""
    from rq import Queue

    from gateway import queues

    with _connected(queues_work=True) as (settings, connection):
        job = Queue(queues.BULK, connection=connection).enqueue_call(
            "gateway.jobs.donations_rollup", kwargs={"force": True}, timeout=queues.BULK_JOB_TIMEOUT
        )
        no_worker = _WorkerCheck(connection, queues.BULK, settings.redis_url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = job.get_status(refresh=True)
            no_worker(idle=status == "queued")
            if status == "finished":
                click.echo(json.dumps(job.return_value()))
                return
            if status in ("failed", "stopped", "canceled"):
                raise click.ClickException(f"the donation roll-up {status}; see `rq info` / the failed-job registry")
            time.sleep(0.3)
        raise click.ClickException(f"the donation roll-up did not finish in {timeout} s (it goes on in the worker)")
