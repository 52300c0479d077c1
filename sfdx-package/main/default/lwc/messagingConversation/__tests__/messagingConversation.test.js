import { createElement } from 'lwc';
import MessagingConversation from 'c/messagingConversation';
import { refreshApex } from '@salesforce/apex';
import getConversation from '@salesforce/apex/MessagingConversationController.getConversation';

// A user whose Salesforce locale is de-DE and time zone Europe/Berlin (the browser and Jest run elsewhere).
jest.mock('@salesforce/i18n/locale', () => ({ default: 'de-DE' }), { virtual: true });
jest.mock('@salesforce/i18n/timeZone', () => ({ default: 'Europe/Berlin' }), { virtual: true });

jest.mock(
    '@salesforce/apex/MessagingConversationController.getConversation',
    () => {
        const { createApexTestWireAdapter } = require('@salesforce/sfdx-lwc-jest');
        return { default: createApexTestWireAdapter(jest.fn()) };
    },
    { virtual: true }
);

jest.mock('@salesforce/apex', () => ({ refreshApex: jest.fn(() => Promise.resolve()) }), { virtual: true });

const CONVERSATION = {
    linked: true,
    onPlatform: true,
    supported: true,
    platform: 'mobilecommons',
    platformId: 'mc-1',
    incomingCount: 1,
    outgoingCount: 2,
    nextBefore: 'm1',
    messages: [
        {
            id: 'm3',
            direction: 'outgoing',
            body: 'Rally on Saturday!',
            at: '2026-11-25T08:00:00Z',
            status: 'delivered',
            reason: 'campaign',
            campaignName: 'Fall rally'
        },
        {
            id: 'm2',
            direction: 'outgoing',
            body: 'Hi Ada, how can I help?',
            at: '2026-11-24T09:00:00Z',
            status: 'delivered',
            reason: 'live-agent'
        },
        {
            id: 'm1',
            direction: 'incoming',
            body: 'JOIN',
            at: '2026-11-24T08:00:00Z',
            status: 'received',
            reason: 'other'
        }
    ]
};

function render(props = {}) {
    const element = createElement('c-messaging-conversation', { is: MessagingConversation });
    Object.assign(element, { recordId: '0035g00000AbCdEAAV', ...props });
    document.body.appendChild(element);
    return element;
}

const flush = () => Promise.resolve();
const text = (element, selector) => element.shadowRoot.querySelector(selector)?.textContent.trim();

