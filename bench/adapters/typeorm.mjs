import { adapterTargets, benchKey, benchKeyDc, kvKey, kvValue, lookupId, lookupPhone, lookupUsername, sealedRows } from '../common.mjs';
// typeorm adapter (postgres driver) vs. raw pg running the same SQL. The statements
// are not copied here: at open, one instance with a recording TypeORM logger runs each
// operation once, and the raw side replays exactly those statements (transaction
// control included) on a pg.Pool of the same size, with parameters it builds itself.
// So the ratio is what TypeORM (query runners, pool wrapper, logging and subscriber
// hooks) plus mtstore (validation, normalization, decoding checks) add to the SQL.
// Raw reads return the rows; they do not decode them. That is fair for kv.get: pg
// hands bytea back as a Buffer (hex decoded in the driver), on both sides the same, so
// the raw row already holds the bytes a correct caller needs. Except where the row is
// no answer a caller could use: peers.getByUsername folds the username's case (the index holds
// lower-cased names: lookups are case-insensitive, so any caller must), and it, getById and
// getByPhone build the peer from the row (ids and access hash are read as decimal text,
// which is no peer id).
import pg from 'pg';
import { fullSession, peer } from '@mtstore/conformance';
import { redactUrl } from '@mtstore/core';
import { createRequire } from 'node:module';
import { TypeormSessionStorage, TypeormStorage } from '@mtstore/typeorm';

// typeorm is @mtstore/typeorm's dependency, not hoisted to the root: the copy the adapter uses.
const { DataSource } = createRequire(import.meta.resolve('@mtstore/typeorm'))('typeorm');

const URL_ = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// Per process, so two benches (or a test run) on one server never share tables.
const PREFIX = `mtstore_bench_typeorm_${process.pid}_`;
const NAME = 'bench';
const POOL_SIZE = 10; // TypeORM's default pool size for postgres
const TABLES = ['schema_version', 'sessions', 'datacenters', 'auth_keys', 'channels', 'peers', 'peer_usernames', 'kv', 'ref_messages', 'server_sessions'];

const batch = (i) => Array.from({ length: 1000 }, (_, k) => peer('user', (i % 50) * 1000 + k + 1));

/** Parameters of each statement of each operation, in the order the adapter binds them. */
function rawParams() {
  const session = fullSession(1);
  const bool = (value) => (value === undefined ? null : value);
  const user = session.user;
  const head = [NAME, session.homeDcId, session.apiId ?? null, user?.id ?? null, user?.dcId ?? null, bool(user?.bot), user?.usernames?.join(' ') ?? null, bool(user?.premium),
    session.state?.pts ?? null, session.state?.qts ?? null, session.state?.date ?? null, session.state?.seq ?? null, session.takeoutId ?? null];
  const dcs = [];
  const keys = [];
  session.dcs.forEach((dc, ord) => {
    dcs.push(NAME, ord, dc.id, dc.ipv4 ?? null, dc.ipv6 ?? null, dc.host ?? null, dc.port ?? null, bool(dc.testMode), bool(dc.mediaOnly));
    const media = dc.mediaOnly ? 1 : 0;
    if (dc.authKey) keys.push(NAME, dc.id, media, -1, Buffer.from(dc.authKey), null);
    dc.tempAuthKeys?.forEach((t) => keys.push(NAME, dc.id, media, t.index, Buffer.from(t.key), t.expiresAt));
  });
  const channels = session.channels.flatMap((c) => [NAME, c.id, c.pts]);
  const save = [head, [NAME], [NAME], [NAME], dcs, keys, channels];
  return {
    // Server statements take the caller's clock (epoch ms): expired rows are gone at once.
    'hasSession hit': () => [[1n, 1n, Date.now()]],
    'hasSession miss': () => [[1n, 2n, Date.now()]],
    'createSession+destroySession': (i) => [[2n, BigInt(i), Date.now(), null], [2n, BigInt(i), Date.now()]],
    load: () => [[NAME, NAME, NAME, NAME]],
    save: () => save,
    saveUpdateState: (i) => [[i, 1, 1, 1, NAME], [NAME, 1n, i]],
    // Known peers again (every batch was stored at open), as a client sees them all day:
    // lock, read phone holders, read usernames, upsert the rows; usernames unchanged.
    'peers.upsert ×1000': (i) => {
      const peers = batch(i);
      return [
        [NAME],
        [NAME, ...peers.map((p) => p.phone)],
        [NAME, 'user', ...peers.map((p) => p.id), ...peers.map((p) => p.usernames[0].toLowerCase())],
        peers.flatMap((p) => [NAME, p.type, p.id, p.accessHash, bool(p.min), p.phone ?? null, p.updatedAt, p.usernames.join(' '), p.displayName ?? null, p.complete ?? null]),
      ];
    },
    'peers.getByUsername': (i) => [[NAME, lookupUsername(i).toLowerCase()]],
    'peers.getById': (i) => [[NAME, 'user', lookupId(i)]],
    'peers.getByPhone': (i) => [[NAME, lookupPhone(i)]],
    // One upsert each; reads one row.
    'authKeys.set': (i) => [[NAME, benchKeyDc(i), -1, Buffer.from(benchKey(i)), null]],
    'kv.get': (i) => [[NAME, kvKey(i)]],
    'kv.set': (i) => [[NAME, kvKey(i), Buffer.from(kvValue(i))]],
  };
}

