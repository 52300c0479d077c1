"""Whole-database syncs: the initial sync of two databases that never met, and the nightly incremental pull.

A run is planned into chunks (`planning`, with the Salesforce side's matching `index` for platform → Salesforce
initial runs) and each chunk is one RQ job on the `bulk` queue (`chunks`), so any number of workers share it. A
chunk syncs each record through the same per-record path as real time; what differs is its sink: a run counts
outcomes per record once, logs only failures, and owes Salesforce its links in large batches (`links`). A run's
records, progress, stop/resume and high-water marks are in `runs`; its end in `finish`; when it runs, in
`gateway.sync.schedule`.

Guarantees (each module states its own): memory bounded by the chunk size; resumable after a crash, a
`REQUEST_LIMIT_EXCEEDED` or a stop without sending or counting anything twice; paused, not failed, when the API
budget is spent; one `Sync_Result__c` per failed record and one summary row per run; a dry run writes nothing.
"""
