/**
 * Peer lookups by id go by the session's row id as last resolved (peers.ts getById):
 * another instance (here a second connection to the file, as another process would
 * be) that deletes the name and creates it again gives it a new row id, and the
 * lookup must follow the name, not the old id.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ID_EXTREMES, peer } from '@mtstore/conformance';
import { InvalidArgumentError, mergePeer, normalizePeerBatch, peerKey, usernameKey, type Peer, type PeerType } from '@mtstore/core';
import { SqliteStorage } from '../src/index.js';
import { tempDir } from './helpers.js';

const temp = tempDir('peers');
afterAll(temp.remove);

describe('peers.getById across instances', () => {
  it('follows the name when another instance deletes and re-creates the session', async () => {
    const path = temp.file('recreated.db');
    const reader = new SqliteStorage({ path, name: 'alice' });
    const writer = new SqliteStorage({ path, name: 'alice' });
    await writer.peers.upsert([peer('user', 1, { accessHash: 10n }), peer('user', 2, { accessHash: 20n })]);
    // The reader resolves (and keeps) the row id of 'alice'.
    expect((await reader.peers.getById('user', 1n))?.accessHash).toBe(10n);
    expect((await reader.peers.getById('user', 2n))?.accessHash).toBe(20n);

    await writer.delete();
    await writer.peers.upsert([peer('user', 1, { accessHash: 11n }), peer('user', 3, { accessHash: 30n })]);
    expect((await reader.peers.getById('user', 1n))?.accessHash).toBe(11n);
    expect((await reader.peers.getById('user', 3n))?.accessHash).toBe(30n);
    expect(await reader.peers.getById('user', 2n)).toBeNull();

    await writer.delete();
    expect(await reader.peers.getById('user', 1n)).toBeNull();
    await writer.peers.upsert([peer('user', 1, { accessHash: 12n })]);
    expect((await reader.peers.getById('user', 1n))?.accessHash).toBe(12n);
    await reader.close();
    await writer.close();
  });

  it('a name that had no row when first asked is found once another instance creates it', async () => {
    const path = temp.file('created.db');
    const reader = new SqliteStorage({ path, name: 'bob' });
    const writer = new SqliteStorage({ path, name: 'bob' });
    expect(await reader.peers.getById('user', 1n)).toBeNull();
    await writer.peers.upsert([peer('user', 1, { accessHash: 10n })]);
    expect((await reader.peers.getById('user', 1n))?.accessHash).toBe(10n);
    await reader.close();
    await writer.close();
  });

  it('another name in the same file is another session', async () => {
    const path = temp.file('names.db');
    const alice = new SqliteStorage({ path, name: 'alice' });
    const bob = new SqliteStorage({ path, name: 'bob' });
    await alice.peers.upsert([peer('user', 1, { accessHash: 10n })]);
    await bob.peers.upsert([peer('user', 1, { accessHash: 20n })]);
    expect((await alice.peers.getById('user', 1n))?.accessHash).toBe(10n);
    expect((await bob.peers.getById('user', 1n))?.accessHash).toBe(20n);
    await alice.delete();
    expect(await alice.peers.getById('user', 1n)).toBeNull();
    expect((await bob.peers.getById('user', 1n))?.accessHash).toBe(20n);
    await alice.close();
    await bob.close();
  });
});

/**
 * An upsert batch is staged in multi-row statements of several sizes (peers.ts CHUNKS):
 * batches that span them, with ids and hashes at the int64 extremes, peers stored as they
 * are beside changed ones in one statement, min peers over full ones, and names and
 * phones moving between peers of one chunk, of two chunks and outside the batch, must
 * end exactly as core's rules say (the model: normalizePeerBatch, then mergePeer and
 * the moves, peer by peer, as the conformance kit's model does).
 */
