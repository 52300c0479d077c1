"""Action Network (API v2, OSDI): people, phone opt status and action webhooks, under a rate limit every worker
shares.

`settings` (the `ACTIONNETWORK_*` variables), `wire` (the JSON/HAL format, OData filters, error mapping),
`webhooks` (the webhook arrays), `adapter` (the `PlatformAdapter`); the limiter is the shared `gateway.ratelimit`;
its emulator is `gateway.emulators.actionnetwork`. Every fact with its source, and what stays UNCONFIRMED, is in
`docs/platforms/actionnetwork.md`; the package's own choices where the contract is unknown:
- Every unsubscribed number counts as opted out (the phone status does not say why); Salesforce subscribes only
  numbers Action Network does not hold unsubscribed (sticky STOP), see `adapter`.
- `changed_since` re-reads `ACTIONNETWORK_LOOKBACK_SECONDS` before each window (writes reach the filter late), and
  the nightly pull of people looks back at least 48 hours (`INCREMENTAL_LOOKBACK_SECONDS`), as Mobile Commons' own
  Action Network sync does; no order is assumed (`ordered_change_feed=False`).
- A webhook element is "look at this person now": the person is re-read by uuid before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from redis import Redis

from gateway.domain.errors import SyncFailure
from gateway.lazy_imports import exports
from gateway.platforms.actionnetwork.settings import ActionNetworkSettings, Variables
from gateway.platforms.base import Capabilities, Imported, PlatformEntry

if TYPE_CHECKING:
    from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter

CAPABILITIES = Capabilities(
    contact_store=True,
    custom_fields=True,
    conversation_history=False,  # no per-person SMS history in the API
    campaigns=False,
    inbound_webhooks=True,  # action webhooks: "look at this person now"
    opt_out_webhooks=False,  # no unsubscribe trigger: opt-outs are found by polling `changed_since`
    change_feed=True,  # `filter=modified_date gt …`
    ordered_change_feed=False,  # "people are not ordered" (docs): a bulk planner must not resume by count
    lookup_by_phone=False,  # no documented phone filter: the signup helper deduplicates by phone itself
    lookup_by_crm_id=False,  # no documented filter on custom fields
    lookup_by_platform_id=True,  # GET people/{uuid}
    lookup_many_by_phone=False,
)


INCREMENTAL_LOOKBACK_SECONDS = 48 * 3600


def doctor(settings: ActionNetworkSettings, redis: Redis) -> Iterator[tuple[str, bool, str]]:
    """`gateway doctor`'s own Action Network rows: the source tag exists (Action Network ignores unknown tags
    silently, so a typo would only show as people missing the tag)."""
    if not settings.source_tag:
        return
    from gateway.platforms.actionnetwork.adapter import ActionNetworkAdapter

    adapter = ActionNetworkAdapter.build(settings, redis)
    name = "actionnetwork source tag"
    try:
        found = adapter.has_tag(settings.source_tag)
    except SyncFailure as failure:
        yield name, False, f"could not list the tags: {failure.error.detail}"
        return
    finally:
        adapter.close()
    if found is None:
        yield name, True, f"{settings.source_tag!r} not among the first tags listed; check it in Action Network"
    elif found:
        yield name, True, f"{settings.source_tag!r} exists"
    else:
        yield (
            name,
            False,
            f"ACTIONNETWORK_SOURCE_TAG {settings.source_tag!r} is not a tag of this group: create it in Action Network "
            "first (people are sent with it, and Action Network silently ignores tags that do not exist)",
        )


ENTRY = PlatformEntry(
    name="actionnetwork",
    title="Action Network",
    variables=Variables,
    settings=ActionNetworkSettings.from_variables,
    adapter=Imported("gateway.platforms.actionnetwork.adapter:ActionNetworkAdapter.build"),
    capabilities=CAPABILITIES,
    emulator="gateway.emulators.actionnetwork.cli:command",
    demo="gateway.emulators.actionnetwork.demo",
    pace=Imported("gateway.platforms.actionnetwork.adapter:pace"),
    incremental_lookback_seconds=INCREMENTAL_LOOKBACK_SECONDS,
    doctor=doctor,
    limits=(
        "find a person by phone or by a custom field (the API has no such filter): a person is linked by the uuid "
        "stored on the Salesforce record, and the signup helper matches new writes by email and phone itself",
        "say how many people it holds (its lists carry no totals): a run from it shows a read rate, not an ETA",
        "go faster than ACTIONNETWORK_REQUESTS_PER_SECOND (4 a second by default), shared by every worker: an "
        "initial sync of 100,000 records takes most of a day (`gateway sync initial` says so before it starts)",
    ),
)


# the adapter class, imported when first asked for (the registry does not load it either: `base.Imported`)
__getattr__ = exports(__name__, {"ActionNetworkAdapter": "gateway.platforms.actionnetwork.adapter"})


__all__ = ["CAPABILITIES", "ENTRY", "ActionNetworkAdapter", "ActionNetworkSettings"]
