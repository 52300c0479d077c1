"""The SOSL and SOQL text of the phone search: escaping, terms that find every typed form, batches within limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote_plus

import pytest

from gateway.emulators.salesforce.sosl import index_tokens
from gateway.salesforce import soql, sosl
from tests.phone_table import US_NUMBER, US_OTHERS, US_TYPED


def test_every_reserved_character_is_escaped_and_nothing_else() -> None:
    assert sosl.escape_term("a?b&c|d!e{f}g[h]i(j)k^l~m*n:o\\p\"q'r+s-t") == (
        "a\\?b\\&c\\|d\\!e\\{f\\}g\\[h\\]i\\(j\\)k\\^l\\~m\\*n\\:o\\\\p\\\"q\\'r\\+s\\-t"
    )
    assert sosl.escape_term("Ada Lovelace 307.399") == "Ada Lovelace 307.399"
    assert sosl.phrase('say "hi"') == '"say \\"hi\\""'


def test_terms_of_a_us_number() -> None:
    assert sosl.phone_terms("+13073997990") == ['"307 399 7990"', "3073997990*", "13073997990*"]


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+442079460018", ['"020 7946 0018"', '"20 7946 0018"', "2079460018*", "02079460018*", "442079460018*"]),
        ("+33612345678", ['"06 12 34 56 78"', '"6 12 34 56 78"', "612345678*", "0612345678*", "33612345678*"]),
        ("+390612345678", ['"06 1234 5678"', "0612345678*", "390612345678*"]),  # Italy keeps its leading 0
    ],
)
def test_terms_of_numbers_elsewhere_cover_national_and_international_forms(e164: str, expected: list[str]) -> None:
    assert sosl.phone_terms(e164) == expected


ELSEWHERE_TYPED = {
    "+442079460018": ["+44 20 7946 0018", "020 7946 0018", "+442079460018", "02079460018", "+44 (0)20 7946 0018"],
    "+33612345678": ["06 12 34 56 78", "+33 6 12 34 56 78", "0612345678", "+33612345678", "06.12.34.56.78"],
}


def _matches_as_text_tokens(terms: list[str], typed: str) -> bool:
    """The documented reading of the index: tokens split at spaces and punctuation; a phrase matches its tokens
    in a row; a trailing * extends the last digit token."""
    tokens = index_tokens(typed)
    for term in terms:
        wanted = index_tokens(term.strip('"'))
        prefix = term.endswith("*")
        for start in range(len(tokens) - len(wanted) + 1):
            window = tokens[start : start + len(wanted)]
            if window[:-1] == wanted[:-1] and (
                window[-1].startswith(wanted[-1]) if prefix else window[-1] == wanted[-1]
            ):
                return True
    return False


def _matches_as_digits(terms: list[str], typed: str) -> bool:
    """Another plausible reading: the index keeps a phone field's digits as one token."""
    digits = re.sub(r"\D", "", typed)
    return any(term.endswith("*") and digits.startswith(term[:-1]) for term in terms)


@pytest.mark.parametrize("typed", US_TYPED)
def test_us_terms_find_every_typed_form_under_both_readings_of_the_index(typed: str) -> None:
    terms = sosl.phone_terms(US_NUMBER)
    assert _matches_as_text_tokens(terms, typed)
    assert _matches_as_digits(terms, typed)


@pytest.mark.parametrize(("e164", "typed"), [(e, t) for e, forms in ELSEWHERE_TYPED.items() for t in forms])
def test_terms_elsewhere_find_every_typed_form_as_text_tokens(e164: str, typed: str) -> None:
    assert _matches_as_text_tokens(sosl.phone_terms(e164), typed)


# "30739979901" and "+44 307 399 7990" do match the terms; the client drops them after reading them back
@pytest.mark.parametrize("other", [o for o in US_OTHERS if o not in ("30739979901", "+44 307 399 7990")])
def test_terms_do_not_match_other_numbers_sharing_digits(other: str) -> None:
    assert not _matches_as_text_tokens(sosl.phone_terms(US_NUMBER), other)


