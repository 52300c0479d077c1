"""Salesforce record ids: 15-character ids, their 18-character case-safe form, and validation.

Guarantees: `to18` is the published checksum algorithm (three 5-character chunks, one suffix letter per
chunk whose bits mark the upper-case characters); `make_id` yields ids that sort in creation order.
"""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# ASCII order, so that ids made from an increasing counter also sort increasing as text.
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
POD = "RO0"  # two pod characters and the reserved digit, as in the ids of the docs


def to18(id15: str) -> str:
    """Return the 18-character case-safe form of a 15-character id."""
    if len(id15) != 15:
        raise ValueError(f"a 15-character id is required, got {id15!r}")
    out = ""
    for block in range(3):
        bits = 0
        for i in range(5):
            c = id15[block * 5 + i]
            if "A" <= c <= "Z":
                bits |= 1 << i
        out += _SUFFIX_ALPHABET[bits]
    return id15 + out


def normalize(value: str) -> str | None:
    """The 18-character id for a 15- or 18-character id, or None when `value` is not a valid id."""
    if not isinstance(value, str) or not _ID_SHAPE.match(value):
        return None
    if len(value) == 15:
        return to18(value)
    if to18(value[:15]).upper() != value.upper():
        return None
    return to18(value[:15])


def looks_like_id(value: str) -> bool:
    """True when `value` has the shape of an id (15 or 18 letters and digits), valid or not."""
    return isinstance(value, str) and bool(_ID_SHAPE.match(value))


def make_id(prefix: str, number: int) -> str:
    """The 18-character id of the `number`-th record with key prefix `prefix`."""
    digits = ""
    n = number
    for _ in range(9):
        n, r = divmod(n, 62)
        digits = _BASE62[r] + digits
    if n:
        raise OverflowError("id counter exhausted")
    return to18(prefix + POD + digits)
