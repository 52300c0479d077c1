"""`gateway sync initial --object` offers the objects the org's package syncs (its active
`Messaging_Sync_Object__mdt` records), not a list written into the gateway."""

from __future__ import annotations

from tests.integration.bulk.conftest import BulkStack


def test_an_object_the_package_does_not_sync_is_refused_naming_those_it_does(bulk_stack: BulkStack) -> None:
    done = bulk_stack.sync("initial", "--to", "platform", "--object", "Opportunity", "--detach")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "'Opportunity' is not an active Messaging_Sync_Object__mdt record (active: Contact, Lead)" in done.stderr
    assert bulk_stack.redis.zcard("gateway:bulk:runs") == 0  # nothing was queued


def test_an_active_object_is_taken_as_the_package_names_it(bulk_stack: BulkStack) -> None:
    (run_id,) = bulk_stack.start("initial", "--to", "platform", "--object", "lead", "--dry-run")

    assert bulk_stack.report(run_id)["object"] == "Lead"
