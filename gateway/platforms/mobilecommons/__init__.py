"""Upland Mobile Commons: profiles, opt status, history and mData webhooks over MC's XML API.

`settings` (the `MOBILECOMMONS_*` variables), `wire` (the XML format and error mapping), `webhooks` (mData),
`adapter` (the `PlatformAdapter`); its emulator is `gateway.emulators.mobilecommons`.

Assumptions where Mobile Commons' public contract is UNCONFIRMED (research §1). They live in this package and
nowhere else:
- A bearer token, when configured, replaces Basic auth as `Authorization: Bearer <token>` (UCM accounts).
- Opt status: with `campaign_id` configured, the contact's status is its subscription to that campaign
  (`status="Active"` and no `opted_out_at` → subscribed; any other subscription → unsubscribed; none →
  unknown). Without it, the profile's `<status>`/`<opted_out_at>` decide: "Active Subscriber" (any case)
  → subscribed, an `opted_out_at` → unsubscribed, anything else (e.g. "Profiles with no Subscriptions")
  → unknown.
- `profile_opt_out` is sent with `campaign_id` when configured (else MC opts out of every campaign);
  error 11 there means "was not subscribed", which is success for an opt-out.
- `profile?include_messages=1` returns the whole history as `<messages><message id= message_type=
  status=><body/><when/><campaign id= name=/></message></messages>`; the adapter pages it locally. The
  message types and their meaning are `wire._MESSAGE_TYPES`; an unknown type is an outgoing "other".
- `profiles?from=&to=` filters on `updated_at` inclusively at one-second precision, in a stable order,
  and reports `page_count = ceil(matching / limit)`. `changed_since` reads pages last to first (after
  one `limit=1` probe for the count), so a profile that leaves the window while we page (it was updated
  again, and the next poll sees it) shifts others onto pages already read only as duplicates, never as
  misses. Without `page_count` it falls back to reading forward until a short page.
- mData calls carry `phone`, `keyword`, `args`, `profile_*` fields and, for deduplication, `message_id`
  (without it the key is a hash of phone, text and the minute received). MC documents no signature, so
  the secret is the last segment of our webhook URL. STOP/START words follow the CTIA list in `webhooks`.
- Profile fields absent or empty in a `profile_update` are left as MC holds them (the adapter never
  clears a platform field by sending an empty value).
"""

from __future__ import annotations

from gateway.platforms.base import PlatformEntry
from gateway.platforms.mobilecommons.adapter import MobileCommonsAdapter
from gateway.platforms.mobilecommons.settings import MobileCommonsSettings, Variables

ENTRY = PlatformEntry(
    name="mobilecommons",
    title="Mobile Commons",
    variables=Variables,
    settings=MobileCommonsSettings.from_variables,
    adapter=lambda settings, redis: MobileCommonsAdapter(settings),
    capabilities=MobileCommonsAdapter.capabilities,
    emulator="gateway.emulators.mobilecommons.cli:command",
    demo="gateway.emulators.mobilecommons.demo",
)

__all__ = ["ENTRY", "MobileCommonsAdapter", "MobileCommonsSettings"]
