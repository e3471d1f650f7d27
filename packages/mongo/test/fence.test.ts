/**
 * The database side of the session lease's fence (fence.ts, issue 21): write permits
 * and seals in `mtstore_fences`. The kit checks that the old holder's next write after a
 * force takeover is refused; these check the interleavings around it.
 */
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { minimalSession, peer } from '@mtstore/conformance/vitest';
import { fenceId, LINGER_MS, type FenceDocument } from '../src/fence.js';
import { LEASE_MS } from '../src/lock.js';

/** A forced takeover of a busy holder waits for its next permit renewal (RENEW_MS) and its write in flight: seconds, not WAIT_MS. */
const TAKEOVER_BOUND_MS = 6_000;
import { MongoStorage } from '../src/index.js';
import { adminClient, MONGODB_URL, plain, scratch, server } from './server.js';

const LOST = { code: 'MTSTORE_LEASE_LOST' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The write number `n` as bytes (`size` of them, the number in the first four): what a write stored tells which write it was. */
const numbered = (n: number, size: number): Uint8Array => {
  const bytes = new Uint8Array(size);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
};
const numberOf = (bytes: Uint8Array | null): number | null => (bytes === null ? null : new DataView(plain(bytes).buffer).getUint32(0));

if (server.available) {
  const { fresh, open, track } = scratch();
  const fences = (database: string) => adminClient().db(database).collection<FenceDocument>('mtstore_fences');

  describe('lease fence in the database', () => {
    it('a write in flight under the old token lands whole before a force takeover returns; the next one is refused', async () => {
      const database = fresh();
      const a = open(database);
      const b = open(database);
      await a.save(minimalSession());
      const held = await a.lease.acquire({ heartbeat: false, ttlSeconds: 60 });
      const order: string[] = [];
      const batch = Array.from({ length: 400 }, (_, k) => peer('user', k + 1));
      const upsert = a.peers.upsert(batch).then(() => order.push('write'));
      // The batch holds its permit now: the takeover must wait for it.
      for (let i = 0; i < 500 && (await fences(database).findOne({ _id: fenceId('alice', held.token) })) === null; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(await fences(database).findOne({ _id: fenceId('alice', held.token) }), 'the batch took its permit').not.toBeNull();
      const taken = await b.lease.acquire({ force: true, heartbeat: false, ttlSeconds: 60 });
      order.push('takeover');
      await upsert;
      expect(order).toEqual(['write', 'takeover']);
      for (const id of [1n, 200n, 400n]) expect(await b.peers.getById('user', id), `peer ${id} of the batch`).not.toBeNull();
      expect((await fences(database).findOne({ _id: fenceId('alice', held.token) }))?.sealed, 'the old token is sealed').toBe(true);
      await expect(a.kv.set('late', new Uint8Array([1]))).rejects.toMatchObject(LOST);
      expect(await b.kv.get('late')).toBeNull();
      expect(b.lease.held?.token).toBe(taken.token);
    }, 60_000);

    it('a force takeover of a holder writing without pause returns within seconds; no write of the old holder lands after it', async () => {
      const database = fresh();
      const a = open(database);
      const b = open(database);
      await a.save(minimalSession());
      await a.lease.acquire({ heartbeat: false, ttlSeconds: 60 });
      // One write after another, no gap: the permit never idles, so only the seal request frees it.
      // Even writes set kv `n`, odd ones auth key 2 (under the FerretDB write lease too); both carry the write's number.
      const acked = { kv: -1, key: -1 };
      let stop = false;
      const writer = (async () => {
        for (let n = 0; !stop; n++) {
          if (n % 2 === 0) await a.kv.set('n', numbered(n, 4));
          else await a.authKeys.set(2, numbered(n, 256));
          acked[n % 2 === 0 ? 'kv' : 'key'] = n;
        }
      })().then(
        () => null,
        (error: unknown) => error,
      );
      while (acked.key < 5) await sleep(5);
      const started = Date.now();
      const acquiring = b.lease.acquire({ force: true, heartbeat: false, ttlSeconds: 60 });
      const outcome = await Promise.race([acquiring.then(() => 'acquired'), sleep(TAKEOVER_BOUND_MS).then(() => 'still waiting')]);
      const took = Date.now() - started;
      const atTakeover = { kv: numberOf(await b.kv.get('n')), key: numberOf(await b.authKeys.get(2)) };
      stop = true; // ends the loop if the takeover is still waiting for it
      const ended = await writer;
      await acquiring;
      expect(outcome, `the takeover returned within ${TAKEOVER_BOUND_MS} ms (took ${took} ms)`).toBe('acquired');
      expect(ended, 'the old holder was stopped by LeaseLostError').toMatchObject(LOST);
      await expect(a.kv.set('n', numbered(1e6, 4))).rejects.toMatchObject(LOST);
      await sleep(300); // anything late would land by now
      const final = { kv: numberOf(await b.kv.get('n')), key: numberOf(await b.authKeys.get(2)) };
      expect(final, 'nothing of the old holder landed after the takeover returned').toEqual(atTakeover);
      expect(final, 'every acknowledged write landed; the refused one did not').toEqual(acked);
      expect(await fences(database).countDocuments({ requested: true }), 'the seal request was removed').toBe(0);
    }, 30_000);

    it('a permit left by a dead writer holds a takeover only until it runs out, then its token is sealed', async () => {
      const database = fresh();
      const a = open(database);
      const b = open(database);
      await a.save(minimalSession());
      const held = await a.lease.acquire({ heartbeat: false, ttlSeconds: 60 });
      // A writer of this token that inserted its permit and died: it never renews.
      const runsOut = 2_500;
      await fences(database).insertOne({ _id: fenceId('alice', held.token), token: 'dead', expiresAt: new Date(Date.now() + runsOut) });
      const started = Date.now();
      await b.lease.acquire({ force: true, heartbeat: false, ttlSeconds: 60 });
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThan(runsOut - 500);
      expect(waited).toBeLessThan(runsOut + 2_000);
      expect(runsOut).toBeLessThan(LEASE_MS);
      await expect(a.update({ apiId: 7 })).rejects.toMatchObject(LOST);
      expect((await b.load())?.apiId).toBe(minimalSession().apiId);
    }, 30_000);

    it('without a session lease no fence document is written; with one, concurrent writes share a permit and leave none', async () => {
      const database = fresh();
      const a = open(database);
      await a.save(minimalSession());
      await Promise.all(Array.from({ length: 10 }, (_, k) => a.kv.set(`k${k}`, new Uint8Array([k]))));
      expect(await fences(database).countDocuments()).toBe(0);
      await a.lease.acquire({ heartbeat: false, ttlSeconds: 60 });
      await Promise.all([
        ...Array.from({ length: 20 }, (_, k) => a.kv.set(`k${k}`, new Uint8Array([k, k]))),
        a.authKeys.set(2, new Uint8Array(256).fill(9)),
        a.refMessages.store(1n, -100n, 1),
        a.peers.upsert([peer('user', 1)]),
        a.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }),
      ]);
      expect([...((await a.kv.get('k19')) ?? [])]).toEqual([19, 19]);
      expect((await a.load())?.state?.pts).toBe(1);
      // The permit lingers LINGER_MS after the last write, then goes.
      await new Promise((resolve) => setTimeout(resolve, LINGER_MS + 300));
      expect(await fences(database).countDocuments(), 'every permit was removed').toBe(0);
    }, 30_000);

    it('writes in a row reuse one permit; an idle holder delays a takeover by at most LINGER_MS', async () => {
      const database = fresh();
      // The commands a's client sends to the fences collection.
      const sent: string[] = [];
      const client = track(new MongoClient(MONGODB_URL, { monitorCommands: true }));
      client.on('commandStarted', (event) => {
        if (event.command[event.commandName] === 'mtstore_fences') sent.push(event.commandName);
      });
      const a = track(new MongoStorage({ client, database, name: 'alice' }));
      const b = open(database);
      const held = await a.lease.acquire({ heartbeat: false, ttlSeconds: 60 });
      const permit = () => fences(database).findOne({ _id: fenceId('alice', held.token) });
      await a.kv.set('k', new Uint8Array([1]));
      await a.kv.set('k', new Uint8Array([2]));
      await a.kv.delete('k');
      expect((await permit())?.token, 'the permit lingers after the writes').toBeTypeOf('string');
      expect(sent.filter((c) => c === 'insert'), 'one permit insert for three writes in a row').toHaveLength(1);
      const started = Date.now();
      await b.lease.acquire({ force: true, heartbeat: false, ttlSeconds: 60 });
      expect(Date.now() - started).toBeLessThan(LINGER_MS + 1_500);
      expect((await permit())?.sealed).toBe(true);
      await expect(a.kv.set('k', new Uint8Array([3]))).rejects.toMatchObject(LOST);
      expect(await b.kv.get('k')).toBeNull();
    }, 30_000);

    it('close() gives back a lingering permit at once', async () => {
      const database = fresh();
      const a = open(database);
      await a.lease.acquire({ heartbeat: false, ttlSeconds: 60 });
      await a.kv.set('k', new Uint8Array([1]));
      expect(await fences(database).countDocuments({ sealed: { $exists: false } })).toBe(1);
      await a.close();
      expect(await fences(database).countDocuments({ sealed: { $exists: false } })).toBe(0);
    }, 30_000);

    it('a seal is kept until its keep time, then removed by a later acquisition', async () => {
      const database = fresh();
      const a = open(database);
      const b = open(database);
      const first = await a.lease.acquire({ heartbeat: false, ttlSeconds: 60 });
      const second = await b.lease.acquire({ force: true, heartbeat: false, ttlSeconds: 60 });
      const seals = async () => (await fences(database).find({ sealed: true }).toArray()).map((d) => d._id).sort();
      expect(await seals()).toEqual([fenceId('alice', first.token)]);
      await fences(database).updateOne({ _id: fenceId('alice', first.token) }, { $set: { expiresAt: new Date(Date.now() - 1) } });
      await a.lease.acquire({ force: true, heartbeat: false, ttlSeconds: 60 });
      expect(await seals()).toEqual([fenceId('alice', second.token)]);
      // Another session's acquisitions leave this one's seals alone, even those due.
      await fences(database).updateOne({ _id: fenceId('alice', second.token) }, { $set: { expiresAt: new Date(Date.now() - 1) } });
      await open(database, 'alice2').lease.acquire({ heartbeat: false, ttlSeconds: 60 });
      await open(database, 'alice2').lease.acquire({ force: true, heartbeat: false, ttlSeconds: 60 });
      expect(await seals()).toEqual([fenceId('alice', second.token), fenceId('alice2', 1n)]);
    }, 30_000);
  });
}
