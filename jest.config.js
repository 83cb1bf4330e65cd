// One jest run covers every kind of test, told apart by file name:
//   *.test.ts        unit, beside the code, no network
//   *.int.test.ts    integration: real nats-server, real processes
//   *.e2e.test.ts    end to end: the real control plane
// SPOTSWARM_TEST_KIND=unit|int|e2e narrows the run.
const kind = process.env.SPOTSWARM_TEST_KIND;
const patterns = {
  unit: ['/(?!.*\\.(int|e2e)\\.test\\.ts$).*\\.test\\.ts$'],
  int: ['\\.int\\.test\\.ts$'],
  e2e: ['\\.e2e\\.test\\.ts$'],
};

export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }],
  },
  testRegex: kind ? patterns[kind] : ['\\.test\\.ts$'],
  testPathIgnorePatterns: ['/node_modules/'],
  reporters: ['default', '<rootDir>/scripts/summary-reporter.js'],
  testTimeout: 30_000,
  // Every test file stops what it started (processes by PID, connections, servers), but a
  // handle a failed assertion leaves behind must not keep CI waiting after the summary.
  forceExit: true,
};