/** The SQL each operation runs, as TypeORM sent it to pg. */
async function recordStatements(options) {
  let current = [];
  const logger = { logQuery: (query) => current.push(query), logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
  const client = new TypeormStorage({ options: { ...options, logger }, tablePrefix: PREFIX, name: NAME });
  const server = new TypeormSessionStorage({ options: { ...options, logger }, tablePrefix: PREFIX });
  try {
    await client.load(); // connect and check the schema before recording
    await server.hasSession(1n, 1n);
    const statements = {};
    for (const [operation, run] of Object.entries(adapterTargets(client, server))) {
      current = [];
      await run(0);
      statements[operation] = current;
    }
    return statements;
  } finally {
    await client.close();
    await server.close();
  }
}

/**
 * Transaction control, which the raw side runs itself. The adapter's begin on postgres is
 * `START TRANSACTION; SET LOCAL idle_in_transaction_session_timeout = …` (one message: the
 * server's bound for a transaction a vanished client left open); the raw side's is the
 * plain START TRANSACTION, so that setting counts as the adapter's own cost.
 */
const isControl = (sql) => sql === 'COMMIT' || sql.startsWith('START TRANSACTION');

/** A peer row as the adapter selects it (64-bit columns as text, the flag as 0/1) back to a peer. */
function peerFrom(row) {
  if (row === undefined) return null;
  const peer = { type: row.peer_type, id: BigInt(row.id), accessHash: BigInt(row.hash), usernames: row.usernames ? row.usernames.split(' ') : [], updatedAt: Number(row.updated_at) };
  if (row.phone !== null) peer.phone = row.phone;
  if (row.is_min !== null) peer.min = row.is_min !== 0;
  if (row.display_name !== null) peer.displayName = row.display_name;
  if (row.complete !== null) peer.complete = row.complete;
  return peer;
}

/** Reads whose raw side turns its rows into the answer (see the header). */
const DECODE = { 'peers.getByUsername': (rows) => peerFrom(rows[0]), 'peers.getById': (rows) => peerFrom(rows[0]), 'peers.getByPhone': (rows) => peerFrom(rows[0]) };

/** Raw pg: the recorded statements with the raw side's parameters; a transaction on one pooled client. */
function rawTargets(pool, statements) {
  const params = rawParams();
  const targets = {};
  for (const [operation, sqls] of Object.entries(statements)) {
    const work = sqls.filter((sql) => !isControl(sql));
    const transactional = sqls[0]?.startsWith('START TRANSACTION') === true;
    const sample = params[operation](0);
    if (sample.length !== work.length) throw new Error(`typeorm bench: ${operation} runs ${work.length} statements, the raw side has parameters for ${sample.length}`);
    work.forEach((sql, k) => {
      const count = new Set(sql.match(/\$\d+/g) ?? []).size;
      if (count !== sample[k].length) throw new Error(`typeorm bench: ${operation} statement ${k} binds ${count} parameters, the raw side ${sample[k].length}`);
    });
    targets[operation] = transactional
      ? async (i) => {
          const values = params[operation](i);
          const client = await pool.connect();
          try {
            await client.query('START TRANSACTION');
            for (let k = 0; k < work.length; k++) await client.query(work[k], values[k]);
            await client.query('COMMIT');
          } finally {
            client.release();
          }
        }
      : async (i) => {
          const values = params[operation](i);
          let result;
          for (let k = 0; k < work.length; k++) result = await pool.query(work[k], values[k]);
          return DECODE[operation]?.(result.rows);
        };
  }
  return targets;
}

export default {
  name: 'typeorm',
  async unavailable() {
    const client = new pg.Client({ connectionString: URL_, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.end();
      return null;
    } catch (error) {
      return `postgres is not reachable at ${redactUrl(URL_)}: ${error.message}`;
    }
  },
  async open({ wanted = () => true } = {}) {
    const options = { type: 'postgres', url: URL_, poolSize: POOL_SIZE, applicationName: 'mtstore-bench-typeorm' };
    const pool = new pg.Pool({ connectionString: URL_, max: POOL_SIZE, application_name: 'mtstore-bench-pg' });
    const client = new TypeormStorage({ options, tablePrefix: PREFIX, name: NAME });
    const server = new TypeormSessionStorage({ options, tablePrefix: PREFIX });
    await client.save(fullSession(1));
    // Every batch the bench upserts is stored once beforehand (15 s), only when that row
    // runs; batch 0 always (the recorded upsert is of known peers, as measured).
    for (let i = 0; i < (wanted('peers.upsert ×1000') ? 50 : 1); i++) await client.peers.upsert(batch(i));
    for (let i = 0; i < 8; i++) await client.kv.set(kvKey(i), kvValue(i));
    await server.createSession(1n, 1n);
    const statements = await recordStatements(options);
    // One DataSource for both sides of the encryption rows (common.mjs sealedRows).
    const sealedSource = await new DataSource(options).initialize();
    const sealed = await sealedRows((name, encryption) => new TypeormStorage({ dataSource: sealedSource, tablePrefix: PREFIX, name, encryption }), () => sealedSource.destroy());
    return {
      sealed,
      targets: { adapter: adapterTargets(client, server), raw: rawTargets(pool, statements) },
      // 64 concurrent 1,000-peer batches on one session queue on its row lock: that measures the queue.
      concurrency: { 'peers.upsert ×1000': [1] },
      close: async () => {
        await client.close();
        await server.close();
        await pool.query(`DROP TABLE IF EXISTS ${TABLES.map((t) => `"${PREFIX}${t}"`).join(', ')}`);
        await pool.end();
      },
    };
  },
};
