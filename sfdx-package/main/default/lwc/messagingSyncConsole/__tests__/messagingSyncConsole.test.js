import { createElement } from 'lwc';
import MessagingSyncConsole from 'c/messagingSyncConsole';
import { getNavigateCalledWith } from 'lightning/navigation';
import { refreshApex } from '@salesforce/apex';
import getSettings from '@salesforce/apex/MessagingSyncConsoleController.getSettings';
import saveSettings from '@salesforce/apex/MessagingSyncConsoleController.saveSettings';
import getGatewayStatus from '@salesforce/apex/MessagingSyncConsoleController.getGatewayStatus';
import getRecentFailures from '@salesforce/apex/MessagingSyncConsoleController.getRecentFailures';
import resendSyncResult from '@salesforce/apex/MessagingSyncConsoleController.resendSyncResult';

jest.mock('@salesforce/apex/MessagingSyncConsoleController.getSettings', () => ({ default: jest.fn() }), {
    virtual: true
});
jest.mock('@salesforce/apex/MessagingSyncConsoleController.saveSettings', () => ({ default: jest.fn() }), {
    virtual: true
});
jest.mock('@salesforce/apex/MessagingSyncConsoleController.getGatewayStatus', () => ({ default: jest.fn() }), {
    virtual: true
});
jest.mock('@salesforce/apex/MessagingSyncConsoleController.resendSyncResult', () => ({ default: jest.fn() }), {
    virtual: true
});
jest.mock(
    '@salesforce/apex/MessagingSyncConsoleController.getRecentFailures',
    () => {
        const { createApexTestWireAdapter } = require('@salesforce/sfdx-lwc-jest');
        return { default: createApexTestWireAdapter(jest.fn()) };
    },
    { virtual: true }
);
jest.mock('@salesforce/apex', () => ({ refreshApex: jest.fn(() => Promise.resolve()) }), { virtual: true });

const SETTINGS = {
    syncToPlatform: true,
    syncToSalesforce: true,
    syncMethod: 'PLATFORM_EVENT',
    canEdit: true,
    lastToPlatformAt: '2026-11-25T07:00:00.000Z',
    lastToSalesforceAt: null
};

const STATUS = {
    toPlatformLastSuccessAt: '2026-11-25T08:00:00Z',
    toPlatformLagSeconds: 2,
    toSalesforceLastSuccessAt: null,
    toSalesforceLagSeconds: null,
    queues: [
        { label: 'realtime', value: 0 },
        { label: 'sync', value: 12 }
    ],
    failures24h: [{ label: 'invalid-phone', value: 3 }],
    apiUsed: 1200,
    apiBudget: 50000,
    platformName: 'mobilecommons',
    platformReachable: true,
    version: '1.4.0'
};

const FAILURES = [
    {
        Id: 'a015g00000PqRsTAAV',
        Name: 'SR-0000042',
        CreatedDate: '2026-11-25T07:30:00.000Z',
        Direction__c: 'To Platform',
        Status__c: 'Failure',
        Error_Code__c: 'invalid-phone',
        Message__c: 'MobilePhone "555" is not a valid number',
        Object__c: 'Contact',
        Record_Id__c: '0035g00000AbCdEAAV'
    }
];

const TOAST = 'lightning__showtoast';

const flush = async () => {
    for (let i = 0; i < 4; i++) {
        // eslint-disable-next-line no-await-in-loop
        await Promise.resolve();
    }
};

function render() {
    const element = createElement('c-messaging-sync-console', { is: MessagingSyncConsole });
    document.body.appendChild(element);
    return element;
}

const query = (element, selector) => element.shadowRoot.querySelector(selector);

