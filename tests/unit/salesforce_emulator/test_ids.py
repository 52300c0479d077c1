"""The 15 -> 18 character id checksum and the ids the emulator makes."""

from __future__ import annotations

import pytest

from gateway.emulators.salesforce import ids

KNOWN = [
    ("001D000000IRFma", "001D000000IRFmaIAH"),
    ("003RO0000035WQg", "003RO0000035WQgYAM"),
    ("00190000001pPvH", "00190000001pPvHAAU"),
    ("001D000000Kv3g5", "001D000000Kv3g5IAB"),
]


@pytest.mark.parametrize(("id15", "id18"), KNOWN)
def test_known_ids_from_the_docs(id15: str, id18: str) -> None:
    assert ids.to18(id15) == id18
    assert ids.normalize(id15) == id18
    assert ids.normalize(id18) == id18
    assert ids.normalize(id18[:15] + id18[15:].lower()) == id18  # the suffix is case-insensitive


def test_invalid_ids_are_refused() -> None:
    assert ids.normalize("001D000000IRFmaIAX") is None  # wrong checksum
    assert ids.normalize("001D000000IRFm") is None
    assert ids.normalize("001D000000IRFm!") is None
    assert ids.looks_like_id("001D000000IRFmaIAX") and not ids.looks_like_id("mc-123")
    with pytest.raises(ValueError, match="15-character"):
        ids.to18("001")


def test_made_ids_are_valid_and_sort_in_creation_order() -> None:
    made = [ids.make_id("003", n) for n in (1, 2, 61, 62, 63, 10**6, 10**9)]
    assert all(len(i) == 18 and i.startswith("003") and ids.normalize(i) == i for i in made)
    assert sorted(made) == made
