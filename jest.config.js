const { jestConfig } = require('@salesforce/sfdx-lwc-jest/config');

module.exports = {
    ...jestConfig,
    roots: ['<rootDir>/sfdx-package'],
    moduleNameMapper: {
        ...jestConfig.moduleNameMapper,
        '^lightning/navigation$': '<rootDir>/scripts/sfdx/jest-mocks/lightning/navigation'
    },
    modulePathIgnorePatterns: ['<rootDir>/.tools/', '<rootDir>/.localdevserver/'],
    setupFilesAfterEnv: [...(jestConfig.setupFilesAfterEnv || []), '<rootDir>/scripts/sfdx/jest.setup.js'],
    testTimeout: 20000
};