describe('c-messaging-conversation', () => {
    afterEach(() => {
        while (document.body.firstChild) {
            document.body.removeChild(document.body.firstChild);
        }
        jest.clearAllMocks();
    });

    it('shows a spinner until the conversation arrives', async () => {
        const element = render();
        expect(element.shadowRoot.querySelector('lightning-spinner')).not.toBeNull();
        await expect(element).toBeAccessible();
    });

    it('asks for the record and the configured id field', async () => {
        render({ idField: 'ContactId', pageSize: 20 });
        await flush();
        expect(getConversation.getLastConfig()).toEqual({
            recordId: '0035g00000AbCdEAAV',
            idField: 'ContactId',
            pageSize: 20,
            before: null
        });
    });

    it('renders incoming messages left and outgoing right, oldest first, with counts and reasons', async () => {
        const element = render();
        getConversation.emit(CONVERSATION);
        await flush();

        const items = [...element.shadowRoot.querySelectorAll('li.slds-chat-listitem')];
        expect(items.map((item) => item.textContent)).toEqual([
            expect.stringContaining('JOIN'),
            expect.stringContaining('Hi Ada'),
            expect.stringContaining('Rally on Saturday!')
        ]);
        expect(items[0].classList).toContain('slds-chat-listitem_inbound');
        expect(items[1].classList).toContain('slds-chat-listitem_outbound');
        expect(items[1].textContent).toContain('Live agent');
        expect(items[2].textContent).toContain('Campaign: Fall rally');
        expect(items[0].querySelector('.reason')).toBeNull();

        const bubble = items[2].querySelector('.slds-chat-message__text');
        expect(bubble.title).toContain('25.11.2026, 09:00');

        const badges = [...element.shadowRoot.querySelectorAll('lightning-badge')].map((badge) => badge.label);
        expect(badges).toEqual(['Incoming 1', 'Outgoing 2']);
        expect(element.shadowRoot.querySelector('lightning-spinner')).toBeNull();
        await expect(element).toBeAccessible();
    });

    it('loads older messages with the cursor and keeps the chat in time order', async () => {
        getConversation.mockResolvedValue({
            nextBefore: null,
            messages: [{ id: 'm0', direction: 'incoming', body: 'Hello?', at: '2026-11-20T08:00:00Z', reason: 'other' }]
        });
        const element = render();
        getConversation.emit(CONVERSATION);
        await flush();

        element.shadowRoot.querySelector('lightning-button.load-older').click();
        await flush();
        await flush();

        expect(getConversation).toHaveBeenCalledWith({
            recordId: '0035g00000AbCdEAAV',
            idField: '',
            pageSize: 50,
            before: 'm1'
        });
        const first = element.shadowRoot.querySelector('li.slds-chat-listitem');
        expect(first.textContent).toContain('Hello?');
        expect(element.shadowRoot.querySelector('lightning-button.load-older')).toBeNull();
    });

    it('says so when there are no messages yet', async () => {
        const element = render();
        getConversation.emit({ ...CONVERSATION, messages: [], nextBefore: null, incomingCount: 0, outgoingCount: 0 });
        await flush();
        expect(text(element, '.state-empty')).toBe('No text messages with this person yet.');
        expect(element.shadowRoot.querySelector('lightning-badge')).toBeNull();
        await expect(element).toBeAccessible();
    });

    it('explains a platform that keeps no history', async () => {
        const element = render();
        getConversation.emit({ ...CONVERSATION, supported: false, platform: 'textplatform', messages: [] });
        await flush();
        expect(text(element, '.state-unsupported')).toContain('textplatform does not share conversation history');
        expect(element.shadowRoot.querySelector('li')).toBeNull();
    });

    it('names the platform the way people call it when the gateway gives its title', async () => {
        const element = render();
        getConversation.emit({
            ...CONVERSATION,
            supported: false,
            platform: 'textplatform',
            platformTitle: 'Text Platform',
            messages: []
        });
        await flush();
        expect(text(element, '.state-unsupported')).toContain('Text Platform does not share conversation history');
    });

    it('explains a person who is not synced yet', async () => {
        const element = render();
        getConversation.emit({ linked: false, onPlatform: true, supported: true, messages: [] });
        await flush();
        expect(text(element, '.state-unlinked')).toContain('no mobile number or messaging id yet');
    });

    it('explains a person the platform does not know', async () => {
        const element = render();
        getConversation.emit({ ...CONVERSATION, onPlatform: false, messages: [] });
        await flush();
        expect(text(element, '.state-not-on-platform')).toContain('not on the messaging platform yet');
    });

    it('fetches the conversation again when the user clicks Refresh, and says why when that fails', async () => {
        let finish;
        refreshApex.mockImplementationOnce(() => new Promise((resolve) => (finish = resolve)));
        const element = render();
        getConversation.emit(CONVERSATION);
        await flush();

        const refresh = element.shadowRoot.querySelector('lightning-button-icon.refresh');
        expect(refresh.alternativeText).toBe('Refresh messages');
        refresh.click();
        await flush();
        expect(refreshApex).toHaveBeenCalledWith(expect.objectContaining({ data: CONVERSATION }));
        expect(refresh.disabled).toBe(true);

        getConversation.emit({
            ...CONVERSATION,
            messages: [{ id: 'm4', direction: 'incoming', body: 'See you there', at: '2026-11-25T09:00:00Z' }]
        });
        finish();
        await flush();
        await flush();
        expect(refresh.disabled).toBe(false);
        expect(element.shadowRoot.textContent).toContain('See you there');

        refreshApex.mockImplementationOnce(() => Promise.reject({ body: { message: 'The gateway is unavailable.' } }));
        refresh.click();
        await flush();
        await flush();
        expect(element.shadowRoot.querySelector('.state-error').textContent).toBe('The gateway is unavailable.');
        expect(refresh.disabled).toBe(false);
        await expect(element).toBeAccessible();
    });

    it('shows the error the controller wrote for the user', async () => {
        const element = render();
        getConversation.error({ message: 'The messaging gateway is busy or unavailable right now.' });
        await flush();
        const alert = element.shadowRoot.querySelector('[role="alert"]');
        expect(alert.textContent).toBe('The messaging gateway is busy or unavailable right now.');
        expect(element.shadowRoot.querySelector('lightning-spinner')).toBeNull();
        await expect(element).toBeAccessible();
    });
});
