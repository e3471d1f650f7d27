#!/usr/bin/env node
// node bench/vs-clients.mjs [--quick] [--only <prefix>]   (after `npm run build`; `npm run bench` runs it too)
// --only runs the rows whose name starts with <prefix> (e.g. "sqlite: 1,000-peer batch, first"),
// "memory: RSS", or "bridges"; a prefix that starts no row's name says so instead of printing nothing.
//
// mtstore against the storage built into the clients, on the clients' own workloads,
// in one process: @mtstore/sqlite and @mtstore/memory beside
//   - mtcute 0.29.7's repositories: SqliteStorage (@mtcute/node) and MemoryStorage
//     (@mtcute/core), driven as mtcute's client drives them (peers.store() per peer,
//     then driver.save(), which commits the pending writes in one transaction);
//   - Telethon 1.37's SQLiteSession, replayed through better-sqlite3: its tables
//     (version, sessions, entities, update_state, as Telethon creates them) and its exact
//     statements (INSERT OR REPLACE INTO entities VALUES (?,?,?,?,?,?) for a batch,
//     SELECT id, hash FROM entities WHERE id=? / phone=? / username=?, the sessions and
//     update_state rows), with Python sqlite3's defaults (rollback journal,
//     synchronous=FULL, a transaction per commit). Telethon itself is Python: it is not
//     run, its SQL is;
//   - GramJS 2.26 (npm `telegram`): StoreSession (auth key, entities written through
//     node-localstorage files) and MemorySession (entities in a Set, lookups scan it).
// Each side is durable as its library defines it: mtstore's promise resolves after the
// commit (WAL, synchronous=NORMAL by default; the Telethon column runs mtstore with
// synchronous=FULL like Telethon); mtcute commits at driver.save(); Telethon at commit();
// memory stores are durable nowhere.
//
// Same data: each side stores what its library keeps of the same peers. mtcute keeps
// each peer's TL bytes (a serialized `user`, client-peers.mjs completeBytes), and so do
// the mtstore sides compared with it; Telethon and GramJS keep none, and the mtstore
// sides compared with them ('mtstore FULL', 'mtstore bare') hold none either — what
// `mtstore convert` makes of a Telethon session, and what the GramJS bridge stores.
//
// Rows alternate the order of the sides each round; a row shows each side's median
// ops/s over rounds and the median per-round ratio mtstore/other (target ≥ 1×).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { barePeer, batchOf, LOOKUP_PEERS, lookupAt, lookupTargets, mtcutePeer, mtstorePeer, PEERS, telethonRow, updateStateTargets } from './client-peers.mjs';

function gramjsUser(Api, helpers, n) {
  return new Api.User({
    id: helpers.returnBigInt(n),
    accessHash: helpers.returnBigInt(BigInt(n) * 7919n + 13n),
    firstName: `User ${n}`,
    username: `User_${n}`,
    phone: String(10_000_000_000 + n),
  });
}


async function modules() {
  const [sqlite, memory, mtcuteNode, mtcuteCore, mtcuteUtils, telegram] = await Promise.all([
    import('@mtstore/sqlite'),
    import('@mtstore/memory'),
    import('@mtcute/node'),
    import('@mtcute/core'),
    import('@mtcute/core/utils.js'),
    import('telegram'),
  ]);
  const { AuthKey } = await import('telegram/crypto/AuthKey.js');
  return { sqlite, memory, mtcuteNode, mtcuteCore, mtcuteUtils, telegram, AuthKey };
}

function telethonCreate(db) {
  // Telethon 1.37 SQLiteSession creates these (schema version 7) in its constructor.
  db.exec(`create table version (version integer primary key);
    create table sessions (dc_id integer primary key, server_address text, port integer, auth_key blob, takeout_id integer);
    create table entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer);
    create table sent_files (md5_digest blob, file_size integer, type integer, id integer, hash integer, primary key(md5_digest, file_size, type));
    create table update_state (id integer primary key, pts integer, qts integer, date integer, seq integer);
    insert into version values (7);`);
}

/** Telethon's defaults through Python's sqlite3: rollback journal, synchronous FULL. */
function telethonOpen(path) {
  const db = new Database(path);
  db.defaultSafeIntegers(true);
  return db;
}

