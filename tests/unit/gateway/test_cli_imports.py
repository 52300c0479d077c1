"""Every `gateway` command starts by importing the CLI and the settings, and queues work by the job functions' names
(`gateway.queues`); what only the web, the jobs, the Salesforce client or a platform's adapter needs is imported
where it is used, so a command that needs none of them (`gateway sync status`, `gateway config`, `--help`) starts in
about a quarter of a second instead of half a second or more. A worker imports its platform's adapter once, before
it forks a process per job."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("flask", "werkzeug", "simple_salesforce", "authlib", "zeep", "requests", "urllib3")


def _loaded_after(code: str) -> list[str]:
    shown = "import json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", f"{code}\n{shown}"], capture_output=True, text=True, check=True)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_cli_and_its_settings_load_without_the_web_the_salesforce_client_or_any_adapter() -> None:
    loaded = _loaded_after("import gateway.cli, gateway.cli_sync, gateway.config, gateway.queues, gateway.sync.context")
    assert [m for m in loaded if m.split(".")[0] in HEAVY] == []
    assert "gateway.jobs" not in loaded  # the job functions and the whole sync layer: queued by name
    assert [m for m in loaded if m.startswith("gateway.platforms.") and m.endswith(".adapter")] == []
    assert "gateway.salesforce.client" not in loaded


def test_a_platforms_adapter_is_loaded_by_preload_and_by_building_it() -> None:
    loaded = _loaded_after("from gateway.platforms import REGISTRY\nREGISTRY['mobilecommons'].preload()")
    assert "gateway.platforms.mobilecommons.adapter" in loaded
    assert "gateway.platforms.twilio.adapter" not in loaded  # only the chosen platform's


def test_every_registered_platform_names_modules_and_classes_that_exist() -> None:
    """The registry names each adapter by path (`base.Imported`): a typo would show only when a worker starts."""
    from gateway import platforms
    from gateway.platforms import REGISTRY

    for name, entry in REGISTRY.items():
        entry.preload()
        package = getattr(platforms, name)
        adapter = next(getattr(package, n) for n in package.__all__ if n.endswith("Adapter"))
        assert adapter.capabilities is entry.capabilities, name
        assert callable(entry.adapter) and (entry.pace is None or callable(entry.pace)), name
