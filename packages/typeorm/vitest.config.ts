import { join } from 'node:path';
import { packageTestConfig } from '../../vitest.config.base.js';
import { ensureTypeorm1, TYPEORM1_VERSION, typeorm1Dir } from './test/typeorm1/copy.mjs';

/**
 * Two projects in one run (one JSON report, which scripts/test.mjs sums):
 * - `typeorm-0.3`: every test file, on the dev dependency (TypeORM 0.3);
 * - `typeorm-1.x.y`: the files below, on a pinned TypeORM 1.x copy (test/typeorm1/copy.mjs,
 *   installed here if missing; under CI=true a failed install fails the run). Vite's alias
 *   sends every `typeorm` import of the tests and of src to that copy, which
 *   test/typeorm1/loaded.test.ts checks.
 * Chosen for what TypeORM 1.x changed under the adapter and to stay within ~30 s: the
 * schema made through TypeORM's QueryRunner and Table API (a new store against one
 * migrated step by step from version 1), mtstoreEntities/mtstoreMigrations in an
 * application's DataSource, and part of the conformance kit (test/typeorm1/kit.ts), on
 * PostgreSQL and MariaDB. sqlite's driver barely changed in 1.x.
 */
const TYPEORM1_FILES = ['test/typeorm1/*.test.ts', 'test/schema.test.ts', 'test/datasource.test.ts', 'test/lifecycle.test.ts', 'test/pool-queue.test.ts', 'test/mysql-pool-queue.test.ts', 'test/close-timeout.test.ts', 'test/mysql.test.ts'];

/**
 * Three workers, files in parallel: the tests mostly wait (on the databases' DDL and
 * round trips, on TTLs and grace periods, on worker processes: ~2.5 min of CPU in a
 * 5-7 min run), and every file works in namespaces of its own (random table prefixes,
 * sqlite files in a directory of its own, connections named or logged in per
 * namespace), so files side by side do not meet. One worker was vitest's default on a
 * 2-core machine; two left the run at 408 s and three at 325 s, the same CPU (2 min
 * user), on a machine other work kept ~97% busy (7 Dec 2026).
 *
 * The order is set (without a results cache, CI, vitest starts the largest files first,
 * and the kit's are a few lines each): the postgres kit first, the longest file, beside
 * the longest of the others; the MariaDB kit once the first of those ends, the sqlite
 * kit a few files later. The kits must not start together: they go through the same
 * traits at the same pace, and their worker processes (5 at a time, each importing
 * TypeORM) then start at the same moment. On a loaded machine that took both "races
 * across processes" traits past the kit's 20 s to connect.
 */
const FIRST = [
  'conformance.postgres.test.ts',
  'upgrade.test.ts',
  'datasource.test.ts',
  'conformance.mysql.test.ts',
  'close.test.ts',
  'outage.test.ts',
  'conformance.sqlite.test.ts',
  'schema.test.ts',
  'silent.test.ts',
  'storage.test.ts',
];

const base = packageTestConfig({ isolate: false, maxWorkers: 3, first: FIRST });

function typeorm1Project() {
  const missing = ensureTypeorm1() as string | undefined;
  if (missing !== undefined) {
    // Under CI the run must fail, not pass without the 1.x check.
    if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`the TypeORM ${TYPEORM1_VERSION} tests cannot run: ${missing}`);
    console.warn(`\n!!! TypeORM ${TYPEORM1_VERSION} tests left out: ${missing}\n`);
    return [];
  }
  const typeorm = join(typeorm1Dir, 'node_modules', 'typeorm');
  return [
    {
      resolve: { alias: [{ find: /^typeorm(?=\/|$)/, replacement: typeorm }] },
      test: {
        name: `typeorm-${TYPEORM1_VERSION}`,
        include: TYPEORM1_FILES,
        testTimeout: base.test?.testTimeout,
        hookTimeout: base.test?.hookTimeout,
        isolate: base.test?.isolate,
        env: {
          MTSTORE_TYPEORM1_VERSION: TYPEORM1_VERSION,
          MTSTORE_TYPEORM_TEST_DRIVERS: 'postgres,mysql',
        },
      },
    },
  ];
}

export default {
  ...base,
  test: {
    ...base.test,
    projects: [{ extends: true, test: { name: 'typeorm-0.3', exclude: ['test/typeorm1/**', '**/node_modules/**'] } }, ...typeorm1Project()],
  },
};
