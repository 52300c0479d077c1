"""The SOQL subset: parsing errors, and evaluation against a real in-memory store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.emulators.salesforce.queries import QueryRunner
from gateway.emulators.salesforce.schema import build_schema
from gateway.emulators.salesforce.soql import SoqlError, compile_query, date_range, parse, parse_datetime
from gateway.emulators.salesforce.store import Store

TODAY = dt.date(2026, 11, 25)  # a Wednesday


@pytest.fixture
def org() -> Iterator[tuple[Store, QueryRunner]]:
    store = Store(build_schema(None))
    user = store.users.admin_id
    with store.tx() as conn:
        account, _ = store.insert(conn, store.schema["account"], {"Name": "Acme"}, user)
    rows = [
        {
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "Email": "ada@example.org",
            "AccountId": account,
            "HasOptedOutOfEmail": True,
            "Birthdate": "1815-12-10",
            "CreatedDate": "2026-11-25T08:00:00.000+0000",
        },
        {
            "FirstName": "Grace",
            "LastName": "Hopper",
            "Email": None,
            "Birthdate": "1906-12-09",
            "CreatedDate": "2026-11-24T23:59:59.999+0000",
        },
        {
            "FirstName": None,
            "LastName": "Turing",
            "Email": "alan@example.org",
            "Birthdate": None,
            "CreatedDate": "2026-10-01T12:00:00.000+0000",
        },
        {
            "FirstName": "100%",
            "LastName": "Under_score",
            "Email": "u@example.org",
            "CreatedDate": "2025-06-01T00:00:00.000+0000",
        },
    ]
    store.seed(store.schema["contact"], rows, user)
    yield store, QueryRunner(store)


def names(runner: QueryRunner, where: str) -> list[str]:
    compiled = compile_query(
        runner.store.schema,
        f"SELECT LastName FROM Contact WHERE {where} ORDER BY LastName",
        today=TODAY,
    )
    rows = runner.fetch(compiled, None, 0, 100)
    return [r[-1] for r in rows]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("LastName = 'lovelace'", ["Lovelace"]),  # case-insensitive
        ("FirstName != 'Ada'", ["Hopper", "Turing", "Under_score"]),  # != matches nulls
        ("FirstName = null", ["Turing"]),
        ("Email != null AND HasOptedOutOfEmail = false", ["Turing", "Under_score"]),
        ("NOT (LastName LIKE 'T%')", ["Hopper", "Lovelace", "Under_score"]),
        ("LastName LIKE '%o%'", ["Hopper", "Lovelace", "Under_score"]),
        ("LastName LIKE 'Under\\_%'", ["Under_score"]),
        ("FirstName LIKE '100\\%'", ["Under_score"]),
        ("LastName IN ('Hopper', 'TURING')", ["Hopper", "Turing"]),
        ("FirstName NOT IN ('Ada', 'Grace')", ["Turing", "Under_score"]),
        ("FirstName IN ('Ada', null)", ["Lovelace", "Turing"]),
        ("(LastName = 'Hopper' OR LastName = 'Turing') AND Email = null", ["Hopper"]),
        ("Birthdate < 1900-01-01", ["Lovelace"]),
        ("Birthdate >= 1900-01-01", ["Hopper"]),
        ("CreatedDate = TODAY", ["Lovelace"]),
        ("CreatedDate = YESTERDAY", ["Hopper"]),
        ("CreatedDate = LAST_N_DAYS:1", ["Hopper", "Lovelace"]),
        ("CreatedDate < LAST_N_DAYS:30", ["Turing", "Under_score"]),
        ("CreatedDate = THIS_MONTH", ["Hopper", "Lovelace"]),
        ("CreatedDate = LAST_MONTH", ["Turing"]),
        ("CreatedDate = THIS_YEAR", ["Hopper", "Lovelace", "Turing"]),
        ("CreatedDate > TODAY", []),
        ("CreatedDate >= 2026-11-24T23:59:59.999Z", ["Hopper", "Lovelace"]),
        ("CreatedDate > 2026-11-25T07:59:59+00:00", ["Lovelace"]),
        ("CreatedDate < 2026-11-25T09:00:00+0100", ["Hopper", "Turing", "Under_score"]),
        ("Account.Name = 'Acme'", ["Lovelace"]),
        ("Account.Name = null", ["Hopper", "Turing", "Under_score"]),
    ],
)
def test_where_clauses(org: tuple[Store, QueryRunner], where: str, expected: list[str]) -> None:
    _, runner = org
    assert names(runner, where) == expected


def test_order_limit_offset_count_and_relationships(org: tuple[Store, QueryRunner]) -> None:
    _, runner = org
    page = runner.first_page(
        "SELECT FirstName, Account.Name FROM Contact ORDER BY FirstName DESC NULLS LAST LIMIT 3 OFFSET 1", False, "62.0"
    )
    assert page["totalSize"] == 3
    assert [r["FirstName"] for r in page["records"]] == ["Ada", "100%", None]
    assert page["records"][0]["Account"]["Name"] == "Acme" and page["records"][1]["Account"] is None
    assert runner.first_page("SELECT COUNT() FROM Contact WHERE Email != null", False, "62.0") == {
        "totalSize": 3,
        "done": True,
        "records": [],
    }
    aggregate = runner.first_page("SELECT COUNT(Id) FROM Contact", False, "62.0")
    assert aggregate["records"][0]["expr0"] == 4
    semi = runner.first_page(
        "SELECT LastName FROM Contact WHERE AccountId IN (SELECT Id FROM Account WHERE Name LIKE 'ac%')", False, "62.0"
    )
    assert [r["LastName"] for r in semi["records"]] == ["Lovelace"]


def test_fields_macro_and_deleted_rows(org: tuple[Store, QueryRunner]) -> None:
    store, runner = org
    record = runner.first_page("SELECT FIELDS(STANDARD) FROM Contact LIMIT 1", False, "62.0")["records"][0]
    assert {"Id", "Email", "MailingCity", "SystemModstamp"} <= set(record)
    victim = record["Id"]
    with store.tx() as conn:
        store.delete(conn, store.schema["contact"], victim, store.users.admin_id)
    assert runner.first_page("SELECT COUNT() FROM Contact", False, "62.0")["totalSize"] == 3
    assert runner.first_page("SELECT COUNT() FROM Contact", True, "62.0")["totalSize"] == 4


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT FROM Contact", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Contact WHERE LastName = 'a' AND FirstName = 'b' OR Email = 'c'", "MALFORMED_QUERY", "OR"),
        ("SELECT Id FROM Contact LIMIT x", "MALFORMED_QUERY", "unexpected token: 'x'"),
        ("SELECT Id FROM Contact WHERE LastName = 'unterminated", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Id, Id FROM Contact", "MALFORMED_QUERY", "duplicate field"),
        ("SELECT Bogus FROM Contact", "INVALID_FIELD", "No such column 'Bogus' on entity 'Contact'"),
        ("SELECT Account.Bogus FROM Contact", "INVALID_FIELD", "No such column 'Bogus' on entity 'Account'"),
        ("SELECT Nope.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Nope'"),
        ("SELECT Id FROM Bogus", "INVALID_TYPE", "sObject type 'Bogus' is not supported"),
        ("SELECT Id FROM Contact WHERE HasOptedOutOfEmail = 'true'", "INVALID_QUERY_FILTER_OPERATOR", "boolean"),
        ("SELECT Id FROM Contact WHERE AccountId = '001bad'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field"),
        ("SELECT Id FROM Contact WHERE CreatedDate > 'yesterday'", "INVALID_QUERY_FILTER_OPERATOR", "dateTime"),
        ("SELECT FIELDS(ALL) FROM Contact", "MALFORMED_QUERY", "LIMIT"),
    ],
)
def test_errors(org: tuple[Store, QueryRunner], soql: str, code: str, fragment: str) -> None:
    store, _ = org
    with pytest.raises(SoqlError) as info:
        compile_query(store.schema, soql)
    assert info.value.code == code
    assert fragment in info.value.message


def test_error_messages_point_at_the_column() -> None:
    with pytest.raises(SoqlError) as info:
        parse("SELECT Id FROM Contact WHERE")
    assert info.value.message.endswith("ERROR at Row:1:Column:29\nunexpected token: 'EOF'")


def literal_range(name: str, n: int | None = None) -> tuple[str, str]:
    start, end = date_range(name, n, TODAY)
    return start.isoformat(), end.isoformat()


@pytest.mark.parametrize(
    ("literal", "n", "expected"),
    [
        ("TODAY", None, ("2026-11-25", "2026-11-26")),
        ("THIS_WEEK", None, ("2026-11-22", "2026-11-29")),  # weeks start on Sunday
        ("LAST_WEEK", None, ("2026-11-15", "2026-11-22")),
        ("LAST_N_DAYS", 7, ("2026-11-18", "2026-11-26")),
        ("NEXT_N_DAYS", 2, ("2026-11-26", "2026-11-28")),
        ("N_DAYS_AGO", 3, ("2026-11-22", "2026-11-23")),
        ("LAST_N_MONTHS", 2, ("2026-09-01", "2026-11-01")),
        ("THIS_QUARTER", None, ("2026-10-01", "2027-01-01")),
        ("NEXT_YEAR", None, ("2027-01-01", "2028-01-01")),
    ],
)
def test_date_literal_ranges(literal: str, n: int | None, expected: tuple[str, str]) -> None:
    assert literal_range(literal, n) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T08:00:00Z",
        "2026-11-25T08:00:00.000Z",
        "2026-11-25T08:00:00+00:00",
        "2026-11-25T08:00:00.000+0000",
        "2026-11-25T09:00:00+01:00",
    ],
)
def test_datetime_forms_clients_send(text: str) -> None:
    assert parse_datetime(text) == dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)


def test_keyset_pages_match_offset_pages(org: tuple[Store, QueryRunner]) -> None:
    store, runner = org
    store.seed(store.schema["contact"], [{"LastName": f"P{i:04d}"} for i in range(4500)], store.users.admin_id)
    for soql in (
        "SELECT Id FROM Contact",
        "SELECT Id FROM Contact ORDER BY SystemModstamp DESC, Id DESC",
        "SELECT Id FROM Contact ORDER BY LastName",
    ):
        page: dict[str, Any] = runner.first_page(soql, False, "62.0")
        seen = [r["Id"] for r in page["records"]]
        while not page["done"]:
            page = runner.next_page(page["nextRecordsUrl"].rsplit("/", 1)[1], "62.0", False)
            seen += [r["Id"] for r in page["records"]]
        compiled = compile_query(store.schema, soql)
        id_column = len(compiled.keyset or [])  # rows start with the keyset columns, then the Id
        expected = [r[id_column] for r in runner.fetch(compiled, None, 0, 10_000)]
        assert seen == expected and len(seen) == 4504
    with pytest.raises(SoqlError) as info:
        runner.next_page("01gNOPE-2000", "62.0", False)
    assert info.value.code == "INVALID_QUERY_LOCATOR"
