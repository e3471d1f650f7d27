// What every bench module shares: the workload (which session, which peer batch)
// and the adapter side of each operation, which is the same public API call for
// every adapter. Only the raw side is database-specific.
import { authKey, fullSession, peer } from '@mtstore/conformance';

/** The session every module saves and loads. */
export const benchSession = () => fullSession(1);

/** Peer batch `i`: 1,000 users, cycling through 50 distinct batches. */
export const peerBatch = (i) => Array.from({ length: 1000 }, (_, k) => peer('user', (i % 50) * 1000 + k + 1));

/** The username getByUsername looks up on call `i` (all in batch 0). */
export const lookupUsername = (i) => `user_${(i % 1000) + 1}`;

/** The id getById and the phone getByPhone look up on call `i`: the same peers of batch 0 (conformance's peer()). */
export const lookupId = (i) => BigInt((i % 1000) + 1);
export const lookupPhone = (i) => String(10_000_000_000 + (i % 1000) + 1);

/** The auth key `authKeys.set` writes on call `i` (16 distinct keys, DC 1..5). */
export const benchKey = (i) => authKey(i % 16);
export const benchKeyDc = (i) => (i % 5) + 1;

/** kv: `kv.get` reads `kvKey(i)` (set up before measuring); `kv.set` writes 64-byte values. */
export const kvKey = (i) => `salts:${i % 8}`;
export const kvValue = (i) => new Uint8Array(64).fill(i & 0xff);

/**
 * The adapter side of every operation. `server` must hold session (1, 1) and
 * `client` a saved session with peer batch 0 and kv entries kvKey(0..7), before measuring.
 */
export function adapterTargets(client, server, { session = benchSession(), batch = peerBatch } = {}) {
  return {
    'hasSession hit': () => server.hasSession(1n, 1n),
    'hasSession miss': () => server.hasSession(1n, 2n),
    'createSession+destroySession': async (i) => {
      await server.createSession(2n, BigInt(i));
      await server.destroySession(2n, BigInt(i));
    },
    load: () => client.load(),
    save: () => client.save(session),
    saveUpdateState: (i) => client.saveUpdateState({ pts: i, qts: 1, date: 1, seq: 1 }, [{ id: 1n, pts: i }]),
    'peers.upsert ×1000': (i) => client.peers.upsert(batch(i)),
    'peers.getByUsername': (i) => client.peers.getByUsername(lookupUsername(i)),
    'peers.getById': (i) => client.peers.getById('user', lookupId(i)),
    'peers.getByPhone': (i) => client.peers.getByPhone(lookupPhone(i)),
    'authKeys.set': (i) => client.authKeys.set(benchKeyDc(i), benchKey(i)),
    'kv.get': (i) => client.kv.get(kvKey(i)),
    'kv.set': (i) => client.kv.set(kvKey(i), kvValue(i)),
  };
}

/** The encryption the sealed rows use: one 32-byte key. */
export const benchEncryption = { keys: [{ id: 'bench', key: new Uint8Array(32).fill(7) }] };

/**
 * Rows for encryption at rest: `save` / `load` through a storage opened with
 * `benchEncryption` beside the same calls through one without, both made by `open(name,
 * encryption)` of the same adapter and backend, so the printed ratio is on ÷ off. On a
 * networked backend `open` gives both one connection (a pool or client they borrow): with
 * one each, a c = 1 row compared two connections, and one PostgreSQL connection answered the
 * same query ~0.4 ms later than another (typeorm's sealed load read 0.59–0.61). `close`
 * closes that connection, after both storages.
 */
export async function sealedRows(open, close = async () => {}) {
  const session = benchSession();
  const plain = open('bench', undefined);
  const sealed = open('sealed', benchEncryption);
  await sealed.save(session);
  return {
    adapter: { 'save (encryption on ÷ off)': () => sealed.save(session), 'load (encryption on ÷ off)': () => sealed.load() },
    raw: { 'save (encryption on ÷ off)': () => plain.save(session), 'load (encryption on ÷ off)': () => plain.load() },
    close: async () => {
      await sealed.close();
      await plain.close();
      await close();
    },
  };
}
