/**
 * Schema step 3 → 4, and back: the peer tables' secondary indexes (tables.ts, specsV4,
 * says why). No column or row changes.
 *
 * Each index is dropped and built again under its name with the other definition, on
 * MySQL only where the definition differs there (`username_peer`). An index found
 * missing is created: MySQL commits each DDL statement, so a step stopped between the
 * drop and the create finishes when it runs again. Running a step again after it
 * completed builds its indexes once more, to the same result.
 */
import type { QueryRunner } from 'typeorm';
import type { SchemaContext } from './schema.js';
import { indexOn, specsV3, specsV4, toTableIndex, type IndexSpec, type TableSpec } from './tables.js';

/** The one secondary index of each peer table in `from` and `to`. */
function peerIndexes(from: TableSpec[], to: TableSpec[]): { table: string; from: IndexSpec; to: IndexSpec }[] {
  return ['peers', 'peer_usernames'].map((base) => {
    const index = (specs: TableSpec[]) => {
      const found = specs.find((s) => s.base === base)?.indices?.[0];
      if (found === undefined) throw new Error(`no index on ${base}`);
      return found;
    };
    return { table: base, from: index(from), to: index(to) };
  });
}

async function rebuild(runner: QueryRunner, context: SchemaContext, from: TableSpec[], to: TableSpec[]): Promise<void> {
  const { dialect, prefix } = context;
  for (const change of peerIndexes(from, to)) {
    if (JSON.stringify(indexOn(change.from, dialect.name)) === JSON.stringify(indexOn(change.to, dialect.name))) continue;
    const table = `${prefix}${change.table}`;
    const existing = await runner.getTable(table);
    if (existing?.indices.some((i) => i.name === change.from.name)) await runner.dropIndex(table, change.from.name);
    await runner.createIndex(table, toTableIndex(change.to, dialect.name));
  }
}

export async function upV4(runner: QueryRunner, context: SchemaContext): Promise<void> {
  await rebuild(runner, context, specsV3(context.prefix), specsV4(context.prefix));
}

export async function downV4(runner: QueryRunner, context: SchemaContext): Promise<void> {
  await rebuild(runner, context, specsV4(context.prefix), specsV3(context.prefix));
}
