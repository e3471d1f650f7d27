/**
 * Schema step 2 → 3, and back.
 *
 * Up adds the server session lifetime columns (`last_used_at`, `expires_at`) and the
 * index the expiry sweep reads, and on MySQL widens `auth_keys.auth_key` from
 * VARBINARY(256) to VARBINARY(1024) so sealed keys fit. Sessions already stored never
 * expire (`expires_at` NULL) and count as last used at the upgrade (context.clock: the
 * migrating instance's clock; times are the mtstore process's clock, docs/contract.md §7.1).
 *
 * As in step 2, every part checks what is already there, so a step MySQL interrupted
 * between DDL statements finishes when it runs again.
 */
import { TableColumn, TableIndex, type QueryRunner } from 'typeorm';
import type { SchemaContext } from './schema.js';
import { SEALED_KEY_LENGTH, specsV3, toTable } from './tables.js';

function serverSessions(context: SchemaContext) {
  const spec = specsV3(context.prefix).find((s) => s.base === 'server_sessions');
  if (spec === undefined) throw new Error('no table server_sessions');
  return toTable(spec, context.prefix, context.dialect.name);
}

/** The key column's MySQL type: ALTER … MODIFY keeps the bytes (TypeORM's changeColumn would drop and re-add it). */
async function keyColumnLength(runner: QueryRunner, context: SchemaContext, length: number): Promise<void> {
  if (context.dialect.name !== 'mysql') return;
  await runner.query(`ALTER TABLE ${context.tables.authKeys} MODIFY auth_key VARBINARY(${length}) NOT NULL`);
}

export async function upV3(runner: QueryRunner, context: SchemaContext): Promise<void> {
  const { dialect: d, tables: t, names: n } = context;
  const table = serverSessions(context);
  for (const name of ['last_used_at', 'expires_at']) {
    if (!(await runner.hasColumn(n.serverSessions, name))) await runner.addColumn(n.serverSessions, new TableColumn(table.findColumnByName(name)));
  }
  await runner.query(d.sql(`UPDATE ${t.serverSessions} SET last_used_at = ? WHERE last_used_at IS NULL`), [context.clock()]);
  const index = table.indices[0] as TableIndex;
  const existing = await runner.getTable(n.serverSessions);
  if (!existing?.indices.some((i) => i.name === index.name)) await runner.createIndex(n.serverSessions, new TableIndex({ name: index.name, columnNames: [...index.columnNames] }));
  await keyColumnLength(runner, context, SEALED_KEY_LENGTH);
}

/**
 * Back to version 2: server sessions lose their lifetime (and so never expire again);
 * on MySQL the key column goes back to VARBINARY(256), which fails while sealed keys
 * are stored (open them first: rotate to no encryption).
 */
export async function downV3(runner: QueryRunner, context: SchemaContext): Promise<void> {
  const { names: n } = context;
  await keyColumnLength(runner, context, 256);
  const index = serverSessions(context).indices[0] as TableIndex;
  const existing = await runner.getTable(n.serverSessions);
  if (existing?.indices.some((i) => i.name === index.name)) await runner.dropIndex(n.serverSessions, index.name as string);
  for (const name of ['expires_at', 'last_used_at']) if (await runner.hasColumn(n.serverSessions, name)) await runner.dropColumn(n.serverSessions, name);
}