describe('peers.upsert batches across staging statement sizes', () => {
  /** A small deterministic generator (no seed-dependent flakiness: the same batches every run). */
  function random(seed: number): (n: number) => number {
    let x = seed >>> 0;
    return (n) => {
      x = (Math.imul(x, 1_664_525) + 1_013_904_223) >>> 0;
      return x % n;
    };
  }

  const IDS = [...ID_EXTREMES, ...Array.from({ length: 700 }, (_, i) => BigInt(i + 2))];
  const NAMES = Array.from({ length: 900 }, (_, i) => `Name_${i}`);
  const PHONES = Array.from({ length: 300 }, (_, i) => String(7_000_000 + i));
  const TYPES: PeerType[] = ['user', 'chat', 'channel'];

  function generated(next: (n: number) => number, size: number): Peer[] {
    const batch: Peer[] = [];
    for (let k = 0; k < size; k++) {
      const names = new Map<string, string>();
      for (let n = next(3); n > 0; n--) {
        const name = NAMES[next(NAMES.length)] as string;
        // Spelled in another case now and then: one name, case-insensitively.
        names.set(name.toLowerCase(), next(4) === 0 ? name.toUpperCase() : name);
      }
      const p: Peer = {
        type: TYPES[next(4) === 0 ? 1 + next(2) : 0] as PeerType,
        id: IDS[next(IDS.length)] as bigint,
        accessHash: next(5) === 0 ? (next(2) === 0 ? -(2n ** 63n) : 2n ** 63n - 1n) : BigInt(next(1000)) - 500n,
        usernames: [...names.values()],
        updatedAt: 1_700_000_000 + next(3),
      };
      if (next(2) === 0) p.phone = PHONES[next(PHONES.length)] as string;
      if (next(3) === 0) p.min = next(2) === 0;
      if (next(2) === 0) p.displayName = next(2) === 0 ? 'Павел "Дуров" 🚀' : `P ${next(9)}`;
      if (next(2) === 0) p.complete = Uint8Array.of(next(3), 7);
      batch.push(p);
    }
    return batch;
  }

  function apply(model: Map<string, Peer>, batch: readonly Peer[]): void {
    for (const incoming of normalizePeerBatch(batch)) {
      const key = peerKey(incoming.type, incoming.id);
      const peer = mergePeer(model.get(key), incoming);
      const names = new Set(peer.usernames.map(usernameKey));
      for (const [otherKey, other] of model) {
        if (otherKey === key) continue;
        other.usernames = other.usernames.filter((u) => !names.has(usernameKey(u)));
        if (peer.phone !== undefined && other.phone === peer.phone) delete other.phone;
      }
      model.set(key, peer);
    }
  }

  const usable = (p: Peer | undefined): Peer | null => (p === undefined || p.min === true ? null : p);

  it('ends as the model after each batch, every lookup', async () => {
    const storage = new SqliteStorage({ path: temp.file('chunks.db'), name: 'alice' });
    const model = new Map<string, Peer>();
    const next = random(18);
    // Sizes that use every statement size (256, 64, 16, 4, 1) alone and together.
    const sizes = [1, 4, 5, 16, 21, 64, 85, 256, 341, 600, 3, 257, 1000];
    for (const [round, size] of sizes.entries()) {
      let batch = generated(next, size);
      // Every third batch repeats stored peers, each as stored or with one field changed
      // (a change in any one column alone must be written; a min peer's hash, min and
      // bytes over a full one must not).
      if (round % 3 === 2 && model.size > 0) {
        const stored = [...model.values()].slice(0, size).map((p) => structuredClone(p));
        for (const [k, p] of stored.entries()) {
          if (k % 9 === 0) p.updatedAt += 1;
          else if (k % 9 === 1) p.usernames = p.usernames.length > 0 ? p.usernames.slice(1) : [`Fresh_${round}_${k}`];
          else if (k % 9 === 2) p.phone = p.phone === undefined ? String(8_000_000 + round * 1000 + k) : undefined;
          else if (k % 9 === 3) p.displayName = p.displayName === undefined ? 'Now named' : undefined;
          else if (k % 9 === 4) p.accessHash += 1n;
          else if (k % 9 === 5) p.min = p.min === undefined ? true : p.min ? undefined : true;
          else if (k % 9 === 6) p.complete = p.complete === undefined ? Uint8Array.of(9) : undefined;
          else if (k % 9 === 7) p.usernames = p.usernames.map((u) => u.toUpperCase());
          if (p.phone === undefined) delete p.phone;
          if (p.min === undefined) delete p.min;
          if (p.displayName === undefined) delete p.displayName;
          if (p.complete === undefined) delete p.complete;
        }
        batch = [...stored, ...batch.slice(0, Math.max(0, size - stored.length))];
      }
      await storage.peers.upsert(batch);
      apply(model, batch);

      const label = `batch ${round} (${size} peers)`;
      for (const p of model.values()) expect(await storage.peers.getById(p.type, p.id), `${label}: ${p.type} ${p.id}`).toEqual(p);
      const byName = new Map<string, Peer>();
      const byPhone = new Map<string, Peer>();
      for (const p of model.values()) {
        for (const u of p.usernames) byName.set(usernameKey(u), p);
        if (p.phone !== undefined) byPhone.set(p.phone, p);
      }
      for (const name of NAMES) expect(await storage.peers.getByUsername(name.toUpperCase()), `${label}: @${name}`).toEqual(usable(byName.get(usernameKey(name))));
      for (const phone of PHONES) expect(await storage.peers.getByPhone(phone), `${label}: +${phone}`).toEqual(usable(byPhone.get(phone)));
      const page = await storage.peers.list({ limit: 10_000 });
      expect(page.peers.length, label).toBe(model.size);
    }
    await storage.close();
  });
});

