// Registers the accessibility matcher `expect(element).toBeAccessible()` (axe-core rules via @sa11y/jest).
const { registerSa11yMatcher } = require('@sa11y/jest');

registerSa11yMatcher();
