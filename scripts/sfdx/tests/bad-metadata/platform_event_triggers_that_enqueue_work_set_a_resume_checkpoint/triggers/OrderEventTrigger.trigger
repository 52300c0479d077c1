// Bad example: a platform-event trigger whose handler enqueues a job but never sets a resume checkpoint, so a
// limit exception in a large batch would drop every event of the batch.
trigger OrderEventTrigger on Order_Event__e(after insert) {
    OrderEventRelay.relay(Trigger.new);
}