async function mtcuteSqlite(m, path) {
  const storage = new m.mtcuteNode.SqliteStorage(path);
  storage.driver.setup(m.log, m.platform);
  await storage.driver.load();
  return storage;
}

async function mtcuteMemory(m) {
  const storage = new m.mtcuteCore.MemoryStorage();
  await storage.driver.load();
  return storage;
}

/**
 * The workloads. Each `open()` returns the sides (name → one operation, async) and a
 * close; `unit` is how many items one operation is (1,000 for a peer batch).
 */
function workloads(m, dir) {
  const key = new Uint8Array(256).fill(7);
  const sqlitePath = (name) => join(dir, name);
  let files = 0;
  const fresh = (name) => sqlitePath(`${name}-${files++}`);

  return [
    {
      name: 'sqlite: auth key write + read in a fresh instance',
      unit: 1,
      async open() {
        const mtstorePath = fresh('mtstore.db');
        const mtstoreFullPath = fresh('mtstore-full.db');
        const mtcutePath = fresh('mtcute.session');
        const telethonPath = fresh('telethon.session');
        const gramjsName = relative(process.cwd(), fresh('gramjs'));
        const setup = new Database(telethonPath);
        telethonCreate(setup);
        setup.close();
        const gramKey = new m.AuthKey();
        await gramKey.setKey(Buffer.from(key));
        return {
          sides: {
            mtstore: async () => {
              const s = new m.sqlite.SqliteStorage({ path: mtstorePath, name: 'bench' });
              await s.authKeys.set(2, key);
              await s.authKeys.get(2);
              await s.close();
            },
            'mtstore FULL': async () => {
              const s = new m.sqlite.SqliteStorage({ path: mtstoreFullPath, name: 'bench', synchronous: 'FULL' });
              await s.authKeys.set(2, key);
              await s.authKeys.get(2);
              await s.close();
            },
            mtcute: async () => {
              const s = await mtcuteSqlite(m, mtcutePath);
              await s.authKeys.set(2, key);
              await s.authKeys.get(2);
              await s.driver.destroy();
            },
            telethon: async () => {
              // SQLiteSession.__init__ (version check, read the sessions row), the auth_key
              // setter (_update_session_table) and save() (commit), then close().
              const db = telethonOpen(telethonPath);
              db.prepare(`select name from sqlite_master where type='table' and name='version'`).get();
              db.prepare('select version from version').get();
              db.prepare('select * from sessions').get();
              db.exec('begin');
              db.prepare('delete from sessions').run();
              db.prepare('insert or replace into sessions values (?,?,?,?,?)').run(2, '149.154.167.51', 443, key, null);
              db.exec('commit');
              db.close();
            },
            gramjs: async () => {
              const s = new m.telegram.sessions.StoreSession(gramjsName);
              await s.load();
              s.setDC(2, '149.154.167.51', 443);
              s.authKey = gramKey;
              s.authKey.getKey();
            },
          },
          ratios: { mtcute: 'mtstore', telethon: 'mtstore FULL', gramjs: 'mtstore' },
          close: async () => {},
        };
      },
    },
    ...['first insert', 're-upsert'].map((kind) => ({
      name: `sqlite: 1,000-peer batch, ${kind}`,
      unit: PEERS,
      async open() {
        const mtstore = new m.sqlite.SqliteStorage({ path: fresh('mtstore.db'), name: 'bench' });
        const mtstoreFull = new m.sqlite.SqliteStorage({ path: fresh('mtstore-full.db'), name: 'bench', synchronous: 'FULL' });
        const mtcute = await mtcuteSqlite(m, fresh('mtcute.session'));
        const telethonPath = fresh('telethon.session');
        const telethon = telethonOpen(telethonPath);
        telethonCreate(telethon);
        const telethonInsert = telethon.prepare('insert or replace into entities values (?,?,?,?,?,?)');
        const telethonBatch = telethon.transaction((rows) => {
          for (const row of rows) telethonInsert.run(...row);
        });
        // First insert: every operation writes 1,000 new ids; re-upsert: 20 batches over stored ids.
        const first = (i) => (kind === 'first insert' ? 1 + i * PEERS : 1 + (i % 20) * PEERS);
        const batches = { mtstore: new Map(), mtstoreFull: new Map(), mtcute: new Map(), telethon: new Map() };
        const batch = (side, make, i) => {
          const at = first(i);
          let b = batches[side].get(at);
          if (b === undefined) batches[side].set(at, (b = batchOf(make, at)));
          if (kind === 'first insert') batches[side].delete(at);
          return b;
        };
        if (kind === 're-upsert') {
          for (let i = 0; i < 20; i++) {
            await mtstore.peers.upsert(batchOf(mtstorePeer, first(i)));
            await mtstoreFull.peers.upsert(batchOf(barePeer, first(i)));
            for (const p of batchOf(mtcutePeer, first(i))) mtcute.peers.store(p);
            await mtcute.driver.save();
            telethonBatch.immediate(batchOf(telethonRow, first(i)));
          }
        }
        const counters = { mtstore: 0, mtstoreFull: 0, mtcute: 0, telethon: 0 };
        return {
          sides: {
            // Re-upserts reuse 20 prebuilt batches; a first insert builds its batch in the call, on every side.
            mtstore: () => mtstore.peers.upsert(batch('mtstore', mtstorePeer, counters.mtstore++)),
            // The Telethon column: peers as converted from Telethon (no TL bytes, as Telethon keeps none).
            'mtstore FULL': () => mtstoreFull.peers.upsert(batch('mtstoreFull', barePeer, counters.mtstoreFull++)),
            mtcute: async () => {
              for (const p of batch('mtcute', mtcutePeer, counters.mtcute++)) mtcute.peers.store(p);
              await mtcute.driver.save();
            },
            telethon: async () => telethonBatch.immediate(batch('telethon', telethonRow, counters.telethon++)),
          },
          ratios: { mtcute: 'mtstore', telethon: 'mtstore FULL' },
          close: async () => {
            await mtstore.close();
            await mtstoreFull.close();
            await mtcute.driver.destroy();
            telethon.close();
          },
        };
      },
    })),
    {
      name: 'sqlite: lookups in 100k peers, c=1',
      unit: 1,
      async open() {
        const mtstore = new m.sqlite.SqliteStorage({ path: fresh('mtstore.db'), name: 'bench' });
        const mtstoreFull = new m.sqlite.SqliteStorage({ path: fresh('mtstore-full.db'), name: 'bench', synchronous: 'FULL' });
        const mtcute = await mtcuteSqlite(m, fresh('mtcute.session'));
        const telethon = telethonOpen(fresh('telethon.session'));
        telethonCreate(telethon);
        const telethonInsert = telethon.prepare('insert or replace into entities values (?,?,?,?,?,?)');
        const telethonBatch = telethon.transaction((rows) => {
          for (const row of rows) telethonInsert.run(...row);
        });
        for (let at = 1; at <= LOOKUP_PEERS; at += PEERS) {
          await mtstore.peers.upsert(batchOf(mtstorePeer, at));
          await mtstoreFull.peers.upsert(batchOf(barePeer, at));
          for (const p of batchOf(mtcutePeer, at)) mtcute.peers.store(p);
          await mtcute.driver.save();
          telethonBatch.immediate(batchOf(telethonRow, at));
        }
        const byId = telethon.prepare('select id, hash from entities where id=?');
        const byPhone = telethon.prepare('select id, hash from entities where phone=?');
        const byUsername = telethon.prepare('select id, hash from entities where username=?');
        // Lookups spread over the whole cache (a prime stride).
        const n = (i) => ((i * 7919) % LOOKUP_PEERS) + 1;
        return {
          variants: {
            'lookup by id': {
              mtstore: (i) => mtstore.peers.getById('user', BigInt(n(i))),
              'mtstore FULL': (i) => mtstoreFull.peers.getById('user', BigInt(n(i))),
              mtcute: async (i) => mtcute.peers.getById(n(i)),
              telethon: async (i) => byId.get(n(i)),
            },
            'lookup by phone': {
              mtstore: (i) => mtstore.peers.getByPhone(String(10_000_000_000 + n(i))),
              'mtstore FULL': (i) => mtstoreFull.peers.getByPhone(String(10_000_000_000 + n(i))),
              mtcute: async (i) => mtcute.peers.getByPhone(String(10_000_000_000 + n(i))),
              telethon: async (i) => byPhone.get(10_000_000_000 + n(i)),
            },
            'lookup by username': {
              mtstore: (i) => mtstore.peers.getByUsername(`user_${n(i)}`),
              'mtstore FULL': (i) => mtstoreFull.peers.getByUsername(`user_${n(i)}`),
              mtcute: async (i) => mtcute.peers.getByUsername(`user_${n(i)}`),
              telethon: async (i) => byUsername.get(`user_${n(i)}`),
            },
          },
          ratios: { mtcute: 'mtstore', telethon: 'mtstore FULL' },
          // Scans (mtcute by username, Telethon by phone and username) get fewer samples.
          slow: { 'lookup by username': ['mtcute', 'telethon'], 'lookup by phone': ['telethon'] },
          close: async () => {
            await mtstore.close();
            await mtstoreFull.close();
            await mtcute.driver.destroy();
            telethon.close();
          },
        };
      },
    },
    {
      name: 'sqlite: update state + 3 channels',
      unit: 1,
      async open() {
        const { fullSession } = await import('@mtstore/conformance');
        const mtstore = new m.sqlite.SqliteStorage({ path: fresh('mtstore.db'), name: 'bench' });
        const mtstoreFull = new m.sqlite.SqliteStorage({ path: fresh('mtstore-full.db'), name: 'bench', synchronous: 'FULL' });
        await mtstore.save(fullSession(1));
        await mtstoreFull.save(fullSession(1));
        const mtcute = await mtcuteSqlite(m, fresh('mtcute.session'));
        const telethon = telethonOpen(fresh('telethon.session'));
        telethonCreate(telethon);
        const setState = telethon.prepare('insert or replace into update_state values (?,?,?,?,?)');
        const telethonSave = telethon.transaction((i) => {
          // set_update_state(0, state) and one per channel, then save() (commit).
          setState.run(0, i, 1, 1_700_000_000, 1);
          for (let c = 1; c <= 3; c++) setState.run(1_000_000 + c, i, null, null, null);
        });
        return {
          sides: {
            mtstore: updateStateTargets({ mtstore }).mtstore,
            'mtstore FULL': updateStateTargets({ mtstore: mtstoreFull }).mtstore,
            mtcute: updateStateTargets({ mtcute }).mtcute,
            telethon: async (i) => telethonSave.immediate(i),
          },
          ratios: { mtcute: 'mtstore', telethon: 'mtstore FULL' },
          close: async () => {
            await mtstore.close();
            await mtstoreFull.close();
            await mtcute.driver.destroy();
            telethon.close();
          },
        };
      },
    },
    {
      name: 'memory: lookups in 100k peers, c=1',
      unit: 1,
      async open() {
        const mtstore = new m.memory.MemoryStorage({ name: 'bench' });
        // The GramJS column: peers without TL bytes, as the GramJS bridge stores them (GramJS keeps none).
        const bare = new m.memory.MemoryStorage({ name: 'bench' });
        const mtcute = await mtcuteMemory(m);
        const gramjs = new m.telegram.sessions.MemorySession();
        const lookups = await lookupTargets({ mtstore, mtcute });
        const bareLookups = await lookupTargets({ mtstore: bare }, LOOKUP_PEERS, barePeer);
        for (let at = 1; at <= LOOKUP_PEERS; at += PEERS) {
          gramjs.processEntities(batchOf((n) => gramjsUser(m.telegram.Api, m.telegram.helpers, n), at));
        }
        const n = (i) => lookupAt(i);
        return {
          variants: {
            'lookup by id': { ...lookups.id, 'mtstore bare': bareLookups.id.mtstore, gramjs: async (i) => gramjs.getInputEntity(n(i)) },
            'lookup by username': { ...lookups.username, 'mtstore bare': bareLookups.username.mtstore, gramjs: async (i) => gramjs.getInputEntity(`user_${n(i)}`) },
            'lookup by phone': { ...lookups.phone, 'mtstore bare': bareLookups.phone.mtstore, gramjs: async (i) => gramjs.getInputEntity(`+${10_000_000_000 + n(i)}`) },
          },
          ratios: { mtcute: 'mtstore', gramjs: 'mtstore bare' },
          slow: { 'lookup by id': ['gramjs'], 'lookup by username': ['gramjs'], 'lookup by phone': ['gramjs'] },
          close: async () => {
            await mtstore.close();
            await bare.close();
          },
        };
      },
    },
    ...['insert', 're-upsert'].map((kind) => ({
      name: `memory: 1,000-peer batch, ${kind}`,
      unit: PEERS,
      async open() {
        const mtstore = new m.memory.MemoryStorage({ name: 'bench' });
        // The GramJS column: peers without TL bytes, as the GramJS bridge stores them (GramJS keeps none).
        const bare = new m.memory.MemoryStorage({ name: 'bench' });
        const mtcute = await mtcuteMemory(m);
        const gramjs = new m.telegram.sessions.MemorySession();
        const user = (n) => gramjsUser(m.telegram.Api, m.telegram.helpers, n);
        const first = (i) => (kind === 'insert' ? 1 + i * PEERS : 1 + (i % 20) * PEERS);
        const cache = { mtstore: new Map(), bare: new Map(), mtcute: new Map(), gramjs: new Map() };
        const makers = { mtstore: mtstorePeer, bare: barePeer, mtcute: mtcutePeer, gramjs: user };
        const batch = (side, i) => {
          const at = first(i);
          let b = cache[side].get(at);
          if (b === undefined) cache[side].set(at, (b = batchOf(makers[side], at)));
          if (kind === 'insert') cache[side].delete(at);
          return b;
        };
        if (kind === 're-upsert') {
          for (let i = 0; i < 20; i++) {
            await mtstore.peers.upsert(batch('mtstore', i));
            await bare.peers.upsert(batch('bare', i));
            for (const p of batch('mtcute', i)) mtcute.peers.store({ ...p });
            gramjs.processEntities(batch('gramjs', i));
          }
        }
        const counters = { mtstore: 0, bare: 0, mtcute: 0, gramjs: 0 };
        // Re-upserts reuse 20 prebuilt batches; a first insert builds its batch in the call, on every side.
        const next = (side) => batch(side, counters[side]++);
        return {
          sides: {
            mtstore: () => mtstore.peers.upsert(next('mtstore')),
            'mtstore bare': () => bare.peers.upsert(next('bare')),
            // mtcute's PeersService builds a fresh PeerInfo per store: so does this side.
            mtcute: async () => {
              for (const p of next('mtcute')) mtcute.peers.store({ ...p });
            },
            gramjs: async () => gramjs.processEntities(next('gramjs')),
          },
          ratios: { mtcute: 'mtstore', gramjs: 'mtstore bare' },
          close: async () => {
            await mtstore.close();
            await bare.close();
          },
        };
      },
    })),
  ];
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** ops/s of `run` over about `ms` milliseconds (at least `min` calls), after a short warm-up. */
async function measure(run, ms, min, counter) {
  for (let k = 0; k < Math.min(min, 20); k++) await run(counter.i++);
  let calls = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(ms * 1e6));
  let now = start;
  while (calls < min || now < end) {
    await run(counter.i++);
    calls++;
    now = process.hrtime.bigint();
  }
  return (calls * 1e9) / Number(now - start);
}

