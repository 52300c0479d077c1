import { createElement } from 'lwc';
import MessagingSyncConsole from 'c/messagingSyncConsole';
import { getNavigateCalledWith } from 'lightning/navigation';
import { refreshApex } from '@salesforce/apex';
import getSettings from '@salesforce/apex/MessagingSyncConsoleController.getSettings';
import saveSettings from '@salesforce/apex/MessagingSyncConsoleController.saveSettings';
import getGatewayStatus from '@salesforce/apex/MessagingSyncConsoleController.getGatewayStatus';
import getRecentFailures from '@salesforce/apex/MessagingSyncConsoleController.getRecentFailures';
import resendSyncResult from '@salesforce/apex/MessagingSyncConsoleController.resendSyncResult';
import getSetupChecks from '@salesforce/apex/MessagingSyncSetupController.getSetupChecks';
import createOrgDefaults from '@salesforce/apex/MessagingSyncSetupController.createOrgDefaults';
import sendRelayProbe from '@salesforce/apex/MessagingSyncSetupController.sendRelayProbe';

// A user whose Salesforce locale is en-GB and time zone Australia/Sydney (the browser and Jest run elsewhere).
jest.mock('@salesforce/i18n/locale', () => ({ default: 'en-GB' }), { virtual: true });
jest.mock('@salesforce/i18n/timeZone', () => ({ default: 'Australia/Sydney' }), { virtual: true });

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
jest.mock('@salesforce/apex/MessagingSyncSetupController.getSetupChecks', () => ({ default: jest.fn() }), {
    virtual: true
});
jest.mock('@salesforce/apex/MessagingSyncSetupController.createOrgDefaults', () => ({ default: jest.fn() }), {
    virtual: true
});
jest.mock('@salesforce/apex/MessagingSyncSetupController.sendRelayProbe', () => ({ default: jest.fn() }), {
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
    bypassedOrgWide: false,
    bypassedFor: [],
    youAreBypassed: false,
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

// One check in each state the Apex answers: done, todo (with an action), warning, manual.
const SETUP = {
    canEdit: true,
    doneCount: 1,
    checks: [
        {
            key: 'settings',
            title: 'Org-wide sync settings',
            status: 'todo',
            detail: 'There is no org-default row yet.',
            todo: 'Create the row, then name the integration user in it.',
            action: 'createOrgDefaults',
            actionLabel: 'Create the row'
        },
        { key: 'gateway-url', title: 'Gateway URL', status: 'done', detail: 'Calls go to https://sync.example.org.' },
        {
            key: 'gateway-callout',
            title: 'Salesforce can call the gateway',
            status: 'warning',
            detail: 'The gateway answered but is not ready: failing salesforce.',
            todo: 'Ask the gateway operator.'
        },
        {
            key: 'relay-user',
            title: 'The relay runs as a user who can call the gateway',
            status: 'todo',
            detail: 'The relay has not run since the package was deployed.',
            todo: 'Send a test event, then check again in a minute.',
            action: 'sendRelayProbe',
            actionLabel: 'Send a test event'
        },
        {
            key: 'lead-conversion',
            title: 'Lead conversion keeps the link and the opt-out',
            status: 'manual',
            detail: 'Cannot be checked from Apex.',
            todo: 'Setup → Object Manager → Lead → Map Lead Fields.'
        }
    ]
};

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
        getSetupChecks.mockResolvedValue(SETUP);
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
        getSetupChecks.mockReturnValue(new Promise(() => {}));
        const element = render();
        expect(element.shadowRoot.querySelectorAll('lightning-spinner')).toHaveLength(4);
        await expect(element).toBeAccessible();
    });

    it('shows the Salesforce-to-platform switch and the last success of each direction', async () => {
        const element = render();
        getRecentFailures.emit([]);
        await flush();

        const toggles = [...element.shadowRoot.querySelectorAll('lightning-input')];
        expect(toggles.map((toggle) => [toggle.label, toggle.checked, toggle.disabled])).toEqual([
            ['Salesforce to messaging platform', true, false]
        ]);
        expect(query(element, '.to-salesforce-note').textContent).toContain('its operator pauses it there');
        expect(element.shadowRoot.querySelectorAll('.bypass-note')).toHaveLength(0);
        const lastSyncs = [...element.shadowRoot.querySelectorAll('.last-sync')].map((p) => p.textContent);
        expect(lastSyncs[0]).toBe('Last success: 25 Nov 2026, 19:00');
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

        const toggle = query(element, '.to-platform lightning-input');
        toggle.checked = false;
        toggle.dispatchEvent(new CustomEvent('change'));
        await flush();

        expect(saveSettings).toHaveBeenCalledWith({ syncToPlatform: false });
        expect(toasts.mock.calls[0][0].detail).toMatchObject({ variant: 'success', message: 'Sync switched off.' });
    });

    it('puts the switch back when saving fails', async () => {
        saveSettings.mockRejectedValue({ body: { message: 'Only messaging sync administrators can do this.' } });
        const element = render();
        const toasts = jest.fn();
        element.addEventListener(TOAST, toasts);
        await flush();

        const toggle = query(element, '.to-platform lightning-input');
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
        expect(element.shadowRoot.querySelectorAll('lightning-input')).toHaveLength(1);
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
        expect(row.textContent).toContain('25 Nov 2026, 18:30');

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

    it('says who bypasses the triggers, as the trigger applies it', async () => {
        getSettings.mockResolvedValue({
            ...SETTINGS,
            bypassedOrgWide: true,
            youAreBypassed: true,
            bypassedFor: ['Data Loader', 'Integration (profile)']
        });
        const element = render();
        await flush();

        const notes = [...element.shadowRoot.querySelectorAll('.bypass-note')].map((p) => p.textContent.trim());
        expect(notes).toEqual([
            'Bypass Triggers is checked on the org-default row: nothing is sent for anyone without a row of their own.',
            'Bypassed for data loads: Data Loader, Integration (profile).'
        ]);
    });

    it('tells a bypassed admin that their own changes are not sent', async () => {
        getSettings.mockResolvedValue({ ...SETTINGS, youAreBypassed: true });
        const element = render();
        await flush();

        expect(query(element, '.bypass-note').textContent.trim()).toBe(
            'Your own changes are not sent: the triggers are bypassed for you.'
        );
    });

    describe('Setup section', () => {
        const rows = (element) => [...element.shadowRoot.querySelectorAll('li.setup-check')];
        const row = (element, key) => query(element, `li.setup-check[data-key="${key}"]`);

        it('lists every step with its state, what was found and what to do', async () => {
            const element = render();
            getRecentFailures.emit([]);
            await flush();

            expect(rows(element).map((item) => item.dataset.key)).toEqual([
                'settings',
                'gateway-url',
                'gateway-callout',
                'relay-user',
                'lead-conversion'
            ]);
            expect(query(element, '.setup-progress').textContent).toBe('1 of 5 steps done');
            await expect(element).toBeAccessible();
        });

        it('shows a done step without anything to do', async () => {
            const element = render();
            await flush();

            const done = row(element, 'gateway-url');
            expect(done.querySelector('.setup-status').textContent).toBe('Done');
            expect(done.querySelector('lightning-icon').iconName).toBe('utility:success');
            expect(done.querySelector('.setup-detail').textContent).toBe('Calls go to https://sync.example.org.');
            expect(done.querySelector('.setup-todo')).toBeNull();
            expect(done.querySelector('.setup-action')).toBeNull();
        });

        it('shows a step to do with what to do and its button', async () => {
            const element = render();
            await flush();

            const todo = row(element, 'settings');
            expect(todo.querySelector('.setup-status').textContent).toBe('To do');
            expect(todo.querySelector('lightning-icon').iconName).toBe('utility:error');
            expect(todo.querySelector('.setup-todo').textContent).toBe(
                'Create the row, then name the integration user in it.'
            );
            expect(todo.querySelector('.setup-action').label).toBe('Create the row');
        });

        it('shows a warning and a manual step with their own labels', async () => {
            const element = render();
            await flush();

            expect(row(element, 'gateway-callout').querySelector('.setup-status').textContent).toBe('Check');
            expect(row(element, 'gateway-callout').querySelector('lightning-icon').iconName).toBe('utility:warning');
            const manual = row(element, 'lead-conversion');
            expect(manual.querySelector('.setup-status').textContent).toBe('Manual step');
            expect(manual.querySelector('lightning-icon').iconName).toBe('utility:info');
            expect(manual.querySelector('.setup-action')).toBeNull();
        });

        it('runs a step, says so and checks again', async () => {
            createOrgDefaults.mockResolvedValue(undefined);
            const element = render();
            const toasts = jest.fn();
            element.addEventListener(TOAST, toasts);
            await flush();
            getSetupChecks.mockResolvedValue({
                ...SETUP,
                doneCount: 2,
                checks: [{ ...SETUP.checks[0], status: 'done', action: null, todo: null }, ...SETUP.checks.slice(1)]
            });

            row(element, 'settings').querySelector('.setup-action').click();
            await flush();
            await flush();

            expect(createOrgDefaults).toHaveBeenCalled();
            expect(toasts.mock.calls[0][0].detail).toMatchObject({ variant: 'success' });
            expect(getSetupChecks).toHaveBeenCalledTimes(2);
            expect(query(element, '.setup-progress').textContent).toBe('2 of 5 steps done');
            expect(row(element, 'settings').querySelector('.setup-status').textContent).toBe('Done');
        });

        it('sends a test event to the relay', async () => {
            sendRelayProbe.mockResolvedValue(undefined);
            const element = render();
            const toasts = jest.fn();
            element.addEventListener(TOAST, toasts);
            await flush();

            row(element, 'relay-user').querySelector('.setup-action').click();
            await flush();

            expect(sendRelayProbe).toHaveBeenCalled();
            expect(toasts.mock.calls[0][0].detail.message).toContain('check again');
        });

        it('reports a step that failed', async () => {
            sendRelayProbe.mockRejectedValue({ body: { message: 'The test event could not be published.' } });
            const element = render();
            const toasts = jest.fn();
            element.addEventListener(TOAST, toasts);
            await flush();

            row(element, 'relay-user').querySelector('.setup-action').click();
            await flush();

            expect(toasts.mock.calls[0][0].detail).toMatchObject({
                variant: 'error',
                message: 'The test event could not be published.'
            });
        });

        it('offers no button to users who cannot run the steps', async () => {
            getSetupChecks.mockResolvedValue({ ...SETUP, canEdit: false });
            const element = render();
            await flush();

            expect(element.shadowRoot.querySelectorAll('.setup-action')).toHaveLength(0);
            expect(row(element, 'settings').querySelector('.setup-todo')).not.toBeNull();
        });

        it('checks again on demand', async () => {
            const element = render();
            await flush();

            query(element, 'lightning-button.setup-refresh').click();
            await flush();

            expect(getSetupChecks).toHaveBeenCalledTimes(2);
        });

        it('explains why the checks could not run', async () => {
            getSetupChecks.mockRejectedValue({ body: { message: 'You do not have access to the Apex class.' } });
            const element = render();
            await flush();

            expect(query(element, '.setup-error').textContent).toBe('You do not have access to the Apex class.');
            expect(query(element, '.setup-checks')).toBeNull();
            await expect(element).toBeAccessible();
        });
    });
});
