trigger MessagingSyncContactTrigger on Contact(after insert, after update, after delete, after undelete) {
    new MessagingSyncTriggerHandler().run();
}
