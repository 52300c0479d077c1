"""`SalesforceClient.find_by_phone` against the emulator over HTTPS: every typed form of a number, on Contact and
Lead, in every phone field, whether the search index already holds the record or it changed moments ago."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.emulators.salesforce.soql import format_datetime
from gateway.salesforce import ApiBudgetExhausted, PhoneLookup, SalesforceRequestError
from tests.integration.salesforce_emulator.conftest import Emulator
from tests.phone_table import US_NUMBER, US_OTHERS, US_TYPED

from .conftest import api_calls, fast_client, settings_for

OLD = "2020-01-01T00:00:00.000+0000"  # changed long ago: in the search index
LOOKUPS = [
    PhoneLookup("Contact", ("MobilePhone", "HomePhone", "OtherPhone"), ("LastName",)),
    PhoneLookup("Lead", ("MobilePhone", "Phone"), ("LastName",)),
]
FIELDS = [("Contact", "MobilePhone"), ("Contact", "HomePhone"), ("Contact", "OtherPhone"), ("Lead", "MobilePhone")]
FIELDS += [("Lead", "Phone")]


@dataclass(frozen=True)
class Case:
    region: str
    number: str
    typed: tuple[str, ...]
    others: tuple[str, ...]  # different numbers sharing digits with `number`


CASES = {
    "US": Case("US", US_NUMBER, US_TYPED, US_OTHERS),
    "GB number, US org": Case(
        "US",
        "+442079460018",
        ("+44 20 7946 0018", "+442079460018", "+44 (0)20 7946 0018"),
        # in a US org, national and 00-prefixed forms read as (invalid) US numbers: not this line
        ("+44 20 7946 0019", "+1 207 946 0018", "020 7946 0018", "0044 20 7946 0018"),
    ),
    "GB org": Case(
        "GB",
        "+442079460018",
        ("020 7946 0018", "02079460018", "+44 20 7946 0018", "(020) 7946 0018", "0044 20 7946 0018"),
        ("020 7946 0019", "+1 207 946 0018"),
    ),
    "FR org": Case(
        "FR",
        "+33612345678",
        ("06 12 34 56 78", "06.12.34.56.78", "0612345678", "+33 6 12 34 56 78", "+33612345678"),
        ("06 12 34 56 79", "+1 612 345 678"),
    ),
}


def _seed(emulator: Emulator, case: Case, *, indexed: bool, changed: str | None = None) -> tuple[set[str], set[str]]:
    """One record per (typed form, object, phone field); returns the names of the holders and of the others."""
    changed = changed or (OLD if indexed else None)
    stamp = {"SystemModstamp": changed, "LastModifiedDate": changed} if changed else {}
    holders: set[str] = set()
    others: set[str] = set()
    for kind, values, names in (("hit", case.typed, holders), ("other", case.others, others)):
        for n, typed in enumerate(values):
            for sobject, field in FIELDS:
                name = f"{kind}{n}-{sobject}.{field}"
                record: dict[str, Any] = {"LastName": name, field: typed, **stamp}
                if sobject == "Lead":
                    record["Company"] = "Acme"
                emulator.seed(sobject, records=[record])
                names.add(name)
    return holders, others


@pytest.mark.parametrize("indexed", [True, False], ids=["in the search index", "changed moments ago"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_typed_form_is_found_and_no_other_number(emulator: Emulator, case: Case, indexed: bool) -> None:
    holders, _others = _seed(emulator, case, indexed=indexed)
    before = api_calls(emulator)
    with fast_client(settings_for(emulator)) as client:
        found = client.find_by_phone(LOOKUPS, [case.number], default_region=case.region)
    assert {r["LastName"] for r in found} == holders
    assert {r["attributes"]["type"] for r in found} == {"Contact", "Lead"}
    assert len({r["Id"] for r in found}) == len(found)  # each record once, though both reads may find it
    calls = {k: v - before[k] for k, v in api_calls(emulator).items()}
    assert (calls["search"], calls["composite"], calls["data"]) == (1, 1, 2)  # the two SOQL queries in one call


def test_records_changed_moments_ago_are_found_only_through_the_recent_changes(emulator: Emulator) -> None:
    """The emulator's index trails writes as Salesforce's does; the SOQL over recent changes is what finds them."""
    two_minutes_ago = format_datetime(datetime.now(UTC) - timedelta(minutes=2))
    holders, _ = _seed(emulator, CASES["US"], indexed=False, changed=two_minutes_ago)
    with fast_client(settings_for(emulator)) as client:
        assert client.find_by_phone(LOOKUPS, ["+13073997990"], fresh_within=60) == []  # not yet indexed
        recent = client.find_by_phone(LOOKUPS, ["+13073997990"], fresh_within=180)
        emulator.control("POST", "search-index", json={"delay_seconds": 0})
        indexed = client.find_by_phone(LOOKUPS, ["+13073997990"], fresh_within=60)
    assert {r["LastName"] for r in recent} == {r["LastName"] for r in indexed} == holders


def test_a_batch_of_150_numbers_costs_two_searches_and_one_composite_query(emulator: Emulator) -> None:
    """The package's mapping (MobilePhone on Contact and Lead): about 75 US numbers a search, about 170 a
    recent-changes query, and the queries of all objects in one Composite call."""
    forms = ("({a}) {b}-{c}", "+1{a}{b}{c}", "{a}.{b}.{c}", "1-{a}-{b}-{c}", "+1 {a} {b} {c}")
    numbers = [f"+1307{n:03d}{n:04d}" for n in range(200, 350)]
    records = []
    for n, number in enumerate(numbers):
        typed = forms[n % len(forms)].format(a=number[2:5], b=number[5:8], c=number[8:])
        stamp = {"SystemModstamp": OLD, "LastModifiedDate": OLD} if n % 2 else {}  # half indexed, half fresh
        records.append({"LastName": number, "MobilePhone": typed, **stamp})
    emulator.seed("Contact", records=records)
    mapped = [PhoneLookup("Contact", ("MobilePhone",), ("LastName",)), PhoneLookup("Lead", ("MobilePhone",))]
    before = api_calls(emulator)
    with fast_client(settings_for(emulator)) as client:
        found = client.find_by_phone(mapped, numbers)
    assert sorted(r["LastName"] for r in found) == numbers
    calls = {k: v - before[k] for k, v in api_calls(emulator).items()}
    assert (calls["search"], calls["composite"], calls["data"]) == (2, 1, 3)


def test_a_full_share_of_results_splits_the_batch_so_no_record_is_cut_off(emulator: Emulator) -> None:
    crowded = [{"LastName": f"crowd{n}", "MobilePhone": "(307) 399-7990", "SystemModstamp": OLD} for n in range(1000)]
    emulator.seed("Contact", records=[*crowded, {"LastName": "alone", "MobilePhone": "307-555-0142"}])
    emulator.control("POST", "search-index", json={"delay_seconds": 0})
    before = api_calls(emulator)
    with fast_client(settings_for(emulator)) as client:
        found = client.find_by_phone(LOOKUPS, ["+13073997990", "+13075550142"], fresh_within=0)
    assert "alone" in {r["LastName"] for r in found}
    assert len(found) == 1001
    assert api_calls(emulator)["search"] - before["search"] == 3  # the full answer, then each number alone


def test_searches_are_metered_and_retried_like_every_call(emulator: Emulator) -> None:
    emulator.seed("Contact", records=[{"LastName": "A", "MobilePhone": "(307) 399-7990", "SystemModstamp": OLD}])
    emulator.control("POST", "faults", json={"status": 503, "count": 1, "path": "/search"})
    with fast_client(settings_for(emulator)) as client:
        assert [r["LastName"] for r in client.find_by_phone(LOOKUPS[:1], ["+13073997990"])] == ["A"]
        assert client.usage()["calls_today_by_class"]["search"] == 2
    assert api_calls(emulator)["search"] == 2
    with fast_client(settings_for(emulator, daily_budget=0)) as spent, pytest.raises(ApiBudgetExhausted):
        spent.find_by_phone(LOOKUPS, ["+13073997990"])


def test_bad_input_is_refused_with_what_was_wrong(emulator: Emulator) -> None:
    with fast_client(settings_for(emulator)) as client:
        with pytest.raises(ValueError, match="'12345'"):
            client.find_by_phone(LOOKUPS, ["+13073997990", "12345"])
        with pytest.raises(ValueError, match="Contact: name at least one phone field"):
            PhoneLookup("Contact", ())
        with pytest.raises(SalesforceRequestError) as refused:
            client.search("FIND {307-399} IN PHONE FIELDS RETURNING Contact")
        assert refused.value.codes == ("MALFORMED_SEARCH",)
        with pytest.raises(SalesforceRequestError) as unknown:
            client.find_by_phone([PhoneLookup("Contact", ("Mobile__c",))], ["+13073997990"])
        assert unknown.value.codes == ("INVALID_FIELD",)
        assert client.find_by_phone(LOOKUPS, []) == []
