/**
 * Schema step 1 → 2, and back.
 *
 * Up moves every auth key out of `datacenters.auth_key` and `temp_auth_keys` into
 * `auth_keys`, keyed by the DC entry (dc id, main or media-only) instead of the row
 * position, copies `sessions.user_username` into `user_usernames`, and adds what v2
 * stores beside (hosts, premium, display names, TL bytes, kv, reference messages).
 * Nothing a v1 store holds is lost.
 *
 * MySQL commits every DDL statement on its own, so a step can stop half-way. Each
 * part therefore checks what is already there and the copies skip rows that exist:
 * running the step again after a crash finishes it. On postgres and sqlite it all
 * runs in the caller's transaction.
 */
import { TableColumn, type QueryRunner, type Table } from 'typeorm';
import type { SchemaContext } from './schema.js';
import { PERMANENT_SLOT, specsV1, specsV2, toTable } from './tables.js';

type Specs = typeof specsV1;

function tableOf(specs: Specs, { prefix, dialect }: SchemaContext, base: string): Table {
  const spec = specs(prefix).find((s) => s.base === base);
  if (spec === undefined) throw new Error(`no table ${base}`);
  return toTable(spec, prefix, dialect.name);
}

function columnOf(specs: Specs, context: SchemaContext, base: string, name: string): TableColumn {
  const column = tableOf(specs, context, base).columns.find((c) => c.name === name);
  if (column === undefined) throw new Error(`no column ${base}.${name}`);
  return new TableColumn(column);
}

/** Adds the column as `specs` describe it, unless the table has it already. */
async function addColumn(runner: QueryRunner, context: SchemaContext, specs: Specs, base: string, name: string): Promise<void> {
  const table = `${context.prefix}${base}`;
  if (!(await runner.hasColumn(table, name))) await runner.addColumn(table, columnOf(specs, context, base, name));
}

async function dropColumn(runner: QueryRunner, context: SchemaContext, base: string, name: string): Promise<void> {
  const table = `${context.prefix}${base}`;
  if (await runner.hasColumn(table, name)) await runner.dropColumn(table, name);
}

/** Makes the column's nullability what `specs` say, if it is not already. */
async function setNullable(runner: QueryRunner, context: SchemaContext, specs: Specs, base: string, name: string): Promise<void> {
  const wanted = columnOf(specs, context, base, name);
  const current = (await runner.getTable(`${context.prefix}${base}`))?.findColumnByName(name);
  if (current !== undefined && current.isNullable !== wanted.isNullable) {
    const changed = current.clone();
    changed.isNullable = wanted.isNullable;
    await runner.changeColumn(`${context.prefix}${base}`, name, changed);
  }
}

export async function upV2(runner: QueryRunner, context: SchemaContext): Promise<void> {
  const { dialect: d, tables: t, names: n } = context;
  for (const base of ['auth_keys', 'kv', 'ref_messages']) await runner.createTable(tableOf(specsV2, context, base), true);

  // Keys first, while the v1 columns they come from are still there. Row order decides
  // which of two v1 entries of one DC (v1 did not forbid them) keeps its key: the first.
  const keyColumns = `${t.authKeys} (session_name, dc_id, media_only, slot, auth_key, expires_at)`;
  if (await runner.hasColumn(n.datacenters, 'auth_key')) {
    await runner.query(
      d.insertSelectIgnore(
        keyColumns,
        `SELECT session_name, dc_id, ${d.bit('media_only')}, ${PERMANENT_SLOT}, auth_key, NULL FROM ${t.datacenters} WHERE auth_key IS NOT NULL ORDER BY session_name, ord`,
      ),
    );
  }
  if (await runner.hasTable(n.tempAuthKeys)) {
    await runner.query(
      d.insertSelectIgnore(
        keyColumns,
        `SELECT k.session_name, c.dc_id, ${d.bit('c.media_only')}, k.key_index, k.auth_key, k.expires_at FROM ${t.tempAuthKeys} k` +
          ` JOIN ${t.datacenters} c ON c.session_name = k.session_name AND c.ord = k.dc_ord ORDER BY k.session_name, k.dc_ord, k.ord`,
      ),
    );
    await runner.dropTable(n.tempAuthKeys);
  }
  await dropColumn(runner, context, 'datacenters', 'auth_key');
  await addColumn(runner, context, specsV2, 'datacenters', 'host');
  await setNullable(runner, context, specsV2, 'datacenters', 'port');

  await addColumn(runner, context, specsV2, 'sessions', 'user_usernames');
  await addColumn(runner, context, specsV2, 'sessions', 'user_premium');
  if (await runner.hasColumn(n.sessions, 'user_username')) {
    await runner.query(`UPDATE ${t.sessions} SET user_usernames = user_username WHERE user_username IS NOT NULL AND user_usernames IS NULL`);
    await dropColumn(runner, context, 'sessions', 'user_username');
  }
  await setNullable(runner, context, specsV2, 'sessions', 'home_dc_id');

  await addColumn(runner, context, specsV2, 'peers', 'display_name');
  await addColumn(runner, context, specsV2, 'peers', 'complete');
}

