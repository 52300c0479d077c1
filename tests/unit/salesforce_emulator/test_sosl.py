"""The emulator's SOSL: the documented search syntax, tokens, limits, index lag and error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.emulators.salesforce.queries import QueryRunner
from gateway.emulators.salesforce.schema import build_schema
from gateway.emulators.salesforce.soql import SoqlError
from gateway.emulators.salesforce.sosl import SearchRunner, index_tokens, parse_search
from gateway.emulators.salesforce.store import Store

OLD = "2020-01-01T00:00:00.000+0000"


@pytest.fixture
def search() -> Iterator[Any]:
    store = Store(build_schema(None))
    contacts = [
        {"LastName": "Parens", "MobilePhone": "(307) 399-7990"},
        {"LastName": "Plus", "HomePhone": "+1 307 399 7990"},
        {"LastName": "Other", "MobilePhone": "(307) 399-7991", "Email": "ada@example.org"},
        {"LastName": "Ada", "FirstName": "Ada", "OtherPhone": "020 7946 0018"},
        {"LastName": "Fresh", "MobilePhone": "(307) 399-7990", "SystemModstamp": None},
    ]
    for row in contacts:
        if row.pop("SystemModstamp", OLD) == OLD:  # changed long ago, so indexed; "Fresh" was changed just now
            row.update(SystemModstamp=OLD, LastModifiedDate=OLD)
    store.seed(store.schema["contact"], contacts, store.users.admin_id)
    lead = {"LastName": "Lead", "Company": "Acme", "Phone": "307.399.7990", "SystemModstamp": OLD}
    store.seed(store.schema["lead"], [{**lead, "LastModifiedDate": OLD}], store.users.admin_id)
    runner = SearchRunner(QueryRunner(store))

    def run(sosl: str, delay: float = 900.0, version: str = "62.0") -> Any:
        return runner.run(sosl, version, delay)

    yield run


def names(answer: Any) -> list[str]:
    return [r.get("LastName") for r in answer["searchRecords"]]


def test_tokens_split_at_spaces_punctuation_and_letter_digit_changes() -> None:
    assert index_tokens("(307) 399-7990 ext.12") == ["307", "399", "7990", "ext", "12"]
    assert index_tokens("Blue1 +44") == ["blue", "1", "44"]


def test_a_phrase_finds_every_punctuation_of_the_same_groups(search: Any) -> None:
    answer = search('FIND {"307 399 7990"} IN PHONE FIELDS RETURNING Contact(LastName), Lead(LastName)')
    assert names(answer) == ["Parens", "Plus", "Lead"]  # not 7991, not the record changed moments ago


def test_records_are_searchable_only_once_the_index_caught_up(search: Any) -> None:
    assert "Fresh" not in names(search('FIND {"307 399 7990"} RETURNING Contact(LastName)'))
    assert "Fresh" in names(search('FIND {"307 399 7990"} RETURNING Contact(LastName)', delay=0))


def test_words_are_anded_unless_or_is_said(search: Any) -> None:
    assert names(search("FIND {307 7991} RETURNING Contact(LastName)")) == ["Other"]
    assert names(search("FIND {7991 OR 0018} RETURNING Contact(LastName)")) == ["Other", "Ada"]
    assert names(search("FIND {307 AND NOT 7991} IN PHONE FIELDS RETURNING Contact(LastName)")) == ["Parens", "Plus"]


def test_wildcards_take_the_type_of_the_character_before_them(search: Any) -> None:
    assert names(search("FIND {799*} IN PHONE FIELDS RETURNING Contact(LastName)")) == ["Parens", "Plus", "Other"]
    assert names(search("FIND {799?} IN PHONE FIELDS RETURNING Contact(LastName)")) == ["Parens", "Plus", "Other"]
    with pytest.raises(SoqlError, match="wildcard cannot start"):
        search("FIND {*990} RETURNING Contact")


def test_search_groups_limit_the_fields(search: Any) -> None:
    assert names(search("FIND {ada} IN EMAIL FIELDS RETURNING Contact(LastName)")) == ["Other"]
    assert names(search("FIND {ada} IN NAME FIELDS RETURNING Contact(LastName)")) == ["Ada"]
    assert names(search("FIND {ada} IN ALL FIELDS RETURNING Contact(LastName)")) == ["Other", "Ada"]


def test_returning_takes_where_order_and_limits_in_object_order(search: Any) -> None:
    sosl = "FIND {\"307 399 7990\"} IN PHONE FIELDS RETURNING Contact(LastName WHERE LastName != 'Plus'), Lead"
    answer = search(sosl)
    assert [r["attributes"]["type"] for r in answer["searchRecords"]] == ["Contact", "Lead"]
    assert set(answer["searchRecords"][1]) == {"attributes", "Id"}
    limited = search('FIND {"307 399 7990"} RETURNING Contact(LastName ORDER BY LastName DESC LIMIT 1), Lead LIMIT 2')
    assert names(limited) == ["Plus", None]
    assert names(search('FIND {"307 399 7990"} RETURNING Contact(LastName LIMIT 0), Lead(LastName)')) == ["Lead"]
    even = search('FIND {"307 399 7990"} RETURNING Contact(LastName), Lead(LastName) LIMIT 2')
    assert names(even) == ["Parens", "Lead"]  # a statement limit alone is shared evenly


def test_old_api_versions_answer_a_bare_list(search: Any) -> None:
    assert isinstance(search("FIND {7991} RETURNING Contact", version="35.0"), list)


@pytest.mark.parametrize(
    ("sosl", "message"),
    [
        ("FIND {John|jane} RETURNING Contact", "line 1:10 mismatched character '|' expecting '}'"),
        ("FIND {+1 307} RETURNING Contact", "line 1:6 mismatched character '+' expecting '}'"),
        ("FIND {307-399} RETURNING Contact", "line 1:9 mismatched character '-' expecting '}'"),
        ("FIND 307 RETURNING Contact", "No search term found. The search term must be enclosed in braces."),
        ("FIND {7} RETURNING Contact", "search term must be longer than one character"),
        ("FIND {7990} IN PHONES FIELDS", "Malformed search token: PHONES"),
        ("FIND {7990", "expecting '}'"),
    ],
)
def test_malformed_searches_are_refused_like_the_org(search: Any, sosl: str, message: str) -> None:
    with pytest.raises(SoqlError) as caught:
        search(sosl)
    assert caught.value.code == "MALFORMED_SEARCH"
    assert message in caught.value.message


def test_escaped_reserved_characters_are_searched_for(search: Any) -> None:
    assert names(search("FIND {307\\-399\\-7991} RETURNING Contact(LastName)")) == ["Other"]
    assert names(search('FIND {"\\+1 307 399 7990"} RETURNING Contact(LastName)')) == ["Plus"]


def test_unknown_objects_and_fields_are_refused(search: Any) -> None:
    with pytest.raises(SoqlError) as caught:
        search("FIND {7990} RETURNING Nope__c")
    assert caught.value.code == "INVALID_TYPE"
    with pytest.raises(SoqlError) as caught:
        search("FIND {7990} RETURNING Contact(Nope__c)")
    assert caught.value.code == "INVALID_FIELD"


def test_without_returning_every_object_with_such_fields_is_searched() -> None:
    schema = build_schema(None)
    parsed = parse_search(schema, "FIND {7990} IN PHONE FIELDS")
    assert {"Contact", "Lead", "Account"} <= {t.sobject.name for t in parsed.targets}
