"""Phones as people type them, through the real sync in both directions, for Contacts and Leads: a Salesforce record
whose phone was typed `+1 307 399 7990` (or any other usual way) is the person a Mobile Commons profile holding
13073997990 is, whichever side changes, and neither side gets a duplicate.

Salesforce records are loaded two days old (found through the search index) and just now (not yet indexed: found
through the recent-changes query), so both reads of `SalesforceClient.find_by_phone` are exercised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.sync.conftest import Stack, eventually
from tests.phone_table import FORMS, typed_as

OBJECTS = {"Contact": {}, "Lead": {"Company": "Acme"}}
TWO_DAYS_AGO = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _table(sobject: str, first_line: int) -> list[dict[str, Any]]:
    """Two rows per typed form (to be loaded two days old, "indexed", and now, "fresh"): the record's values and
    the number in E.164."""
    rows = []
    for i, form in enumerate(FORMS):
        for j, age in enumerate(("indexed", "fresh")):
            national = f"307399{first_line + 2 * i + j:04d}"
            values = {**OBJECTS[sobject], "LastName": f"Typed{i}{age}", "MobilePhone": typed_as(form, national)}
            rows.append({"values": values, "phone": f"+1{national}", "age": age})
    return rows


def _count(stack: Stack, sobject: str) -> int:
    return int(stack.sf.sf("admin").query(f"SELECT COUNT() FROM {sobject}")["totalSize"])


def _seed_profiles(stack: Stack, rows: list[dict[str, Any]]) -> dict[str, str]:
    specs = [{"phone": row["phone"], "first_name": "Typed", "last_name": row["values"]["LastName"]} for row in rows]
    seeded = stack.mc.control().post(f"{stack.mc.url}/__emulator__/seed", json={"profiles": specs})
    assert seeded.status_code == 201, seeded.text
    return {p["phone"]: p["id"] for p in seeded.json()["profiles"]}


@pytest.mark.parametrize("sobject", OBJECTS)
def test_a_platform_change_finds_the_salesforce_record_whatever_its_phone_format(stack: Stack, sobject: str) -> None:
    rows = _table(sobject, 7000 if sobject == "Contact" else 7100)
    old = {"CreatedDate": TWO_DAYS_AGO, "LastModifiedDate": TWO_DAYS_AGO, "SystemModstamp": TWO_DAYS_AGO}
    loaded = [{**row["values"], **(old if row["age"] == "indexed" else {})} for row in rows]
    ids = stack.sf.seed(sobject, records=loaded)  # a data load: nothing is relayed
    before = {name: _count(stack, name) for name in OBJECTS}
    profiles = _seed_profiles(stack, rows)

    stack.poll()

    def linked() -> dict[str, str] | None:
        found = {i: stack.sf_record(sobject, i).get("Messaging_Contact_Id__c") for i in ids}
        return found if all(found.values()) else None

    links = eventually(linked, f"every {sobject} linked to its profile", timeout=60)
    for record_id, row in zip(ids, rows, strict=True):
        assert links[record_id] == profiles[row["phone"]], (row["values"]["MobilePhone"], row["age"])
    assert {name: _count(stack, name) for name in OBJECTS} == before  # nobody was created again


@pytest.mark.parametrize("sobject", OBJECTS)
def test_a_salesforce_change_finds_the_platform_profile_whatever_its_phone_format(stack: Stack, sobject: str) -> None:
    rows = _table(sobject, 7200 if sobject == "Contact" else 7300)
    profiles = _seed_profiles(stack, rows)
    profile_count = len(stack.mc.control().get(f"{stack.mc.url}/__emulator__/contacts").json()["contacts"])

    ids = [stack.sf_create(sobject, row["values"]) for row in rows]

    for record_id, row in zip(ids, rows, strict=True):
        link = eventually(
            lambda record_id=record_id: stack.sf_record(sobject, record_id).get("Messaging_Contact_Id__c"),
            f"{row['values']['MobilePhone']!r} linked",
        )
        assert link == profiles[row["phone"]], row["values"]["MobilePhone"]
    assert len(stack.mc.control().get(f"{stack.mc.url}/__emulator__/contacts").json()["contacts"]) == profile_count
