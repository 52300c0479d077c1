import { LightningElement, api } from 'lwc';
import { ShowToastEvent } from 'lightning/platformShowToastEvent';
import { notifyRecordUpdateAvailable } from 'lightning/uiRecordApi';
import resendSyncResult from '@salesforce/apex/MessagingSyncConsoleController.resendSyncResult';

/**
 * The Resend action of a Sync Result record page: asks the gateway to sync the failed record again,
 * then refreshes the page so that Resent At shows the time.
 */
export default class MessagingResendSyncResult extends LightningElement {
    @api recordId;

    @api async invoke() {
        try {
            await resendSyncResult({ syncResultId: this.recordId });
            this.dispatchEvent(
                new ShowToastEvent({
                    variant: 'success',
                    title: 'Sent again',
                    message: 'The messaging gateway is syncing this record again.'
                })
            );
            await notifyRecordUpdateAvailable([{ recordId: this.recordId }]);
        } catch (error) {
            this.dispatchEvent(
                new ShowToastEvent({
                    variant: 'error',
                    title: 'Could not resend',
                    message: error?.body?.message || 'Something went wrong while resending.'
                })
            );
        }
    }
}
