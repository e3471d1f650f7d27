import { defineConfig } from 'vitest/config';

/**
 * Shared test settings. The JSON report next to each package is what
 * `scripts/test.mjs` sums into the one `N passed, N failed, N skipped` line.
 */
export function packageTestConfig(overrides: { testTimeout?: number; hookTimeout?: number; maxWorkers?: number } = {}) {
  return defineConfig({
    test: {
      // Vitest's default is one worker on a 2-core machine: a package's files run one after another.
      ...(overrides.maxWorkers === undefined ? {} : { maxWorkers: overrides.maxWorkers }),
      include: ['test/**/*.test.ts'],
      testTimeout: overrides.testTimeout ?? 30_000,
      hookTimeout: overrides.hookTimeout ?? 60_000,
      reporters: ['default', ['json', { outputFile: process.env.MTSTORE_VITEST_REPORT ?? '.vitest-results.json' }]],
    },
  });
}
