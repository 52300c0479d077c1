"""Conversation history: long histories paged by `before`, an empty one, an unknown person."""

from __future__ import annotations

import pytest

from gateway.domain.contact import Contact
from gateway.domain.errors import SyncErrorCode, SyncFailure
from gateway.platforms.base import Direction, MessageReason
from gateway.platforms.mobilecommons import MobileCommonsAdapter

from .conftest import Control


def test_a_history_of_320_messages_pages_back_to_the_first(adapter: MobileCommonsAdapter, control: Control) -> None:
    [seeded] = control.post("seed", {"profiles": [{"phone": "+15105016227", "messages": 320}], "seed": 7})["profiles"]
    contact = Contact(phone=seeded["phone"])

    pages = []
    before = None
    while True:
        page = adapter.messages(contact, limit=50, before=before)
        pages.append(page.messages)
        before = page.next_before
        if before is None:
            break

    assert [len(p) for p in pages] == [50] * 6 + [20]
    history = [m for page in reversed(pages) for m in page]
    assert len({m.id for m in history}) == 320
    assert [m.at for m in history] == sorted(m.at for m in history)
    assert history[0].body.endswith("(#1)") and history[-1].body.endswith("(#320)")
    assert {m.direction for m in history} == {Direction.INCOMING, Direction.OUTGOING}
    assert MessageReason.CAMPAIGN in {m.reason for m in history}
    assert all(m.reason is None for m in history if m.direction is Direction.INCOMING)
    assert all(m.campaign_name == "National" for m in history)


def test_someone_never_texted_has_an_empty_history(adapter: MobileCommonsAdapter, control: Control) -> None:
    control.post("seed", {"profiles": [{"phone": "+15105016227", "sms_status": "unknown"}]})
    page = adapter.messages(Contact(phone="+15105016227"))
    assert page.messages == () and page.next_before is None


def test_history_of_someone_mc_does_not_know_is_not_found(adapter: MobileCommonsAdapter) -> None:
    with pytest.raises(SyncFailure) as caught:
        adapter.messages(Contact(phone="+15105016227"))
    assert caught.value.error.code is SyncErrorCode.NOT_FOUND