describe('peers.upsert: peers above the largest stored id of their type skip the probe', () => {
  // Batches of 16 or more read each type's largest stored id and stage the peers above
  // it without looking for their row. A stored peer taken for a new one would keep index
  // rows for names it dropped; a peer of another type or at the largest id itself must
  // still be looked up.
  it('the peer at the largest id, peers of other types and names moving to new peers end as written', async () => {
    const storage = new SqliteStorage({ path: temp.file('fresh.db'), name: 'alice' });
    await storage.peers.upsert([...Array.from({ length: 20 }, (_, i) => peer('user', i + 1)), peer('channel', 5)]);

    const batch: Peer[] = [
      // The largest stored user id, renamed and with a new phone: a stored row.
      peer('user', 20, { usernames: ['Renamed_20'], phone: '555' }),
      // Above the largest user id (new), one taking a name and a phone from stored users.
      ...Array.from({ length: 15 }, (_, i) => peer('user', 21 + i)),
      peer('user', 40, { usernames: ['USER_3'], phone: String(10_000_000_004) }),
      // No chat stored: every chat is new, a negative id too.
      peer('chat', -7, { usernames: ['chat_minus_7'] }),
      // Below the largest channel id: looked up; takes the name of the stored channel 5.
      peer('channel', 4, { usernames: ['channel_5'] }),
    ];
    expect(batch.length).toBeGreaterThanOrEqual(16);
    await storage.peers.upsert(batch);

    expect(await storage.peers.getByUsername('user_20')).toBeNull();
    expect(await storage.peers.getByPhone(String(10_000_000_020))).toBeNull();
    expect((await storage.peers.getByUsername('renamed_20'))?.id).toBe(20n);
    expect(await storage.peers.getByPhone('555')).toEqual(batch[0]);
    expect((await storage.peers.getByUsername('user_3'))?.id).toBe(40n);
    expect((await storage.peers.getById('user', 3n))?.usernames).toEqual([]);
    expect((await storage.peers.getByPhone(String(10_000_000_004)))?.id).toBe(40n);
    expect((await storage.peers.getById('user', 4n))?.phone).toBeUndefined();
    expect(await storage.peers.getById('chat', -7n)).toEqual(peer('chat', -7, { usernames: ['chat_minus_7'] }));
    expect((await storage.peers.getByUsername('channel_5'))?.id).toBe(4n);
    expect((await storage.peers.getById('channel', 5n))?.usernames).toEqual([]);
    for (let id = 21; id <= 35; id++) expect(await storage.peers.getById('user', BigInt(id))).toEqual(peer('user', id));
    expect((await storage.peers.list({ limit: 100 })).peers).toHaveLength(20 + 16 + 1 + 2);

    // The same batch again is stored as it is: nothing changes (every peer is now at or below the largest ids).
    await storage.peers.upsert(batch);
    expect((await storage.peers.getByUsername('user_3'))?.id).toBe(40n);
    expect((await storage.peers.list({ limit: 100 })).peers).toHaveLength(39);
    await storage.close();
  });
});

