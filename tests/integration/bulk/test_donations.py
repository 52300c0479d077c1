"""Donation roll-up: closed-won Opportunities (through contact roles) set `has_donated_previously` on the donor's
platform profile; open or lost ones, and people not linked to the platform, change nothing."""

from __future__ import annotations

import json

from tests.integration.bulk.conftest import BulkStack


def test_closed_won_donors_are_flagged_on_the_platform(bulk_stack: BulkStack) -> None:
    stack = bulk_stack
    phones = [f"+1415555{n:04d}" for n in range(4)]
    stack.mc.control().post(
        f"{stack.mc.url}/__emulator__/seed",
        json={"profiles": [{"phone": p, "first_name": f"Donor{i}"} for i, p in enumerate(phones)]},
    )
    platform_ids = {p["phone"]: str(p["id"]) for p in stack.mc_contacts()}
    donor, lost, unlinked, nobody = stack.sf.seed(
        "Contact",
        records=[
            {"LastName": "Donor", "MobilePhone": phones[0], "Messaging_Contact_Id__c": platform_ids[phones[0]]},
            {"LastName": "Lost", "MobilePhone": phones[1], "Messaging_Contact_Id__c": platform_ids[phones[1]]},
            {"LastName": "Unlinked", "MobilePhone": phones[2]},
            {"LastName": "Nobody", "MobilePhone": phones[3], "Messaging_Contact_Id__c": platform_ids[phones[3]]},
        ],
    )
    won, lost_opp, won_unlinked = stack.sf.seed(
        "Opportunity",
        records=[
            {"Name": "Gift", "StageName": "Closed Won", "CloseDate": "2026-10-01", "Amount": 50},
            {"Name": "Maybe", "StageName": "Closed Lost", "CloseDate": "2026-10-01", "Amount": 50},
            {"Name": "Gift 2", "StageName": "Closed Won", "CloseDate": "2026-10-01", "Amount": 10},
        ],
    )
    stack.sf.seed(
        "OpportunityContactRole",
        records=[
            {"OpportunityId": won, "ContactId": donor, "Role": "Donor"},
            {"OpportunityId": lost_opp, "ContactId": lost, "Role": "Donor"},
            {"OpportunityId": won_unlinked, "ContactId": unlinked, "Role": "Donor"},
        ],
    )
    stack.start_worker()
    done = stack.sync("donations", timeout=90)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["updated"] == 1 and counts["not_linked"] == 1, counts
    flags = {p["phone"]: p["custom_fields"].get("has_donated_previously") for p in stack.mc_contacts()}
    assert flags == {phones[0]: "true", phones[1]: None, phones[2]: None, phones[3]: None}

    # a second roll-up finds nothing new to write
    again = stack.sync("donations", timeout=90)
    assert json.loads(again.stdout.strip().splitlines()[-1])["updated"] == 0
    assert nobody
