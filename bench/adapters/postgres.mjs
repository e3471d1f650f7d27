// postgres adapter vs. raw pg: the raw side runs the very statements the adapter
// prepares (same SQL text and statement names, read back from pg_prepared_statements),
// with the same parameters, on its own pool with the same settings, returning pg's
// rows as they come (no model objects, no validation, no key copies), except for the
// work any caller of pg must do for the same result:
// - bytes come back as bytes: the statements return bytea as base64 text (the adapter's
//   choice, faster than pg's hex bytea), so kv.get and load decode it with Buffer.from,
//   as a caller asking for a value or a session's keys would;
// - save builds its parameters from the session on every call, as the adapter must
//   (a caller saves the session it holds now, not one it encoded once);
// - peers.getByUsername folds the username's case (the index holds lower-cased names:
//   lookups are case-insensitive, so any caller must); it, getById and getByPhone build
//   the peer from the row, ids and access hash as bigints (pg's default parser leaves
//   int8 as text, which is no peer id), TL bytes decoded: what a caller asking for a peer uses.
import { fullSession, peer } from '@mtstore/conformance';
import { adapterTargets, benchKey, benchKeyDc, kvKey, kvValue, lookupId, lookupPhone, lookupUsername, sealedRows } from '../common.mjs';
import { POOL_DEFAULTS, PostgresSessionStorage, PostgresStorage } from '@mtstore/postgres';
import { redactUrl } from '@mtstore/core';
import pg from 'pg';

const url = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `mt_bench_${process.pid}`;
const POOL_SIZE = 10;

/** Runs every operation once on a one-connection pool and returns the statements it prepared, by label. */
async function adapterStatements(session, batch) {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const client = new PostgresStorage({ pool, schema, name: 'bench' });
  const server = new PostgresSessionStorage({ pool, schema });
  await client.save(session);
  await client.load();
  await client.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 1n, pts: 1 }]);
  await client.peers.upsert(batch);
  await client.peers.getByUsername('user_1');
  await client.peers.getById('user', 1n);
  await client.peers.getByPhone('10000000001');
  await client.authKeys.set(1, session.dcs[0].authKey);
  await client.kv.set('k', new Uint8Array(1));
  await client.kv.get('k');
  await server.hasSession(1n, 1n);
  await server.createSession(1n, 1n);
  await server.destroySession(2n, 1n);
  const { rows } = await pool.query('SELECT name, statement FROM pg_prepared_statements');
  await Promise.all([client.close(), server.close()]);
  await pool.end();
  const byLabel = {};
  for (const { name, statement } of rows) {
    const label = /^mtstore_(.+)_[0-9a-f]{16}$/.exec(name)?.[1];
    if (label) byLabel[label] = { name, text: statement };
  }
  return byLabel;
}

/** insertSnapshot's parameters after the session id, as the adapter builds them: addresses, keys, channels. */
function snapshotValues(session) {
  const columns = Array.from({ length: 14 }, () => []);
  const push = (offset, row) => row.forEach((value, i) => columns[offset + i].push(value));
  for (const dc of session.dcs) {
    push(0, [dc.id, dc.ipv4 ?? null, dc.ipv6 ?? null, dc.host ?? null, dc.port ?? null, dc.testMode ?? null, dc.mediaOnly ?? null]);
    const media = dc.mediaOnly === true;
    if (dc.authKey !== undefined) push(7, [dc.id, media, -1, dc.authKey, null]);
    for (const t of dc.tempAuthKeys ?? []) push(7, [dc.id, media, t.index, t.key, t.expiresAt]);
  }
  columns[12] = session.channels.map((c) => c.id);
  columns[13] = session.channels.map((c) => c.pts);
  return columns;
}

function peerValues(name, peers) {
  return [
    name,
    peers.map((p) => p.type),
    peers.map((p) => p.id),
    peers.map((p) => p.accessHash),
    peers.map((p) => p.phone ?? null),
    peers.map((p) => p.min ?? null),
    peers.map((p) => p.updatedAt),
    peers.map((p) => p.usernames.join(' ')),
    peers.map((p) => p.displayName ?? null),
    peers.map((p) => p.complete ?? null),
  ];
}

/** A peer_by_username row (pg's default parsers: int8 as text, json parsed) as a peer. */
function peerFrom(row) {
  if (row === undefined) return null;
  const peer = { type: row.type, id: BigInt(row.id), accessHash: BigInt(row.access_hash), usernames: row.usernames ?? [], updatedAt: Number(row.updated_at) };
  if (row.phone !== null) peer.phone = row.phone;
  if (row.min !== null) peer.min = row.min;
  if (row.display_name !== null) peer.displayName = row.display_name;
  if (row.complete !== null) peer.complete = Buffer.from(row.complete, 'base64');
  return peer;
}

