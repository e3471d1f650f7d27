/**
 * What the kit cannot see: where v2 puts keys, kv entries and reference messages,
 * the session row that exists without a snapshot, and key writes from two instances
 * (two pools, as two processes would) that never lose each other's rows.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { authKey, fullSession } from '@mtstore/conformance';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { admin, freshSchema, plain, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe.runIf(server.available)('layout', () => {
  it('keys without a snapshot: a session row with home_dc_id NULL and one auth_keys row per key; load() stays null', async () => {
    const schema = freshSchema();
    const storage = track(new PostgresStorage({ connectionString: url, schema, name: 'keys-first' }));
    await storage.authKeys.set(2, authKey(1));
    await storage.authKeys.setTemp(2, { index: 5, key: authKey(2), expiresAt: 1_900_000_000 });
    await storage.kv.set('salts', Uint8Array.of(1, 2, 3));
    const sessions = await admin().query(`SELECT name, home_dc_id, pts FROM "${schema}".sessions`);
    expect(sessions.rows).toEqual([{ name: 'keys-first', home_dc_id: null, pts: null }]);
    const keys = await admin().query(
      `SELECT dc_id, media_only, slot, encode(key, 'hex') AS key, expires_at::int FROM "${schema}".auth_keys ORDER BY slot`,
    );
    expect(keys.rows).toEqual([
      { dc_id: 2, media_only: false, slot: -1, key: hex(authKey(1)), expires_at: null },
      { dc_id: 2, media_only: false, slot: 5, key: hex(authKey(2)), expires_at: 1_900_000_000 },
    ]);
    expect(await storage.load()).toBeNull();
    expect(await storage.listNames()).toEqual(['keys-first']);
    // saveUpdateState needs a snapshot, and writes nothing without one.
    await expect(storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 })).rejects.toMatchObject({ code: 'MTSTORE_NOT_FOUND' });
    expect((await admin().query(`SELECT pts FROM "${schema}".sessions`)).rows).toEqual([{ pts: null }]);
  });

  it('listNames lists a name while anything is stored under it: not a row emptied of its last key, entry, peer or reference', async () => {
    const schema = freshSchema();
    const storage = track(new PostgresStorage({ connectionString: url, schema, name: 'emptied' }));
    const other = track(new PostgresStorage({ connectionString: url, schema, name: 'kept' }));
    await other.save(fullSession(1));
    const steps: [() => Promise<unknown>, () => Promise<unknown>][] = [
      [() => storage.authKeys.setTemp(3, { index: 1, key: authKey(1), expiresAt: 1 }), () => storage.authKeys.deleteTemp(3, 1)],
      [() => storage.kv.set('k', Uint8Array.of(1)), () => storage.kv.delete('k')],
      [() => storage.peers.upsert([{ type: 'chat', id: 5n, accessHash: 0n, usernames: [], updatedAt: 1 }]), () => storage.peers.clear()],
      [() => storage.refMessages.store(1n, 2n, 3), () => storage.refMessages.deleteByPeer(1n)],
    ];
    for (const [write, remove] of steps) {
      await write();
      expect(await storage.listNames()).toEqual(['emptied', 'kept']);
      await remove();
      expect(await storage.listNames()).toEqual(['kept']);
    }
    // The empty row stays (the next write reuses it); it holds nothing and is not a snapshot.
    expect((await admin().query(`SELECT count(*)::int AS n FROM "${schema}".sessions WHERE name = 'emptied'`)).rows).toEqual([{ n: 1 }]);
    expect(await storage.load()).toBeNull();
  });

  it('save writes every key of every entry to auth_keys (media-only ones apart) and none to dcs; update keeps them', async () => {
    const schema = freshSchema();
    const storage = track(new PostgresStorage({ connectionString: url, schema }));
    const session = fullSession(1); // DC 1 and 2 main with keys, DC 2 media-only without, DC 4 test with a key
    session.dcs[2] = { ...session.dcs[2], authKey: authKey(99) } as (typeof session.dcs)[number];
    await storage.save(session);
    const keyRows = async () =>
      (await admin().query(`SELECT dc_id, media_only, slot FROM "${schema}".auth_keys ORDER BY dc_id, media_only, slot`)).rows;
    const saved = [
      { dc_id: 1, media_only: false, slot: -1 },
      { dc_id: 2, media_only: false, slot: -1 },
      { dc_id: 2, media_only: false, slot: 0 },
      { dc_id: 2, media_only: false, slot: 1 },
      { dc_id: 2, media_only: true, slot: -1 },
      { dc_id: 4, media_only: false, slot: -1 },
    ];
    expect(await keyRows()).toEqual(saved);
    await storage.update({ homeDcId: 1, dcs: [{ id: 1, ipv4: '149.154.175.50', port: 443 }] });
    expect(await keyRows()).toEqual(saved);
    const dcs = await admin().query(`SELECT dc_id, ipv4, port FROM "${schema}".dcs`);
    expect(dcs.rows).toEqual([{ dc_id: 1, ipv4: '149.154.175.50', port: 443 }]);
    // A save without DC 4 removes its key; the others are replaced by the saved ones.
    await storage.save({ ...fullSession(2), dcs: fullSession(2).dcs.slice(0, 2) });
    expect(await keyRows()).toEqual(saved.filter((k) => k.dc_id !== 4 && !k.media_only));
    expect(plain(await storage.authKeys.get(1))).toEqual(authKey(21));
  });

  it('kv entries are bytea rows sorted in byte order; references draw increasing numbers from a sequence', async () => {
    const schema = freshSchema();
    const storage = track(new PostgresStorage({ connectionString: url, schema }));
    for (const key of ['b', 'a', 'B', '_', 'a~']) await storage.kv.set(key, new TextEncoder().encode(key));
    expect((await storage.kv.entries()).map((e) => e.key)).toEqual(['B', '_', 'a', 'a~', 'b']);
    const big = new Uint8Array(65_536).map((_, i) => i % 251);
    await storage.kv.set('big', big);
    expect(plain(await storage.kv.get('big'))).toEqual(big);
    const stored = await admin().query(`SELECT octet_length(value) AS n FROM "${schema}".kv WHERE key = 'big'`);
    expect(stored.rows).toEqual([{ n: 65_536 }]);

    await storage.refMessages.store(7n, -100n, 1);
    await storage.refMessages.store(7n, -100n, 2);
    await storage.refMessages.store(7n, -100n, 1); // again: the most recent now
    const refs = await admin().query<{ message_id: number; stored: string }>(
      `SELECT message_id, stored::text FROM "${schema}".ref_messages ORDER BY stored`,
    );
    expect(refs.rows.map((r) => r.message_id)).toEqual([2, 1]);
    expect(await storage.refMessages.getByPeer(7n)).toEqual({ chatId: -100n, messageId: 1 });
    // delete() of the name removes every row of it (the session row cascades).
    await storage.delete();
    for (const table of ['sessions', 'kv', 'ref_messages', 'auth_keys']) {
      expect((await admin().query(`SELECT count(*)::int AS n FROM "${schema}".${table}`)).rows, table).toEqual([{ n: 0 }]);
    }
  });

  it('two instances writing different keys and kv entries of one fresh name at once lose none of them', async () => {
    const schema = freshSchema();
    const config = { connectionString: url, max: 4 };
    const a = track(new PostgresStorage({ config, schema, name: 'shared' }));
    const b = track(new PostgresStorage({ config, schema, name: 'shared' }));
    // Migrate first, so the race is about the session row (which neither has created yet).
    await Promise.all([a.listNames(), b.listNames()]);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      const storage = i % 2 ? a : b;
      writes.push(storage.authKeys.setTemp(1 + (i % 5), { index: i, key: authKey(i), expiresAt: 1_900_000_000 + i }));
      writes.push(storage.kv.set(`key:${i}`, Uint8Array.of(i)));
      if (i < 5) writes.push(storage.authKeys.set(1 + i, authKey(100 + i)));
      if (i % 4 === 0) writes.push(storage.refMessages.store(BigInt(i), -1n, i + 1));
    }
    await Promise.all(writes);
    expect((await admin().query(`SELECT count(*)::int AS n FROM "${schema}".sessions`)).rows).toEqual([{ n: 1 }]);
    for (let i = 0; i < 40; i++) {
      expect(plain(await a.authKeys.getTemp(1 + (i % 5), i)), `temp key ${i}`).toEqual({ index: i, key: authKey(i), expiresAt: 1_900_000_000 + i });
    }
    expect((await b.kv.entries()).length).toBe(40);
    for (let i = 0; i < 5; i++) expect(plain(await b.authKeys.get(1 + i))).toEqual(authKey(100 + i));
    expect(await a.refMessages.getByPeer(36n)).toEqual({ chatId: -1n, messageId: 37 });

    // Key writes racing with saveUpdateState and save of the same session: the keys written
    // through authKeys after the save began are there, the state is the last one written.
    await a.save(fullSession(1));
    const more: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      more.push((i % 2 ? a : b).kv.set(`later:${i}`, Uint8Array.of(i)));
      more.push((i % 2 ? b : a).saveUpdateState({ pts: i, qts: 0, date: 0, seq: 0 }, [{ id: BigInt(i), pts: i }]));
    }
    await Promise.all(more);
    expect((await a.kv.entries()).filter((e) => e.key.startsWith('later:')).length).toBe(20);
    expect((await b.load())?.channels.length).toBeGreaterThanOrEqual(20);
  });
});
