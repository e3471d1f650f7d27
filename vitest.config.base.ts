import { defineConfig } from 'vitest/config';

/**
 * Shared test settings. The JSON report next to each package is what
 * `scripts/test.mjs` sums into the one `N passed, N failed, N skipped` line.
 */
export function packageTestConfig(overrides: { testTimeout?: number; hookTimeout?: number; maxWorkers?: number; isolate?: boolean } = {}) {
  return defineConfig({
    test: {
      // Vitest's default is one worker on a 2-core machine: a package's files run one after another.
      ...(overrides.maxWorkers === undefined ? {} : { maxWorkers: overrides.maxWorkers }),
      // isolate false: a worker's test files share one module cache, so a client library
      // (mtcute, GramJS, TypeORM, mongodb) is imported once per worker instead of once per
      // file, which was most of those packages' CPU time (mtcute: 31 s of imports in a
      // 69 s run). Such a package's files must leave no module state behind: a shared
      // client closed after a file is reopened by the next.
      ...(overrides.isolate === undefined ? {} : { isolate: overrides.isolate }),
      include: ['test/**/*.test.ts'],
      testTimeout: overrides.testTimeout ?? 30_000,
      hookTimeout: overrides.hookTimeout ?? 60_000,
      reporters: ['default', ['json', { outputFile: process.env.MTSTORE_VITEST_REPORT ?? '.vitest-results.json' }]],
    },
  });
}
