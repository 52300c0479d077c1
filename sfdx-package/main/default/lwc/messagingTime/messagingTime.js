import LOCALE from '@salesforce/i18n/locale';
import TIME_ZONE from '@salesforce/i18n/timeZone';

const STYLE = { dateStyle: 'medium', timeStyle: 'short' };

// The user's Salesforce locale and time zone (Setup → Personal → Language & Time Zone), not the browser's. A value
// the browser's Intl rejects (RangeError) falls back to the browser's own rather than breaking the component.
function userFormat() {
    const attempts = [
        [LOCALE, { ...STYLE, timeZone: TIME_ZONE }],
        [undefined, { ...STYLE, timeZone: TIME_ZONE }],
        [undefined, STYLE]
    ];
    for (const [locale, options] of attempts) {
        try {
            return new Intl.DateTimeFormat(locale, options);
        } catch {
            // try the next, less specific format
        }
    }
    return undefined;
}

const USER_FORMAT = userFormat();

/**
 * @param {string|number|Date} value a time (ISO 8601 text, epoch milliseconds or a Date)
 * @returns {string} the date and time as the user reads them in their locale and time zone; '' when no valid time
 */
export function formatDateTime(value) {
    if (value === undefined || value === null || value === '') {
        return '';
    }
    const at = new Date(value);
    return Number.isNaN(at.getTime()) ? '' : USER_FORMAT.format(at);
}
