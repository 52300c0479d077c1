"""Realistic people for the Mobile Commons emulator: generated in bulk (fast enough for 100,000) or as given.

Guarantees: generated phones are unique, valid-looking US numbers on the fictional 555 exchange; a
`seed` makes a run reproducible; a spec list is applied in order and stops at the first bad spec.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from faker import Faker

from gateway.emulators.mobilecommons.state import MobileCommonsState, Profile

_POOL = 400


class _Pools:
    def __init__(self, seed: int | None) -> None:
        fake = Faker("en_US")
        if seed is not None:
            fake.seed_instance(seed)
        self.first = [fake.first_name() for _ in range(_POOL)]
        self.last = [fake.last_name() for _ in range(_POOL)]
        self.streets = [fake.street_address() for _ in range(_POOL)]
        self.places = [(fake.city(), fake.state_abbr(), fake.postcode()) for _ in range(_POOL)]


def _phone(rng: random.Random, taken: set[str]) -> str:
    while True:
        npa = rng.randint(201, 989)
        if npa % 100 == 11 or npa // 10 % 10 == 9:
            continue
        phone = f"+1{npa}555{rng.randint(0, 9999):04d}"
        if phone not in taken:
            taken.add(phone)
            return phone


def seed_generated(
    state: MobileCommonsState,
    count: int,
    *,
    messages: int = 0,
    unsubscribed_ratio: float = 0.05,
    seed: int | None = None,
) -> list[Profile]:
    """`count` new subscribed (or, at `unsubscribed_ratio`, opted-out) profiles with `messages` each."""
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    pools = _Pools(seed)
    taken = state.phones()
    created = []
    for _ in range(count):
        first, last = rng.choice(pools.first), rng.choice(pools.last)
        city, region, postal = rng.choice(pools.places)
        spec = {
            "phone": _phone(rng, taken),
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}{rng.randint(1, 999)}@example.org".lower(),
            "street1": rng.choice(pools.streets),
            "city": city,
            "state": region,
            "postal_code": postal,
            "country": "US",
            "custom_fields": {"has_donated_previously": rng.choice(["true", "false", ""])},
            "sms_status": "unsubscribed" if rng.random() < unsubscribed_ratio else "subscribed",
            "messages": messages,
        }
        created.append(state.seed_profile(spec, rng))
    return created


def seed_specs(
    state: MobileCommonsState, specs: Iterable[Mapping[str, Any]], *, seed: int | None = None
) -> list[Profile]:
    """Profiles as given: `phone` (E.164) plus any of the standard fields, `custom_fields`, `sms_status`
    (subscribed | unsubscribed | unknown), `campaign_id`, `messages` (a count, or a list of
    `{"direction"|"type", "body", "at"}`), `created_at`, `updated_at`. A spec without a phone gets one."""
    rng = random.Random(seed)
    taken = state.phones()
    created = []
    for spec in specs:
        phone = spec.get("phone") or _phone(rng, taken)
        created.append(state.seed_profile({**spec, "phone": phone}, rng))
    return created
