"""Realistic generated records for seeding: names, US mobile numbers in the formats people type, emails.

Guarantees: deterministic for a given seed; fast (Faker fills small pools once, records are drawn from
them), so 100,000 records take well under a second to generate.
"""

from __future__ import annotations

import random
from typing import Any

from faker import Faker

_PHONE_FORMATS = (
    "({a}) {b}-{c}",
    "{a}-{b}-{c}",
    "{a}.{b}.{c}",
    "+1{a}{b}{c}",
    "1{a}{b}{c}",
    "{a}{b}{c}",
    "+1 ({a}) {b}-{c}",
    "+1 {a} {b} {c}",
)
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "example.org", "hotmail.com", "aol.com")


class RecordFaker:
    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        fake = Faker("en_US")
        fake.seed_instance(seed if seed is not None else self.rng.randrange(1 << 30))
        self.first = list({fake.first_name() for _ in range(600)})
        self.last = list({fake.last_name() for _ in range(600)})
        self.streets = [fake.street_address() for _ in range(400)]
        self.places = [(fake.city(), fake.state_abbr(), fake.zipcode()) for _ in range(300)]
        self.companies = [fake.company() for _ in range(300)]

    def phone(self) -> str:
        rng = self.rng
        area = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
        exchange = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
        line = f"{rng.randint(0, 9999):04d}"
        return rng.choice(_PHONE_FORMATS).format(a=area, b=exchange, c=line)

    def person(self, n: int) -> dict[str, Any]:
        rng = self.rng
        first, last = rng.choice(self.first), rng.choice(self.last)
        city, state, postal = rng.choice(self.places)
        sep = rng.choice((".", "_", ""))
        email = f"{first.lower()}{sep}{last.lower()}{n}@{rng.choice(_DOMAINS)}"
        return {
            "FirstName": first,
            "LastName": last,
            "Email": email,
            "MobilePhone": self.phone(),
            "Street": rng.choice(self.streets),
            "City": city,
            "State": state,
            "PostalCode": postal,
            "Country": "US",
        }

    def record(self, sobject: str, n: int, fields: set[str]) -> dict[str, Any]:
        """One record for `sobject`, keeping only fields the object has (lower-case names in `fields`)."""
        p = self.person(n)
        rng = self.rng
        if sobject == "Contact":
            out = {
                "FirstName": p["FirstName"],
                "LastName": p["LastName"],
                "Email": p["Email"],
                "MobilePhone": p["MobilePhone"],
                "MailingStreet": p["Street"],
                "MailingCity": p["City"],
                "MailingState": p["State"],
                "MailingPostalCode": p["PostalCode"],
                "MailingCountry": "US",
                "HasOptedOutOfEmail": rng.random() < 0.05,
                "Mobile_Subscriber__c": rng.random() < 0.8,
            }
        elif sobject == "Lead":
            out = {
                "FirstName": p["FirstName"],
                "LastName": p["LastName"],
                "Email": p["Email"],
                "MobilePhone": p["MobilePhone"],
                "Company": rng.choice(self.companies),
                "Street": p["Street"],
                "City": p["City"],
                "State": p["State"],
                "PostalCode": p["PostalCode"],
                "Country": "US",
                "Mobile_Subscriber__c": rng.random() < 0.8,
            }
        elif sobject == "Account":
            out = {
                "Name": rng.choice(self.companies),
                "Phone": self.phone(),
                "BillingCity": p["City"],
                "BillingState": p["State"],
            }
        elif sobject == "Opportunity":
            won = rng.random() < 0.6
            out = {
                "Name": f"Donation {n}",
                "StageName": "Closed Won" if won else "Prospecting",
                "Amount": float(rng.choice((10, 25, 50, 100, 250, 1000))),
                "CloseDate": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
            }
        else:
            out = {"Name": f"{sobject} {n}"}
        return {k: v for k, v in out.items() if k.lower() in fields}
