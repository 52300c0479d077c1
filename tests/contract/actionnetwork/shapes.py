"""Action Network's documented response shapes, written from the facts in docs/platforms/actionnetwork.md (not
copied from any fixture). Each names its source. `conforms()` checks that a real (or emulated) answer has at
least these keys with values of these types."""

from __future__ import annotations

from typing import Any

# A person (GET people/{uuid}, the signup helper's answer, an item of the people collection). Source: the
# people and person-signup-helper docs; field names as OSDI defines them, `phone_numbers[].status` as Action
# Network adds it.
PERSON: dict[str, Any] = {
    "identifiers": ["action_network:d91b4b2e-ae0e-4cd3-9ed7-d0ec501b0bc3"],
    "given_name": "Rosa",
    "family_name": "Marín",
    "email_addresses": [{"primary": True, "address": "rosa@example.org", "status": "subscribed"}],
    "phone_numbers": [{"primary": True, "number": "12025550401", "number_type": "Mobile", "status": "subscribed"}],
    "postal_addresses": [{"primary": True, "postal_code": "20009", "country": "US"}],
    "custom_fields": {"salesforce_id": "003000000000009AAA"},
    "created_date": "2024-02-01T09:30:00Z",
    "modified_date": "2024-02-03T11:00:00Z",
    "_links": {"self": {"href": "https://actionnetwork.org/api/v2/people/d91b4b2e-ae0e-4cd3-9ed7-d0ec501b0bc3"}},
}

# One page of the people collection. Source: the general docs (page, per_page ≤ 25, `_links.next`,
# `_embedded["osdi:people"]`) and the people docs ("does not return the total_records or total_pages fields").
PEOPLE_PAGE: dict[str, Any] = {
    "per_page": 25,
    "page": 1,
    "_links": {
        "self": {"href": "https://actionnetwork.org/api/v2/people?page=1"},
        "next": {"href": "https://actionnetwork.org/api/v2/people?page=2"},
    },
    "_embedded": {"osdi:people": [{**PERSON, "custom_fields": {}}]},  # each person has their own custom fields
}

# Error bodies. Source: the messages quoted by client libraries (parsons for the 404, action-network-rest for
# the 400).
NOT_FOUND = {"error": "Couldn't find person with id = d91b4b2e-0000-0000-0000-000000000000"}
BAD_ID = {"error": "You must specify a valid person id"}

# A webhook POST: a JSON array; each element keyed by its resource type, with the sponsor and an idempotency
# key beside it; the person holds what the activist typed. Source: the webhooks docs and a captured payload
# (docs/platforms/actionnetwork.md, "Webhooks").
WEBHOOK_ARRAY: list[dict[str, Any]] = [
    {
        "osdi:submission": {
            "identifiers": ["action_network:6e1b58a3-1c1a-4a44-9a0c-0d9a5c0b1d11"],
            "created_date": "2024-02-03T11:00:00Z",
            "modified_date": "2024-02-03T11:00:00Z",
            "person": {
                "given_name": "Rosa",
                "email_addresses": [{"address": "rosa@example.org"}],
                "postal_addresses": [{"postal_code": "20009"}],
            },
            "add_tags": [],
            "_links": {
                "self": {"href": "https://actionnetwork.org/api/v2/forms/f-1/submissions/6e1b58a3"},
                "osdi:form": {"href": "https://actionnetwork.org/api/v2/forms/f-1"},
                "osdi:person": {"href": "https://actionnetwork.org/api/v2/people/d91b4b2e-ae0e-4cd3-9ed7-d0ec501b0bc3"},
            },
        },
        "action_network:sponsor": {"title": "Rosa's Group", "url": "https://actionnetwork.org/groups/rosas-group"},
        "idempotency_key": "5f0e6bd2b3a1c8e4d7f9a0b1c2d3e4f5",
    }
]

FORBIDDEN_PAGE_KEYS = ("total_records", "total_pages")


def conforms(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where `actual` lacks a key of `expected` or holds another type there (empty: it conforms). Lists are
    checked element by element against the first expected element."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(conforms(value, actual[key], f"{path}.{key}"))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {type(actual).__name__}"]
        if not expected:
            return []
        return [p for i, item in enumerate(actual) for p in conforms(expected[0], item, f"{path}[{i}]")]
    if isinstance(expected, bool) or isinstance(actual, bool):
        ok = isinstance(expected, bool) == isinstance(actual, bool)
    elif isinstance(expected, (int, float)):
        ok = isinstance(actual, (int, float))
    else:
        ok = isinstance(actual, type(expected))
    return [] if ok else [f"{path}: expected {type(expected).__name__}, got {type(actual).__name__}"]