describe('peers.upsert: a batch of new peers only is written without staging', () => {
  // Every peer above the largest stored id of its type: the rows go straight into the
  // peer table and the names are read back from the ids above that largest id. A name
  // or phone a stored peer holds makes the batch start again on the general path.
  const INT64_MIN = -(2n ** 63n);

  it('names and phones of every new peer are found, from the id just above the largest stored one, for types with nothing stored too', async () => {
    const storage = new SqliteStorage({ path: temp.file('new-only.db'), name: 'alice' });
    await storage.peers.upsert(Array.from({ length: 20 }, (_, i) => peer('user', i + 1)));

    const batch: Peer[] = [
      // Just above the largest stored user id, with two names.
      peer('user', 21, { usernames: ['First_21', 'Second_21'] }),
      ...Array.from({ length: 14 }, (_, i) => peer('user', 22 + i)),
      // No names: nothing to index.
      peer('user', 40, { usernames: [] }),
      // No chat or channel stored: from INT64_MIN on.
      peer('chat', 1, { id: INT64_MIN, accessHash: 1n, usernames: ['Lowest_chat'] }),
      peer('channel', -5, { usernames: ['Channel_minus_5'] }),
    ];
    expect(batch.length).toBeGreaterThanOrEqual(16);
    await storage.peers.upsert(batch);

    for (const p of batch) expect(await storage.peers.getById(p.type, p.id)).toEqual(p);
    expect((await storage.peers.getByUsername('FIRST_21'))?.id).toBe(21n);
    expect((await storage.peers.getByUsername('second_21'))?.id).toBe(21n);
    expect((await storage.peers.getByUsername('lowest_chat'))?.id).toBe(INT64_MIN);
    expect((await storage.peers.getByUsername('channel_minus_5'))?.id).toBe(-5n);
    for (let id = 22; id <= 35; id++) {
      expect((await storage.peers.getByUsername(`user_${id}`))?.id).toBe(BigInt(id));
      expect((await storage.peers.getByPhone(String(10_000_000_000 + id)))?.id).toBe(BigInt(id));
    }
    // The stored peers keep theirs.
    expect((await storage.peers.getByUsername('user_20'))?.id).toBe(20n);
    expect((await storage.peers.list({ limit: 100 })).peers).toHaveLength(20 + 18);
    await storage.close();
  });

  it('one name or none per peer: every name is indexed lower-cased, and a peer without names gets no index row', async () => {
    const storage = new SqliteStorage({ path: temp.file('new-only-single.db'), name: 'alice' });
    // Per type one of the four mixes: upper-case letters or not, a peer without names or
    // not. One peer without names per batch: two would collide on any key made of their
    // empty lists, and the batch would start again on the general path.
    const first: Peer[] = [
      ...Array.from({ length: 8 }, (_, i) => peer('user', i + 1, { usernames: i === 3 ? [] : [`user_${i + 1}`], phone: undefined })),
      ...Array.from({ length: 8 }, (_, i) => peer('channel', i + 1, { usernames: [`CHANNEL_${i + 1}`], phone: undefined })),
      ...Array.from({ length: 8 }, (_, i) => peer('chat', i + 1, { usernames: [`plain_${i + 1}`], phone: undefined })),
    ];
    const second = Array.from({ length: 16 }, (_, i) => peer('chat', i + 9, { usernames: i === 3 ? [] : [`Chat_${i + 9}`], phone: undefined }));
    for (const part of [first, second]) await storage.peers.upsert(part);
    const batch = [...first, ...second];

    for (const p of batch) {
      expect(await storage.peers.getById(p.type, p.id)).toEqual(p);
      for (const name of p.usernames) {
        expect((await storage.peers.getByUsername(name.toLowerCase()))?.id, name).toBe(p.id);
        expect((await storage.peers.getByUsername(name.toUpperCase()))?.id, name).toBe(p.id);
      }
    }
    const keys = storage.database.prepare('SELECT username_key FROM mtstore_peer_usernames ORDER BY username_key').pluck().all();
    expect(keys).toEqual(batch.flatMap((p) => p.usernames.map((name) => name.toLowerCase())).sort());
    await storage.close();
  });

  it('a new peer taking a stored peer’s name or phone moves it, and nothing of the first attempt is left', async () => {
    const storage = new SqliteStorage({ path: temp.file('new-only-moves.db'), name: 'alice' });
    await storage.peers.upsert(Array.from({ length: 20 }, (_, i) => peer('user', i + 1)));

    for (const [taken, batch] of [
      ['name', [...Array.from({ length: 15 }, (_, i) => peer('user', 21 + i)), peer('user', 36, { usernames: ['Extra_36', 'USER_3'] })]],
      ['phone', [...Array.from({ length: 15 }, (_, i) => peer('user', 41 + i)), peer('user', 56, { phone: String(10_000_000_004) })]],
    ] as const) {
      expect(batch.length, taken).toBeGreaterThanOrEqual(16);
      await storage.peers.upsert(batch);
      for (const p of batch) expect(await storage.peers.getById(p.type, p.id), `${taken}: user ${p.id}`).toEqual(p);
    }
    expect((await storage.peers.getByUsername('user_3'))?.id).toBe(36n);
    expect((await storage.peers.getByUsername('extra_36'))?.id).toBe(36n);
    expect((await storage.peers.getById('user', 3n))?.usernames).toEqual([]);
    expect((await storage.peers.getByPhone(String(10_000_000_004)))?.id).toBe(56n);
    expect((await storage.peers.getById('user', 4n))?.phone).toBeUndefined();
    expect((await storage.peers.getByUsername('user_21'))?.id).toBe(21n);
    expect((await storage.peers.getByPhone(String(10_000_000_041)))?.id).toBe(41n);
    expect((await storage.peers.list({ limit: 100 })).peers).toHaveLength(20 + 16 + 16);
    await storage.close();
  });
});

