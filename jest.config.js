/** One Temporal dev server for the whole suite (test/global-setup.ts); TypeScript through SWC (no type check here: `npm run typecheck` does that). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  // Workflows a file left running are terminated after it (later files' workers would run them).
  setupFilesAfterEnv: ['<rootDir>/test/support/end-of-file.ts'],
  testTimeout: 120000,
  // One file pinned first (test/support/sequencer.js says why).
  testSequencer: '<rootDir>/test/support/sequencer.js',
};
