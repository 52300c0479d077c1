import { LightningElement, api, wire } from 'lwc';
import { refreshApex } from '@salesforce/apex';
import getConversation from '@salesforce/apex/MessagingConversationController.getConversation';
import { formatDateTime } from 'c/messagingTime';

const REASON_LABELS = {
    campaign: 'Campaign',
    'live-agent': 'Live agent',
    automation: 'Automation'
};

/**
 * The text-message conversation with the person behind a record page, as chat bubbles: incoming on the
 * left, outgoing on the right with the reason it was sent. Works on Contact and Lead pages, and on any
 * record with a lookup to one of them (set "Id Field", e.g. ContactId on Case).
 */
export default class MessagingConversation extends LightningElement {
    @api recordId;
    @api idField = '';
    @api pageSize = 50;
    @api cardTitle = 'Text Messages';

    conversation;
    olderMessages = [];
    errorMessage;
    olderCursor;
    loadingOlder = false;
    loaded = false;
    refreshing = false;
    wiredResult;

    @wire(getConversation, { recordId: '$recordId', idField: '$idField', pageSize: '$pageSize', before: null })
    wiredConversation(result) {
        // Kept for refreshApex: the wired result is cached (cacheable=true), so new messages show only on refresh.
        this.wiredResult = result;
        const { data, error } = result;
        if (data) {
            this.conversation = data;
            this.olderMessages = [];
            this.errorMessage = undefined;
            this.loaded = true;
        } else if (error) {
            this.conversation = undefined;
            this.errorMessage = messageOf(error);
            this.loaded = true;
        }
    }

    async handleRefresh() {
        this.refreshing = true;
        try {
            await refreshApex(this.wiredResult);
        } catch (error) {
            this.errorMessage = messageOf(error);
        } finally {
            this.refreshing = false;
        }
    }

    get isLoading() {
        return !this.loaded;
    }

    get hasError() {
        return Boolean(this.errorMessage);
    }

    get isReady() {
        return Boolean(this.conversation) && !this.hasError;
    }

    get isUnlinked() {
        return this.isReady && !this.conversation.linked;
    }

    get isNotOnPlatform() {
        return this.isReady && this.conversation.linked && !this.conversation.onPlatform;
    }

    get isUnsupported() {
        return this.isReady && this.conversation.linked && this.conversation.onPlatform && !this.conversation.supported;
    }

    get showsConversation() {
        return this.isReady && this.conversation.linked && this.conversation.onPlatform && this.conversation.supported;
    }

    get isEmpty() {
        return this.showsConversation && this.messages.length === 0;
    }

    get hasMessages() {
        return this.showsConversation && this.messages.length > 0;
    }

    get platformLabel() {
        return this.conversation?.platformTitle || this.conversation?.platform || 'The messaging platform';
    }

    get incomingCount() {
        return this.conversation?.incomingCount ?? 0;
    }

    get outgoingCount() {
        return this.conversation?.outgoingCount ?? 0;
    }

    get incomingLabel() {
        return `Incoming ${this.incomingCount}`;
    }

    get outgoingLabel() {
        return `Outgoing ${this.outgoingCount}`;
    }

    get canLoadOlder() {
        return this.hasMessages && Boolean(this.nextBefore);
    }

    get nextBefore() {
        return this.olderMessages.length ? this.olderCursor : this.conversation?.nextBefore;
    }

    /** Oldest first, as a chat reads. */
    get messages() {
        const all = [...(this.conversation?.messages ?? []), ...this.olderMessages];
        return all.map((message) => toBubble(message)).sort((a, b) => a.sortKey - b.sortKey);
    }

    async handleLoadOlder() {
        this.loadingOlder = true;
        try {
            const page = await getConversation({
                recordId: this.recordId,
                idField: this.idField,
                pageSize: this.pageSize,
                before: this.nextBefore
            });
            this.olderMessages = [...this.olderMessages, ...(page.messages ?? [])];
            this.olderCursor = page.nextBefore;
        } catch (error) {
            this.errorMessage = messageOf(error);
        } finally {
            this.loadingOlder = false;
        }
    }
}

function toBubble(message) {
    const outgoing = message.direction === 'outgoing';
    const at = message.at ? new Date(message.at) : undefined;
    const valid = at && !Number.isNaN(at.getTime());
    let reason = REASON_LABELS[message.reason];
    if (message.reason === 'campaign' && message.campaignName) {
        reason = `Campaign: ${message.campaignName}`;
    }
    return {
        key: message.id,
        body: message.body,
        outgoing,
        reason: outgoing ? reason : undefined,
        timeLabel: valid ? formatDateTime(at) : '',
        sortKey: valid ? at.getTime() : 0,
        itemClass: `slds-chat-listitem ${outgoing ? 'slds-chat-listitem_outbound' : 'slds-chat-listitem_inbound'}`,
        bubbleClass: `slds-chat-message__text ${outgoing ? 'slds-chat-message__text_outbound' : 'slds-chat-message__text_inbound'}`,
        directionLabel: outgoing ? 'Sent' : 'Received',
        status: message.status
    };
}

/** The message of an Apex or wire error, as the Apex controller wrote it for the user. */
export function messageOf(error) {
    if (Array.isArray(error?.body)) {
        return error.body.map((item) => item.message).join(', ');
    }
    return error?.body?.message || error?.message || 'Something went wrong while loading the messages.';
}
