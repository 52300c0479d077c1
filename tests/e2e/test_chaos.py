"""A short `scripts/chaos` run with a fixed seed: every kind of fault but the Salesforce daily-limit pause (its 5
minutes belong to the long run, README), people changing on both sides. Nobody is doubled and nobody is re-texted
after a STOP (the product's worst bug), and the run reports the lost and invisible counts. Those two are not yet at
zero (issue 12 stays open for them: README's chaos row), so this test asserts what holds today and not what does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import ROOT, processes_mentioning


@pytest.mark.timeout(600)
def test_a_short_chaos_run_doubles_and_re_texts_nobody_and_reports_what_it_lost() -> None:
    prefixes = ("REDIS_URL", "GATEWAY_", "SALESFORCE_", "MOBILECOMMONS_", "TWILIO_", "MESSAGING_PLATFORM")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    args = ["--minutes", "0.75", "--seed", "7", "--people", "20", "--rate", "1.2", "--faults-per-minute", "16"]
    args += ["--stop-min", "32", "--stop-max", "36", "--settle", "120", "--without", "sf_limit"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chaos.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=560,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "chaos"
    kinds = set(figures["faults"])
    assert {"worker_kill", "worker_stop", "horse_kill", "redis_restart"} <= kinds, out  # the hard ones, each once
    assert {"webhook_dup", "webhook_late"} <= kinds, out
    assert sum(figures["changes"].values()) >= 30, out
    assert (figures["duplicated"], figures["re_texted"]) == (0, 0), out
    assert isinstance(figures["lost"], int) and isinstance(figures["invisible"], int), out  # the other two of four
    var = result.stdout.splitlines()[0].rsplit("logs in ", 1)[1]
    assert processes_mentioning(var) == [], "a process of the chaos run outlived it"
