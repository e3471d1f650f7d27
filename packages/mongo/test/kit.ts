/**
 * The conformance kit on MongoDB (FerretDB in CI), in parts: one kit file took ~3 minutes
 * of the package's ~6 in CI, so the two workers could not finish together. Each
 * conformance*.test.ts registers the trait groups of one part (PARTS); conformance.test.ts
 * takes every group no other part names, so a group the kit adds or renames still runs.
 * The hooks below are the same for every part; each file gets its own state.
 */
import { Binary, BSON } from 'mongodb';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance';
import { kitPart, ONE_FIELD_LEFT, vitestApi, type Damage, type OneFieldLeft } from '@mtstore/conformance/vitest';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { openProxy, type Proxy } from './proxy.js';
import { adminClient, closeAdmin, dropDatabase, server, urlFor } from './server.js';

/** Every document of every collection of the namespace's database, as the BSON bytes the server returns. */
async function dumpDatabase(namespace: string): Promise<Uint8Array> {
  const db = adminClient().db(namespace);
  const parts: Uint8Array[] = [];
  for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
    for (const doc of await db.collection(name).find({}, { raw: true }).toArray()) parts.push(doc as unknown as Uint8Array);
  }
  return Buffer.concat(parts.length === 0 ? [BSON.serialize({})] : parts);
}

/** The kit's corrupt hook: every permanent key of the session document cut to 3 bytes. */
async function corrupt(namespace: string, name: string): Promise<void> {
  const sessions = adminClient().db(namespace).collection<{ _id: string; keys?: Record<string, { main?: { authKey?: unknown } }> }>('mtstore_sessions');
  const doc = await sessions.findOne({ _id: name });
  const paths = Object.entries(doc?.keys ?? {})
    .filter(([, byDc]) => byDc.main?.authKey !== undefined)
    .map(([dc]) => `keys.${dc}.main.authKey`);
  if (paths.length === 0) throw new Error(`corrupt: session ${name} has no stored key`);
  await sessions.updateOne({ _id: name }, { $set: Object.fromEntries(paths.map((path) => [path, new Binary(new Uint8Array([1, 2, 3]))])) });
}

/**
 * The kit's tamper hook: fields of the session document and the schema document set,
 * unset or retyped with plain updates. Peer and kv damages are left out (listed as
 * skipped), and so are version-zero, version-absent and marker-absent: the schema
 * document is the only marker, and a database without it (or at 0) is migrated from
 * the start, by design: MongoDB has no DDL transactions, so every step is idempotent.
 */
type Doc = Record<string, unknown>;
const TAMPER: Partial<Record<Damage, (doc: Doc) => Doc>> = {
  'user-without-id': () => ({ $unset: { 'user.id': '' } }),
  'state-without-pts': () => ({ $unset: { 'state.pts': '' } }),
  'state-negative-pts': () => ({ $set: { 'state.pts': -1 } }),
  'dc-id-zero': (doc) => ({ $set: { dcs: (doc.dcs as Doc[]).map((dc) => (dc.id === 1 ? { ...dc, id: 0 } : dc)) } }),
  'flag-not-boolean': () => ({ $set: { 'user.bot': 2 } }),
  'user-usernames-not-list': () => ({ $set: { 'user.usernames': 'not a list' } }),
  'channel-id-not-integer': (doc) => {
    const [field] = Object.entries(doc.channels as Record<string, Doc>).find(([, c]) => c.order === 0) as [string, Doc];
    return { $set: { [`channels.${field}.id`]: 'x' } };
  },
  'takeout-id-not-integer': () => ({ $set: { takeoutId: 'x' } }),
  // user-only-* / state-only-*: the other fields of the user or state removed.
  ...Object.fromEntries(
    (Object.entries(ONE_FIELD_LEFT) as [Damage, OneFieldLeft][]).map(([damage, { object, drop }]) => [damage, () => ({ $unset: Object.fromEntries(drop.map((field) => [`${object}.${field}`, ''])) })]),
  ),
};
const VERSION: Partial<Record<Damage, Doc>> = {
  'version-newer': { $inc: { version: 1 } },
};
async function tamper(namespace: string, name: string, damage: Damage): Promise<void> {
  const db = adminClient().db(namespace);
  const version = VERSION[damage];
  if (version !== undefined) {
    const { modifiedCount } = await db.collection<{ _id: string }>('mtstore_meta').updateOne({ _id: 'schema' }, version);
    if (modifiedCount !== 1) throw new Error(`tamper: ${damage} found no schema document`);
    return;
  }
  const sessions = db.collection<{ _id: string }>('mtstore_sessions');
  const doc = await sessions.findOne({ _id: name });
  if (doc === null) throw new Error(`tamper: session ${name} is not stored`);
  const { modifiedCount } = await sessions.updateOne({ _id: name }, (TAMPER[damage] as (doc: Doc) => Doc)(doc as Doc));
  if (modifiedCount !== 1) throw new Error(`tamper: ${damage} changed nothing in session ${name}`);
}

/**
 * The parts, by trait group (`<suite> > <group>`, the suite without the adapter's name),
 * chosen so that each takes about as long as the others (CI run of 5 Dec 2026 and runs
 * on a loaded 2-core machine). 'rest' is every group not named here.
 */
