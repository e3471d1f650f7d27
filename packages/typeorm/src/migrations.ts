/**
 * TypeORM migration classes, for applications that run schema changes with their
 * own `migrations` list (`migrationsRun`, `typeorm migration:run`) rather than
 * letting the adapter create its tables on first use. Both paths share one
 * implementation and the `schema_version` table, so they can be mixed: a step
 * already applied by one is skipped by the other.
 */
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { assertTablePrefix, DEFAULT_TABLE_PREFIX, migrateDown, migrateUp, schemaContext } from './schema.js';

/** TypeORM reads a migration's timestamp from the last 13 digits of its name. */
const V1 = 1795305600000;
const V2 = 1796515200000;
const V3 = 1796860800000;
const V4 = 1797206400000;

export type MtstoreMigrationClass = new () => MigrationInterface;

/**
 * The runner's DataSource. TypeORM 1.x names it `dataSource` and keeps `connection`
 * only as a deprecated getter; 0.3 has `connection` alone. Read through a type of our
 * own so the same source type-checks against both without touching the deprecated name
 * on 1.x (where `dataSource` is always set).
 */
function dataSourceOf(queryRunner: QueryRunner): DataSource {
  const runner = queryRunner as unknown as { readonly dataSource?: DataSource; readonly connection: DataSource };
  return runner.dataSource ?? runner.connection;
}

/** The class that brings the tables from `version - 1` to `version` (and back). */
function migration(version: number, prefix: string, name: string): MtstoreMigrationClass {
  return class implements MigrationInterface {
    readonly name = name;

    async up(queryRunner: QueryRunner): Promise<void> {
      await migrateUp(queryRunner, schemaContext(dataSourceOf(queryRunner), prefix, name), version);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await migrateDown(queryRunner, schemaContext(dataSourceOf(queryRunner), prefix, name), version - 1);
    }
  };
}

/** Migration 1 (all tables) for the default prefix `mtstore_`. */
export const MtstoreMigration1795305600000: MtstoreMigrationClass = migration(1, DEFAULT_TABLE_PREFIX, `MtstoreMigration${V1}`);
/** Migration 2 (contract v2: keys apart from DC addresses, kv, reference messages) for the default prefix. */
export const MtstoreMigration1796515200000: MtstoreMigrationClass = migration(2, DEFAULT_TABLE_PREFIX, `MtstoreMigration${V2}`);

/** Migration 3 (server session lifetime; MySQL key columns wide enough for sealed keys) for the default prefix. */
export const MtstoreMigration1796860800000: MtstoreMigrationClass = migration(3, DEFAULT_TABLE_PREFIX, `MtstoreMigration${V3}`);

/** Migration 4 (peer lookups read one row whatever the table statistics: the peer tables' secondary indexes) for the default prefix. */
export const MtstoreMigration1797206400000: MtstoreMigrationClass = migration(4, DEFAULT_TABLE_PREFIX, `MtstoreMigration${V4}`);

const cache = new Map<string, MtstoreMigrationClass[]>([
  [DEFAULT_TABLE_PREFIX, [MtstoreMigration1795305600000, MtstoreMigration1796515200000, MtstoreMigration1796860800000, MtstoreMigration1797206400000]],
]);

/**
 * The migration classes for `tablePrefix`, oldest first, to append to a DataSource's
 * `migrations`. Their names carry the prefix, so several prefixes can be migrated
 * by one DataSource.
 */
export function mtstoreMigrations(options: { tablePrefix?: string | undefined } = {}): MtstoreMigrationClass[] {
  const prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
  assertTablePrefix(prefix, 'mtstoreMigrations');
  let classes = cache.get(prefix);
  if (classes === undefined) {
    classes = [V1, V2, V3, V4].map((time, i) => migration(i + 1, prefix, `MtstoreMigration_${prefix}${time}`));
    cache.set(prefix, classes);
  }
  return classes;
}
