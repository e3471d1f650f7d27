// @ts-check
/**
 * `npm run mutation` (repository root): StrykerJS mutates the sources of
 * @mtstore/memory and @mtstore/sqlite and runs only the conformance kit against each
 * mutant. A killed mutant is a wrong adapter the kit fails; a survivor is one it
 * passes. Not part of `npm test` or .ci/run: it takes hours on two cores. It runs
 * in place (the mutated files are restored when it ends, also on Ctrl-C): do not edit
 * the repository while it runs.
 * `MUTATE=packages/memory/src/**\/*.ts npm run mutation` narrows the run.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'adapters-conformance/mutation/vitest.config.ts', related: false },
  // adapter.ts (the `memory:` / `sqlite:` URL registry) is left out of every run: the
  // kit builds instances only through the suite's `open`, so opening by URL is the
  // adapter's API, tested by its own and core's tests (README "mutation score").
  mutate: [...(process.env.MUTATE ?? 'packages/memory/src/**/*.ts,packages/sqlite/src/**/*.ts').split(','), '!packages/*/src/adapter.ts'],
  // Per-test coverage: each mutant runs only the kit tests that reach its code.
  coverageAnalysis: 'perTest',
  concurrency: Number(process.env.STRYKER_CONCURRENCY ?? 1),
  timeoutMS: 60_000,
  timeoutFactor: 2,
  incremental: true,
  incrementalFile: 'adapters-conformance/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'adapters-conformance/mutation/report.json' },
  thresholds: { high: 90, low: 80, break: null },
  // The sandbox needs the adapters, core and the kit; not the other packages' tests.
  ignorePatterns: ['packages/*/dist', 'packages/integration', 'packages/cli', 'packages/convert', 'bench', '.turbo', '**/.vitest-results.json', 'adapters-conformance/mutation/report.json'],
  // In place: the sandbox copy cannot resolve the workspace links the kit and core come through.
  inPlace: true,
  // Vitest does not type-check: no `// @ts-nocheck` written into the whole tree.
  disableTypeChecks: false,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
