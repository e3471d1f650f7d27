/**
 * Two real processes on one file: committed writes are visible to the other
 * process at once, and a writer that meets another's lock waits (busy_timeout)
 * instead of failing with "database is locked".
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { fullSession, minimalSession } from '@mtstore/conformance';
import { SCHEMA_VERSION, SqliteSessionStorage, SqliteStorage } from '../src/index.js';
import { MIGRATIONS, tableNames } from '../src/schema.js';
import { Agent } from './child.js';
import { tempDir } from './helpers.js';

const temp = tempDir('processes');
afterAll(temp.remove);

/** Prepares a file with a saved session "shared" and closes it again. */
async function preparedFile(name: string): Promise<string> {
  const path = temp.file(name);
  const storage = new SqliteStorage({ path, name: 'shared' });
  await storage.save(minimalSession());
  await storage.close();
  return path;
}

describe('two processes on one file', () => {
  it('key and kv writes of one session from two processes, before any snapshot, lose none of each other’s', async () => {
    const path = temp.file('keys.session');
    const agents = [new Agent(path), new Agent(path)];
    const count = 150;
    try {
      // Both start on a file where the name has no row yet: each may be the one creating it.
      const results = await Promise.all(agents.map((agent, i) => agent.run(`keys ${i + 1} ${count}`)));
      for (const result of results) expect(result).toEqual({ ok: 'keys', value: null });
    } finally {
      await Promise.all(agents.map((agent) => agent.stop()));
    }
    const storage = new SqliteStorage({ path, name: 'shared' });
    for (const tag of [1, 2]) {
      for (let i = 0; i < count; i++) {
        const temp = await storage.authKeys.getTemp(tag, i);
        expect(temp?.expiresAt, `DC ${tag} slot ${i}`).toBe(1_900_000_000 + i);
        expect(temp?.key[0]).toBe((tag * 31 + i) % 256);
      }
    }
    const entries = await storage.kv.entries();
    expect(entries).toHaveLength(2 * count);
    expect(entries.map((e) => e.key)).toEqual(entries.map((e) => e.key).sort());
    expect(await storage.load()).toBeNull();
    expect(storage.database.prepare("SELECT count(*) FROM mtstore_sessions WHERE name = 'shared'").pluck().get()).toBe(1);
    await storage.close();
  });

  it('a second process sees the first one’s committed writes, while both stay open', async () => {
    const path = temp.file('visible.session');
    const writer = new Agent(path);
    const reader = new Agent(path);
    try {
      expect(await reader.run('load')).toEqual({ ok: 'load', value: null });
      expect((await writer.run('save 5')).ok).toBe('save');
      const session = fullSession(5);
      expect((await reader.run('load')).value).toEqual({
        apiId: session.apiId,
        pts: session.state?.pts,
        channels: session.channels.map((c) => ({ id: String(c.id), pts: c.pts })),
      });

      // No per-process cache goes stale: later writes show up in the reader too.
      expect((await writer.run('state 4242')).ok).toBe('state');
      expect(((await reader.run('load')).value as { pts: number }).pts).toBe(4242);
      expect((await writer.run('upsert 1 50')).ok).toBe('upsert');
      expect((await reader.run('peer 50')).value).toBe(String(50n * 7919n + 13n));
      expect((await writer.run('create 9 1')).value).toBe(true);
      expect((await reader.run('has 9 1')).value).toBe(true);
      expect((await reader.run('create 9 1')).value).toBe(false);
    } finally {
      await Promise.all([writer.stop(), reader.stop()]);
    }
  });

  it('a writer blocked by another process’s write lock waits for it instead of failing', async () => {
    const path = await preparedFile('locked.session');
    const holder = new Agent(path);
    const writer = new Agent(path);
    const observer = new SqliteStorage({ path, name: 'shared' });
    try {
      expect((await holder.run('hold')).ok).toBe('hold');
      writer.send('state 77');
      await writer.started('state');
      // The holder still has the lock, so the write cannot have happened yet.
      expect((await observer.load())?.state).toBeUndefined();
      expect((await holder.run('release')).ok).toBe('release');
      expect(await writer.reply()).toEqual({ ok: 'state', value: null });
      expect((await observer.load())?.state?.pts).toBe(77);
    } finally {
      await observer.close();
      await Promise.all([holder.stop(), writer.stop()]);
    }
  });

  it('with busyTimeout 0 the same writer fails at once: the wait above is busy_timeout’s doing', async () => {
    const path = await preparedFile('impatient.session');
    const holder = new Agent(path);
    const writer = new Agent(path, 0);
    try {
      expect((await holder.run('hold')).ok).toBe('hold');
      const reply = await writer.run('state 78');
      expect(reply.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(reply.message).toMatch(/database is locked/);
      expect((await holder.run('release')).ok).toBe('release');
      expect((await writer.run('state 79')).ok).toBe('state');
    } finally {
      await Promise.all([holder.stop(), writer.stop()]);
    }
  });

  it('processes opening a new file at the same moment create the schema once and all get going', async () => {
    const path = temp.file('first-open.session');
    const agents = Array.from({ length: 4 }, () => new Agent(path));
    try {
      agents.forEach((agent, i) => agent.send(`create ${i + 1} 1`));
      const replies = await Promise.all(agents.map((agent) => agent.reply()));
      expect(replies).toEqual(agents.map(() => ({ ok: 'create', value: true })));
    } finally {
      await Promise.all(agents.map((agent) => agent.stop()));
    }
    // In WAL already (the header's read and write versions are 2), not left for the next
    // open: an open that meets another's lock waits a little for the switch to WAL.
    expect([...readFileSync(path).subarray(18, 20)]).toEqual([2, 2]);
    const server = new SqliteSessionStorage(path);
    for (const authKeyId of [1n, 2n, 3n, 4n]) expect(await server.listSessions(authKeyId)).toEqual([1n]);
    await server.close();
  });

  it('processes opening a file of an older schema at the same moment migrate it once, and all get going', async () => {
    // Version 4 with enough peers that its migration (the peer tables rebuilt in step
    // 4 → 5) lasts while the other processes' opens arrive.
    const path = temp.file('old-schema.session');
    const t = tableNames('mtstore_');
    const db = new Database(path);
    db.pragma('foreign_keys = ON');
    for (const step of MIGRATIONS.slice(0, 4)) db.exec(step(t));
    db.prepare(`INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', 4)`).run();
    const session = db.prepare(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES ('shared', 1, 0, 0) RETURNING id`).pluck().get();
    const insertPeer = db.prepare(`INSERT INTO ${t.peers} (session_id, type, id, access_hash, min, updated_at, usernames) VALUES (?, 'user', ?, ?, NULL, 1700000000, ?)`);
    const insertName = db.prepare(`INSERT INTO ${t.usernames} (session_id, username_key, type, id) VALUES (?, ?, 'user', ?)`);
    const count = 30_000;
    db.transaction(() => {
      for (let i = 1; i <= count; i++) {
        insertPeer.run(session, i, BigInt(i) * 7919n + 13n, JSON.stringify([`user_${i}`]));
        insertName.run(session, `user_${i}`, i);
      }
    })();
    db.close();

    const agents = Array.from({ length: 4 }, () => new Agent(path));
    try {
      // Every agent up and waiting before any of them opens the file.
      for (const agent of agents) expect(await agent.run('ping')).toEqual({ ok: 'ping', value: 'pong' });
      agents.forEach((agent, i) => agent.send(i % 2 === 0 ? `peer ${i + 1}` : `create ${i + 1} 1`));
      const replies = await Promise.all(agents.map((agent) => agent.reply()));
      expect(replies).toEqual(agents.map((_, i) => (i % 2 === 0 ? { ok: 'peer', value: String(BigInt(i + 1) * 7919n + 13n) } : { ok: 'create', value: true })));
    } finally {
      await Promise.all(agents.map((agent) => agent.stop()));
    }
    const check = new Database(path, { readonly: true });
    expect(check.prepare(`SELECT value FROM ${t.meta} WHERE key = 'schema_version'`).pluck().get()).toBe(SCHEMA_VERSION);
    expect(check.prepare(`SELECT count(*) FROM ${t.peers}`).pluck().get()).toBe(count);
    expect(check.prepare(`SELECT count(*) FROM ${t.usernames}`).pluck().get()).toBe(count);
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
  }, 60_000);

  it('two processes writing at full speed both finish, with no lost write', async () => {
    const path = await preparedFile('stress.session');
    const agents = [new Agent(path), new Agent(path)];
    const count = 300;
    try {
      agents.forEach((agent, i) => agent.send(`stress ${i + 1} ${count}`));
      const replies = await Promise.all(agents.map((agent) => agent.reply()));
      expect(replies).toEqual([
        { ok: 'stress', value: null },
        { ok: 'stress', value: null },
      ]);
    } finally {
      await Promise.all(agents.map((agent) => agent.stop()));
    }
    const client = new SqliteStorage({ path, name: 'shared' });
    const server = new SqliteSessionStorage(path);
    try {
      const channels = (await client.load())?.channels;
      expect(channels).toContainEqual({ id: 1n, pts: count - 1 });
      expect(channels).toContainEqual({ id: 2n, pts: count - 1 });
      for (const tag of [1n, 2n]) {
        expect(await server.listSessions(tag)).toHaveLength(count);
        for (const i of [0, count - 1]) expect(await client.peers.getById('user', tag * 100_000n + BigInt(i))).not.toBeNull();
      }
      const peers = client.database.prepare('SELECT count(*) FROM mtstore_peers').pluck().get();
      expect(peers).toBe(2 * count);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