describe('peers.upsert: a batch that needs no normalizing is read as the caller gave it', () => {
  // Core hands this synchronous repository the caller's own array when no peer, name or
  // phone is in it twice (base.ts, checkPeerBatch); anything else is normalized first.

  it('a new batch naming one username in two cases, or one phone twice, ends with the later peer', async () => {
    const storage = new SqliteStorage({ path: temp.file('fast-repeats.db'), name: 'alice' });
    const fresh = (from: number): Peer[] => Array.from({ length: 20 }, (_, i) => peer('user', from + i));
    const names = fresh(1);
    (names[3] as Peer).usernames = ['Shared_name'];
    (names[15] as Peer).usernames = ['other', 'SHARED_NAME'];
    await storage.peers.upsert(names);
    expect((await storage.peers.getByUsername('shared_name'))?.id).toBe(16n);
    expect((await storage.peers.getById('user', 4n))?.usernames).toEqual([]);

    const phones = fresh(101);
    (phones[17] as Peer).phone = (phones[2] as Peer).phone as string;
    await storage.peers.upsert(phones);
    expect((await storage.peers.getByPhone((phones[2] as Peer).phone as string))?.id).toBe(118n);
    expect((await storage.peers.getById('user', 103n))?.phone).toBeUndefined();

    const twice = fresh(201);
    twice.push(peer('user', 205, { accessHash: 5n, usernames: [] }));
    await storage.peers.upsert(twice);
    expect(await storage.peers.getById('user', 205n)).toEqual(twice[20]);
    await storage.close();
  });

  it('a getter of the batch upserting a batch of its own (into any storage) does not pass a repeated name as normalized', async () => {
    // checkPeerBatch keeps what it has seen in module-level tables stamped per batch; a
    // nested batch checked while a caller's getter runs stamps them with its own
    // generation, which hid what the outer batch had seen there: its second peer naming
    // 'Shared' went to the repository as if no name repeated.
    const storage = new SqliteStorage({ path: temp.file('fast-nested.db'), name: 'alice' });
    const other = new SqliteStorage({ path: temp.file('fast-nested-other.db'), name: 'bob' });
    let nested: Promise<void> | undefined;
    const batch: Peer[] = Array.from({ length: 20 }, (_, i) => peer('user', i + 1));
    (batch[3] as Peer).usernames = ['Shared'];
    (batch[15] as Peer).usernames = ['shared'];
    const sneaky = batch[9] as Peer;
    Object.defineProperty(batch, 9, {
      get() {
        nested ??= other.peers.upsert([peer('user', 500, { usernames: ['Shared'] })]);
        return sneaky;
      },
    });
    await storage.peers.upsert(batch);
    await nested;
    expect((await storage.peers.getByUsername('shared'))?.id).toBe(16n);
    const listing = (await storage.peers.list({ limit: 100 })).peers.filter((p) => p.usernames.some((u) => u.toLowerCase() === 'shared'));
    expect(listing.map((p) => p.id)).toEqual([16n]);
    expect((await other.peers.getByUsername('shared'))?.id).toBe(500n);
    await storage.close();
    await other.close();
  });

  it('a bad peer anywhere in a new batch is refused with a typed error before anything is written', async () => {
    const storage = new SqliteStorage({ path: temp.file('fast-refused.db'), name: 'alice' });
    for (const bad of [{ usernames: ['no spaces'] }, { phone: '+1' }, { displayName: 'a\u0000b' }, { accessHash: 2n ** 63n }]) {
      const batch = Array.from({ length: 20 }, (_, i) => peer('user', i + 1));
      batch[19] = { ...(batch[19] as Peer), ...bad };
      await expect(storage.peers.upsert(batch)).rejects.toBeInstanceOf(InvalidArgumentError);
      expect((await storage.peers.list({ limit: 100 })).peers).toEqual([]);
    }
    await storage.close();
  });

  it('the caller changing its objects as soon as upsert() returns, before awaiting it, changes nothing stored', async () => {
    // The batch is read before upsert() returns its promise (the repository writes
    // synchronously): were the write to wait for anything, these changes would land.
    const storage = new SqliteStorage({ path: temp.file('fast-copies.db'), name: 'alice' });
    const batch = Array.from({ length: 20 }, (_, i) => peer('user', i + 1, { complete: Uint8Array.of(1, 2, 3), displayName: `Name ${i}` }));
    const before = structuredClone(batch);
    const done = storage.peers.upsert(batch);
    for (const p of batch) {
      p.usernames.push('Changed');
      p.usernames[0] = 'Changed_too';
      (p.complete as Uint8Array)[0] = 99;
      p.accessHash = 0n;
      p.displayName = 'Changed';
    }
    await done;
    for (const p of before) expect(await storage.peers.getById(p.type, p.id)).toEqual(p);
    expect(await storage.peers.getByUsername('changed')).toBeNull();
    await storage.close();
  });
});