def test_statement_names_objects_fields_and_limits() -> None:
    returning = [sosl.Returning("Contact", ("MobilePhone", "Id"), 1000), sosl.Returning("Lead", ("MobilePhone",))]
    text = sosl.search_statement(['"307 399 7990"', "3073997990*"], returning)
    assert text == (
        'FIND {"307 399 7990" OR 3073997990*} IN PHONE FIELDS '
        "RETURNING Contact(Id, MobilePhone LIMIT 1000), Lead(Id, MobilePhone)"
    )
    with pytest.raises(ValueError, match="search group"):
        sosl.search_statement(["x"], returning, group="PHONES")
    with pytest.raises(ValueError, match="at least one term"):
        sosl.find_clause([])


def test_large_batches_split_within_the_limits_and_keep_every_number_once() -> None:
    phones = [f"+1307399{n:04d}" for n in range(500)] + ["+442079460018", "+33612345678"]
    returning = [sosl.Returning("Contact", ("MobilePhone", "HomePhone"), 1000), sosl.Returning("Lead", ("Phone",))]
    plans = sosl.plan_phone_searches(phones, returning)
    assert [p for group, _ in plans for p in group] == phones
    for group, statement in plans:
        find = statement[: statement.index("} IN PHONE") + 1]
        assert len(find) <= sosl.MAX_FIND_CHARS < 4000
        assert len(quote_plus(statement)) <= sosl.MAX_QUERY_CHARS
        assert all(term in statement for phone in group for term in sosl.phone_terms(phone))
    assert len(plans) == 7  # about 75 US numbers a call
    assert len(sosl.plan_phone_searches(phones[:50], returning)) == 1


def test_duplicate_numbers_are_searched_once() -> None:
    plans = sosl.plan_phone_searches(["+13073997990"] * 3, [sosl.Returning("Contact")])
    assert [group for group, _ in plans] == [["+13073997990"]]


def test_a_limit_too_small_for_one_number_is_refused() -> None:
    with pytest.raises(ValueError, match="alone exceeds"):
        sosl.plan_phone_searches(["+13073997990"], [sosl.Returning("Contact")], max_find_chars=20)


@pytest.mark.parametrize(
    ("answer", "ids"),
    [
        ({"searchRecords": [{"attributes": {"type": "Contact", "url": "/x"}, "Id": "003A"}]}, ["003A"]),
        ([{"attributes": {"type": "Lead"}, "Id": "00QA"}], ["00QA"]),  # the bare list of API v35.0 and earlier
        ({"searchRecords": []}, []),
        (None, []),  # simple-salesforce answers None for an empty body
    ],
)
def test_search_answers_of_every_documented_shape_are_read(answer: object, ids: list[str]) -> None:
    assert [r["Id"] for r in sosl.search_records(answer)] == ids


def test_an_unknown_search_answer_is_an_error() -> None:
    with pytest.raises(ValueError, match="unexpected search answer"):
        sosl.search_records("<html>")


def test_recently_changed_query_matches_digits_in_order() -> None:
    assert soql.digits_in_order("3073997990") == "'%3%0%7%3%9%9%7%9%9%0%'"
    with pytest.raises(ValueError, match="digits only"):
        soql.digits_in_order("307'--")
    since = datetime(2026, 11, 25, 8, 0, 0, 123000, tzinfo=UTC)
    text = soql.changed_since_with_digits("Contact", ["MobilePhone", "Name"], ["MobilePhone"], ["3073997990"], since)
    assert text == (
        "SELECT Id, MobilePhone, Name FROM Contact WHERE SystemModstamp >= 2026-11-25T08:00:00Z "
        "AND (MobilePhone LIKE '%3%0%7%3%9%9%7%9%9%0%')"
    )
