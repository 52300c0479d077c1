import { LightningElement, wire } from 'lwc';
import { NavigationMixin } from 'lightning/navigation';
import { ShowToastEvent } from 'lightning/platformShowToastEvent';
import { refreshApex } from '@salesforce/apex';
import getSettings from '@salesforce/apex/MessagingSyncConsoleController.getSettings';
import saveSettings from '@salesforce/apex/MessagingSyncConsoleController.saveSettings';
import getGatewayStatus from '@salesforce/apex/MessagingSyncConsoleController.getGatewayStatus';
import getRecentFailures from '@salesforce/apex/MessagingSyncConsoleController.getRecentFailures';
import resendSyncResult from '@salesforce/apex/MessagingSyncConsoleController.resendSyncResult';
import getSetupChecks from '@salesforce/apex/MessagingSyncSetupController.getSetupChecks';
import createOrgDefaults from '@salesforce/apex/MessagingSyncSetupController.createOrgDefaults';
import sendRelayProbe from '@salesforce/apex/MessagingSyncSetupController.sendRelayProbe';
import { formatDateTime } from 'c/messagingTime';

const FAILURE_ROWS = 20;

function formatTime(value) {
    return formatDateTime(value) || 'Never';
}

function messageOf(error) {
    return error?.body?.message || error?.message || 'Something went wrong.';
}

const SETUP_STATES = {
    done: { label: 'Done', icon: 'utility:success', variant: 'success' },
    todo: { label: 'To do', icon: 'utility:error', variant: 'error' },
    warning: { label: 'Check', icon: 'utility:warning', variant: 'warning' },
    manual: { label: 'Manual step', icon: 'utility:info', variant: '' }
};

const SETUP_ACTIONS = {
    createOrgDefaults: {
        run: () => createOrgDefaults(),
        done: 'The org-wide settings row was created with the sync on.'
    },
    sendRelayProbe: {
        run: () => sendRelayProbe(),
        done: 'Test event sent. The relay writes its user down within a minute: check again then.'
    }
};

/**
 * The admin console of the messaging sync: the Setup section (every step after a deploy, checked live, with a
 * button where Apex can do the step), the Salesforce-to-platform switch as the trigger applies it (org-wide
 * pause, org-wide and per-user bypasses), the last successful sync per direction, the gateway's status, and the
 * resend of recent failures.
 */
export default class MessagingSyncConsole extends NavigationMixin(LightningElement) {
    settings;
    settingsError;
    status;
    statusError;
    failures = [];
    failuresError;
    failuresLoaded = false;
    saving = false;
    resendingId;
    wiredFailures;
    setup;
    setupError;
    setupBusy = false;

    connectedCallback() {
        this.loadSettings();
        this.loadStatus();
        this.loadSetup();
    }

    @wire(getRecentFailures, { maxRows: FAILURE_ROWS })
    receiveFailures(result) {
        this.wiredFailures = result;
        if (result.data) {
            this.failures = result.data;
            this.failuresError = undefined;
            this.failuresLoaded = true;
        } else if (result.error) {
            this.failures = [];
            this.failuresError = messageOf(result.error);
            this.failuresLoaded = true;
        }
    }

    async loadSettings() {
        try {
            this.settings = await getSettings();
            this.settingsError = undefined;
        } catch (error) {
            this.settingsError = messageOf(error);
        }
    }

    loadStatus() {
        return this.loadInto('status', getGatewayStatus);
    }

    /** Reads an Apex answer into this[key], or its message into this[key + 'Error']. */
    async loadInto(key, read) {
        try {
            this[key] = await read();
            this[`${key}Error`] = undefined;
        } catch (error) {
            this[key] = undefined;
            this[`${key}Error`] = messageOf(error);
        }
    }

    loadSetup() {
        return this.loadInto('setup', getSetupChecks);
    }

    get setupLoading() {
        return !this.setup && !this.setupError;
    }

    get setupProgress() {
        if (!this.setup) {
            return '';
        }
        return `${this.setup.doneCount} of ${this.setup.checks.length} steps done`;
    }

    get setupRows() {
        return (this.setup?.checks ?? []).map((check) => {
            const state = SETUP_STATES[check.status] ?? SETUP_STATES.manual;
            return {
                ...check,
                statusLabel: state.label,
                icon: state.icon,
                iconVariant: state.variant,
                itemClass: `slds-item setup-check setup-${check.status}`,
                showAction: Boolean(check.action) && this.setup.canEdit,
                actionDisabled: this.setupBusy
            };
        });
    }

    async handleSetupAction(event) {
        const action = SETUP_ACTIONS[event.target.dataset.action];
        if (!action) {
            return;
        }
        this.setupBusy = true;
        try {
            await action.run();
            this.toast('success', 'Setup', action.done);
            await this.loadSetup();
            await this.loadSettings();
        } catch (error) {
            this.toast('error', 'Setup step failed', messageOf(error));
        } finally {
            this.setupBusy = false;
        }
    }

