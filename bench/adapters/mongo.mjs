// mongo adapter vs. the raw mongodb driver: the raw side sends the commands the
// adapter sends for the same server (same filters, documents and read options, its
// own client with the adapter's client settings, its own collections) and returns
// what the driver returns (no model objects, no validation, no key copies).
//
// What the adapter sends depends on the server (see packages/mongo/README.md):
// - MongoDB: save = 1 replaceOne, saveUpdateState = 1 updateOne ($set/$min),
//   authKeys.set = 1 updateOne ($set of one dotted path, upsert);
// - FerretDB 1.x: those wrapped in the session's write lease (insertOne + … +
//   deleteOne), because FerretDB applies update operators non-atomically.
// kv.get = 1 findOne, kv.set = 1 replaceOne (upsert) everywhere: one document per entry.
// Peer batches take the lease everywhere: lease, parallel reads (+ the journal on
// FerretDB), writes, release.
// The module's client holds no session lease, so its writes carry no fence; the rows
// "(lease held ÷ none)" run the same write through an instance holding the lease
// (write permit, fence.ts) beside a second instance on the same session holding none
// (a write without the lease is not fenced): the same document on both sides, so
// their ratio is the fence's cost. (Beside the module's client, another session's
// document, the row read 0.70–0.75: FerretDB updated whichever session document was
// saved second ~1 ms slower, lease or no lease.)
import { Binary, MongoClient } from 'mongodb';
import { fullSession, peer } from '@mtstore/conformance';
import { adapterTargets, benchKey, benchKeyDc, kvKey, kvValue, lookupId, lookupPhone, sealedRows } from '../common.mjs';
import { redactUrl } from '@mtstore/core';
import { MongoSessionStorage, MongoStorage } from '@mtstore/mongo';

const url = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const database = `mt_bench_${process.pid}`;
// The adapter's own client defaults, on both sides.
const CLIENT = { serverSelectionTimeoutMS: 5_000, connectTimeoutMS: 5_000, socketTimeoutMS: 60_000, waitQueueTimeoutMS: 60_000, maxPoolSize: 20 };
const READ = { useBigInt64: true, promoteBuffers: true };
const LEASE_MS = 10_000;
const FERRET_CHUNK = 500;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The session document the adapter stores for `session` (codec.ts, by hand): address-only DC entries, keys by DC / entry / slot. */
function sessionDocument(session) {
  const channels = {};
  session.channels.forEach((c, order) => (channels[`c${c.id}`] = { id: c.id, pts: c.pts, order }));
  const keys = {};
  const dcs = session.dcs.map((dc) => {
    const doc = { id: dc.id };
    for (const key of ['ipv4', 'ipv6', 'host', 'port', 'testMode', 'mediaOnly']) if (dc[key] !== undefined) doc[key] = dc[key];
    const entry = {};
    if (dc.authKey) entry.authKey = new Binary(dc.authKey);
    if (dc.tempAuthKeys?.length) entry.temp = Object.fromEntries(dc.tempAuthKeys.map((t) => [`s${t.index}`, { key: new Binary(t.key), expiresAt: t.expiresAt }]));
    if (Object.keys(entry).length > 0) (keys[`dc${dc.id}`] ??= {})[dc.mediaOnly ? 'media' : 'main'] = entry;
    return doc;
  });
  const { id, dcId, bot, usernames, premium } = session.user;
  const user = { id, dcId, bot, ...(usernames && { usernames }), ...(premium !== undefined && { premium }) };
  return { homeDcId: session.homeDcId, dcs, apiId: session.apiId, user, state: session.state, channels, takeoutId: session.takeoutId, keys };
}

const peerDocument = (p) => ({ _id: `bench/${p.type}/${p.id}`, session: 'bench', type: p.type, id: p.id, accessHash: p.accessHash, usernames: p.usernames, phone: p.phone, updatedAt: p.updatedAt });

const live = (doc) => doc !== null && (doc.expiresAt == null || doc.expiresAt.getTime() > Date.now());

