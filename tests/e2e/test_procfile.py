"""The repository's `Procfile`, started by honcho as a deployment would: web, two workers and cron against one
Redis and the Salesforce emulator sync a webhook batch, and a SIGTERM stops every process."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from pathlib import Path

import redis
import requests
from rq import Worker

from gateway.platforms.recording import RecordingAdapter
from tests.conftest import CLIENTS, free_port
from tests.integration.gateway.conftest import sf, sf_server, sync_env  # noqa: F401 - the gateway suites' fixtures
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.support import ROOT, descendants, post_events, seeded_events, token, wait_for


def test_the_procfile_runs_the_gateway_under_honcho_and_stops_on_sigterm(
    sync_env: dict[str, str],  # noqa: F811 - the imported fixtures
    sf: Emulator,  # noqa: F811
    redis_url: str,
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        **sync_env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # `gateway`, as installed
    }
    log = (tmp_path / "honcho.log").open("wb")
    honcho_start = [str(Path(sys.executable).with_name("honcho")), "-f", str(ROOT / "Procfile"), "start"]
    honcho = subprocess.Popen(
        [*honcho_start, "-p", str(port), "-c", "web=1,worker=2,cron=1"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    conn = redis.Redis.from_url(redis_url)
    url = f"http://127.0.0.1:{port}"  # honcho gives the first process type (web) the base port as $PORT
    try:

        def ready() -> bool:
            try:
                return requests.get(f"{url}/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=60, interval=0.5, what="the web process to be ready")
        wait_for(lambda: len(Worker.all(connection=conn)) == 2, timeout=30, what="two workers")
        events = seeded_events(sf, range(30))
        bearer = token(url, "salesforce-org", CLIENTS["salesforce-org"][0])
        for part in range(3):
            post_events(url, bearer, events[part * 10 : part * 10 + 10], sf.org_id)
        recorder = RecordingAdapter(conn)
        wait_for(lambda: len(recorder.recorded()) >= 30, timeout=60, interval=0.5, what="30 people on the platform")
        assert set(collections.Counter(c.crm_id for c in recorder.recorded()).values()) == {1}
        wait_for(lambda: b"periodic job(s) registered" in (tmp_path / "honcho.log").read_bytes(), what="cron")
        processes = [honcho.pid, *descendants(honcho.pid)]
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)  # what a supervisor or Ctrl-C sends
        try:
            honcho.wait(60)
        finally:
            if honcho.poll() is None:
                os.killpg(honcho.pid, signal.SIGKILL)
            log.close()
    output = (tmp_path / "honcho.log").read_text(errors="replace")
    for name in ("web.1", "worker.1", "worker.2", "cron.1"):
        assert f"{name} " in output, f"honcho did not start {name}:\n{output[-3000:]}"
    left = [pid for pid in processes if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]
    assert not left, f"processes left running after SIGTERM: {left}\n{output[-3000:]}"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
