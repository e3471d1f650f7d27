// memory adapter vs. "raw": the same Map/Set operations the adapter performs, without
// mtstore's validation, copying and error handling around them.
import { fullSession, peer } from '@mtstore/conformance';
import { adapterTargets, benchKey, benchKeyDc, kvKey, kvValue, sealedRows } from '../common.mjs';
import { MemorySessionStorage, MemoryStorage, MemoryStore } from '@mtstore/memory';

export default {
  name: 'memory',
  async unavailable() {
    return null;
  },
  async open() {
    const store = new MemoryStore();
    const server = new MemorySessionStorage({ store });
    const client = new MemoryStorage({ store, name: 'bench' });
    const session = fullSession(1);
    await client.save(session);
    const batch = (i) => Array.from({ length: 1000 }, (_, k) => peer('user', (i % 50) * 1000 + k + 1));
    await client.peers.upsert(batch(0));
    await server.createSession(1n, 1n);
    for (let i = 0; i < 8; i++) await client.kv.set(kvKey(i), kvValue(i));

    // Raw: the data structures alone.
    const sessions = new Map([[1n, new Set([1n])]]);
    const rawClients = new Map([['bench', structuredClone(session)]]);
    const rawPeers = new Map();
    const rawUsernames = new Map();
    const rawUpsert = (peers) => {
      for (const p of peers) {
        const key = `${p.type}:${p.id}`;
        rawPeers.set(key, { ...p, usernames: [...p.usernames] });
        for (const u of p.usernames) rawUsernames.set(u.toLowerCase(), key);
      }
    };
    rawUpsert(batch(0));
    const rawKeys = new Map();
    const rawKv = new Map(Array.from({ length: 8 }, (_, i) => [kvKey(i), kvValue(i)]));

    const sealed = await sealedRows((name, encryption) => new MemoryStorage({ store, name, encryption }));
    return {
      sealed,
      targets: {
        adapter: adapterTargets(client, server),
        raw: {
          'hasSession hit': async () => sessions.get(1n)?.has(1n) ?? false,
          'hasSession miss': async () => sessions.get(1n)?.has(2n) ?? false,
          // The store keeps [lastUsedAt, expiresAt] per session (lifetime).
          'createSession+destroySession': async (i) => {
            const map = sessions.get(2n) ?? sessions.set(2n, new Map()).get(2n);
            map.set(BigInt(i), [Date.now(), null]);
            map.delete(BigInt(i));
          },
          load: async () => structuredClone(rawClients.get('bench')),
          save: async () => void rawClients.set('bench', structuredClone(session)),
          saveUpdateState: async (i) => {
            const s = rawClients.get('bench');
            s.state = { pts: i, qts: 1, date: 1, seq: 1 };
            const c = s.channels.find((x) => x.id === 1n);
            if (c) c.pts = i;
            else s.channels.push({ id: 1n, pts: i });
          },
          'peers.upsert ×1000': async (i) => rawUpsert(batch(i)),
          'peers.getByUsername': async (i) => {
            const key = rawUsernames.get(`user_${(i % 1000) + 1}`);
            return key === undefined ? null : { ...rawPeers.get(key) };
          },
          // The adapter copies key and value bytes in and out (a caller must not be able to
          // change stored bytes); so does the raw side, with the same copy the adapter uses
          // (new Uint8Array(bytes): one memcpy; Uint8Array.from iterates and costs ~2.5x).
          'authKeys.set': async (i) => void rawKeys.set(`${benchKeyDc(i)}:0`, new Uint8Array(benchKey(i))),
          'kv.get': async (i) => {
            const value = rawKv.get(kvKey(i));
            return value === undefined ? null : new Uint8Array(value);
          },
          'kv.set': async (i) => void rawKv.set(kvKey(i), new Uint8Array(kvValue(i))),
        },
      },
      close: async () => {
        await client.close();
        await server.close();
      },
    };
  },
  memoryCases: {
    'server sessions': async (count) => {
      const server = new MemorySessionStorage();
      // 1,000 auth keys with count/1,000 sessions each, like a busy server.
      for (let i = 0; i < count; i++) await server.createSession(BigInt(i % 1000) * 7919n + 1n, BigInt(i) * 104729n);
      return server;
    },
    peers: async (count) => {
      const client = new MemoryStorage();
      await client.save(fullSession(1));
      for (let i = 0; i < count; i += 1000) {
        await client.peers.upsert(Array.from({ length: 1000 }, (_, k) => peer('user', i + k + 1)));
      }
      return client;
    },
  },
};
