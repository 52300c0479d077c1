"""Upland Mobile Commons: profiles, opt status, history and mData webhooks over MC's XML API.

`settings` (the `MOBILECOMMONS_*` variables), `wire` (the XML format and error mapping), `webhooks` (mData),
`adapter` (the `PlatformAdapter`); its emulator is `gateway.emulators.mobilecommons`.

Assumptions where Mobile Commons' public contract is UNCONFIRMED (research §1). They live in this package and
nowhere else:
- A bearer token, when configured, replaces Basic auth as `Authorization: Bearer <token>` (UCM accounts).
- Opt status: a profile opted out of everything (`profile_status`: not active, with an `opted_out_at`) is
  unsubscribed whatever its subscriptions. Otherwise, with `campaign_id` configured, the contact's status is its
  subscription to that campaign
  (`status` "Active" in any case or spelling, with no `opted_out_at` newer than `activated_at` → subscribed; any
  other subscription → unsubscribed; none → unknown). Without it, the profile's `<status>`/`<opted_out_at>`
  decide: "Active Subscriber" (any case) → subscribed, an `opted_out_at` → unsubscribed ("Undeliverable"), anything
  else (e.g. "Profiles with no Subscriptions") → unknown. (Recorded values: `wire.subscription_status`.)
- `profile_opt_out` is sent with `campaign_id` when configured (else MC opts out of every campaign);
  error 11 there means "was not subscribed", which is success for an opt-out.
- `profile?include_messages=1` returns the whole history as `<messages><message id= message_type=
  status=><body/><when/><campaign id= name=/></message></messages>`; the adapter pages it locally. The
  message types and their meaning are `wire._MESSAGE_TYPES`; an unknown type is an outgoing "other".
- `profiles?from=&to=` filters on `updated_at` inclusively at one-second precision (recorded: `num` and `page`,
  no `page_count`; the order is undocumented). `changed_since` halves a window whose page is full until each
  window fits one call, so a profile updated while we read (it leaves the window; the next poll sees it) cannot
  shift another onto a page already read.
- mData is configured per keyword and is the only push: `phone` (10 digits), `keyword` (lower case), `args`,
  `profile_id`, `profile_*` fields and custom columns as `profile_<name>`; no `message_id` was ever recorded, so
  the deduplication key is a hash of phone, text and the minute received (one taken with `message_id` when it is
  sent). MC documents no signature, so the secret is the last segment of our webhook URL. No STOP reaches mData
  (MC answers its own words): opt-outs are found by polling, every `MOBILECOMMONS_POLL_SECONDS`.
- Profile fields absent or empty in a `profile_update` are left as MC holds them (the adapter never
  clears a platform field by sending an empty value).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazy_imports import exports
from gateway.platforms.base import Capabilities, Imported, PlatformEntry
from gateway.platforms.mobilecommons.settings import MobileCommonsSettings, Variables

if TYPE_CHECKING:
    from gateway.platforms.mobilecommons.adapter import MobileCommonsAdapter

CAPABILITIES = Capabilities(
    contact_store=True,
    custom_fields=True,
    conversation_history=True,
    campaigns=True,
    inbound_webhooks=True,
    opt_out_webhooks=False,  # mData is keyword-scoped; STOP must be polled (research §1)
    change_feed=True,
    ordered_change_feed=True,  # `profiles?from=&to=` in a stable order (an assumption, see the package docstring)
    lookup_by_phone=True,
    lookup_by_crm_id=False,
    lookup_by_platform_id=False,
    lookup_many_by_phone=True,
)

ENTRY = PlatformEntry(
    name="mobilecommons",
    title="Mobile Commons",
    variables=Variables,
    settings=MobileCommonsSettings.from_variables,
    adapter=Imported("gateway.platforms.mobilecommons.adapter:MobileCommonsAdapter.build"),
    capabilities=CAPABILITIES,
    emulator="gateway.emulators.mobilecommons.cli:command",
    demo="gateway.emulators.mobilecommons.demo",
)


# the adapter class, imported when first asked for (the registry does not load it either: `base.Imported`)
__getattr__ = exports(__name__, {"MobileCommonsAdapter": "gateway.platforms.mobilecommons.adapter"})


__all__ = ["CAPABILITIES", "ENTRY", "MobileCommonsAdapter", "MobileCommonsSettings"]
