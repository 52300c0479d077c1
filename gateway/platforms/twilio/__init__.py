"""Twilio Programmable Messaging: signed webhooks push every STOP, START and reply; the Messages API holds the
conversation; Twilio keeps no contacts, so the Salesforce fields (`Messaging_Status__c`, the opt-out field) are the
opt-out ledger.

Modules: `settings` (the `TWILIO_*` variables), `signature` (X-Twilio-Signature), `webhooks` (requests → events),
`errors` (Twilio's error answers → the error dictionary), `adapter` (the `PlatformAdapter`); its emulator is
`gateway.emulators.twilio`. Contract, sources and what stays UNCONFIRMED: docs/platforms/twilio.md.
"""

from __future__ import annotations

from gateway.platforms.base import Pace, PlatformEntry
from gateway.platforms.twilio.adapter import TwilioAdapter
from gateway.platforms.twilio.settings import TwilioSettings, Variables

ENTRY = PlatformEntry(
    name="twilio",
    title="Twilio",
    variables=Variables,
    settings=TwilioSettings.from_variables,
    adapter=TwilioAdapter.build,
    capabilities=TwilioAdapter.capabilities,
    emulator="gateway.emulators.twilio.cli:command",
    demo="gateway.emulators.twilio.demo",
    # Salesforce → Twilio writes only the ledger in Salesforce: a run makes no Twilio request, whatever the shared
    # TWILIO_REQUESTS_PER_SECOND.
    pace=lambda settings: Pace(calls_per_write=0),
    limits=(
        "recognise custom Advanced Opt-Out keywords in the backstop poll (they reach Salesforce by webhook only: "
        "message history does not keep OptOutType)",
        "order texts sent within the same second (Twilio's times are whole seconds)",
        "create a Salesforce record for a STOP from a number no record holds, unless unmatched people are created "
        "(Create_Unmatched_To_Salesforce__c) and GATEWAY_CREATE_UNMATCHED_OPT_OUTS=true: the STOP is logged once a day",
    ),
)

__all__ = ["ENTRY", "TwilioAdapter", "TwilioSettings"]
