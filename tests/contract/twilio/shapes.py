"""Twilio's documented shapes, written out once (values ours, names and formats Twilio's), with their sources.

Sources (docs/platforms/twilio.md): the Message resource page (properties, status and direction enums, the list
response and its paging fields, RFC 2822 dates, `PageToken`), "Twilio's request to your incoming message Webhook URL"
(inbound parameters, `OptOutType`), "Outbound Message Status in Status Callbacks" (callback parameters), and
"Twilio API responses" (the error body).
"""

from __future__ import annotations

MESSAGE_PROPERTIES = frozenset(
    {
        "account_sid", "api_version", "body", "date_created", "date_sent", "date_updated", "direction", "error_code",
        "error_message", "from", "messaging_service_sid", "num_media", "num_segments", "price", "price_unit", "sid",
        "status", "subresource_uris", "to", "uri",
    }
)  # fmt: skip
LIST_PAGE_PROPERTIES = frozenset(
    {"end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start", "uri", "messages"}
)
STATUSES = frozenset(
    {
        "queued", "sending", "sent", "failed", "delivered", "undelivered", "receiving", "received", "accepted",
        "scheduled", "read", "partially_delivered", "canceled",
    }
)  # fmt: skip
DIRECTIONS = frozenset({"inbound", "outbound-api", "outbound-call", "outbound-reply"})
ERROR_BODY = frozenset({"code", "message", "more_info", "status"})
INBOUND_PARAMETERS = frozenset({"MessageSid", "SmsSid", "AccountSid", "From", "To", "Body", "NumMedia"})
OPT_OUT_TYPES = frozenset({"STOP", "START", "HELP"})
STATUS_CALLBACK_PARAMETERS = frozenset({"MessageSid", "MessageStatus", "AccountSid", "From", "To"})

ACCOUNT = "AC" + "a" * 32
SERVICE = "MG" + "a" * 32

#: One page of the documented list response (the documentation's shape; values ours).
DOCUMENTED_PAGE = {
    "end": 1,
    "first_page_uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=%2B14155550123&PageSize=2&Page=0",
    "next_page_uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=%2B14155550123&PageSize=2&Page=1"
    "&PageToken=PASM" + "c" * 32,
    "page": 0,
    "page_size": 2,
    "previous_page_uri": None,
    "start": 0,
    "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=%2B14155550123&PageSize=2&Page=0",
    "messages": [
        {
            "account_sid": ACCOUNT,
            "api_version": "2010-04-01",
            "body": "Doors open at 6",
            "date_created": "Fri, 24 May 2019 17:44:46 +0000",
            "date_sent": "Fri, 24 May 2019 17:44:50 +0000",
            "date_updated": "Fri, 24 May 2019 17:44:50 +0000",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": "+12025550101",
            "messaging_service_sid": SERVICE,
            "num_media": "0",
            "num_segments": "1",
            "price": "-0.00750",
            "price_unit": "USD",
            "sid": "SM" + "b" * 32,
            "status": "delivered",
            "subresource_uris": {},
            "to": "+14155550123",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{'b' * 32}.json",
        },
        {
            "account_sid": ACCOUNT,
            "api_version": "2010-04-01",
            "body": "see you there",
            "date_created": "Fri, 24 May 2019 17:40:01 +0000",
            "date_sent": "Fri, 24 May 2019 17:40:02 +0000",
            "date_updated": "Fri, 24 May 2019 17:40:02 +0000",
            "direction": "inbound",
            "error_code": None,
            "error_message": None,
            "from": "+14155550123",
            "messaging_service_sid": SERVICE,
            "num_media": "0",
            "num_segments": "1",
            "price": "-0.00750",
            "price_unit": "USD",
            "sid": "SM" + "c" * 32,
            "status": "received",
            "subresource_uris": {},
            "to": "+12025550101",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{'c' * 32}.json",
        },
    ],
}

#: An incoming STOP through a Messaging Service with Advanced Opt-Out (documented parameter names; values ours).
DOCUMENTED_INBOUND_STOP = {
    "ToCountry": "US",
    "SmsMessageSid": "SM" + "d" * 32,
    "NumMedia": "0",
    "SmsSid": "SM" + "d" * 32,
    "OptOutType": "STOP",
    "SmsStatus": "received",
    "Body": "stop",
    "FromCountry": "US",
    "To": "+12025550101",
    "MessagingServiceSid": SERVICE,
    "NumSegments": "1",
    "MessageSid": "SM" + "d" * 32,
    "AccountSid": ACCOUNT,
    "From": "+14155550123",
    "ApiVersion": "2010-04-01",
}

#: A status callback for a message Twilio failed because the recipient had replied STOP.
DOCUMENTED_FAILED_CALLBACK = {
    "MessageSid": "SM" + "e" * 32,
    "SmsSid": "SM" + "e" * 32,
    "AccountSid": ACCOUNT,
    "MessagingServiceSid": SERVICE,
    "From": "+12025550101",
    "To": "+14155550123",
    "MessageStatus": "failed",
    "SmsStatus": "failed",
    "ErrorCode": "21610",
    "ApiVersion": "2010-04-01",
}

DOCUMENTED_ERROR = {
    "code": 21610,
    "message": "Attempt to send to unsubscribed recipient",
    "more_info": "https://www.twilio.com/docs/errors/21610",
    "status": 400,
}
