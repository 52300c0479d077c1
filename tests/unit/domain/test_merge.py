"""Attribute merge: overwrite, or fill only what the target leaves empty."""

from __future__ import annotations

from gateway.domain.merge import merge_fields
from gateway.domain.sync_config import MergePolicy

FILL = MergePolicy.FILL_EMPTY_ONLY
OVER = MergePolicy.OVERWRITE


def test_overwrite_writes_only_values_that_differ() -> None:
    current = {"city": "London", "state": "LDN"}
    assert merge_fields(current, {"city": "Paris", "state": "LDN"}, {"city": OVER}) == {"city": "Paris"}


def test_fill_empty_only_never_replaces_a_value() -> None:
    current = {"city": "London", "state": None, "country": "  "}
    incoming = {"city": "Paris", "state": "IDF", "country": "FR"}
    policies = {"city": FILL, "state": FILL, "country": FILL}
    assert merge_fields(current, incoming, policies) == {"state": "IDF", "country": "FR"}


def test_a_new_target_gets_every_value() -> None:
    assert merge_fields(None, {"city": "Paris", "state": "IDF"}, {"city": FILL}) == {"city": "Paris", "state": "IDF"}


def test_blank_incoming_values_are_never_merged_as_clears() -> None:
    assert merge_fields({"city": "London"}, {"city": None, "state": " "}, {}) == {}


def test_a_field_without_policy_is_overwritten() -> None:
    assert merge_fields({"x": "a"}, {"x": "b"}, {}) == {"x": "b"}


def test_custom_equality_decides_what_differs() -> None:
    def same(name: str, a: object, b: object) -> bool:
        return isinstance(a, str) and isinstance(b, str) and a.casefold() == b.casefold()

    assert merge_fields({"email": "Ada@Example.org"}, {"email": "ada@example.org"}, {}, same=same) == {}