    handleSetupRefresh() {
        return this.loadSetup();
    }

    get settingsLoading() {
        return !this.settings && !this.settingsError;
    }

    get statusLoading() {
        return !this.status && !this.statusError;
    }

    get togglesDisabled() {
        return !this.settings?.canEdit || this.saving;
    }

    get showReadOnlyNote() {
        return Boolean(this.settings) && !this.settings.canEdit;
    }

    get bypassNotes() {
        const notes = [];
        if (!this.settings) {
            return notes;
        }
        if (this.settings.bypassedOrgWide) {
            notes.push({
                key: 'org',
                text: 'Bypass Triggers is checked on the org-default row: nothing is sent for anyone without a row of their own.'
            });
        }
        if (this.settings.bypassedFor?.length) {
            notes.push({
                key: 'rows',
                text: `Bypassed for data loads: ${this.settings.bypassedFor.join(', ')}.`
            });
        }
        if (this.settings.youAreBypassed && !this.settings.bypassedOrgWide) {
            notes.push({ key: 'you', text: 'Your own changes are not sent: the triggers are bypassed for you.' });
        }
        return notes;
    }

    get toPlatformLastSync() {
        return formatTime(this.status?.toPlatformLastSuccessAt || this.settings?.lastToPlatformAt);
    }

    get toSalesforceLastSync() {
        return formatTime(this.status?.toSalesforceLastSuccessAt || this.settings?.lastToSalesforceAt);
    }

    get toPlatformLag() {
        return this.status?.toPlatformLagSeconds ?? '—';
    }

    get toSalesforceLag() {
        return this.status?.toSalesforceLagSeconds ?? '—';
    }

    get platformSummary() {
        if (!this.status) {
            return '';
        }
        const name = this.status.platformName || 'Messaging platform';
        return `${name}: ${this.status.platformReachable ? 'reachable' : 'not reachable'}`;
    }

    get platformBadgeClass() {
        return this.status?.platformReachable ? 'slds-theme_success' : 'slds-theme_error';
    }

    get apiUsage() {
        if (this.status?.apiBudget == null) {
            return '—';
        }
        return `${this.status.apiUsed ?? 0} of ${this.status.apiBudget} calls today`;
    }

    get queues() {
        return (this.status?.queues ?? []).map((queue) => ({
            labelKey: `queue-${queue.label}-label`,
            valueKey: `queue-${queue.label}-value`,
            ...queue
        }));
    }

    get failureCounts() {
        return (this.status?.failures24h ?? []).map((item) => ({ key: `failure-${item.label}`, ...item }));
    }

    get hasFailureCounts() {
        return this.failureCounts.length > 0;
    }

    get failuresLoading() {
        return !this.failuresLoaded;
    }

    get hasFailures() {
        return this.failuresLoaded && !this.failuresError && this.failures.length > 0;
    }

    get noFailures() {
        return this.failuresLoaded && !this.failuresError && this.failures.length === 0;
    }

    get failureRows() {
        return this.failures.map((row) => ({
            id: row.Id,
            name: row.Name,
            when: formatTime(row.CreatedDate),
            direction: row.Direction__c,
            status: row.Status__c,
            code: row.Error_Code__c,
            message: row.Message__c,
            object: row.Object__c,
            recordId: row.Record_Id__c,
            resent: row.Resent_At__c ? `Resent ${formatTime(row.Resent_At__c)}` : '',
            resendLabel: `Resend ${row.Name}`,
            resendDisabled: !this.settings?.canEdit || this.resendingId === row.Id
        }));
    }

    async handleToggle(event) {
        const toggle = event.target;
        const enabled = toggle.checked;
        this.saving = true;
        try {
            this.settings = await saveSettings({ syncToPlatform: enabled });
            this.toast('success', 'Sync settings saved', enabled ? 'Sync switched on.' : 'Sync switched off.');
        } catch (error) {
            toggle.checked = !enabled;
            this.toast('error', 'Sync settings not saved', messageOf(error));
        } finally {
            this.saving = false;
        }
    }

    async handleResend(event) {
        const id = event.target.dataset.id;
        this.resendingId = id;
        try {
            await resendSyncResult({ syncResultId: id });
            this.toast('success', 'Sent again', 'The gateway is syncing this record again.');
            await refreshApex(this.wiredFailures);
        } catch (error) {
            this.toast('error', 'Could not resend', messageOf(error));
        } finally {
            this.resendingId = undefined;
        }
    }

    handleRefresh() {
        this.loadSettings();
        this.loadStatus();
        this.loadSetup();
        return refreshApex(this.wiredFailures);
    }

    handleOpenList(event) {
        event.preventDefault();
        this[NavigationMixin.Navigate]({
            type: 'standard__objectPage',
            attributes: { objectApiName: 'Sync_Result__c', actionName: 'list' },
            state: { filterName: event.target.dataset.filter }
        });
    }

    toast(variant, title, message) {
        this.dispatchEvent(new ShowToastEvent({ variant, title, message }));
    }
}
