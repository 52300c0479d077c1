"""The search resource's documented shapes, read by the client's parser and produced by the emulator, so the two
cannot drift apart (facts and sources: docs/salesforce-phone-search.md).

The shapes below are written from the documentation, not copied: the answer is `{"searchRecords": [record…]}`
(REST API guide, "Search for a String", v37.0 and later; a bare list of records up to v35.0), each record carries
`attributes.type` and `attributes.url` (`/services/data/vXX.X/sobjects/<type>/<id>`), and a refused search is a
400 with `[{"message", "errorCode": "MALFORMED_SEARCH"}]` whose message points at the offending character (as
recorded from real orgs in the restforce and simple-salesforce issue trackers).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from gateway.salesforce.errors import parse_error_body
from gateway.salesforce.sosl import record_type, search_records
from tests.integration.salesforce_emulator.conftest import Emulator

DOCUMENTED_RECORD = {
    "attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003000000000001AAA"},
    "Id": "003000000000001AAA",
    "MobilePhone": "(307) 399-7990",
}
DOCUMENTED_ANSWERS = {
    "62.0": {"searchRecords": [DOCUMENTED_RECORD]},
    "35.0": [DOCUMENTED_RECORD],
}
DOCUMENTED_ERROR = [
    {
        "message": "\nFIND {John|x} RETURNING Contact\n         ^\nERROR at Row:1:Column:10\n"
        "line 1:10 mismatched character '|' expecting '}'",
        "errorCode": "MALFORMED_SEARCH",
    }
]


def _shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, ids and urls reduced to their pattern."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"[0-9A-Za-z]{18}$", "<id>", re.sub(r"/v\d+\.\d/", "/vXX.X/", value))
    return type(value).__name__


@pytest.mark.parametrize("version", DOCUMENTED_ANSWERS)
def test_the_client_reads_the_documented_answer(version: str) -> None:
    (record,) = search_records(DOCUMENTED_ANSWERS[version])
    assert record_type(record) == "Contact" and record["MobilePhone"] == "(307) 399-7990"


def _search(emulator: Emulator, sosl: str, version: str = "62.0") -> requests.Response:
    url = f"{emulator.url}/services/data/v{version}/search"
    return emulator.http.get(url, params={"q": sosl}, headers=emulator.auth(), timeout=10)


@pytest.mark.parametrize("version", DOCUMENTED_ANSWERS)
def test_the_emulator_answers_the_documented_shape(salesforce_emulator: Emulator, version: str) -> None:
    salesforce_emulator.control("POST", "search-index", json={"delay_seconds": 0})
    salesforce_emulator.seed("Contact", records=[{"LastName": "Ada", "MobilePhone": "(307) 399-7990"}])
    response = _search(
        salesforce_emulator, 'FIND {"307 399 7990"} IN PHONE FIELDS RETURNING Contact(Id, MobilePhone)', version
    )
    assert response.status_code == 200
    answer = response.json()
    assert _shape(answer) == _shape(DOCUMENTED_ANSWERS[version])
    assert [r["MobilePhone"] for r in search_records(answer)] == ["(307) 399-7990"]


def test_a_refused_search_has_the_recorded_error_body(salesforce_emulator: Emulator) -> None:
    response = _search(salesforce_emulator, "FIND {John|x} RETURNING Contact")
    assert response.status_code == 400
    assert response.json() == DOCUMENTED_ERROR
    (error,) = parse_error_body(response.content)
    (documented,) = parse_error_body(DOCUMENTED_ERROR)
    assert error == documented and error.code == "MALFORMED_SEARCH"
