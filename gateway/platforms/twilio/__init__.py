"""Twilio Programmable Messaging: signed webhooks push every STOP, START and reply; the Messages API holds the
conversation; Twilio keeps no contacts, so the Salesforce fields (`Messaging_Status__c`, the opt-out field) are the
opt-out ledger.

Modules: `settings` (the `TWILIO_*` variables), `signature` (X-Twilio-Signature), `webhooks` (requests → events),
`errors` (Twilio's error answers → the error dictionary), `adapter` (the `PlatformAdapter`); its emulator is
`gateway.emulators.twilio`. Contract, sources and what stays UNCONFIRMED: docs/platforms/twilio.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazy_imports import exports
from gateway.platforms.base import Capabilities, Imported, Pace, PlatformEntry
from gateway.platforms.twilio.settings import TwilioSettings, Variables

if TYPE_CHECKING:
    from gateway.platforms.twilio.adapter import TwilioAdapter

CAPABILITIES = Capabilities(
    contact_store=False,  # Twilio keeps no people: the sync records opt changes in Salesforce (the ledger)
    custom_fields=False,
    conversation_history=True,
    campaigns=False,
    inbound_webhooks=True,
    opt_out_webhooks=True,  # STOP and START are pushed, signed, within seconds; the pushed word itself decides
    change_feed=True,  # a backstop for missed webhooks: keywords read back from the Messages API, slow interval
    lookup_by_phone=False,  # nobody to look up: an event's own opt status is the platform's word
    lookup_by_crm_id=False,
    lookup_by_platform_id=False,
    lookup_many_by_phone=False,
)

ENTRY = PlatformEntry(
    name="twilio",
    title="Twilio",
    variables=Variables,
    settings=TwilioSettings.from_variables,
    adapter=Imported("gateway.platforms.twilio.adapter:TwilioAdapter.build"),
    capabilities=CAPABILITIES,
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


# the adapter class, imported when first asked for (the registry does not load it either: `base.Imported`)
__getattr__ = exports(__name__, {"TwilioAdapter": "gateway.platforms.twilio.adapter"})


__all__ = ["CAPABILITIES", "ENTRY", "TwilioAdapter", "TwilioSettings"]
