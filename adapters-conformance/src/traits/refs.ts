/**
 * Reference messages (contract v2, docs/contract.md "Reference messages"): the most
 * recent reference per peer, deletes by message and by peer, per name, and the
 * listing in store order that copying a session relies on.
 */
import type { RefMessageEntry, Storage } from '@mtstore/core';
import { ID_EXTREMES } from '../fixtures.js';
import type { StorageRegistrar } from './context.js';

/** Every page of `refMessages.list` with `limit`, concatenated (stops after `max` pages). */
async function listAll(storage: Storage, limit?: number, max = 1000): Promise<{ refs: RefMessageEntry[]; pages: number }> {
  const refs: RefMessageEntry[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await storage.refMessages.list(limit === undefined ? { cursor } : { cursor, limit });
    refs.push(...page.refs);
    cursor = page.cursor;
    pages += 1;
  } while (cursor !== null && pages < max);
  return { refs, pages };
}

const ref = (peerId: bigint, chatId: bigint, messageId: number): RefMessageEntry => ({ peerId, chatId, messageId });

export function refMessages({ group, test, expect }: StorageRegistrar): void {
  group('reference messages', () => {
    test('getByPeer returns the reference stored most recently, with no snapshot saved', async (s) => {
      const storage = await s.open();
      expect(await storage.refMessages.getByPeer(1n)).toBeNull();
      await storage.refMessages.store(1n, -1001n, 10);
      await storage.refMessages.store(1n, -1002n, 5);
      expect(await storage.refMessages.getByPeer(1n)).toEqual({ chatId: -1002n, messageId: 5 });
      await storage.refMessages.store(1n, -1001n, 10); // stored again: the most recent now
      expect(await storage.refMessages.getByPeer(1n)).toEqual({ chatId: -1001n, messageId: 10 });
      expect(await storage.load()).toBeNull();
    });

    test('deletes and clear of references never stored resolve and store nothing, also on a name with nothing stored', async (s) => {
      const fresh = await s.open('fresh');
      await fresh.refMessages.delete(-100n, [1]);
      await fresh.refMessages.deleteByPeer(1n);
      await fresh.refMessages.clear();
      expect(await fresh.refMessages.list()).toEqual({ refs: [], cursor: null });
      const storage = await s.open();
      await storage.refMessages.store(1n, -100n, 1);
      await storage.refMessages.deleteByPeer(2n);
      await storage.refMessages.delete(-100n, [2]);
      expect(await storage.refMessages.list()).toEqual({ refs: [ref(1n, -100n, 1)], cursor: null });
    });

    test('delete(chat, messages) removes those references for every peer and nothing else', async (s) => {
      const storage = await s.open();
      await storage.refMessages.store(1n, -100n, 1);
      await storage.refMessages.store(2n, -100n, 1);
      await storage.refMessages.store(2n, -100n, 2);
      await storage.refMessages.store(3n, -200n, 1);
      for (const id of [3, 4, 5, 6]) await storage.refMessages.store(BigInt(id + 1), -100n, id);
      await storage.refMessages.store(4n, -200n, 5);
      // Several stored ids, one not stored, in no particular order: each stored one goes.
      await storage.refMessages.delete(-100n, [5, 1, 7, 3]);
      expect(await storage.refMessages.getByPeer(1n)).toBeNull();
      expect(await storage.refMessages.getByPeer(2n)).toEqual({ chatId: -100n, messageId: 2 });
      expect(await storage.refMessages.getByPeer(3n)).toEqual({ chatId: -200n, messageId: 1 });
      expect(await storage.refMessages.getByPeer(4n), 'peer 4 keeps its reference in chat -200').toEqual({ chatId: -200n, messageId: 5 });
      expect(await storage.refMessages.getByPeer(6n), 'message 5 of chat -100 was deleted').toBeNull();
      expect((await storage.refMessages.list()).refs, 'what is left').toEqual([ref(2n, -100n, 2), ref(3n, -200n, 1), ref(5n, -100n, 4), ref(7n, -100n, 6), ref(4n, -200n, 5)]);
      await storage.refMessages.delete(-100n, []);
      expect(await storage.refMessages.getByPeer(2n)).toEqual({ chatId: -100n, messageId: 2 });
      await storage.refMessages.delete(-100n, [2, 4, 6]);
      expect((await storage.refMessages.list()).refs, 'after deleting the rest of chat -100').toEqual([ref(3n, -200n, 1), ref(4n, -200n, 5)]);
    });

    // §6: "at most 10000 ids per call", so 10,000 must work: an adapter binding one SQL
    // variable per id meets the driver's limit (999 in SQLite before 3.32) well before.
    test('delete takes 10,000 message ids in one call: each stored one goes, the rest stay', async (s) => {
      const storage = await s.open();
      for (const id of [1, 5_000, 9_999, 10_000, 10_001, 20_000]) await storage.refMessages.store(BigInt(id), -100n, id);
      await storage.refMessages.store(1n, -200n, 5_000);
      await storage.refMessages.delete(-100n, Array.from({ length: 10_000 }, (_, i) => i + 1));
      expect((await storage.refMessages.list()).refs).toEqual([ref(10_001n, -100n, 10_001), ref(20_000n, -100n, 20_000), ref(1n, -200n, 5_000)]);
    });

    test('after the most recent reference is deleted, the previous one answers', async (s) => {
      const storage = await s.open();
      await storage.refMessages.store(1n, -100n, 1);
      await storage.refMessages.store(1n, -100n, 2);
      await storage.refMessages.store(1n, -300n, 3);
      await storage.refMessages.delete(-300n, [3]);
      expect(await storage.refMessages.getByPeer(1n)).toEqual({ chatId: -100n, messageId: 2 });
    });

    test('deleteByPeer and clear; delete() of the session removes them; other names keep theirs', async (s) => {
      const alice = await s.open('alice');
      const bob = await s.open('bob');
      await alice.refMessages.store(1n, -100n, 1);
      await alice.refMessages.store(2n, -100n, 1);
      await bob.refMessages.store(1n, -100n, 9);
      await alice.refMessages.deleteByPeer(1n);
      expect(await alice.refMessages.getByPeer(1n)).toBeNull();
      expect(await alice.refMessages.getByPeer(2n)).toEqual({ chatId: -100n, messageId: 1 });
      await alice.refMessages.clear();
      expect(await alice.refMessages.getByPeer(2n)).toBeNull();
      await alice.refMessages.store(3n, -100n, 1);
      await alice.delete();
      expect(await alice.refMessages.getByPeer(3n)).toBeNull();
      expect(await bob.refMessages.getByPeer(1n)).toEqual({ chatId: -100n, messageId: 9 });
    });

    test('peer and chat ids at every 64-bit extreme, message ids 1 and 2^31-1', async (s) => {
      const storage = await s.open();
      for (const [i, id] of ID_EXTREMES.entries()) {
        const chatId = ID_EXTREMES[ID_EXTREMES.length - 1 - i] as bigint;
        await storage.refMessages.store(id, chatId, i % 2 ? 2 ** 31 - 1 : 1);
      }
      for (const [i, id] of ID_EXTREMES.entries()) {
        expect(await storage.refMessages.getByPeer(id), `peer ${id}`).toEqual({ chatId: ID_EXTREMES[ID_EXTREMES.length - 1 - i], messageId: i % 2 ? 2 ** 31 - 1 : 1 });
      }
    });

    test('list returns every reference oldest first, a page at a time; storing one again moves it last', async (s) => {
      const storage = await s.open();
      expect(await storage.refMessages.list()).toEqual({ refs: [], cursor: null });
      await storage.refMessages.store(1n, -100n, 1);
      await storage.refMessages.store(2n, -100n, 1);
      await storage.refMessages.store(1n, -200n, 5);
      await storage.refMessages.store(3n, 7n, 2);
      await storage.refMessages.store(1n, -100n, 1); // again: now the newest
      await storage.refMessages.store(2n, -300n, 9);
      await storage.refMessages.delete(7n, [2]);
      const expected = [ref(2n, -100n, 1), ref(1n, -200n, 5), ref(1n, -100n, 1), ref(2n, -300n, 9)];
      expect(await storage.refMessages.list()).toEqual({ refs: expected, cursor: null });
      for (const limit of [1, 2, 3, 4, 10_000]) {
        const { refs, pages } = await listAll(storage, limit, 10);
        expect(refs, `limit ${limit}`).toEqual(expected);
        expect(pages, `pages of ${limit}`).toBe(Math.max(1, Math.ceil(expected.length / limit)));
      }
      const first = await storage.refMessages.list({ limit: 3 });
      expect(first.refs).toEqual(expected.slice(0, 3));
      expect(typeof first.cursor).toBe('string');
      // A cursor can be used again: it names a place, not a consumed stream.
      expect(await storage.refMessages.list({ cursor: first.cursor, limit: 3 })).toEqual({ refs: expected.slice(3), cursor: null });
      expect(await storage.refMessages.list({ cursor: first.cursor })).toEqual({ refs: expected.slice(3), cursor: null });
    });

    test('a cursor kept across clear, or past the last reference, gives an empty last page', async (s) => {
      const storage = await s.open();
      for (const id of [1, 2, 3, 4]) await storage.refMessages.store(BigInt(id), -100n, id);
      const first = await storage.refMessages.list({ limit: 2 });
      const { cursor } = first;
      expect(cursor).not.toBeNull();
      const last = await storage.refMessages.list({ cursor, limit: 2 });
      expect(last.refs.map((r) => r.messageId)).toEqual([3, 4]);
      expect(last.cursor).toBeNull();
      // The second page's end as a cursor: a place past every reference.
      const end = (await storage.refMessages.list({ cursor, limit: 1 })).cursor as string;
      expect(await storage.refMessages.list({ cursor: end, limit: 1 })).toEqual({ refs: [ref(4n, -100n, 4)], cursor: null });
      await storage.refMessages.clear();
      expect(await storage.refMessages.list({ cursor })).toEqual({ refs: [], cursor: null });
      await storage.refMessages.store(9n, -100n, 9);
      expect(await storage.refMessages.list({ cursor: String(2n ** 63n - 1n) })).toEqual({ refs: [], cursor: null });
    });

    test('a cursor lists the references stored after it, also those stored after a clear or after the newest ones were deleted', async (s) => {
      // Store-order numbers never go back: an adapter whose sequence restarted after
      // the session's references were cleared (or its newest deleted) gave the next ones
      // numbers at or below a cursor handed out before, and that cursor skipped them.
      const storage = await s.open();
      for (const id of [1, 2, 3, 4]) await storage.refMessages.store(BigInt(id), -100n, id);
      const { cursor } = await storage.refMessages.list({ limit: 2 });
      expect(cursor).not.toBeNull();
      await storage.refMessages.clear();
      await storage.refMessages.store(5n, -100n, 5);
      expect(await storage.refMessages.list({ cursor })).toEqual({ refs: [ref(5n, -100n, 5)], cursor: null });
      await storage.refMessages.store(6n, -100n, 6);
      const kept = (await storage.refMessages.list({ limit: 1 })).cursor as string;
      expect(kept).not.toBeNull();
      await storage.refMessages.delete(-100n, [5, 6]);
      await storage.refMessages.store(7n, -100n, 7);
      expect(await storage.refMessages.list({ cursor: kept })).toEqual({ refs: [ref(7n, -100n, 7)], cursor: null });
      await storage.refMessages.store(8n, -100n, 8);
      const before = (await storage.refMessages.list({ limit: 1 })).cursor as string;
      await storage.refMessages.deleteByPeer(7n);
      await storage.refMessages.deleteByPeer(8n);
      await storage.refMessages.store(9n, -100n, 9);
      expect(await storage.refMessages.list({ cursor: before })).toEqual({ refs: [ref(9n, -100n, 9)], cursor: null });
      expect(await storage.refMessages.list()).toEqual({ refs: [ref(9n, -100n, 9)], cursor: null });
    });

    test('storing the listed references in order elsewhere reproduces the most recent one of every peer, also after deletes', async (s) => {
      const source = await s.open('source');
      const copy = await s.open('copy');
      const peers = [1n, 2n, 3n, -(2n ** 63n)];
      for (let i = 0; i < 40; i++) await source.refMessages.store(peers[(i * 7) % 4] as bigint, -1000n - BigInt(i % 3), 1 + (i % 11));
      await source.refMessages.deleteByPeer(3n);
      await source.refMessages.delete(-1001n, [2, 5]);
      const { refs } = await listAll(source, 7);
      expect(new Set(refs.map((r) => `${r.peerId}/${r.chatId}/${r.messageId}`)).size, 'no reference twice').toBe(refs.length);
      // The last listed reference of each peer is its most recent one.
      for (const peer of peers) {
        const last = refs.filter((r) => r.peerId === peer).at(-1);
        expect(last === undefined ? null : { chatId: last.chatId, messageId: last.messageId }, `last listed of peer ${peer}`).toEqual(await source.refMessages.getByPeer(peer));
      }
      for (const r of refs) await copy.refMessages.store(r.peerId, r.chatId, r.messageId);
      expect((await listAll(copy, 10_000)).refs).toEqual(refs);
      for (const peer of peers) expect(await copy.refMessages.getByPeer(peer), `peer ${peer}`).toEqual(await source.refMessages.getByPeer(peer));
      // Delete the newest reference of each peer on both sides: the previous ones answer the same.
      for (const peer of peers) {
        const latest = await source.refMessages.getByPeer(peer);
        if (latest === null) continue;
        await source.refMessages.delete(latest.chatId, [latest.messageId]);
        await copy.refMessages.delete(latest.chatId, [latest.messageId]);
      }
      for (const peer of peers) expect(await copy.refMessages.getByPeer(peer), `peer ${peer} after deletes`).toEqual(await source.refMessages.getByPeer(peer));
    });

    test('list is per name: clear, deleteByPeer and delete() empty it; other names keep theirs; 64-bit extremes come back exact', async (s) => {
      const alice = await s.open('alice');
      const bob = await s.open('bob');
      for (const [i, id] of ID_EXTREMES.entries()) await alice.refMessages.store(id, ID_EXTREMES[ID_EXTREMES.length - 1 - i] as bigint, i % 2 ? 2 ** 31 - 1 : 1);
      await bob.refMessages.store(1n, -1n, 1);
      expect((await listAll(alice, 4)).refs).toEqual(ID_EXTREMES.map((id, i) => ref(id, ID_EXTREMES[ID_EXTREMES.length - 1 - i] as bigint, i % 2 ? 2 ** 31 - 1 : 1)));
      await alice.refMessages.deleteByPeer(ID_EXTREMES[0] as bigint);
      expect((await alice.refMessages.list()).refs.length).toBe(ID_EXTREMES.length - 1);
      await alice.refMessages.clear();
      expect(await alice.refMessages.list()).toEqual({ refs: [], cursor: null });
      await alice.refMessages.store(5n, 6n, 7);
      expect((await alice.refMessages.list()).refs).toEqual([ref(5n, 6n, 7)]);
      await alice.delete();
      expect(await alice.refMessages.list()).toEqual({ refs: [], cursor: null });
      expect((await bob.refMessages.list()).refs).toEqual([ref(1n, -1n, 1)]);
    });
  });
}
