"""The webhook door's checks, and the promise behind them: what passes the door, the sync job can read."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from marshmallow import fields

from gateway.domain.freshness import contact_fingerprint
from gateway.domain.mapping import map_record_to_contact
from gateway.salesforce.ids import checksum_suffix, id_problem, prefix_problem
from gateway.sync.to_platform import latest_per_record, record_phone
from gateway.web.json_body import MAX_DEPTH, BodyError, parse_json
from gateway.web.schemas import (
    BATCH_SCHEMA,
    SalesforceBatchSchema,
    SalesforceEventSchema,
    _fields_accept,
    batch_problems,
    door_problems,
    name_events,
)
from tests.support import ORG_ID, batch, salesforce_event
from tests.unit.domain.factories import contact_config

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=300)


def _sf_id(id15: str) -> str:
    return id15 + checksum_suffix(id15)


def _refusal(body: bytes) -> str:
    with pytest.raises(BodyError) as caught:
        parse_json(body)
    assert caught.value.status == 400
    return str(caught.value)


def test_json_that_python_would_choke_on_is_refused_naming_the_problem() -> None:
    assert "deeper than" in _refusal(b"[" * 10_000 + b"]" * 10_000)
    assert "deeper than" in _refusal(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    assert "500,000 characters" in _refusal(b'{"n": ' + b"9" * 500_000 + b"}")
    assert "out of range" in _refusal(b'{"n": 1e999}')
    assert "NaN" in _refusal(b'{"n": NaN}')
    assert "Infinity" in _refusal(b'{"n": -Infinity}')
    assert "$.a[1].b" in _refusal(b'{"a": [1, {"b": "\\ud800"}]}')
    assert "surrogate" in _refusal(b'{"\\udfff": 1}')
    assert "not UTF-8 (byte 7)" in _refusal(b'{"a": "\xff"}')
    assert "position" in _refusal(b'{"a": ')
    assert parse_json('{"name": "Ñandú 🦤", "pair": "\\ud83e\\udda4", "n": -12.5e3}'.encode()) == {
        "name": "Ñandú 🦤",
        "pair": "🦤",
        "n": -12500.0,
    }


def test_ids_are_matched_whole_and_their_checksum_and_prefix_must_fit() -> None:
    assert id_problem("003000000000001AAA") is None
    assert id_problem("003000000000001") is None
    assert id_problem("003000000000001AAA\n") is not None
    assert id_problem("003000000000001AAB") is not None  # typed or forged suffix
    assert checksum_suffix("0035g00000AbCdE") == "AAV"  # the package's fixture id, as Salesforce wrote it
    assert prefix_problem("003000000000001AAA", "Contact") is None
    assert prefix_problem("003000000000001AAA", "contact") is None  # API names are case-insensitive
    assert "Account id" in (prefix_problem("001000000000001AAA", "Contact") or "")
    assert "Lead id" in (prefix_problem(_sf_id("00Q000000000001"), "Contact") or "")
    assert "key prefix a01" in (prefix_problem("a01000000000001AAA", "Lead") or "")
    assert prefix_problem("a01000000000001AAA", "Volunteer__c") is None  # org-specific: checked by the sync
    assert "Contact id" in (prefix_problem("003000000000001AAA", "Volunteer__c") or "")


def _problems(payload: dict[str, Any], org: str = ORG_ID) -> dict[str, Any]:
    assert BATCH_SCHEMA.validate(payload) == {}
    return door_problems(payload, expected_org_id=org, now=NOW, max_skew=SKEW)


def test_the_door_refuses_other_orgs_mismatched_records_and_future_versions() -> None:
    assert _problems(batch([salesforce_event(1)])) == {}
    assert _problems(batch([salesforce_event(1)]), org=ORG_ID[:15]) == {}  # 15 and 18 characters, one org
    assert "orgId" in _problems(batch([salesforce_event(1)], "00D000000000002EAA"))

    other = salesforce_event(2)
    other["record"]["Id"] = "003000000000009AAA"
    assert "record.Id" in json.dumps(_problems(batch([other])))

    soon, late = NOW + SKEW, NOW + SKEW + timedelta(seconds=1)
    ok = salesforce_event(3, modstamp=soon.strftime("%Y-%m-%dT%H:%M:%S.000+0000"))
    assert _problems(batch([ok])) == {}
    future = salesforce_event(4, modstamp=late.strftime("%Y-%m-%dT%H:%M:%S.000+0000"))
    problems = json.dumps(_problems(batch([future])))
    assert "in the future" in problems and future["eventUuid"] in problems
    published = salesforce_event(5)
    published["publishedAt"] = "9999-12-31T23:59:59Z"
    assert "publishedAt" in _problems(batch([published]))["events"][0]
    for stamp in ("garbage", 20261125, True, ["2026-11-25T08:00:00Z"]):
        bad = salesforce_event(6)
        bad["record"]["SystemModstamp"] = stamp
        assert "SystemModstamp" in json.dumps(_problems(batch([bad]))), stamp


def test_schema_errors_name_ids_matched_whole() -> None:
    for field, value in (("recordId", "003000000000001AAA\n"), ("eventUuid", "e-1\n"), ("sobjectType", "Contact\n")):
        event = salesforce_event(1)
        event[field] = value
        assert field in BATCH_SCHEMA.validate(batch([event]))["events"][0], field
    assert "orgId" in BATCH_SCHEMA.validate(batch([salesforce_event(1)], ORG_ID + "\n"))


# -- what passes the door, the job can read ------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010, categories=["Cs", "Co", "Lo"]), max_size=3),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_past = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 30)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
)
_timestamps = st.one_of(  # mostly readable and past (so that events pass), else anything
    _past,
    _past,
    _past,
    _json,
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["", "2026-11-25 08:00:00 UTC", "9999-12-31T23:59:59.000+0000", "2026-02-30T00:00:00Z"]),
)
_record_values = st.dictionaries(
    st.sampled_from(["FirstName", "LastName", "MobilePhone", "Email", "Mobile_Subscriber__c", "MailingCity", "X__c"]),
    _json,
    max_size=6,
)


_OK = "2026-11-25T08:00:00.000+0000"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_record_values, stamp=_timestamps, published=_timestamps)
@example(values={"LastName": "\ud800"}, stamp=_OK, published=_OK)  # issue 11: a lone surrogate
@example(values={}, stamp="garbage", published=_OK)  # issue 11: SystemModstamp "garbage"
@example(values={}, stamp=True, published=_OK)
@example(values={"MobilePhone": 10**25, "FirstName": 1e300, "Email": ["a@b.c"]}, stamp="", published=_OK)
def test_whatever_passes_the_door_the_job_reads_without_crashing(values: dict, stamp: Any, published: Any) -> None:
    event = salesforce_event(1)
    event["record"] = {**values, "Id": event["recordId"], "SystemModstamp": stamp}
    event["publishedAt"] = published
    body = json.dumps(batch([event, copy.deepcopy(event)]), allow_nan=True).encode()
    try:
        payload = parse_json(body)
    except BodyError:
        return  # refused at the door with a 400
    if BATCH_SCHEMA.validate(payload) or door_problems(payload, expected_org_id=ORG_ID, now=NOW, max_skew=SKEW):
        return
    # What the sync job does with an accepted event before any I/O:
    config = contact_config()
    for accepted in latest_per_record(payload["events"]):
        record = {**accepted["record"], "Id": accepted["recordId"]}
        mapped = map_record_to_contact(record, config, changed_fields=accepted["changedFields"])
        contact_fingerprint(mapped.contact)
        record_phone(record, config, "US")


_MISSING = object()
# Values a field may carry instead of its valid one: absent, null, other JSON types, near misses of each check.
_ODD_VALUES = st.sampled_from(
    [
        *(_MISSING, None, 0, 1.5, True, "", " ", "x" * 65, "x" * 81, [], {}, ["MobilePhone", 7], ["y" * 81]),
        *("003000000000001AAA\n", "003000000000001AAB", "00D000000000001AAA", "Contact", "update", "upsert"),
        *("2026-11-25T08:00:00", "2026-11-25T08:00:00.123Z", "not a date", "a b", "\x7f", {"Id": 5}, {"Name": "x"}),
    ]
)
_EVENT_KEYS = st.sampled_from(
    ["eventUuid", "replayId", "sobjectType", "recordId", "operation", "changedFields", "record", "publishedAt"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.lists(st.tuples(st.integers(0, 2), _EVENT_KEYS, _ODD_VALUES), max_size=3),
    org=_ODD_VALUES,
    events_value=st.sampled_from([None, "events", {}, [], [1]]),
)
def test_the_door_quick_check_answers_what_the_schema_answers(changes: list, org: Any, events_value: Any) -> None:
    """`batch_problems` skips the schema for a batch whose fields all pass: it must never let through what the
    schema refuses, nor answer a refusal in other words."""
    events = [salesforce_event(n) for n in range(3)]
    for index, key, value in changes:
        if value is _MISSING:
            events[index].pop(key, None)
        else:
            events[index][key] = value
    for payload in (
        batch(events),
        batch(events, org if isinstance(org, str) else ORG_ID),
        {"orgId": ORG_ID, "events": events_value},
        {"events": events},
    ):
        assert batch_problems(payload) == name_events(BATCH_SCHEMA.validate(payload), payload)


def test_the_door_quick_check_takes_a_valid_batch_and_knows_every_hook_of_the_schemas() -> None:
    assert _fields_accept(batch([salesforce_event(n) for n in range(3)]))  # the valid case skips the schema
    assert batch_problems([]) == {"_schema": ["must be an object"]}
    # `_fields_accept` checks the batch's two fields and the one field hook: a new one must be added there too.
    assert set(SalesforceBatchSchema._declared_fields) == {"orgId", "events"}
    hooks = {tag: [h[0] for h in found] for tag, found in SalesforceEventSchema._hooks.items() if found}
    assert hooks == {"validates": ["_record_has_id"]}
    assert not any(SalesforceBatchSchema._hooks.values())
    # it runs each field's conversion and validators itself (`_accepts`): a field's own pre- or post-load functions
    # would be skipped, so none may be added unnoticed
    for schema in (SalesforceEventSchema, SalesforceBatchSchema):
        for name, field in schema._declared_fields.items():
            assert not field.pre_load and not field.post_load, name
            # nor may a field class add steps of its own around the conversion and the validators
            assert type(field).deserialize is fields.Field.deserialize, name
            assert type(field)._validate is fields.Field._validate, name
