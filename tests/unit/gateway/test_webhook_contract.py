"""The webhook payload the package's Apex relay builds is the payload the gateway accepts.

Both sides name one fixture: the Apex relay test (`MessagingSyncRelayTest`) loads it as a static resource and
asserts its built payload has the same shape; this test proves the gateway's schema accepts it as it stands.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from gateway.web.schemas import BATCH_SCHEMA

FIXTURE = (
    Path(__file__).resolve().parents[3] / "sfdx-package/main/default/staticresources/MessagingSyncWebhookFixture.json"
)


def test_the_shared_fixture_is_a_valid_webhook_batch() -> None:
    payload = json.loads(FIXTURE.read_text())
    assert BATCH_SCHEMA.validate(payload) == {}
    assert {e["sobjectType"] for e in payload["events"]} >= {"Contact"}


def test_the_schema_would_notice_if_the_fixture_drifted() -> None:
    payload = json.loads(FIXTURE.read_text())
    for field in ("eventUuid", "sobjectType", "recordId", "operation", "record", "publishedAt"):
        broken = copy.deepcopy(payload)
        del broken["events"][0][field]
        assert field in BATCH_SCHEMA.validate(broken)["events"][0], field
