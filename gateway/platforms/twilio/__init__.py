"""Twilio Programmable Messaging: signed webhooks push every STOP, START and reply; the Messages API holds the
conversation; Twilio keeps no contacts, so the gateway's record and the Salesforce fields are the opt-out ledger.

Modules: `settings` (the `TWILIO_*` variables), `signature` (X-Twilio-Signature), `webhooks` (requests → events),
`errors` (Twilio's error answers → the error dictionary), `adapter` (the `PlatformAdapter`). Contract and sources:
docs/platforms/twilio.md.
"""