/**
 * Back to v1, keeping what v1 can hold: keys of DC entries with an address go back
 * into their rows, temp keys into `temp_auth_keys`, the main username into
 * `user_username`. Lost: keys of DCs without an address row, address-less entries,
 * hosts, extra usernames, premium, display names, TL bytes, kv entries, reference
 * messages and rows of names that never had a snapshot.
 */
export async function downV2(runner: QueryRunner, context: SchemaContext): Promise<void> {
  const { dialect: d, tables: t, names: n } = context;
  await runner.query(`DELETE FROM ${t.datacenters} WHERE port IS NULL`);
  await addColumn(runner, context, specsV1, 'datacenters', 'auth_key');
  await runner.createTable(tableOf(specsV1, context, 'temp_auth_keys'), true);
  if (await runner.hasTable(n.authKeys)) {
    const dc = t.datacenters;
    await runner.query(
      `UPDATE ${dc} SET auth_key = (SELECT k.auth_key FROM ${t.authKeys} k WHERE k.session_name = ${dc}.session_name AND k.dc_id = ${dc}.dc_id` +
        ` AND k.media_only = ${d.bit(`${dc}.media_only`)} AND k.slot = ${PERMANENT_SLOT})`,
    );
    await runner.query(
      d.insertSelectIgnore(
        `${t.tempAuthKeys} (session_name, dc_ord, ord, key_index, auth_key, expires_at)`,
        `SELECT k.session_name, c.ord, k.slot, k.slot, k.auth_key, k.expires_at FROM ${t.authKeys} k` +
          ` JOIN ${dc} c ON c.session_name = k.session_name AND c.dc_id = k.dc_id AND ${d.bit('c.media_only')} = k.media_only WHERE k.slot >= 0`,
      ),
    );
  }
  await setNullable(runner, context, specsV1, 'datacenters', 'port');
  await dropColumn(runner, context, 'datacenters', 'host');

  await addColumn(runner, context, specsV1, 'sessions', 'user_username');
  if (await runner.hasColumn(n.sessions, 'user_usernames')) {
    await runner.query(`UPDATE ${t.sessions} SET user_username = ${firstWord(d.name, 'user_usernames')} WHERE user_usernames IS NOT NULL AND user_usernames <> ''`);
  }
  // A row without a snapshot only held the peer-write lock: v1 has no such rows.
  await runner.query(`DELETE FROM ${t.sessions} WHERE home_dc_id IS NULL`);
  await setNullable(runner, context, specsV1, 'sessions', 'home_dc_id');
  await dropColumn(runner, context, 'sessions', 'user_usernames');
  await dropColumn(runner, context, 'sessions', 'user_premium');
  await dropColumn(runner, context, 'peers', 'display_name');
  await dropColumn(runner, context, 'peers', 'complete');
  for (const base of ['ref_messages', 'kv', 'auth_keys']) await runner.dropTable(`${context.prefix}${base}`, true);
}

/** The text before the first space (usernames are space-separated). */
function firstWord(dialect: SchemaContext['dialect']['name'], column: string): string {
  if (dialect === 'postgres') return `split_part(${column}, ' ', 1)`;
  if (dialect === 'mysql') return `SUBSTRING_INDEX(${column}, ' ', 1)`;
  return `CASE WHEN instr(${column}, ' ') > 0 THEN substr(${column}, 1, instr(${column}, ' ') - 1) ELSE ${column} END`;
}
