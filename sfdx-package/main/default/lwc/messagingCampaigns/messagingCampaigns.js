import { LightningElement, api, wire } from 'lwc';
import getCampaigns from '@salesforce/apex/MessagingConversationController.getCampaigns';
import { formatDateTime } from 'c/messagingTime';

/**
 * The messaging campaigns the person behind a record page received: name, type, status and time sent.
 */
export default class MessagingCampaigns extends LightningElement {
    @api recordId;
    @api idField = '';
    @api cardTitle = 'Text Campaigns';

    view;
    errorMessage;
    loaded = false;

    @wire(getCampaigns, { recordId: '$recordId', idField: '$idField' })
    wiredCampaigns({ data, error }) {
        if (data) {
            this.view = data;
            this.errorMessage = undefined;
            this.loaded = true;
        } else if (error) {
            this.view = undefined;
            this.errorMessage = error?.body?.message || 'Something went wrong while loading the campaigns.';
            this.loaded = true;
        }
    }

    get title() {
        return this.hasCampaigns ? `${this.cardTitle} (${this.view.count})` : this.cardTitle;
    }

    get isLoading() {
        return !this.loaded;
    }

    get hasError() {
        return Boolean(this.errorMessage);
    }

    get isUnlinked() {
        return Boolean(this.view) && !this.view.linked;
    }

    get isUnsupported() {
        return Boolean(this.view) && this.view.linked && !this.view.supported;
    }

    get isEmpty() {
        return Boolean(this.view) && this.view.linked && this.view.supported && this.campaigns.length === 0;
    }

    get hasCampaigns() {
        return Boolean(this.view) && this.view.linked && this.view.supported && this.campaigns.length > 0;
    }

    get campaigns() {
        return (this.view?.campaigns ?? []).map((campaign) => ({
            ...campaign,
            key: campaign.id,
            sentLabel: formatDateTime(campaign.at)
        }));
    }
}