export default {
  name: 'postgres',
  async unavailable() {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return null;
    } catch (error) {
      return `PostgreSQL is not reachable at ${redactUrl(url)}: ${error.message}`;
    } finally {
      await client.end().catch(() => {});
    }
  },
  async open({ wanted = () => true } = {}) {
    const session = fullSession(1);
    const batch = (i) => Array.from({ length: 1000 }, (_, k) => peer('user', (i % 50) * 1000 + k + 1));
    const sql = await adapterStatements(session, batch(0));

    // Both pools alike: the adapter's defaults (timeouts), except that a caller may wait
    // long for a connection (64 concurrent peer batches of one session take turns).
    const config = { connectionString: url, max: POOL_SIZE, connectionTimeoutMillis: 120_000 };
    const client = new PostgresStorage({ config, schema, name: 'bench' });
    const server = new PostgresSessionStorage({ config, schema });
    await server.createSession(1n, 1n);
    // Every batch the bench upserts is stored once beforehand, so both sides update the same
    // rows; only when that row runs.
    if (wanted('peers.upsert ×1000')) await client.peers.upsert(Array.from({ length: 50 }, (_, i) => batch(i)).flat());
    for (let i = 0; i < 8; i++) await client.kv.set(kvKey(i), kvValue(i));

    const pool = new pg.Pool({ ...POOL_DEFAULTS, ...config });
    pool.on('error', () => {});
    const raw = (statement, values) => pool.query({ name: statement.name, text: statement.text, values });
    const transaction = async (work) => {
      const connection = await pool.connect();
      try {
        await connection.query('BEGIN');
        await work((statement, values) => connection.query({ name: statement.name, text: statement.text, values }));
        await connection.query('COMMIT');
      } catch (error) {
        await connection.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        connection.release();
      }
    };
    const sessionValues = (session) => [
      'bench', session.homeDcId, session.apiId ?? null, session.user?.id ?? null, session.user?.dcId ?? null, session.user?.bot ?? null,
      session.user?.usernames ?? null, session.user?.premium ?? null, session.state?.pts ?? null, session.state?.qts ?? null, session.state?.date ?? null,
      session.state?.seq ?? null, session.takeoutId ?? null,
    ];
    // load's row with its keys as bytes: [dc id, media-only, slot, base64, expiry] per key.
    const withKeyBytes = (row) => {
      if (row !== undefined && row.keys !== null) for (const key of row.keys) key[3] = Buffer.from(key[3], 'base64');
      return row ?? null;
    };

    // One pool for both sides of the encryption rows (common.mjs sealedRows).
    const sealedPool = new pg.Pool({ ...POOL_DEFAULTS, ...config });
    const sealed = await sealedRows((name, encryption) => new PostgresStorage({ pool: sealedPool, schema, name, encryption }), () => sealedPool.end());
    return {
      sealed,
      targets: {
        adapter: adapterTargets(client, server),
        raw: {
          // Schema 3: the statements take the clock (epoch ms) and the expiry, as the adapter passes them.
          'hasSession hit': async () => (await raw(sql.has_session, [1n, 1n, Date.now()])).rowCount === 1,
          'hasSession miss': async () => (await raw(sql.has_session, [1n, 2n, Date.now()])).rowCount === 1,
          'createSession+destroySession': async (i) => {
            await raw(sql.create_session, [2n, BigInt(i), Date.now(), null]);
            await raw(sql.destroy_session, [2n, BigInt(i), Date.now()]);
          },
          load: async () => withKeyBytes((await raw(sql.load, ['bench'])).rows[0]),
          save: () =>
            transaction(async (query) => {
              const { rows } = await query(sql.save_session, sessionValues(session));
              await query(sql.clear_snapshot, [rows[0].id]);
              await query(sql.insert_snapshot, [rows[0].id, ...snapshotValues(session)]);
            }),
          saveUpdateState: async (i) => (await raw(sql.save_update_state, ['bench', i, 1, 1, 1, [1n], [i]])).rows[0].found === 1,
          'peers.upsert ×1000': (i) =>
            transaction(async (query) => {
              await query(sql.lock_peers, [`mtstore:peers:${schema}:bench`]);
              await query(sql.upsert_peers, peerValues('bench', batch(i)));
            }),
          'peers.getByUsername': async (i) => peerFrom((await raw(sql.peer_by_username, ['bench', lookupUsername(i).toLowerCase()])).rows[0]),
          'peers.getById': async (i) => peerFrom((await raw(sql.peer_by_id, ['bench', 'user', lookupId(i)])).rows[0]),
          'peers.getByPhone': async (i) => peerFrom((await raw(sql.peer_by_phone, ['bench', lookupPhone(i)])).rows[0]),
          // The single-key writes: one statement each, creating the session row if absent (slot -1: the permanent key).
          'authKeys.set': async (i) => void (await raw(sql.key_set, ['bench', benchKeyDc(i), -1, benchKey(i), null])),
          'kv.get': async (i) => {
            const row = (await raw(sql.kv_get, ['bench', kvKey(i)])).rows[0];
            return row === undefined ? null : Buffer.from(row.value, 'base64');
          },
          'kv.set': async (i) => void (await raw(sql.kv_set, ['bench', kvKey(i), kvValue(i)])),
        },
      },
      close: async () => {
        await Promise.all([client.close(), server.close(), pool.end()]);
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end();
      },
    };
  },
};
