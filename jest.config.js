/**
 * Jest with ts-jest. Type checking is `npm run typecheck`'s job; ts-jest only transpiles
 * (isolatedModules) so the suite starts fast. Slow end-to-end suites are opted into with
 * CV_E2E=1 (`npm run test:e2e`), and `.ci/run` runs them too.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }],
    // ESM-only packages the code loads (Node 20 requires them natively; jest's module loader does not): compiled to CommonJS.
    '/node_modules/content-disposition/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true }, diagnostics: false }],
  },
  transformIgnorePatterns: ['/node_modules/(?!content-disposition/)'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.creature-vision/'],
  testTimeout: 60000,
  maxWorkers: 2,
};
