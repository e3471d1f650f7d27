/**
 * TypeORM migration classes, for applications that run schema changes with their
 * own `migrations` list (`migrationsRun`, `typeorm migration:run`) rather than
 * letting the adapter create its tables on first use. Both paths share one
 * implementation and the `schema_version` table, so they can be mixed: a step
 * already applied by one is skipped by the other.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertTablePrefix, DEFAULT_TABLE_PREFIX, migrateDown, migrateUp, schemaContext } from './schema.js';

/** TypeORM reads a migration's timestamp from the last 13 digits of its name. */
const V1 = 1795305600000;

export type MtstoreMigrationClass = new () => MigrationInterface;

function migrationV1(prefix: string, name: string): MtstoreMigrationClass {
  return class implements MigrationInterface {
    readonly name = name;

    async up(queryRunner: QueryRunner): Promise<void> {
      await migrateUp(queryRunner, schemaContext(queryRunner.connection, prefix, name), 1);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await migrateDown(queryRunner, schemaContext(queryRunner.connection, prefix, name), 0);
    }
  };
}

/** Migration 1 (all tables) for the default prefix `mtstore_`. */
export const MtstoreMigration1795305600000: MtstoreMigrationClass = migrationV1(DEFAULT_TABLE_PREFIX, `MtstoreMigration${V1}`);

const cache = new Map<string, MtstoreMigrationClass[]>([[DEFAULT_TABLE_PREFIX, [MtstoreMigration1795305600000]]]);

/**
 * The migration classes for `tablePrefix`, oldest first, to append to a DataSource's
 * `migrations`. Their names carry the prefix, so several prefixes can be migrated
 * by one DataSource.
 */
export function mtstoreMigrations(options: { tablePrefix?: string } = {}): MtstoreMigrationClass[] {
  const prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
  assertTablePrefix(prefix, 'mtstoreMigrations');
  let classes = cache.get(prefix);
  if (classes === undefined) {
    classes = [migrationV1(prefix, `MtstoreMigration_${prefix}${V1}`)];
    cache.set(prefix, classes);
  }
  return classes;
}
