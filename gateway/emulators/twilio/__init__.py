"""A local stand-in for Twilio Programmable Messaging: Messages, keywords and opt-out blocks, signed webhooks."""

from gateway.emulators.twilio.server import TwilioEmulator

__all__ = ["TwilioEmulator"]
