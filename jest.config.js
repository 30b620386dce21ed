/**
 * Jest with ts-jest. Type checking is `npm run typecheck`'s job; ts-jest only transpiles
 * (isolatedModules) so the suite starts fast. Slow end-to-end suites are opted into with
 * CV_E2E=1 (`npm run test:e2e`), and `.ci/run` runs them too.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }] },
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.creature-vision/'],
  testTimeout: 60000,
  maxWorkers: 2,
};
