import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The test suite of `npm run mutation`: the kit's conformance tests of the two
 * reference adapters and nothing else, so the mutation score measures the kit (what
 * share of wrong memory / SQLite adapters it fails), not the adapters' own tests.
 * Only the adapters whose sources `MUTATE` names run: a memory-only run does not wait
 * for SQLite's kit in the initial test run.
 */
const mutate = process.env.MUTATE ?? 'packages/memory/src/**/*.ts,packages/sqlite/src/**/*.ts';
const adapters = ['memory', 'sqlite'].filter((adapter) => mutate.includes(`packages/${adapter}/`));

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: adapters.map((adapter) => `packages/${adapter}/test/conformance.test.ts`),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['dot'],
  },
});
