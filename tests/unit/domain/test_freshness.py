"""Stale changes are dropped and echoes of what was last synced are recognised."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.domain.contact import Contact, PostalAddress, SmsStatus
from gateway.domain.freshness import contact_fingerprint, field_digest, fingerprint, is_newer, parse_timestamp

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def test_is_newer_is_strict() -> None:
    assert is_newer(T0 + timedelta(milliseconds=1), T0)
    assert not is_newer(T0, T0)
    assert not is_newer(T0 - timedelta(seconds=1), T0)


def test_missing_versions_never_drop_a_change() -> None:
    assert is_newer(T0, None)
    assert is_newer(None, T0)


def test_is_newer_compares_instants_across_offsets_and_naive_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert not is_newer(datetime(2026, 11, 25, 9, 0, tzinfo=paris), T0)  # same instant
    assert is_newer(datetime(2026, 11, 25, 8, 0, 1), T0)  # naive = UTC


@pytest.mark.parametrize(
    "text",
    ["2026-11-25T08:00:00.000+0000", "2026-11-25T08:00:00Z", "2026-11-25 08:00:00 UTC", "2026-11-25T09:00:00+01:00"],
)
def test_parse_timestamp_reads_salesforce_iso_and_mobile_commons_forms(text: str) -> None:
    assert parse_timestamp(text) == T0
    assert parse_timestamp(text).tzinfo is not None


def test_parse_timestamp_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_timestamp("yesterday")


_values = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.none(), st.text(max_size=10), st.integers(), st.booleans()),
    max_size=8,
)


@given(_values, st.randoms())
def test_fingerprint_is_independent_of_key_order(values: dict[str, object], rnd: random.Random) -> None:
    items = list(values.items())
    rnd.shuffle(items)
    assert fingerprint(dict(items)) == fingerprint(values)


@given(_values, st.text(min_size=1, max_size=8), st.text(max_size=10))
def test_fingerprint_changes_when_a_value_changes(values: dict[str, object], key: str, value: str) -> None:
    assume(key not in values or values[key] != value)
    assert fingerprint({**values, key: value}) != fingerprint(values)


def test_fingerprint_keeps_none_and_empty_apart() -> None:
    assert fingerprint({"email": None}) != fingerprint({"email": ""})
    assert fingerprint({"a": 1}) == fingerprint({"a": 1})


def test_contact_fingerprint_ignores_ids_and_version_but_not_values() -> None:
    base = Contact(
        phone="+14155552671", first_name="Ada", address=PostalAddress(city="London"), sms_status=SmsStatus.SUBSCRIBED
    ).with_changes(custom_fields={"sf_id": "003"})
    same = base.with_changes(version=T0, platform_id="p1", crm_id="003000000000001AAA")
    assert contact_fingerprint(same) == contact_fingerprint(base)
    assert contact_fingerprint(base.with_changes(sms_status=SmsStatus.UNSUBSCRIBED)) != contact_fingerprint(base)
    assert contact_fingerprint(base.with_changes(custom_fields={"sf_id": "004"})) != contact_fingerprint(base)
    assert contact_fingerprint(base.with_changes(address=PostalAddress(city="Paris"))) != contact_fingerprint(base)


@given(st.text(), st.one_of(st.none(), st.text(), st.integers(), st.booleans()))
def test_a_field_digest_is_the_digest_syncs_stored_before_it_had_a_shortcut(name: str, value: object) -> None:
    # digests already stored in Redis (what each record last reconciled) must still compare equal after an upgrade,
    # or every field of every record would count as changed once
    assert field_digest(name, value) == fingerprint({name: value})[:16]


@given(_values)
def test_a_plain_dict_has_the_fingerprint_of_the_same_values_walked(values: dict[str, object]) -> None:
    # a plain dict skips `_canonical`; any other mapping of the same values takes it: both must give one digest,
    # or fingerprints already stored (echo marks) would stop matching after an upgrade and every record be resent
    assert fingerprint(values) == fingerprint(MappingProxyType(values))


def test_a_record_fingerprint_is_the_one_earlier_gateways_stored() -> None:
    values = {"first_name": "Ada", "last_name": "Lovelace", "phone_number": "+14155550123", "street1": None}
    values |= {"sms_status": "subscribed", "custom:Chapter": "North", "custom:Id": "003000000000001AAA"}
    # the digest b3ae919 (which walked every value) computed for these values
    assert fingerprint(values) == "0956261bc0fd5fca92f5943b6531b88b0677c2f598877768055711a958d7b39d"
