trigger MessagingSyncLeadTrigger on Lead(after insert, after update, after delete, after undelete) {
    new MessagingSyncTriggerHandler().run();
}
