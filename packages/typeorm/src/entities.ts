/**
 * The tables as `EntitySchema`s, for applications that register them in their own
 * DataSource (to query them with repositories, or so schema tools know them). The
 * adapter itself does not need them registered: it runs its own SQL.
 */
import { InvalidArgumentError } from '@mtstore/core';
import { EntitySchema, type EntitySchemaColumnOptions, type EntitySchemaIndexOptions } from 'typeorm';
import { dialectOf } from './dialect.js';
import { assertTablePrefix, DEFAULT_TABLE_PREFIX } from './schema.js';
import { columnLength, columnType, indexOn, tableSpecs, textCharset } from './tables.js';

export interface MtstoreEntitiesOptions {
  /**
   * The DataSource `type` ('postgres', 'mysql', 'mariadb', 'better-sqlite3'): binary
   * columns have a different TypeORM type on each.
   */
  type: string;
  /** Must match the storages' `tablePrefix` (with `entityPrefix`: see there). Default `mtstore_`. */
  tablePrefix?: string | undefined;
  /**
   * Your DataSource's `entityPrefix`, if it has one. TypeORM puts it before the table
   * name of every entity, these included, so the tables are `entityPrefix +
   * tablePrefix + name`: give the storages and `mtstoreMigrations()` that whole prefix
   * as their `tablePrefix`. Default `''`.
   */
  entityPrefix?: string | undefined;
}

const cache = new Map<string, EntitySchema[]>();

/**
 * The entities of every mtstore table for `type` and `tablePrefix`. Entity names are
 * the table names, so two prefixes can live in one DataSource. Calls with the same
 * options return the same objects (TypeORM compares entity targets by identity).
 */
export function mtstoreEntities(options: MtstoreEntitiesOptions): EntitySchema[] {
  const prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
  assertTablePrefix(prefix, 'mtstoreEntities');
  const entityPrefix = options.entityPrefix ?? '';
  if (typeof entityPrefix !== 'string') throw new InvalidArgumentError('mtstoreEntities: entityPrefix must be a string (your DataSource\'s entityPrefix)');
  // The tables' whole prefix: the index names (not prefixed by TypeORM) are the ones the
  // storages' migrations give them under it. Without it the entities' index names were
  // those of another prefix: with `synchronize`, TypeORM created them on its tables first
  // and the adapter's tables could not be created (postgres and sqlite index names are
  // per schema: MigrationError), or it dropped the adapter's indexes on the next start.
  const full = `${entityPrefix}${prefix}`;
  assertTablePrefix(full, 'mtstoreEntities (entityPrefix + tablePrefix)');
  const dialect = dialectOf(options.type, 'mtstoreEntities');
  const key = `${dialect}/${entityPrefix}/${prefix}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const entities = tableSpecs(full).map((spec) => {
    const columns: Record<string, EntitySchemaColumnOptions> = {};
    for (const c of spec.columns) {
      const column: EntitySchemaColumnOptions = {
        name: c.name,
        type: columnType(c.kind, dialect) as EntitySchemaColumnOptions['type'],
        nullable: c.nullable === true,
        primary: c.primary === true,
      };
      const length = columnLength(c, dialect);
      if (length !== undefined) column.length = length;
      if (c.kind === 'seq') column.generated = 'increment';
      // MySQL's BOOLEAN is TINYINT(1); without the width TypeORM 0.3 would see a difference
      // to alter. TypeORM 1.x removed `width` (types and driver: it no longer writes or
      // compares display widths), so the property is set through a type of its own: it
      // compiles against both, 0.3 reads it and 1.x ignores it.
      if (c.kind === 'bool' && dialect === 'mysql') (column as EntitySchemaColumnOptions & { width?: number }).width = 1;
      // The character set and collation the migrations give MySQL's text columns (toTable):
      // without them TypeORM creating the tables from these entities (`synchronize` on a
      // database where they are not there yet, `migration:generate`) used the database's
      // default, case-insensitive collation, and load() failed (ER_CANT_AGGREGATE_NCOLLATIONS).
      const text = dialect === 'mysql' ? textCharset(c.kind) : undefined;
      if (text !== undefined) Object.assign(column, text);
      columns[c.property] = column;
    }
    const byName = new Map(spec.columns.map((c) => [c.name, c.property]));
    const indices: EntitySchemaIndexOptions[] = (spec.indices ?? []).map((i) => {
      const { columns, where } = indexOn(i, dialect);
      return { name: i.name, columns: columns.map((c) => byName.get(c) as string), unique: i.unique === true, ...(where === undefined ? {} : { where }) };
    });
    // The entity's name is the table's; TypeORM adds entityPrefix to tableName itself.
    return new EntitySchema({ name: `${full}${spec.base}`, tableName: `${prefix}${spec.base}`, columns, indices });
  });
  cache.set(key, entities);
  return entities;
}
