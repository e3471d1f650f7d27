import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Vitest's order with the files named in `first` (paths under test/, in that order)
 * ahead of the others. Without a results cache (a clean clone: CI) vitest runs the
 * largest files first, and a package whose longest files are small (the kit's parts,
 * a few lines each) would start them last, with one worker left idle at the end.
 */
function firstSequencer(first: readonly string[]) {
  return class extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
      const rank = (file: TestSpecification) => {
        const at = first.findIndex((name) => file.moduleId.replaceAll('\\', '/').endsWith(`/test/${name}`));
        return at === -1 ? first.length : at;
      };
      const sorted = await super.sort(files);
      return sorted.map((file, index) => ({ file, index })).sort((a, b) => rank(a.file) - rank(b.file) || a.index - b.index).map(({ file }) => file);
    }
  };
}

/**
 * Shared test settings. The JSON report next to each package is what
 * `scripts/test.mjs` sums into the one `N passed, N failed, N skipped` line.
 */
export function packageTestConfig(overrides: { testTimeout?: number; hookTimeout?: number; maxWorkers?: number; isolate?: boolean; first?: readonly string[] } = {}) {
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
      ...(overrides.first === undefined ? {} : { sequence: { sequencer: firstSequencer(overrides.first) } }),
      include: ['test/**/*.test.ts'],
      testTimeout: overrides.testTimeout ?? 30_000,
      hookTimeout: overrides.hookTimeout ?? 60_000,
      reporters: ['default', ['json', { outputFile: process.env.MTSTORE_VITEST_REPORT ?? '.vitest-results.json' }]],
    },
  });
}
