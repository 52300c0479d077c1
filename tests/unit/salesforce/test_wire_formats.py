"""Pure parts of the Salesforce client: Limit-Info, call classes, error bodies, SOQL rewrites, chunking."""

from __future__ import annotations

import pytest

from gateway.salesforce.auth import jwt_audience
from gateway.salesforce.errors import ApiError, parse_error_body
from gateway.salesforce.results import RecordError, RecordResult, chunked, parse_collection_results
from gateway.salesforce.soql import count_query, limit_of, object_name
from gateway.salesforce.usage import LimitInfo, call_class, parse_limit_info


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=18/5000", LimitInfo(18, 5000)),
        ("api-usage=10018/100000; api-bursts=1/750", LimitInfo(10018, 100000)),
        (
            "api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)",
            LimitInfo(25, 5000, 17, 250, "sample-connected-app"),
        ),
        ("per-app-api-usage=17/250(appName=x)", None),  # no org-wide figure
        ("", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_limit_info_header_is_parsed(header: str | None, expected: LimitInfo | None) -> None:
    assert parse_limit_info(header) == expected


@pytest.mark.parametrize(
    ("method", "url", "klass"),
    [
        ("POST", "https://login.salesforce.com/services/oauth2/token", "token"),
        ("GET", "https://x/services/data/v62.0/query/?q=SELECT+Id+FROM+Contact", "query"),
        ("GET", "https://x/services/data/v62.0/queryAll?q=SELECT+Id+FROM+Contact", "query"),
        ("GET", "https://x/services/data/v62.0/query/01gRO0000016PIAYA2-2000", "query_more"),
        ("POST", "https://x/services/data/v62.0/composite/sobjects", "collections"),
        ("PATCH", "https://x/services/data/v62.0/composite/sobjects/Contact/Ext__c", "collections"),
        ("POST", "https://x/services/data/v62.0/composite", "composite"),
        ("GET", "https://x/services/data/v62.0/sobjects/Contact/describe", "describe"),
        ("GET", "https://x/services/data/v62.0/sobjects/Contact/003000000000001AAA", "sobject"),
        ("POST", "https://x/services/data/v62.0/jobs/query", "bulk_query"),
        ("GET", "https://x/services/data/v62.0/jobs/query/750x/results?maxRecords=5", "bulk_query"),
        ("PUT", "https://x/services/data/v62.0/jobs/ingest/750x/batches", "bulk_ingest"),
        ("GET", "https://x/services/data/v62.0/limits/", "limits"),
    ],
)
def test_calls_are_classed_by_resource(method: str, url: str, klass: str) -> None:
    assert call_class(method, url) == klass


def test_error_bodies_of_every_shape_become_api_errors() -> None:
    rest = b'[{"message":"unable to obtain exclusive access","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]'
    assert parse_error_body(rest) == [ApiError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access")]
    collection = [{"statusCode": "MALFORMED_ID", "message": "bad id", "fields": ["Id"]}]
    assert parse_error_body(collection) == [ApiError("MALFORMED_ID", "bad id", ("Id",))]
    oauth = {"error": "invalid_grant", "error_description": "audience validation failed"}
    assert parse_error_body(oauth) == [ApiError("invalid_grant", "audience validation failed")]
    assert parse_error_body("<html>Service Unavailable</html>") == [
        ApiError("UNKNOWN_ERROR", "<html>Service Unavailable</html>")
    ]
    assert parse_error_body("") == []


def test_count_query_keeps_the_filter_and_drops_ordering_and_paging() -> None:
    soql = (
        "SELECT Id, (SELECT Id FROM Opportunities ORDER BY Name LIMIT 2), Name FROM Contact "
        "WHERE Name = 'Order from Limit' AND SystemModstamp > 2026-01-01T00:00:00Z ORDER BY SystemModstamp LIMIT 500"
    )
    assert count_query(soql) == (
        "SELECT COUNT() FROM Contact WHERE Name = 'Order from Limit' AND SystemModstamp > 2026-01-01T00:00:00Z"
    )
    assert limit_of(soql) == 500
    assert object_name(soql) == "Contact"
    assert limit_of("SELECT Id FROM Lead") is None
    with pytest.raises(ValueError):
        count_query("SELECT Id")


def test_chunking_covers_every_item_once_in_order() -> None:
    items = list(range(401))
    chunks = list(chunked(items, 200))
    assert [(offset, len(chunk)) for offset, chunk in chunks] == [(0, 200), (200, 200), (400, 1)]
    assert [x for _, chunk in chunks for x in chunk] == items
    with pytest.raises(ValueError):
        list(chunked(items, 0))


def test_collection_answers_become_one_result_per_record() -> None:
    answer = [
        {"id": "003A", "success": True, "errors": [], "created": True},
        {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}]},
        {
            "success": False,
            "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "x", "fields": ["LastName"]}],
        },
    ]
    results = parse_collection_results(answer, offset=200, count=4)
    assert results[0] == RecordResult(200, "003A", True, (), True)
    assert results[1].retryable and not results[2].retryable
    assert results[2].errors == (RecordError("REQUIRED_FIELD_MISSING", "x", ("LastName",)),)
    assert results[3].index == 203 and not results[3].success and results[3].errors[0].status_code == "UNPROCESSED"


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://127.0.0.1:8443/", "https://127.0.0.1:8443"),
    ],
)
def test_jwt_audience_follows_the_login_host(login_url: str, audience: str) -> None:
    assert jwt_audience(login_url) == audience
