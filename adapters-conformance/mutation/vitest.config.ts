import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The test suite of `npm run mutation`: the kit's conformance tests of the two
 * reference adapters and nothing else, so the mutation score measures the kit (what
 * share of wrong memory / SQLite adapters it fails), not the adapters' own tests.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['packages/memory/test/conformance.test.ts', 'packages/sqlite/test/conformance.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['dot'],
  },
});