export const PARTS = {
  // ~40% of the kit: the 10,000-peer batch, paging, clear, references and removals.
  peers: ['Storage > peers', 'Storage > peers: v2 fields, list and clear', 'Storage > reference messages', 'Storage > removing one kind leaves the rest'],
  // ~35%: worker processes, SIGKILLed writers, readers racing batches, leases, generated data.
  processes: [
    'Storage > across processes',
    'Storage > atomicity under concurrent readers',
    'Storage > session lease',
    'Storage > value domain',
    'Storage > model-based',
    'Storage > atomic save',
    'Storage > faults',
    'Storage > calls in flight',
  ],
} as const satisfies Record<string, readonly string[]>;

export type Part = keyof typeof PARTS | 'rest';

/** Registers `part` of the kit's Storage, SessionStorage and SessionEventBus suites on the test server. */
export function describeKit(part: Part): void {
  if (!server.available) return;
  // Each kit namespace is its own database (`mt_…`); every open is a new MongoClient on it.
  // Some traits open a second namespace the kit never cleans up (the bus isolation
  // trait), so cleanup drops every database opened since the last cleanup: tests in a
  // file run one after another.
  const opened = new Set<string>();
  const url = (namespace: string) => {
    opened.add(namespace);
    return urlFor(namespace);
  };
  const cleanup = async (namespace: string) => {
    opened.add(namespace);
    for (const name of [...opened]) {
      opened.delete(name);
      const proxy = namespaceProxies.get(name);
      namespaceProxies.delete(name);
      await (await proxy)?.close();
      await dropDatabase(name);
    }
  };

  // Storage and server-session instances reach the server through one proxy per namespace,
  // so interrupt(namespace) resets exactly that namespace's connections, as a network cut would.
  const namespaceProxies = new Map<string, Promise<Proxy>>();
  const viaProxy = async (namespace: string): Promise<string> => {
    opened.add(namespace);
    let proxy = namespaceProxies.get(namespace);
    if (proxy === undefined) {
      proxy = openProxy();
      namespaceProxies.set(namespace, proxy);
    }
    return (await proxy).url(namespace);
  };
  /** The kit's interrupt hook: every connection of the namespace reset, new ones refused for 500 ms. */
  const interrupt = async (namespace: string): Promise<void> => {
    const proxy = namespaceProxies.get(namespace);
    if (proxy === undefined) throw new Error(`interrupt: nothing was opened on ${namespace}`);
    (await proxy).cut(500);
  };

  const api = kitPart(vitestApi, PARTS, part);
  afterAll(closeAdmin);
  afterAll(async () => {
    for (const proxy of namespaceProxies.values()) await (await proxy).close();
  });

  describeStorage(api, 'mongo', {
    open: async (namespace, name) => new MongoStorage({ url: await viaProxy(namespace), name }),
    openExisting: async (namespace, name) => new MongoStorage({ url: await viaProxy(namespace), name, create: false }),
    corrupt,
    tamper: { kinds: [...Object.keys(TAMPER), ...Object.keys(VERSION)] as Damage[], apply: tamper },
    interrupt,
    cleanup,
    // The kit's worker processes (lease, crash and race traits) open the same databases through this module.
    processes: { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) },
    // FerretDB 1.x scans whole collections for anything but an _id lookup: the batch of
    // 10,000 peers, upserted twice, takes 10-20 s there on a quiet 2-core machine, and
    // was seen at 67 s and past 90 s with the machine at a load average of 25.
    timeout: 150_000,
    encryption: {
      open: (namespace, name, encryption) => new MongoStorage({ url: url(namespace), name, encryption }),
      dump: dumpDatabase,
    },
  });

  describeSessionStorage(api, 'mongo', {
    open: async (namespace) => new MongoSessionStorage({ url: await viaProxy(namespace) }),
    openExisting: async (namespace) => new MongoSessionStorage({ url: await viaProxy(namespace), create: false }),
    openWithLifetime: (namespace, lifetime) => new MongoSessionStorage({ url: url(namespace), ...lifetime }),
    cleanup,
    interrupt,
  });

  // Each bus connects through a proxy of its own, so interrupt() resets that bus's connections only.
  const proxies = new WeakMap<object, Proxy>();
  const allProxies: Proxy[] = [];
  afterAll(() => Promise.all(allProxies.map((p) => p.close())));
  describeSessionEventBus(api, 'mongo', {
    open: async (namespace) => {
      const proxy = await openProxy();
      allProxies.push(proxy);
      opened.add(namespace);
      // A short server selection timeout: with the proxy refusing, a poll fails (and the bus
      // says lost) instead of waiting up to 30 s for the server to come back. Not shorter:
      // 300 ms was too short for a first connect on a loaded 2-core box (CI at 80020e5: four
      // bus traits failed "Server selection timed out after 300 ms"); still under the 1 s cut.
      const bus = new MongoSessionEventBus({ url: proxy.url(namespace), onError: () => {}, clientOptions: { serverSelectionTimeoutMS: 600 } });
      proxies.set(bus, proxy);
      return bus;
    },
    openStorage: (namespace) => new MongoSessionStorage({ url: url(namespace) }),
    cleanup,
    // Down for 1 s: longer than the driver's one immediate retry and its server selection timeout.
    interrupt: (bus) => (proxies.get(bus) as Proxy).cut(1_000),
  });

  // A part naming a group the kit no longer has would quietly run less: refuse it.
  const unmatched = api.unmatched();
  if (unmatched.length > 0) throw new Error(`test/kit.ts PARTS names trait groups the kit does not have: ${unmatched.join('; ')}`);
}
