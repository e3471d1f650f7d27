/**
 * Reference messages (contract v2, docs/contract.md "Reference messages"): the most
 * recent reference per peer, deletes by message and by peer, per name.
 */
import { ID_EXTREMES } from '../fixtures.js';
import type { StorageRegistrar } from './context.js';

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

    test('delete(chat, messages) removes those references for every peer and nothing else', async (s) => {
      const storage = await s.open();
      await storage.refMessages.store(1n, -100n, 1);
      await storage.refMessages.store(2n, -100n, 1);
      await storage.refMessages.store(2n, -100n, 2);
      await storage.refMessages.store(3n, -200n, 1);
      await storage.refMessages.delete(-100n, [1, 7]);
      expect(await storage.refMessages.getByPeer(1n)).toBeNull();
      expect(await storage.refMessages.getByPeer(2n)).toEqual({ chatId: -100n, messageId: 2 });
      expect(await storage.refMessages.getByPeer(3n)).toEqual({ chatId: -200n, messageId: 1 });
      await storage.refMessages.delete(-100n, []);
      expect(await storage.refMessages.getByPeer(2n)).toEqual({ chatId: -100n, messageId: 2 });
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
  });
}
