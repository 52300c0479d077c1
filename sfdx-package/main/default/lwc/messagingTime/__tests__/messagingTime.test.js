// Each case loads the module afresh with the user's Salesforce locale and time zone mocked, as
// @salesforce/sfdx-lwc-jest lets a test replace the @salesforce/i18n values it provides (en-US, America/Los_Angeles).
function formatterFor(locale, timeZone) {
    let formatDateTime;
    jest.isolateModules(() => {
        jest.doMock('@salesforce/i18n/locale', () => ({ default: locale }), { virtual: true });
        jest.doMock('@salesforce/i18n/timeZone', () => ({ default: timeZone }), { virtual: true });
        ({ formatDateTime } = require('c/messagingTime'));
    });
    return formatDateTime;
}

describe('c-messaging-time', () => {
    const AT = '2026-11-25T08:00:00Z';

    it("writes a time in the user's locale and Salesforce time zone, not the browser's", () => {
        expect(formatterFor('de-DE', 'Europe/Berlin')(AT)).toBe('25.11.2026, 09:00');
        expect(formatterFor('ja-JP', 'Asia/Tokyo')(AT)).toBe('2026/11/25 17:00');
        expect(formatterFor('en-GB', 'Australia/Sydney')(AT)).toBe('25 Nov 2026, 19:00');
    });

    it("puts the date on the user's side of midnight", () => {
        expect(formatterFor('en-US', 'America/Los_Angeles')('2026-11-25T05:00:00Z')).toMatch(/^Nov 24, 2026/);
        expect(formatterFor('en-US', 'Asia/Tokyo')('2026-11-25T20:00:00Z')).toMatch(/^Nov 26, 2026/);
    });

    it('still shows the time when the browser does not know the locale or the time zone', () => {
        expect(formatterFor('not a locale!', 'Europe/Berlin')(AT)).toMatch(/2026/);
        expect(formatterFor('de-DE', 'Not/A_Zone')(AT)).toMatch(/2026/);
    });

    it('writes nothing for a missing or invalid time', () => {
        const formatDateTime = formatterFor('de-DE', 'Europe/Berlin');
        expect(formatDateTime(undefined)).toBe('');
        expect(formatDateTime(null)).toBe('');
        expect(formatDateTime('')).toBe('');
        expect(formatDateTime('not a time')).toBe('');
    });
});
