"""Realistic generated records for seeding: names, emails, and mobile numbers typed the way people type them.

Phones (`RecordFaker.phone`), by design of the seed rather than measured from a real org:
* about 90 % valid US numbers (area code and exchange that libphonenumber holds valid), typed in a mix of forms:
  E.164 (`+13073997990`), national (`(307) 399-7990`), punctuated (`307-399-7990`, `307.399.7990`), digits,
  with a `+1`/`1` prefix, with spaces around, or with an extension (`307 399 7990 ext. 12`);
* about 7 % valid numbers of other countries (GB, FR, DE, MX, AU, IN, ES, BR), in international form (E.164 or
  grouped `+44 7400 123456`), the form a US org holds them in;
* about 3 % that are not valid numbers (too short, area code starting with 0 or 1, a local 7-digit number).
Every valid number normalises to E.164 with the default region US (`gateway.domain.phones`).

Guarantees: deterministic for a given seed; fast (Faker fills small pools once, records are drawn from
them), so 100,000 records take well under a second to generate.
"""

from __future__ import annotations

import random
from typing import Any

import phonenumbers
from faker import Faker

#: (weight, format) of valid US numbers; a = area code, b = exchange, c = line, x = extension.
_US_FORMATS = (
    (25, "+1{a}{b}{c}"),
    (20, "({a}) {b}-{c}"),
    (14, "{a}-{b}-{c}"),
    (8, "{a}.{b}.{c}"),
    (9, "{a}{b}{c}"),
    (7, "+1 {a} {b} {c}"),
    (5, "1-{a}-{b}-{c}"),
    (4, "+1 ({a}) {b}-{c}"),
    (3, "1{a}{b}{c}"),
    (3, " {a} {b} {c} "),
    (2, "{a} {b} {c} ext. {x}"),
)
_INVALID_FORMATS = ("{b}-{c}", "({z}{a2}) {b}-{c}", "{a}-{b}-{c2}", "{a}{b}{c}{c}")
_FOREIGN_REGIONS = ("GB", "FR", "DE", "MX", "AU", "IN", "ES", "BR")
_FOREIGN_SHARE = 0.07
_INVALID_SHARE = 0.03
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "example.org", "hotmail.com", "aol.com")


def _valid_us_prefixes(rng: random.Random, wanted: int) -> list[tuple[str, str]]:
    """(area code, exchange) pairs libphonenumber holds valid for the US (validity there does not depend on
    the last four digits)."""
    found: set[tuple[str, str]] = set()
    while len(found) < wanted:
        area = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
        exchange = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{area}{exchange}0000")):
            found.add((area, exchange))
    return sorted(found)


def _foreign_numbers(rng: random.Random, wanted: int) -> list[phonenumbers.PhoneNumber]:
    """Valid mobile numbers of other countries: each region's example mobile with its last digits varied."""
    out: list[phonenumbers.PhoneNumber] = []
    while len(out) < wanted:
        region = rng.choice(_FOREIGN_REGIONS)
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None, region  # libphonenumber has an example mobile for each of these regions
        digits = str(example.national_number)
        varied = digits[:-4] + f"{rng.randint(0, 9999):04d}"
        number = phonenumbers.parse(f"+{example.country_code}{varied}")
        if phonenumbers.is_valid_number(number):
            out.append(number)
    return out


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
        self.us_prefixes = _valid_us_prefixes(self.rng, 400)
        self.foreign = _foreign_numbers(self.rng, 200)
        self.us_formats = [f for _, f in _US_FORMATS]
        self.us_weights = [w for w, _ in _US_FORMATS]

    def phone(self) -> str:
        """One mobile number as a person would have typed it (see the module docstring for the mix)."""
        rng = self.rng
        draw = rng.random()
        area, exchange = rng.choice(self.us_prefixes)
        line = f"{rng.randint(0, 9999):04d}"
        if draw < _INVALID_SHARE:
            return rng.choice(_INVALID_FORMATS).format(
                a=area, b=exchange, c=line, z=rng.choice("01"), a2=area[1:], c2=line[:3]
            )
        if draw < _INVALID_SHARE + _FOREIGN_SHARE:
            number = rng.choice(self.foreign)
            form = rng.choice((phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
            return phonenumbers.format_number(number, form)
        typed = rng.choices(self.us_formats, self.us_weights)[0]
        return typed.format(a=area, b=exchange, c=line, x=rng.randint(1, 999))

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
