// Drives one SqliteStorage (session "shared") and one SqliteSessionStorage on a file
// from commands on stdin, one per line; answers one JSON line when a command starts
// ({"begin"}) and one when it ends ({"ok", "value"} or {"err", "code", "message"}).
// Usage: node agent.mjs <path> [busyTimeout]
import { createInterface } from 'node:readline';
import { writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import { fullSession, peer } from '@mtstore/conformance';
import { SqliteSessionStorage, SqliteStorage } from '@mtstore/sqlite';

const [path, busyTimeout] = process.argv.slice(2);
const options = busyTimeout === undefined ? { path } : { path, busyTimeout: Number(busyTimeout) };
const client = new SqliteStorage({ ...options, name: 'shared' });
const server = new SqliteSessionStorage(options);
let holder;

// Synchronous writes: a line is out before the next (possibly blocking) call starts.
const out = (value) => writeSync(1, `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}\n`);
const state = (pts) => ({ pts, qts: 1, date: 1_700_000_000, seq: 1 });

const commands = {
  // Touches nothing: the agent is up and reading commands.
  ping: () => 'pong',
  save: (seed) => client.save(fullSession(Number(seed))),
  state: (pts) => client.saveUpdateState(state(Number(pts)), [{ id: 7n, pts: Number(pts) }]),
  load: async () => {
    const session = await client.load();
    return session && { apiId: session.apiId, pts: session.state?.pts, channels: session.channels };
  },
  upsert: (from, count) => client.peers.upsert(Array.from({ length: Number(count) }, (_, i) => peer('user', Number(from) + i))),
  peer: async (id) => (await client.peers.getById('user', BigInt(id)))?.accessHash ?? null,
  create: (authKeyId, sessionId) => server.createSession(BigInt(authKeyId), BigInt(sessionId)),
  has: (authKeyId, sessionId) => server.hasSession(BigInt(authKeyId), BigInt(sessionId)),
  // Holds the write lock from a raw connection until `release`.
  hold: () => {
    holder = new Database(path);
    holder.prepare('BEGIN IMMEDIATE').run();
  },
  release: () => {
    holder.prepare('COMMIT').run();
    holder.close();
  },
  // Interleaved writes of every kind, to race another agent doing the same.
  stress: async (tag, count) => {
    for (let i = 0; i < Number(count); i++) {
      await server.createSession(BigInt(tag), BigInt(i));
      await client.saveUpdateState(state(i), [{ id: BigInt(tag), pts: i }]);
      await client.peers.upsert([peer('user', Number(tag) * 100_000 + i)]);
    }
  },
  // Key and kv writes of one session, one at a time, to race another agent writing other keys.
  keys: async (tag, count) => {
    for (let i = 0; i < Number(count); i++) {
      const key = new Uint8Array(256).fill((Number(tag) * 31 + i) % 256);
      await client.authKeys.setTemp(Number(tag), { index: i, key, expiresAt: 1_900_000_000 + i });
      await client.kv.set(`k${tag}.${i}`, Uint8Array.of(Number(tag), i % 256));
    }
  },
  exit: async () => {
    await client.close();
    await server.close();
    process.exit(0);
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  const [name, ...args] = line.trim().split(/\s+/);
  out({ begin: name });
  try {
    out({ ok: name, value: (await commands[name](...args)) ?? null });
  } catch (error) {
    out({ err: name, code: error.code, message: error.message });
  }
}