/** Runs every workload; returns rows { workload, unit, ops: {side: ops/s}, ratios: {other: ratio} }. */
export async function benchClients({ quick = false, log = console.log, filter } = {}) {
  const m = await modules();
  m.platform = new m.mtcuteNode.NodePlatform();
  m.log = new m.mtcuteUtils.LogManager(undefined, m.platform);
  m.log.level = 0;
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-vs-clients-'));
  const rounds = quick ? 3 : 5;
  const time = quick ? 150 : 500;
  const rows = [];
  try {
    const selected = workloads(m, dir).filter((w) => filter === undefined || w.name.startsWith(filter));
    if (selected.length === 0 && filter !== 'bridges' && !'memory: RSS'.startsWith(filter)) {
      const names = [...workloads(m, dir).map((w) => w.name), 'memory: RSS', 'bridges'];
      log(`clients   --only ${JSON.stringify(filter)} starts no row's name: ${names.map((n) => JSON.stringify(n)).join(', ')}`);
    }
    for (const workload of selected) {
      const opened = await workload.open();
      try {
        const variants = opened.variants ?? { '': opened.sides };
        for (const [variant, sides] of Object.entries(variants)) {
          const name = variant === '' ? workload.name : `${workload.name.replace(/lookups in/, `${variant},`)}`;
          const perRound = Object.fromEntries(Object.keys(sides).map((s) => [s, []]));
          const ratioRounds = Object.fromEntries(Object.keys(opened.ratios).filter((o) => o in sides).map((o) => [o, []]));
          const counters = Object.fromEntries(Object.keys(sides).map((s) => [s, { i: 0 }]));
          for (let round = 0; round < rounds; round++) {
            const order = Object.keys(sides);
            if (round % 2 === 1) order.reverse();
            const ops = {};
            for (const side of order) {
              const slow = opened.slow?.[variant]?.includes(side);
              ops[side] = (await measure(sides[side], slow ? time / 3 : time, slow ? 3 : 20, counters[side])) * workload.unit;
              perRound[side].push(ops[side]);
            }
            for (const other of Object.keys(ratioRounds)) ratioRounds[other].push(ops[opened.ratios[other]] / ops[other]);
          }
          const row = {
            workload: name,
            unit: workload.unit === 1 ? 'ops/s' : 'peers/s',
            ops: Object.fromEntries(Object.entries(perRound).map(([s, v]) => [s, median(v)])),
            ratios: Object.fromEntries(Object.entries(ratioRounds).map(([o, v]) => [o, median(v)])),
          };
          rows.push(row);
          log(
            `clients   ${row.workload.padEnd(52)} ${Object.entries(row.ops).map(([s, v]) => `${s} ${fmt(v)}`).join('  ')}  |  ${Object.entries(row.ratios)
              .map(([o, r]) => `${opened.ratios[o]}/${o} ${r.toFixed(2)}×`)
              .join('  ')}`,
          );
        }
      } finally {
        await opened.close();
      }
    }
    for (const row of filter === undefined || 'memory: RSS'.startsWith(filter) ? memoryRows() : []) {
      rows.push(row);
      log(`clients   ${row.workload.padEnd(52)} ${Object.entries(row.bytes).map(([s, v]) => `${s} ${v} B/peer`).join('  ')}`);
    }
    if (filter === undefined || filter === 'bridges') rows.push(...(await bridgeRows({ quick, rounds, time, log })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/**
 * The bridges beside the clients' own storage, as the bridge engineers set them up:
 * bench/clients.mjs (@mtstore/mtcute over @mtstore/sqlite vs mtcute's SqliteStorage,
 * through mtcute's storage interface) and bench/gramjs.mjs (@mtstore/gramjs over
 * @mtstore/memory vs GramJS's MemorySession, which persists nothing, and over
 * @mtstore/sqlite vs StoreSession for auth keys). Rows: ratio bridge/client.
 */
async function bridgeRows({ quick, rounds, time, log }) {
  const rows = [];
  const mtcute = (await import('./clients.mjs')).default;
  const reason = await mtcute.unavailable();
  if (reason) log(`clients   mtcute bridge: skipped (${reason})`);
  else {
    const opened = await mtcute.open();
    try {
      for (const operation of Object.keys(opened.targets.adapter)) {
        const sides = { bridge: opened.targets.adapter[operation], mtcute: opened.targets.raw[operation] };
        const per = { bridge: [], mtcute: [], ratio: [] };
        const counters = { bridge: { i: 0 }, mtcute: { i: 0 } };
        for (let round = 0; round < rounds; round++) {
          const order = round % 2 === 0 ? ['bridge', 'mtcute'] : ['mtcute', 'bridge'];
          const ops = {};
          for (const side of order) ops[side] = await measure(async (i) => sides[side](i), time, 4, counters[side]);
          per.bridge.push(ops.bridge);
          per.mtcute.push(ops.mtcute);
          per.ratio.push(ops.bridge / ops.mtcute);
        }
        const row = { workload: `mtcute bridge (sqlite): ${operation}`, unit: 'ops/s', ops: { bridge: median(per.bridge), mtcute: median(per.mtcute) }, ratios: { mtcute: median(per.ratio) } };
        rows.push(row);
        log(`clients   ${row.workload.padEnd(52)} bridge ${fmt(row.ops.bridge)}  mtcute ${fmt(row.ops.mtcute)}  |  bridge/mtcute ${row.ratios.mtcute.toFixed(2)}×`);
      }
    } finally {
      await opened.close();
    }
  }
  let benchGramjs;
  try {
    ({ benchGramjs } = await import('./gramjs.mjs'));
  } catch (error) {
    log(`clients   gramjs bridge: skipped (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
    return rows;
  }
  for (const row of await benchGramjs({ quick, log: (line) => log(`clients   ${line}`) })) {
    // Rows against MemorySession run the bridge over @mtstore/memory; the durable row over @mtstore/sqlite.
    const over = row.client === 'MemorySession' ? 'memory' : 'sqlite';
    rows.push({ workload: `gramjs bridge (${over}) vs ${row.client}: ${row.operation}`, unit: 'ops/s', ops: { bridge: row.adapterOps, gramjs: row.rawOps }, ratios: { gramjs: row.ratio } });
  }
  return rows;
}

function fmt(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
}

/** RSS per peer of 100,000 cached peers in each in-memory store, each in a fresh child process. */
function memoryRows() {
  const bytes = {};
  for (const side of ['mtstore', 'mtstore bare', 'mtcute', 'gramjs']) {
    const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--memory-child', side], { encoding: 'utf8' });
    const line = child.stdout.trim().split('\n').pop();
    if (child.status !== 0 || !line?.startsWith('{')) {
      bytes[side] = NaN;
      continue;
    }
    bytes[side] = Math.round(JSON.parse(line).bytes / LOOKUP_PEERS);
  }
  return [
    {
      workload: 'memory: RSS per peer, 100k peers',
      unit: 'bytes',
      bytes,
      // Smaller is better: the ratio is other/mtstore, so ≥ 1× means mtstore holds no more.
      // GramJS keeps no TL bytes: it is compared with mtstore holding none ('mtstore bare').
      ratios: { mtcute: bytes.mtcute / bytes.mtstore, gramjs: bytes.gramjs / bytes['mtstore bare'] },
    },
  ];
}

async function memoryChild(side) {
  const m = await modules();
  m.platform = new m.mtcuteNode.NodePlatform();
  m.log = new m.mtcuteUtils.LogManager(undefined, m.platform);
  m.log.level = 0;
  // Modules loaded and the store created before the baseline: only the peers count.
  let store;
  if (side === 'mtstore' || side === 'mtstore bare') store = new m.memory.MemoryStorage({ name: 'bench' });
  if (side === 'mtcute') store = await mtcuteMemory(m);
  if (side === 'gramjs') store = new m.telegram.sessions.MemorySession();
  globalThis.gc();
  const before = process.memoryUsage().rss;
  for (let at = 1; at <= LOOKUP_PEERS; at += PEERS) {
    if (side === 'mtstore') await store.peers.upsert(batchOf(mtstorePeer, at));
    if (side === 'mtstore bare') await store.peers.upsert(batchOf(barePeer, at));
    if (side === 'mtcute') for (const p of batchOf(mtcutePeer, at)) store.peers.store(p);
    if (side === 'gramjs') store.processEntities(batchOf((n) => gramjsUser(m.telegram.Api, m.telegram.helpers, n), at));
  }
  globalThis.gc();
  const after = process.memoryUsage().rss;
  console.log(JSON.stringify({ bytes: after - before, kept: typeof store }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--memory-child');
  if (i !== -1) await memoryChild(process.argv[i + 1]);
  else {
    const f = process.argv.indexOf('--only');
    await benchClients({ quick: process.argv.includes('--quick'), filter: f === -1 ? undefined : process.argv[f + 1] });
  }
}
