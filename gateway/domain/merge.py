"""Attribute merge: which incoming values overwrite what the target already holds.

Guarantees: `merge_fields` returns only values that change the target; a field under
`FILL_EMPTY_ONLY` is written only where the target holds nothing (None, "" or blanks), as Mobile
Commons does for its default attributes; a field with no policy is overwritten. Incoming None
values are never returned: clearing a field is a deletion, decided elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.domain.sync_config import MergePolicy


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def merge_fields(
    current: Mapping[str, object] | None,
    incoming: Mapping[str, object],
    policies: Mapping[str, MergePolicy],
    *,
    same: Callable[[str, object, object], bool] | None = None,
) -> dict[str, object]:
    """The subset of `incoming` to write over `current` (None: the target is new, everything is written).

    `same(field, current_value, incoming_value)` decides equality (default: ==), e.g. to compare
    phone numbers by line rather than by formatting.
    """
    merged: dict[str, object] = {}
    for name, value in incoming.items():
        if is_empty(value):
            continue
        if current is None:
            merged[name] = value
            continue
        existing = current.get(name)
        if policies.get(name, MergePolicy.OVERWRITE) is MergePolicy.FILL_EMPTY_ONLY and not is_empty(existing):
            continue
        equal = same(name, existing, value) if same is not None else existing == value
        if not equal:
            merged[name] = value
    return merged
