/**
 * Core reads each field of what a caller passes once (intake.ts): it copies first,
 * validates the copy and writes the copy. A getter (or Proxy) answering the check one
 * value and a second read another — the time-of-check / time-of-use gap — used to store
 * a 0-byte temp key, a state field turned into text, a peer id out of the 64-bit range.
 * Now what is stored is exactly the first answer, which was validated, or the call is
 * rejected with InvalidArgumentError when that first answer is invalid.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../memory/src/index.js';
import type { Peer, Session } from '../src/index.js';

const KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff);

/** `obj` with `prop` answering `first` on the first read and `later` on every other, and counting its reads. */
function flip<T extends object>(obj: T, prop: string, first: unknown, later: unknown): T & { reads(): number } {
  let reads = 0;
  Object.defineProperty(obj, prop, { enumerable: true, get: () => (reads++ === 0 ? first : later) });
  // Not enumerable: update() refuses a patch with a field it does not know.
  return Object.defineProperty(obj, 'reads', { value: () => reads, enumerable: false }) as T & { reads(): number };
}

const session = (): Session => ({ version: 1, homeDcId: 2, dcs: [{ id: 2, ipv4: '149.154.167.50', port: 443, authKey: KEY }], channels: [] });

async function fresh(name: string, encrypted = false): Promise<MemoryStorage> {
  const storage = new MemoryStorage({ name, ...(encrypted ? { encryption: { keys: [{ id: 'k1', key: new Uint8Array(32).fill(7) }] } } : {}) });
  await storage.save(session());
  return storage;
}

describe('each field of an argument is read once: what is checked is what is stored', () => {
  for (const encrypted of [false, true]) {
    it(`authKeys.setTemp stores the key that was checked${encrypted ? ' (encryption on)' : ''}`, async () => {
      const storage = await fresh('temp', encrypted);
      const temp = flip({ index: 0, expiresAt: 5 }, 'key', KEY, 'abc');
      await storage.authKeys.setTemp(2, temp as never);
      expect(temp.reads()).toBe(1);
      const stored = await storage.authKeys.getTemp(2, 0);
      expect(Buffer.from(stored?.key as Uint8Array).equals(Buffer.from(KEY))).toBe(true);
      await expect(storage.authKeys.setTemp(2, flip({ index: 1, expiresAt: 5 }, 'key', 'abc', KEY) as never)).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
      expect(await storage.authKeys.getTemp(2, 1)).toBeNull();
      await storage.close();
    });

    it(`save stores the session that was checked${encrypted ? ' (encryption on)' : ''}`, async () => {
      const storage = await fresh('save', encrypted);
      const dc = flip({ id: 2, ipv4: '149.154.167.51', port: 443 }, 'authKey', KEY, new Uint8Array(0));
      const given = flip({ version: 1, homeDcId: 2, dcs: [dc], channels: [] }, 'state', { pts: 1, qts: 1, date: 1, seq: 1 }, { pts: -1 });
      await storage.save(given as unknown as Session);
      expect([dc.reads(), given.reads()]).toEqual([1, 1]);
      const loaded = await storage.load();
      expect(loaded?.state).toEqual({ pts: 1, qts: 1, date: 1, seq: 1 });
      expect(loaded?.dcs[0]?.ipv4).toBe('149.154.167.51');
      expect(Buffer.from(loaded?.dcs[0]?.authKey as Uint8Array).equals(Buffer.from(KEY))).toBe(true);
      await storage.close();
    });
  }

  it('saveUpdateState and update store the state and channels that were checked', async () => {
    const storage = await fresh('state');
    const state = flip({ pts: 1, qts: 1, seq: 1 }, 'date', 1, "1'; DROP");
    const channel = flip({ id: -1001n }, 'pts', 7, -1);
    await storage.saveUpdateState(state as never, [channel as never]);
    expect([state.reads(), channel.reads()]).toEqual([1, 1]);
    expect((await storage.load())?.state).toEqual({ pts: 1, qts: 1, date: 1, seq: 1 });
    expect((await storage.load())?.channels).toEqual([{ id: -1001n, pts: 7 }]);
    await expect(storage.saveUpdateState(flip({ qts: 1, date: 1, seq: 1 }, 'pts', -1, 1) as never)).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });

    const patch = flip({}, 'state', flip({ pts: 2, qts: 2, date: 2 }, 'seq', 2, Number.NaN), null);
    await storage.update(patch as never);
    expect(patch.reads()).toBe(1);
    expect((await storage.load())?.state).toEqual({ pts: 2, qts: 2, date: 2, seq: 2 });
    // An unknown field is still refused, and so is a patch with no field.
    await expect(storage.update({ state: null, bogus: 1 } as never)).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    await expect(storage.update({} as never)).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    await storage.close();
  });

  it('peers.upsert stores the peers that were checked, whatever the id, type, usernames or bytes answer later', async () => {
    const storage = await fresh('peers');
    const base = (): Record<string, unknown> => ({ type: 'user', id: 5n, accessHash: 1n, usernames: [], updatedAt: 1 });
    const byId = flip(base(), 'id', 5n, 2n ** 64n);
    const byType = flip({ ...base(), id: 6n }, 'type', 'user', 'bogus');
    const names = ['alice'];
    const byNames = flip({ ...base(), id: 7n }, 'usernames', names, ['no spaces allowed']);
    const byBytes = flip({ ...base(), id: 8n }, 'complete', new Uint8Array(100).fill(1), { length: 5 });
    await storage.peers.upsert([byId, byType, byNames, byBytes] as unknown as Peer[]);
    expect([byId.reads(), byType.reads(), byNames.reads(), byBytes.reads()]).toEqual([1, 1, 1, 1]);
    const { peers } = await storage.peers.list();
    expect(peers.map((p) => [p.type, p.id, p.usernames])).toEqual([
      ['user', 5n, []],
      ['user', 6n, []],
      ['user', 7n, ['alice']],
      ['user', 8n, []],
    ]);
    expect(Array.from(peers[3]?.complete as Uint8Array)).toEqual(new Array(100).fill(1));
    // A batch whose first answers are invalid is refused whole.
    await expect(storage.peers.upsert([flip(base(), 'id', 2n ** 64n, 9n)] as unknown as Peer[])).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    await storage.close();
  });

  it('lease.acquire uses the options it checked', async () => {
    const storage = new MemoryStorage({ name: 'lease' });
    const owner = flip({ pid: 7 }, 'host', 'box', 123);
    const options = flip({ owner }, 'heartbeat', false, 'yes');
    const held = await storage.lease.acquire(options as never);
    expect([owner.reads(), options.reads()]).toEqual([1, 1]);
    expect(held.owner).toEqual({ host: 'box', pid: 7 });
    expect((await storage.lease.holder())?.owner).toEqual({ host: 'box', pid: 7 });
    await storage.lease.release();
    await storage.close();
  });

  it("a peer's `complete` whose `length` lies is stored by its real bytes", async () => {
    const storage = await fresh('complete');
    class Lying extends Uint8Array {
      override get length(): number {
        return 3;
      }
    }
    const complete = new Lying(100).fill(9);
    await storage.peers.upsert([{ type: 'user', id: 1n, accessHash: 1n, usernames: [], updatedAt: 1, complete }]);
    expect(Array.from((await storage.peers.getById('user', 1n))?.complete as Uint8Array)).toEqual(new Array(100).fill(9));
    await storage.close();
  });
});
