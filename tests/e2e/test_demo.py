"""The README's first command, as a newcomer runs it: `gateway demo --exit-when-done` plays the whole scenario
over real processes and leaves nothing running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, processes_mentioning


def _demo(var: Path, *args: str) -> str:
    """`gateway demo --exit-when-done …` as a newcomer runs it, with none of this machine's gateway variables."""
    prefixes = ("REDIS_URL", "SALESFORCE_", "MOBILECOMMONS_", "TWILIO_", "ACTIONNETWORK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--exit-when-done", *args],
        env={**env, "GATEWAY_VAR_DIR": str(var)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _people_steps(title: str) -> list[str]:
    """The scenario of a platform that keeps people, as the demo prints it."""
    return [
        f"✓ all 5 are on {title}",
        f"✓ Salesforce holds their {title} ids",
        f"✓ Ada is subscribed on {title}",
        "✓ Salesforce shows Ada unsubscribed (found by the poll)",
        "✓ the gateway refuses to re-subscribe her",
        "✓ a readable Sync_Result__c explains it",
        "invalid-messaging-status",
        f"{title} still has her as: unsubscribed",
    ]


def test_the_demo_plays_every_step_and_stops_every_process(tmp_path: Path) -> None:
    var = tmp_path / "var"
    out = _demo(var, "--contacts", "200")
    for step in _people_steps("Mobile Commons"):
        assert step in out, out
    assert "Failure / invalid-phone" in out
    # the STOP took the real path, and the demo says which and what it costs in production
    assert "Mobile Commons pushes no STOP: the gateway finds it by polling, every 10 s in this demo" in out
    assert "a real STOP reaches Salesforce at the next poll: up to 60 s with the default interval" in out

    stack = json.loads((var / "stack.json").read_text())
    assert stack["gateway"]["url"].startswith("http://127.0.0.1:")
    assert set(stack["gateway"]["clients"]) == {"salesforce-org", "admin"}
    assert stack["salesforce"]["url"].startswith("https://")
    assert Path(stack["salesforce"]["ca_bundle"]).is_file()
    assert {"web", "worker", "scheduler"} <= set(stack["pids"])
    for name in ("REDIS_URL", "SALESFORCE_LOGIN_URL", "MESSAGING_PLATFORM", "MOBILECOMMONS_PASSWORD"):
        assert name in stack["env"]
    for pid in stack["pids"].values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert processes_mentioning(str(var)) == [], "a process of the demo outlived it"


def test_the_demo_plays_every_step_on_action_network(tmp_path: Path) -> None:
    """The same scenario on the second platform: Action Network pushes no opt-out, so the STOP step is found by the
    poll (2 s in the demo), and the demo says how long a real one takes."""
    var = tmp_path / "var"
    out = _demo(var, "--platform", "actionnetwork", "--contacts", "9")
    for step in _people_steps("Action Network"):
        assert step in out, out
    assert "Action Network pushes no STOP: the gateway finds it by polling, every 2 s in this demo" in out
    assert "a real STOP reaches Salesforce at the next poll: up to 60 s with the default interval" in out
    stack = json.loads((var / "stack.json").read_text())
    assert list(stack["platforms"]) == ["actionnetwork"]
    assert stack["env"]["MESSAGING_PLATFORM"] == "actionnetwork" and "ACTIONNETWORK_API_TOKEN" in stack["env"]
    assert processes_mentioning(str(var)) == [], "a process of the demo outlived it"


def test_the_twilio_demo_plays_the_scenario_of_a_platform_that_keeps_no_people(tmp_path: Path) -> None:
    var = tmp_path / "var"
    out = _demo(var, "--platform", "twilio", "--contacts", "50")
    for step in (
        "the ledger records her as subscribed",
        "the gateway finds her text by her phone",
        "Salesforce shows Ada unsubscribed",
        "the gateway refuses to re-subscribe her",
        "her own START re-subscribes her",
    ):
        assert f"✓ {step}" in out, out
    assert "invalid-messaging-status" in out
    assert "Twilio still blocks texts to her: True" in out
    conversation = out[out.index("6. The conversation") : out.index("Hop times")]
    for text in ("← Is the rally still on tonight?", "← STOP", "← START", "→ [emulator] Opt-out confirmed"):
        assert text in conversation, conversation
    hops = out[out.index("Hop times") :].splitlines()[1:6]
    assert all(line.strip().split(" ms ")[0].isdigit() for line in hops), hops

    stack = json.loads((var / "stack.json").read_text())
    assert set(stack["platforms"]) == {"twilio"} and stack["platforms"]["twilio"]["url"].startswith("http://")
    assert stack["env"]["MESSAGING_PLATFORM"] == "twilio"
    assert stack["env"]["TWILIO_WEBHOOK_BASE_URL"] == stack["gateway"]["url"]
    assert processes_mentioning(str(var)) == [], "a process of the demo outlived it"


def _running(pid: int) -> bool:
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False


def test_a_killed_demo_takes_its_whole_stack_with_it(tmp_path: Path) -> None:
    """Ctrl-C twice, or even SIGKILL, must not leave emulators, web, workers or Redis running."""
    import signal
    import time

    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "SALESFORCE_", "MOBILECOMMONS_"))}
    demo = subprocess.Popen(
        [sys.executable, "-m", "gateway", "demo", "--stack-only", "--contacts", "10"],
        env={**env, "GATEWAY_VAR_DIR": str(var)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not (var / "stack.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        pids = json.loads((var / "stack.json").read_text())["pids"]
        assert processes_mentioning(str(var)), "the stack is not running"
        demo.send_signal(signal.SIGKILL)
        demo.wait(10)

        def alive() -> list[str]:
            running = [f"pid {p}" for p in set(pids.values()) if _running(p)]
            return running + [f"pid {p} (mentions var)" for p in processes_mentioning(str(var))]

        deadline = time.monotonic() + 40
        while alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert alive() == [], "a process outlived the killed demo"
    finally:
        if demo.poll() is None:
            demo.kill()