describe('c-messaging-sync-console', () => {
    beforeEach(() => {
        getSettings.mockResolvedValue(SETTINGS);
        getGatewayStatus.mockResolvedValue(STATUS);
    });

    afterEach(() => {
        while (document.body.firstChild) {
            document.body.removeChild(document.body.firstChild);
        }
        jest.clearAllMocks();
    });

    it('shows spinners until the data arrives', async () => {
        getSettings.mockReturnValue(new Promise(() => {}));
        getGatewayStatus.mockReturnValue(new Promise(() => {}));
        const element = render();
        expect(element.shadowRoot.querySelectorAll('lightning-spinner')).toHaveLength(3);
        await expect(element).toBeAccessible();
    });

    it('shows both direction switches with the last success of each', async () => {
        const element = render();
        getRecentFailures.emit([]);
        await flush();

        const toggles = [...element.shadowRoot.querySelectorAll('lightning-input')];
        expect(toggles.map((toggle) => [toggle.label, toggle.checked, toggle.disabled])).toEqual([
            ['Salesforce to messaging platform', true, false],
            ['Messaging platform to Salesforce', true, false]
        ]);
        const lastSyncs = [...element.shadowRoot.querySelectorAll('.last-sync')].map((p) => p.textContent);
        expect(lastSyncs[0]).toMatch(/Last success: Nov 25, 2026/);
        expect(lastSyncs[1]).toBe('Last success: Never');
        expect(query(element, '.read-only-note')).toBeNull();
        await expect(element).toBeAccessible();
    });

    it('switches a direction off and says so', async () => {
        saveSettings.mockResolvedValue({ ...SETTINGS, syncToPlatform: false });
        const element = render();
        const toasts = jest.fn();
        element.addEventListener(TOAST, toasts);
        await flush();

        const toggle = query(element, 'lightning-input[data-direction="toPlatform"]');
        toggle.checked = false;
        toggle.dispatchEvent(new CustomEvent('change'));
        await flush();

        expect(saveSettings).toHaveBeenCalledWith({ syncToPlatform: false, syncToSalesforce: true });
        expect(toasts.mock.calls[0][0].detail).toMatchObject({ variant: 'success', message: 'Sync switched off.' });
    });

    it('puts the switch back when saving fails', async () => {
        saveSettings.mockRejectedValue({ body: { message: 'Only messaging sync administrators can do this.' } });
        const element = render();
        const toasts = jest.fn();
        element.addEventListener(TOAST, toasts);
        await flush();

        const toggle = query(element, 'lightning-input[data-direction="toSalesforce"]');
        toggle.checked = false;
        toggle.dispatchEvent(new CustomEvent('change'));
        await flush();

        expect(toggle.checked).toBe(true);
        expect(toasts.mock.calls[0][0].detail).toMatchObject({
            variant: 'error',
            message: 'Only messaging sync administrators can do this.'
        });
    });

    it('lets only admins flip the switches or resend', async () => {
        getSettings.mockResolvedValue({ ...SETTINGS, canEdit: false });
        const element = render();
        getRecentFailures.emit(FAILURES);
        await flush();

        for (const toggle of element.shadowRoot.querySelectorAll('lightning-input')) {
            expect(toggle.disabled).toBe(true);
        }
        expect(query(element, '.read-only-note')).not.toBeNull();
        expect(query(element, 'lightning-button.resend').disabled).toBe(true);
    });

    it('summarises the gateway status', async () => {
        const element = render();
        await flush();

        expect(query(element, '.platform lightning-badge').label).toBe('mobilecommons: reachable');
        expect(query(element, '.version').textContent).toBe('Gateway version 1.4.0');
        expect(query(element, '.api-usage').textContent).toBe('Salesforce API: 1200 of 50000 calls today');
        const queues = [...element.shadowRoot.querySelectorAll('.queues dt, .queues dd')].map(
            (node) => node.textContent
        );
        expect(queues).toEqual(['Queue realtime', '0', 'Queue sync', '12']);
        expect(query(element, '.failure-counts').textContent).toBe('invalid-phone: 3');
    });

    it('explains an unreachable gateway and still shows the switches', async () => {
        getGatewayStatus.mockRejectedValue({ body: { message: 'Salesforce could not reach the messaging gateway.' } });
        const element = render();
        getRecentFailures.emit([]);
        await flush();

        expect(query(element, '.status-error').textContent).toBe('Salesforce could not reach the messaging gateway.');
        expect(element.shadowRoot.querySelectorAll('lightning-input')).toHaveLength(2);
        await expect(element).toBeAccessible();
    });

    it('lists recent failures and resends one', async () => {
        resendSyncResult.mockResolvedValue({ ...FAILURES[0], Resent_At__c: '2026-11-25T08:05:00.000Z' });
        const element = render();
        const toasts = jest.fn();
        element.addEventListener(TOAST, toasts);
        getRecentFailures.emit(FAILURES);
        await flush();

        const row = query(element, 'tr.failure');
        expect(row.textContent).toContain('SR-0000042');
        expect(row.textContent).toContain('invalid-phone');
        expect(row.textContent).toContain('MobilePhone "555" is not a valid number');

        query(element, 'lightning-button.resend').click();
        await flush();

        expect(resendSyncResult).toHaveBeenCalledWith({ syncResultId: 'a015g00000PqRsTAAV' });
        expect(refreshApex).toHaveBeenCalled();
        expect(toasts.mock.calls[0][0].detail.variant).toBe('success');
        await expect(element).toBeAccessible();
    });

    it('reports a resend the gateway refused', async () => {
        resendSyncResult.mockRejectedValue({ body: { message: 'The messaging gateway is busy.' } });
        const element = render();
        const toasts = jest.fn();
        element.addEventListener(TOAST, toasts);
        getRecentFailures.emit(FAILURES);
        await flush();

        query(element, 'lightning-button.resend').click();
        await flush();

        expect(toasts.mock.calls[0][0].detail).toMatchObject({
            variant: 'error',
            message: 'The messaging gateway is busy.'
        });
        expect(refreshApex).not.toHaveBeenCalled();
    });

    it('says when nothing failed', async () => {
        const element = render();
        getRecentFailures.emit([]);
        await flush();
        expect(query(element, '.no-failures').textContent).toBe('No failed syncs. Everything is flowing.');
        expect(query(element, 'table')).toBeNull();
    });

    it('shows why failures could not be loaded', async () => {
        const element = render();
        getRecentFailures.error({ message: 'You do not have access to Sync Result.' });
        await flush();
        expect(query(element, '.failures-error').textContent).toBe('You do not have access to Sync Result.');
    });

    it('opens the sync result list views', async () => {
        const element = render();
        await flush();

        query(element, 'a.list-failures').click();

        expect(getNavigateCalledWith()).toEqual({
            type: 'standard__objectPage',
            attributes: { objectApiName: 'Sync_Result__c', actionName: 'list' },
            state: { filterName: 'Failures' }
        });
    });
});