export default {
  name: 'mongo',
  async unavailable() {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 3_000 });
    try {
      await client.db('admin').command({ ping: 1 });
      return null;
    } catch (error) {
      return `MongoDB is not reachable at ${redactUrl(url)}: ${error.message}`;
    } finally {
      await client.close();
    }
  },
  async open() {
    const session = fullSession(1);
    // One set of 1,000 peers, rewritten each time (updatedAt changes): on FerretDB every
    // filter but a lone _id scans the collection, so a growing cache would measure only that.
    const batch = (i) => Array.from({ length: 1000 }, (_, k) => peer('user', k + 1, { updatedAt: 1_700_000_000 + i }));

    const options = { url, database, clientOptions: { waitQueueTimeoutMS: 60_000 } };
    const client = new MongoStorage({ ...options, name: 'bench' });
    const server = new MongoSessionStorage(options);
    await client.save(session);
    await client.peers.upsert(batch(0));
    await server.createSession(1n, 1n);
    for (let i = 0; i < 8; i++) await client.kv.set(kvKey(i), kvValue(i));

    const mongo = new MongoClient(url, { ...CLIENT, appName: 'mtstore-bench-raw' });
    const db = mongo.db(database);
    const info = await db.admin().command({ buildInfo: 1 });
    const ferretdb1 = /^v?1\./.test(info.ferretdbVersion ?? '');
    const sessions = db.collection('raw_sessions');
    const peers = db.collection('raw_peers');
    const index = db.collection('raw_peer_index');
    const serverSessions = db.collection('raw_server_sessions');
    const locks = db.collection('raw_locks');
    const journal = db.collection('raw_peer_journal');
    const kv = db.collection('raw_kv');
    await kv.createIndex({ session: 1 });
    for (let i = 0; i < 8; i++) await kv.replaceOne({ _id: `bench/${kvKey(i)}` }, { session: 'bench', key: kvKey(i), value: new Binary(kvValue(i)) }, { upsert: true });
    await serverSessions.createIndex({ authKeyId: 1, sessionId: 1 }, { unique: true });
    await Promise.all([peers.createIndex({ session: 1 }), index.createIndex({ session: 1 })]);
    const doc = sessionDocument(session);
    await sessions.replaceOne({ _id: 'bench' }, doc, { upsert: true });
    await serverSessions.insertOne({ _id: '1:1', authKeyId: 1n, sessionId: 1n });

    /** The adapter's write lease (lock.ts): queue locally, insert, back off while held, delete our token. */
    let queue = Promise.resolve();
    const leased = (work) => {
      const run = queue.then(() => lease(work));
      queue = run.catch(() => {});
      return run;
    };
    const lease = async (work) => {
      const token = crypto.randomUUID();
      for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
        try {
          await locks.insertOne({ _id: 'bench', token, expiresAt: new Date(Date.now() + LEASE_MS) });
          break;
        } catch (error) {
          if (error.code !== 11000) throw error;
        }
        await locks.findOne({ _id: 'bench' });
        await sleep(delay / 2 + Math.random() * delay);
      }
      try {
        return await work();
      } finally {
        await locks.deleteOne({ _id: 'bench', token });
      }
    };
    const maybeLeased = (work) => (ferretdb1 ? leased(work) : work());

    const chunks = async (items, write) => {
      for (let i = 0; i < items.length; i += FERRET_CHUNK) await write(items.slice(i, i + FERRET_CHUNK));
    };
    const rawUpsert = (list) =>
      leased(async () => {
        const ids = list.map((p) => `bench/${p.type}/${p.id}`);
        const handleIds = list.flatMap((p) => [`bench/u/${p.usernames[0].toLowerCase()}`, `bench/p/${p.phone}`]);
        const find = (collection, wanted) =>
          ferretdb1 ? collection.find({ session: 'bench' }, READ).toArray() : collection.find({ _id: { $in: wanted } }, READ).toArray();
        const [, stored, handles] = await Promise.all([
          ferretdb1 ? journal.find({ session: 'bench' }, READ).toArray() : [],
          find(peers, ids),
          find(index, handleIds),
        ]);
        const existing = new Set(stored.map((d) => d._id));
        const docs = list.map(peerDocument);
        const known = new Map(handles.map((h) => [h._id, h.peer]));
        const newHandles = list.flatMap((p) => {
          const owner = `bench/${p.type}/${p.id}`;
          const u = { _id: `bench/u/${p.usernames[0].toLowerCase()}`, session: 'bench', peer: owner, username: p.usernames[0] };
          const ph = { _id: `bench/p/${p.phone}`, session: 'bench', peer: owner };
          return [u, ph].filter((h) => known.get(h._id) !== owner);
        });
        const writes = [
          [peers, 'p', docs, docs.filter((d) => existing.has(d._id))],
          [index, 'h', newHandles, newHandles.filter((h) => known.has(h._id))],
        ];
        if (!ferretdb1) {
          for (const [collection, , written] of writes) {
            if (written.length === 0) continue;
            await collection.bulkWrite(written.map((d) => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } })), { ordered: false });
          }
          return;
        }
        const entries = writes.flatMap(([, target, , replaced]) => replaced.map((doc) => ({ _id: `${target}|${doc._id}`, session: 'bench', doc })));
        await chunks(entries, (chunk) => journal.insertMany(chunk, { ordered: false }));
        for (const [collection, , written, replaced] of writes) {
          await chunks(
            replaced.map((d) => d._id),
            (chunk) => (chunk.length > 64 ? collection.deleteMany({ _id: { $in: chunk } }) : Promise.all(chunk.map((_id) => collection.deleteOne({ _id })))),
          );
          await chunks(written, (chunk) => collection.insertMany(chunk, { ordered: false }));
        }
        if (entries.length > 0) await journal.deleteMany({ session: 'bench' });
      });
    await rawUpsert(batch(0));

    // One MongoClient for both sides of the encryption rows (common.mjs sealedRows).
    const sealedMongo = await new MongoClient(url, { ...CLIENT, appName: 'mtstore-bench-sealed' }).connect();
    const sealed = await sealedRows((name, encryption) => new MongoStorage({ client: sealedMongo, database, name, encryption }), () => sealedMongo.close());
    const holder = new MongoStorage({ ...options, name: 'leased' });
    await holder.save(session);
    await holder.lease.acquire({ ttlSeconds: 60 });
    const bystander = new MongoStorage({ ...options, name: 'leased' });
    const fenceRows = {
      adapter: {
        'kv.set (lease held ÷ none)': (i) => holder.kv.set(kvKey(i), kvValue(i)),
        'saveUpdateState (lease held ÷ none)': (i) => holder.saveUpdateState({ pts: i, qts: 1, date: 1, seq: 1 }, [{ id: 1n, pts: i }]),
      },
      raw: {
        'kv.set (lease held ÷ none)': (i) => bystander.kv.set(kvKey(i), kvValue(i)),
        'saveUpdateState (lease held ÷ none)': (i) => bystander.saveUpdateState({ pts: i, qts: 1, date: 1, seq: 1 }, [{ id: 1n, pts: i }]),
      },
    };
    return {
      sealed,
      // 64 concurrent 1,000-peer batches of one session only queue on its lease.
      concurrency: { 'peers.upsert ×1000': [1] },
      targets: {
        adapter: { ...adapterTargets(client, server, { batch }), ...fenceRows.adapter },
        raw: {
          // Schema 3: the adapter reads the expiry with the _id lookup and writes the times.
          'hasSession hit': async () => live(await serverSessions.findOne({ _id: '1:1' }, { projection: { _id: 0, expiresAt: 1 } })),
          'hasSession miss': async () => live(await serverSessions.findOne({ _id: '1:2' }, { projection: { _id: 0, expiresAt: 1 } })),
          'createSession+destroySession': async (i) => {
            await serverSessions.insertOne({ _id: `2:${i}`, authKeyId: 2n, sessionId: BigInt(i), lastUsedAt: Date.now() });
            await serverSessions.deleteOne({ _id: `2:${i}`, $or: [{ expiresAt: null }, { expiresAt: { $gt: new Date() } }] });
          },
          load: () => sessions.findOne({ _id: 'bench' }, READ),
          save: () => maybeLeased(() => sessions.replaceOne({ _id: 'bench' }, doc, { upsert: true })),
          saveUpdateState: (i) =>
            maybeLeased(async () => {
              const update = {
                $set: { state: { pts: i, qts: 1, date: 1, seq: 1 }, 'channels.c1.id': 1n, 'channels.c1.pts': i },
                $min: { 'channels.c1.order': Date.now() * 1000 },
              };
              return (await sessions.updateOne({ _id: 'bench' }, update)).matchedCount === 1;
            }),
          'peers.upsert ×1000': (i) => rawUpsert(batch(i)),
          'peers.getByUsername': async (i) => {
            const handle = await index.findOne({ _id: `bench/u/user_${(i % 1000) + 1}` });
            return handle && peers.findOne({ _id: handle.peer }, READ);
          },
          'peers.getById': (i) => peers.findOne({ _id: `bench/user/${lookupId(i)}` }, READ),
          'peers.getByPhone': async (i) => {
            const handle = await index.findOne({ _id: `bench/p/${lookupPhone(i)}` });
            return handle && peers.findOne({ _id: handle.peer }, READ);
          },
          'authKeys.set': (i) =>
            maybeLeased(() => sessions.updateOne({ _id: 'bench' }, { $set: { [`keys.dc${benchKeyDc(i)}.main.authKey`]: new Binary(Uint8Array.from(benchKey(i))) } }, { upsert: true })),
          'kv.get': async (i) => {
            const doc = await kv.findOne({ _id: `bench/${kvKey(i)}` }, READ);
            return doc === null ? null : doc.value;
          },
          'kv.set': (i) => kv.replaceOne({ _id: `bench/${kvKey(i)}` }, { session: 'bench', key: kvKey(i), value: new Binary(Uint8Array.from(kvValue(i))) }, { upsert: true }),
          ...fenceRows.raw,
        },
      },
      close: async () => {
        await Promise.all([client.close(), server.close(), holder.close(), bystander.close()]);
        await db.dropDatabase();
        await mongo.close();
      },
    };
  },
};
