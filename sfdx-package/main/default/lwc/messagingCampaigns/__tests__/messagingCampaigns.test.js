import { createElement } from 'lwc';
import MessagingCampaigns from 'c/messagingCampaigns';
import getCampaigns from '@salesforce/apex/MessagingConversationController.getCampaigns';

// A user whose Salesforce locale is ja-JP and time zone Asia/Tokyo (the browser and Jest run elsewhere).
jest.mock('@salesforce/i18n/locale', () => ({ default: 'ja-JP' }), { virtual: true });
jest.mock('@salesforce/i18n/timeZone', () => ({ default: 'Asia/Tokyo' }), { virtual: true });

jest.mock(
    '@salesforce/apex/MessagingConversationController.getCampaigns',
    () => {
        const { createApexTestWireAdapter } = require('@salesforce/sfdx-lwc-jest');
        return { default: createApexTestWireAdapter(jest.fn()) };
    },
    { virtual: true }
);

const CAMPAIGNS = {
    linked: true,
    supported: true,
    count: 2,
    campaigns: [
        { id: 'c2', name: 'Fall rally', type: 'broadcast', status: 'sent', at: '2026-11-25T08:00:00Z' },
        { id: 'c1', name: 'Welcome', type: 'keyword', status: 'sent', at: '2026-10-01T08:00:00Z' }
    ]
};

function render() {
    const element = createElement('c-messaging-campaigns', { is: MessagingCampaigns });
    element.recordId = '00Q5g00000FgHiJEAV';
    document.body.appendChild(element);
    return element;
}

const flush = () => Promise.resolve();

describe('c-messaging-campaigns', () => {
    afterEach(() => {
        while (document.body.firstChild) {
            document.body.removeChild(document.body.firstChild);
        }
        jest.clearAllMocks();
    });

    it('shows a spinner while loading', async () => {
        const element = render();
        expect(element.shadowRoot.querySelector('lightning-spinner')).not.toBeNull();
        await expect(element).toBeAccessible();
    });

    it('lists each campaign with type, status and time sent, and the count in the title', async () => {
        const element = render();
        getCampaigns.emit(CAMPAIGNS);
        await flush();

        const rows = [...element.shadowRoot.querySelectorAll('tr.campaign')];
        expect(rows).toHaveLength(2);
        const cells = [...rows[0].querySelectorAll('th, td')].map((cell) => cell.textContent);
        expect(cells.slice(0, 3)).toEqual(['Fall rally', 'broadcast', 'sent']);
        expect(cells[3]).toBe('2026/11/25 17:00');
        expect(element.shadowRoot.querySelector('lightning-card').title).toBe('Text Campaigns (2)');
        await expect(element).toBeAccessible();
    });

    it('says so when no campaign was received', async () => {
        const element = render();
        getCampaigns.emit({ linked: true, supported: true, count: 0, campaigns: [] });
        await flush();
        expect(element.shadowRoot.querySelector('.state-empty')).not.toBeNull();
        expect(element.shadowRoot.querySelector('table')).toBeNull();
        expect(element.shadowRoot.querySelector('lightning-card').title).toBe('Text Campaigns');
    });

    it('explains a person who is not on the platform', async () => {
        const element = render();
        getCampaigns.emit({ linked: false, supported: true, count: 0, campaigns: [] });
        await flush();
        expect(element.shadowRoot.querySelector('.state-unlinked').textContent).toContain(
            'not on the messaging platform yet'
        );
    });

    it('explains a platform without campaign history', async () => {
        const element = render();
        getCampaigns.emit({ linked: true, supported: false, count: 0, campaigns: [] });
        await flush();
        expect(element.shadowRoot.querySelector('.state-unsupported')).not.toBeNull();
    });

    it('shows the error the controller wrote for the user', async () => {
        const element = render();
        getCampaigns.error({ message: 'Salesforce could not reach the messaging gateway.' });
        await flush();
        expect(element.shadowRoot.querySelector('[role="alert"]').textContent).toBe(
            'Salesforce could not reach the messaging gateway.'
        );
        await expect(element).toBeAccessible();
    });
});
