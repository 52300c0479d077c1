// ESLint flat config for the Lightning Web Components of the Salesforce package (sfdx-package/**/lwc).
const lwcConfig = require('@salesforce/eslint-config-lwc');
const jestPlugin = require('eslint-plugin-jest');
const globals = require('globals');

const LWC_FILES = ['sfdx-package/**/lwc/**/*.js'];
const TEST_FILES = ['sfdx-package/**/lwc/**/__tests__/**/*.js', 'scripts/sfdx/jest*.js', 'scripts/sfdx/jest-mocks/**/*.js'];

module.exports = [
    {
        ignores: ['node_modules/**', '.tools/**', '.venv/**', 'coverage/**', 'mdapi/**', 'gateway/**', 'tests/**']
    },
    ...lwcConfig.configs.recommended.map((config) => ({ ...config, files: LWC_FILES })),
    {
        files: TEST_FILES,
        plugins: { jest: jestPlugin },
        languageOptions: {
            globals: { ...globals.node, ...globals.jest }
        },
        rules: {
            ...jestPlugin.configs['flat/recommended'].rules,
            '@lwc/lwc/no-unexpected-wire-adapter-usages': 'off'
        }
    },
    {
        files: ['scripts/sfdx/jest-mocks/**/*.js'],
        languageOptions: { sourceType: 'module' }
    },
    {
        files: ['eslint.config.js', 'jest.config.js', 'scripts/sfdx/*.js', 'scripts/sfdx/*.mjs'],
        languageOptions: { globals: { ...globals.node } }
    }
];
