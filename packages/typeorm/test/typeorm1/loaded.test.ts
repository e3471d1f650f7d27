/**
 * Proves that the `typeorm-1.x.y` project runs the adapter on the TypeORM 1.x copy, not
 * on the 0.3 dev dependency: the tests' `typeorm` and src's (the adapter's own DataSource).
 */
import { randomNamespace } from '@mtstore/conformance/vitest';
import * as typeorm from 'typeorm';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../src/connection.js';

const expected = process.env.MTSTORE_TYPEORM1_VERSION;

async function versionOfTypeorm(): Promise<string> {
  // A specifier in a variable: TypeScript checks this file against 0.3's types, where
  // the JSON import has no declaration; Vite's alias still applies at run time.
  const specifier = 'typeorm/package.json';
  const pkg = (await import(specifier)) as { default: { version: string } };
  return pkg.default.version;
}

describe('TypeORM 1.x project', () => {
  it('runs with the pinned version named', () => {
    expect(expected).toMatch(/^1\.\d+\.\d+$/);
  });

  it("the tests' and src's `typeorm` is the 1.x copy", async () => {
    expect(await versionOfTypeorm()).toBe(expected);
    // Removed in 1.0 (the Connection alias of DataSource): absent from this module.
    expect('Connection' in typeorm).toBe(false);
  });

  it("the adapter's own DataSource is 1.x's DataSource class, and its query runners have 1.x's dataSource", async () => {
    const connection = new Connection({ options: { type: 'better-sqlite3', database: ':memory:' }, tablePrefix: `${randomNamespace()}_` }, 'test');
    try {
      expect(connection.dataSource).toBeInstanceOf(DataSource);
      await connection.dataSource.initialize();
      const runner = connection.dataSource.createQueryRunner();
      try {
        // Own property in 1.x; 0.3's query runners have `connection` only.
        expect(Object.hasOwn(runner, 'dataSource')).toBe(true);
      } finally {
        await runner.release();
      }
    } finally {
      if (connection.dataSource.isInitialized) await connection.dataSource.destroy();
    }
  });
});
