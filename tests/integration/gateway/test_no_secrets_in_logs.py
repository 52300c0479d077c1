"""A full flow at `GATEWAY_LOG_LEVEL=DEBUG` (gunicorn with its access log, a worker, doctor), then every log grepped
for every secret, token and phone the flow used; and the files holding personal data are the owner's only."""

from __future__ import annotations

import re
import secrets
import stat
from pathlib import Path

import requests

from gateway.emulators.mobilecommons.server import MobileCommonsEmulator
from tests.conftest import CLIENTS, free_port
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.integration.sync.conftest import mobilecommons_env
from tests.support import Process, batch, salesforce_event, token, wait_for

PHONES = ("+14155550123", "+14155550199")


def test_nothing_secret_reaches_any_log_at_debug_and_private_files_are_private(
    sync_env: dict[str, str], sf: Emulator, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    webhook_secret = "whk-" + secrets.token_urlsafe(24)
    logs = {name: tmp_path / f"{name}.log" for name in ("serve", "worker", "doctor")}
    with MobileCommonsEmulator() as mc:
        env = {
            **sync_env,
            "REDIS_URL": "",  # the embedded Redis under var/, as a first run has it
            "GATEWAY_VAR_DIR": str(var),
            "GATEWAY_LOG_LEVEL": "DEBUG",
            **mobilecommons_env(mc, webhook_secret),
        }
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        web = Process(["serve", "--port", str(port), "--workers", "1"], env, log=logs["serve"])
        try:
            wait_for(lambda: _ready(url), timeout=60, what="the gateway to be ready")
            mc.app.configure_mdata("JOIN", f"{url}/webhooks/platforms/mobilecommons/{webhook_secret}")
            org = token(url, "salesforce-org", CLIENTS["salesforce-org"][0])
            admin = token(url, "admin-console", CLIENTS["admin-console"][0])
            event = salesforce_event(1)
            event["record"]["MobilePhone"] = PHONES[0]
            accepted = requests.post(
                f"{url}/webhooks/salesforce",
                json=batch([event], sf.org_id),
                headers={"Authorization": f"Bearer {org}"},
                timeout=10,
            )
            assert accepted.status_code == 202, accepted.text
            texted = mc.control().post(f"{mc.url}/__emulator__/inbound", json={"phone": PHONES[1], "body": "JOIN"})
            assert texted.json()["mdata"]["delivered"], texted.text
            history = requests.get(
                f"{url}/api/v1/contacts/messages",
                params={"phone": PHONES[0]},
                headers={"Authorization": f"Bearer {org}"},
                timeout=30,
            )
            assert history.status_code in (200, 404), history.text
            assert requests.get(f"{url}/", headers={"Authorization": f"Bearer {admin}"}, timeout=30).status_code == 200
            worker = Process(["worker", "--burst"], env, log=logs["worker"])
            assert worker.popen.wait(120) == 0, worker.output()[-3000:]
            doctor = Process(["doctor"], env, log=logs["doctor"])
            doctor.popen.wait(60)
        finally:
            assert web.stop() == 0

        text = {name: path.read_text(errors="replace") for name, path in logs.items()}
        assert "POST /webhooks/platforms/mobilecommons/******** HTTP/1.1" in text["serve"]  # the access log ran
        assert "Issue token" in text["serve"]  # authlib's DEBUG line ran, with its token masked
        salesforce_sessions = _salesforce_sessions(sf)
        assert salesforce_sessions, "the gateway logged in to Salesforce"
        never = {
            "org client secret": CLIENTS["salesforce-org"][0],
            "admin client secret": CLIENTS["admin-console"][0],
            "issued org token": org,
            "issued admin token": admin,
            "webhook secret": webhook_secret,
            "Mobile Commons password": mc.password,
            "Salesforce client secret": sf.clients["integration"]["client_secret"],
            **{f"Salesforce session {n}": s for n, s in enumerate(salesforce_sessions)},
            **{f"phone {p}": p[2:] for p in PHONES},  # in any format: +1415…, 1415…, 415…
        }
        for name, log in text.items():
            for what, value in never.items():
                assert value not in log, f"{what} in the {name} log"
            assert not re.search(r"eyJ[\w-]{10,}\.[\w-]{10,}", log), f"a JWT in the {name} log"

    redis_dir = var / "redis"
    assert stat.S_IMODE(redis_dir.stat().st_mode) == 0o700
    files = [p for p in redis_dir.rglob("*") if p.is_file()]
    assert any("aof" in p.name for p in files), files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _salesforce_sessions(sf: Emulator) -> list[str]:
    store = sf.server.org.store  # type: ignore[union-attr]
    with store.read() as conn:
        return [str(row[0]) for row in conn.execute("SELECT token FROM emu_tokens")]
