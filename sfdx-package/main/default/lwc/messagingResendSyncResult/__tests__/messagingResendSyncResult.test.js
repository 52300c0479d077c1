import { createElement } from 'lwc';
import MessagingResendSyncResult from 'c/messagingResendSyncResult';
import { notifyRecordUpdateAvailable } from 'lightning/uiRecordApi';
import resendSyncResult from '@salesforce/apex/MessagingSyncConsoleController.resendSyncResult';

jest.mock('@salesforce/apex/MessagingSyncConsoleController.resendSyncResult', () => ({ default: jest.fn() }), {
    virtual: true
});
jest.mock('lightning/uiRecordApi', () => ({ notifyRecordUpdateAvailable: jest.fn(() => Promise.resolve()) }), {
    virtual: true
});

const RESULT_ID = 'a015g00000PqRsTAAV';

function render() {
    const element = createElement('c-messaging-resend-sync-result', { is: MessagingResendSyncResult });
    element.recordId = RESULT_ID;
    document.body.appendChild(element);
    const toasts = jest.fn();
    element.addEventListener('lightning__showtoast', toasts);
    return { element, toasts };
}

describe('c-messaging-resend-sync-result', () => {
    afterEach(() => {
        while (document.body.firstChild) {
            document.body.removeChild(document.body.firstChild);
        }
        jest.clearAllMocks();
    });

    it('resends the record, confirms and refreshes the page', async () => {
        resendSyncResult.mockResolvedValue({ Id: RESULT_ID, Resent_At__c: '2026-11-25T08:05:00.000Z' });
        const { element, toasts } = render();

        await element.invoke();

        expect(resendSyncResult).toHaveBeenCalledWith({ syncResultId: RESULT_ID });
        expect(toasts.mock.calls[0][0].detail).toMatchObject({ variant: 'success', title: 'Sent again' });
        expect(notifyRecordUpdateAvailable).toHaveBeenCalledWith([{ recordId: RESULT_ID }]);
    });

    it('shows why the resend was refused and leaves the page as it is', async () => {
        resendSyncResult.mockRejectedValue({
            body: { message: 'SR-0000042 did not fail, so there is nothing to resend.' }
        });
        const { element, toasts } = render();

        await element.invoke();

        expect(toasts.mock.calls[0][0].detail).toMatchObject({
            variant: 'error',
            message: 'SR-0000042 did not fail, so there is nothing to resend.'
        });
        expect(notifyRecordUpdateAvailable).not.toHaveBeenCalled();
    });
});
