/**
 * A username or phone that moves while peer writes are merged. processEntities writes the
 * peers that changed; peers cached while a write is queued join its batch, and an upsert
 * batch keeps the last version of each peer. When a peer takes a username or phone, the
 * index takes it from its previous owner; if the peer gives it up again before the batch
 * is written (two updates processed while the database answers an earlier write), storage
 * never saw the move, and after a restart the name answered the previous owner, who no
 * longer holds it (Telegram usernames and numbers are unique), where the running session
 * found nobody (and GramJS asks Telegram). The previous owner's new version is written too.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { StorageSession } from '../src/index.js';
import { backends, type Backend } from './backends.js';
import { user } from './client.js';

for (const factory of backends) {
  const backend = await factory.create();
  describe.skipIf(backend === null)(`names moved within one write batch on ${factory.name}`, () => {
    const live = backend as Backend;
    afterAll(() => live.dispose());

    it('a username and phone taken and given up again before the write find nobody after a restart, as before it', async () => {
      const name = `gramjs-moves-${process.pid}`;
      const errors: unknown[] = [];
      const session = new StorageSession(await live.open(name), { lease: false, onError: (error) => errors.push(error) });
      await session.load();
      session.setDC(2, '149.154.167.50', 443);
      session.processEntities([user({ id: 1, username: 'alice', phone: '15550001' })]);
      await session.save();
      // Two results processed in one synchronous run: user 2 takes the name and the number, then gives them up.
      session.processEntities([user({ id: 2, username: 'Alice', phone: '15550001' })]);
      session.processEntities([user({ id: 2 })]);
      expect(() => session.getInputEntity('alice')).toThrow(/Could not find/);
      expect(() => session.getInputEntity('+15550001')).toThrow(/Could not find/);
      await session.save();

      const restarted = new StorageSession(await live.open(name), { lease: false, onError: (error) => errors.push(error) });
      await restarted.load();
      expect(() => restarted.getInputEntity('alice')).toThrow(/Could not find/);
      expect(() => restarted.getInputEntity('+15550001')).toThrow(/Could not find/);
      // Both users still resolve by id.
      expect(String((restarted.getInputEntity(1) as { accessHash: unknown }).accessHash)).toBe('10');
      expect(String((restarted.getInputEntity(2) as { accessHash: unknown }).accessHash)).toBe('17');
      expect(errors).toEqual([]);
    });
  });
}
