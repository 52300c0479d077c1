"""The control API: token check, seeding, stats, faults, records, and sharing one org through a file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from simple_salesforce import SalesforceGeneralError, SalesforceMalformedRequest

from gateway.domain.phones import InvalidPhoneNumber, normalize_phone
from gateway.emulators.salesforce import EmulatorServer

from .conftest import PACKAGE_DIR, Emulator, https_session


def test_control_calls_need_the_token_and_are_not_metered(salesforce_emulator: Emulator) -> None:
    response = salesforce_emulator.http.get(f"{salesforce_emulator.url}/__emulator__/stats", timeout=10)
    assert response.status_code == 401
    wrong = salesforce_emulator.http.post(
        f"{salesforce_emulator.url}/__emulator__/reset", headers={"X-Emulator-Token": "nope"}, timeout=10
    )
    assert wrong.status_code == 401
    salesforce_emulator.control("GET", "stats")
    assert salesforce_emulator.stats()["api_calls"]["total"] == 0


def test_seed_generates_realistic_contacts_fast(salesforce_emulator: Emulator) -> None:
    started = time.monotonic()
    ids = salesforce_emulator.seed("Contact", count=100_000, seed=7)
    elapsed = time.monotonic() - started
    assert len(ids) == 100_000 and len(set(ids)) == 100_000
    assert elapsed < 20, f"seeding 100,000 contacts took {elapsed:.1f}s"
    sample = [salesforce_emulator.record("Contact", i) for i in ids[:50]]
    assert all(r["LastName"] and r["FirstName"] and "@" in r["Email"] for r in sample)
    assert salesforce_emulator.stats()["records"]["Contact"] == 100_000


def test_seeded_phones_are_mostly_valid_us_mobiles_typed_in_many_forms(salesforce_emulator: Emulator) -> None:
    salesforce_emulator.seed("Contact", count=4000, seed=11)
    rows = salesforce_emulator.sf().query_all("SELECT MobilePhone FROM Contact")["records"]
    phones = [r["MobilePhone"] for r in rows]
    numbers: list[str | None] = []
    for typed in phones:
        try:
            numbers.append(normalize_phone(typed, "US"))
        except InvalidPhoneNumber:
            numbers.append(None)
    invalid = numbers.count(None) / len(phones)
    foreign = sum(1 for n in numbers if n and not n.startswith("+1")) / len(phones)
    assert 0.01 < invalid < 0.05, f"{invalid:.1%} invalid"  # a few percent, not 44 %
    assert 0.03 < foreign < 0.12, f"{foreign:.1%} outside the US"
    shapes = {re.sub(r"\d", "9", p) for p, n in zip(phones, numbers, strict=True) if n and n.startswith("+1")}
    for typed_form in ("+99999999999", "(999) 999-9999", "999-999-9999", "999.999.9999", "+9 999 999 9999"):
        assert typed_form in shapes


def test_seed_explicit_records_and_errors(salesforce_emulator: Emulator) -> None:
    ids = salesforce_emulator.seed("Lead", records=[{"LastName": "L", "Company": "C", "MobilePhone": "555"}])
    assert salesforce_emulator.record("Lead", ids[0])["Status"] == "Open - Not Contacted"
    bad = salesforce_emulator.control("POST", "seed", json={"object": "Lead", "records": [{"LastName": "x"}]})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    unknown = salesforce_emulator.control("POST", "seed", json={"object": "Nope__c", "count": 1})
    assert unknown.status_code == 400


def test_stats_count_calls_by_class(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    salesforce_emulator.seed("Contact", count=2001, seed=2)
    page = sf.query("SELECT Id FROM Contact")
    sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    sf.Contact.create({"LastName": "A"})
    sf.restful(
        "composite/sobjects", method="POST", json={"records": [{"attributes": {"type": "Contact"}, "LastName": "B"}]}
    )
    sf.Contact.describe()
    sf.limits()
    sf.search("FIND {Ada} IN NAME FIELDS RETURNING Contact(Id)")
    stats = salesforce_emulator.stats()
    assert stats["api_calls"]["by_class"] == {
        "token": 1,
        "query": 1,
        "query_more": 1,
        "search": 1,
        "sobject": 1,
        "collections": 1,
        "composite": 0,
        "bulk_query": 0,
        "bulk_ingest": 0,
        "describe": 1,
        "limits": 1,
        "other": 0,
    }
    assert stats["api_calls"]["total"] == 8
    assert stats["api_usage"]["used"] == 7  # the token call is not an API request


def test_fault_for_the_next_n_calls(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    added = salesforce_emulator.control("POST", "faults", json={"error_code": "UNABLE_TO_LOCK_ROW", "count": 2})
    assert added.status_code == 201
    for _ in range(2):
        with pytest.raises(SalesforceMalformedRequest) as info:
            sf.Contact.create({"LastName": "A"})
        assert info.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
        assert info.value.content[0]["message"].startswith("unable to obtain exclusive access to this record")
    assert sf.Contact.create({"LastName": "A"})["success"]
    salesforce_emulator.control("POST", "faults", json={"status": 503, "count": 1})
    with pytest.raises(SalesforceGeneralError) as unavailable:
        sf.query("SELECT Id FROM Contact")
    assert unavailable.value.status == 503
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 1
    assert salesforce_emulator.stats()["faults"]["fired"] == 3


def test_fault_ratio_latency_and_clear(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    salesforce_emulator.control("POST", "faults", json={"status": 500, "ratio": 0.5, "seed": 42})
    outcomes = []
    for _ in range(40):
        try:
            sf.limits()
            outcomes.append(True)
        except SalesforceGeneralError:
            outcomes.append(False)
    assert 8 <= outcomes.count(False) <= 32
    salesforce_emulator.control("DELETE", "faults")
    salesforce_emulator.control("POST", "faults", json={"latency_ms": 200, "count": 1})
    started = time.monotonic()
    sf.limits()
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    sf.limits()
    assert time.monotonic() - started < 0.2


def test_spent_daily_limit_fault(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    salesforce_emulator.control("POST", "faults", json={"daily_limit_spent": True})
    response = salesforce_emulator.http.get(
        f"{salesforce_emulator.data_url}/limits", headers=salesforce_emulator.auth(), timeout=10
    )
    assert response.status_code == 403 and response.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    salesforce_emulator.control("DELETE", "faults")
    assert sf.limits()["DailyApiRequests"]["Remaining"] > 0


def test_token_fault_scope(salesforce_emulator: Emulator) -> None:
    salesforce_emulator.control("POST", "faults", json={"status": 503, "count": 1, "scope": "token"})
    client = salesforce_emulator.clients["admin"]
    url = f"{salesforce_emulator.url}/services/oauth2/token"
    first = salesforce_emulator.http.post(
        url, data={"grant_type": "client_credentials"}, auth=(client["client_id"], client["client_secret"]), timeout=10
    )
    assert first.status_code == 503
    assert salesforce_emulator.token("admin")


def test_changes_as_a_user_and_direct_reads(salesforce_emulator: Emulator) -> None:
    created = salesforce_emulator.control("POST", "records/Contact?as=admin", json={"LastName": "Made"})
    assert created.status_code == 201
    record_id = created.json()["id"]
    record = salesforce_emulator.record("Contact", record_id)
    assert record["LastModifiedById"] == salesforce_emulator.clients["admin"]["user_id"]
    assert (
        salesforce_emulator.control(
            "PATCH", f"records/Contact/{record_id}?as=integration", json={"FirstName": "By"}
        ).status_code
        == 204
    )
    assert (
        salesforce_emulator.record("Contact", record_id)["LastModifiedById"]
        == salesforce_emulator.clients["integration"]["user_id"]
    )
    assert salesforce_emulator.control("DELETE", f"records/Contact/{record_id}").status_code == 204
    assert salesforce_emulator.record("Contact", record_id)["IsDeleted"] is True
    undeleted = salesforce_emulator.control("POST", f"records/Contact/{record_id}/undelete")
    assert undeleted.status_code == 200
    assert salesforce_emulator.record("Contact", record_id)["IsDeleted"] is False
    assert salesforce_emulator.control("GET", "records/Contact/003RO0000000ZZZ").status_code == 404


def test_two_emulators_on_one_file_see_one_org(tmp_path: Path) -> None:
    db = str(tmp_path / "org.sqlite")
    first = EmulatorServer(package_dir=PACKAGE_DIR, var_dir=tmp_path, db=db).start()
    second = EmulatorServer(package_dir=PACKAGE_DIR, var_dir=tmp_path, db=db).start()
    try:
        assert first.clients == second.clients and first.control_token == second.control_token
        http = https_session(first.ca_bundle)
        client = first.clients["integration"]
        token = http.post(
            f"{first.url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = http.post(
            f"{first.url}/services/data/v62.0/sobjects/Contact",
            json={"LastName": "Shared"},
            headers=headers,
            timeout=10,
        ).json()
        seen = http.get(
            f"{second.url}/services/data/v62.0/sobjects/Contact/{created['id']}", headers=headers, timeout=10
        )
        assert seen.status_code == 200 and seen.json()["LastName"] == "Shared"
        assert seen.headers["Sforce-Limit-Info"] == "api-usage=2/100000"
    finally:
        first.stop()
        second.stop()


def test_cli_prints_one_ready_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.emulators.salesforce.cli",
            "--port",
            "0",
            "--var-dir",
            str(tmp_path),
            "--package-dir",
            str(PACKAGE_DIR),
            "--daily-limit",
            "500",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        ready = json.loads(line)
        assert set(ready) >= {"url", "control_token", "ca_bundle", "clients"}
        assert set(ready["clients"]) == {"integration", "admin"}
        for client in ready["clients"].values():
            assert set(client) >= {"client_id", "client_secret", "username", "refresh_token"}
        assert Path(ready["clients"]["integration"]["private_key_file"]).exists()
        http = https_session(ready["ca_bundle"])
        client = ready["clients"]["admin"]
        token = http.post(
            f"{ready['url']}/services/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": client["refresh_token"],
                "client_id": client["client_id"],
            },
            timeout=10,
        ).json()["access_token"]
        limits = http.get(
            f"{ready['url']}/services/data/v62.0/limits/", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert limits.json()["DailyApiRequests"]["Max"] == 500
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
