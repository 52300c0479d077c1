trigger MessagingSyncEventTrigger on Messaging_Sync__e(after insert) {
    MessagingSyncEventRelay.relay(Trigger.new);
}
