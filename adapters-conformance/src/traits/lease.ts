/**
 * Session leases (docs/contract.md §12): one owner per session name, so two clients
 * never share an auth key (Telegram's AUTH_KEY_DUPLICATED). Exactly one holder across
 * instances and processes, expiry hands the lease over (not before), tokens grow,
 * writes under a lost lease are rejected and not applied, release is idempotent and
 * close() releases.
 *
 * Timing: leases here last 1-5 s (the shortest allowed TTL is 1 s), so the group
 * takes 13-25 s per adapter (memory; SQLite with its worker processes). A trait whose
 * calls must land within a TTL, or ¾ of it, gives them seconds: FerretDB under load
 * answers a write in several round trips of 100 ms and more each.
 */
import type { LeaseHolder, Storage } from '@mtstore/core';
import { authKey, minimalSession, peer } from '../fixtures.js';
import { CODES, expectRejects, sleep } from '../harness.js';
import { Worker } from '../processes.js';
import type { StorageRegistrar } from './context.js';

const HELD = 'MTSTORE_LEASE_HELD';
const LOST = 'MTSTORE_LEASE_LOST';
const NO_MODULE = 'no processes.module given (the adapter cannot be opened in another process)';
/** Clock tolerance between this process and the database when comparing expiry times. */
const SKEW_MS = 250;

const owner = (label: string) => ({ label });

export function lease({ group, test, skip, expect, options }: StorageRegistrar): void {
  group('session lease', () => {
    test('a second acquirer gets LeaseHeldError naming the holder and when its lease runs out', async (s) => {
      const a = await s.open();
      const b = await s.open();
      const held = await a.lease.acquire({ owner: { host: 'host-a', pid: 4242, label: 'bot@1' }, ttlSeconds: 20 });
      expect(typeof held.token, 'the token is a bigint').toBe('bigint');
      expect(held.owner).toEqual({ host: 'host-a', pid: 4242, label: 'bot@1' });
      const error = (await expectRejects(expect, 'acquire by a second instance', HELD, () => b.lease.acquire({ owner: owner('second') }))) as Error & { holder: LeaseHolder };
      expect(error.holder.owner).toEqual({ host: 'host-a', pid: 4242, label: 'bot@1' });
      expect(error.holder.token).toBe(held.token);
      const left = error.holder.expiresAt.getTime() - Date.now();
      expect(left > 10_000 && left <= 20_000 + SKEW_MS, `lease runs out in ${left} ms, expected about 20 s`).toBe(true);
      for (const part of ['host-a', '4242', 'bot@1', 'AUTH_KEY_DUPLICATED', error.holder.expiresAt.toISOString()]) {
        expect(error.message.includes(part), `the message names ${part}: ${error.message}`).toBe(true);
      }
      expect(await b.lease.holder()).toEqual(held);
      expect(b.lease.held).toBeNull();
      expect(a.lease.held).toEqual(held);
    });

    test('concurrent acquirers on eight instances: exactly one holder', async (s) => {
      const instances = await Promise.all(Array.from({ length: 8 }, () => s.open()));
      const results = await Promise.allSettled(instances.map((storage, k) => storage.lease.acquire({ owner: owner(`racer-${k}`), ttlSeconds: 20 })));
      const winners = results.filter((r) => r.status === 'fulfilled');
      expect(winners, 'acquirers told they hold the lease').toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect((r.reason as { code?: unknown }).code).toBe(HELD);
      const winner = (winners[0] as PromiseFulfilledResult<LeaseHolder>).value;
      expect((await instances[0]?.lease.holder())?.owner.label).toBe(winner.owner.label);
    });

    test('the lease belongs to the name: other names are free, and delete() keeps it', async (s) => {
      const a = await s.open('main');
      const other = await s.open('other');
      await a.lease.acquire({ ttlSeconds: 20 });
      await other.lease.acquire({ ttlSeconds: 20 });
      await a.save(minimalSession());
      await a.delete();
      const b = await s.open('main');
      await expectRejects(expect, 'acquire after the holder deleted the session', HELD, () => b.lease.acquire());
      expect((await b.lease.holder())?.token).toBe(a.lease.held?.token);
    });

    test('tokens grow with every acquisition, also after a release', async (s) => {
      const a = await s.open();
      const b = await s.open();
      const tokens: bigint[] = [];
      for (let round = 0; round < 3; round++) {
        tokens.push((await a.lease.acquire({ ttlSeconds: 20 })).token);
        await a.lease.release();
        tokens.push((await b.lease.acquire({ ttlSeconds: 20 })).token);
        await b.lease.release();
      }
      for (let k = 1; k < tokens.length; k++) {
        expect((tokens[k] as bigint) > (tokens[k - 1] as bigint), `token ${k} (${tokens[k]}) is greater than token ${k - 1} (${tokens[k - 1]})`).toBe(true);
      }
      expect(await a.lease.holder()).toBeNull();
    });

    test('release is idempotent and lets the next acquirer in at once; close() releases', async (s) => {
      const a = await s.open();
      const b = await s.open();
      await a.lease.release(); // nothing held: a no-op
      await a.lease.acquire({ ttlSeconds: 20 });
      await a.lease.release();
      await a.lease.release();
      expect(await a.lease.holder()).toBeNull();
      await b.lease.acquire({ ttlSeconds: 20 });
      await b.close();
      await b.close();
      const c = await s.open();
      expect(await c.lease.holder(), 'close() gave the lease back').toBeNull();
      await c.lease.acquire({ ttlSeconds: 20 });
      await expectRejects(expect, 'lease.acquire after close', CODES.closed, () => b.lease.acquire());
    });

    // docs/contract.md §12: "Acquiring again while holding renews" (with the new TTL).
    test('acquiring again while holding renews: the same token, the new TTL, seen by every instance', async (s) => {
      const a = await s.open();
      const b = await s.open();
      // 5 s, not 2: the renewal must be sent within ¾ of it, after a first acquire that also
      // opens the connection (FerretDB with round trips of 0-200 ms, as under load: 1.5 s was
      // too short); still far enough below 20 s to tell the renewed TTL from the first.
      const first = await a.lease.acquire({ owner: owner('holder'), ttlSeconds: 5, heartbeat: false });
      const again = await a.lease.acquire({ owner: owner('holder'), ttlSeconds: 20, heartbeat: false });
      expect(again.token, 'a renewal keeps the token').toBe(first.token);
      const seen = await b.lease.holder();
      expect(seen?.token, 'another instance sees the same holder').toBe(first.token);
      const left = (seen?.expiresAt.getTime() ?? 0) - Date.now();
      expect(left > 10_000 && left <= 20_000 + SKEW_MS, `the renewed lease runs out in ${left} ms, expected about 20 s`).toBe(true);
      expect(a.lease.held?.expiresAt.getTime(), 'held shows the renewed expiry').toBe(seen?.expiresAt.getTime());
      await expectRejects(expect, 'acquire by another instance after the renewal', HELD, () => b.lease.acquire());
    });

    test('acquire with wait takes the lease when the holder releases it', async (s) => {
      const a = await s.open();
      const b = await s.open();
      await a.lease.acquire({ ttlSeconds: 20 });
      const waiting = b.lease.acquire({ wait: true, owner: owner('waiter') });
      await sleep(300);
      const started = Date.now();
      await a.lease.release();
      const held = await waiting;
      expect(held.owner.label).toBe('waiter');
      expect(Date.now() - started < 5_000, 'the waiter noticed the release within seconds').toBe(true);
      await expectRejects(expect, 'a bounded wait that runs out', HELD, () => a.lease.acquire({ wait: 300 }));
    });

    test('a lease that is not renewed runs out after its TTL and not before; the heartbeat keeps one alive', async (s) => {
      const a = await s.open();
      const b = await s.open();
      const c = await s.open();
      // 2 s, not 1: b's first acquire, which also opens its connection, must reach the
      // database before the TTL runs out (past 1 s with round trips of 0-200 ms).
      const held = await a.lease.acquire({ ttlSeconds: 2, heartbeat: false });
      await expectRejects(expect, 'acquire before the TTL ran out', HELD, () => b.lease.acquire());
      // b's lease 4 s, not 2: its heartbeat renews every TTL/4 after the last renewal
      // resolved, and each confirmation keeps writes going for ¾ TTL from its send, so two
      // renewals' round trips plus the timer's lag must stay under TTL/2 (1 s with 2 s: one
      // renewal delayed ~1 s lost a 2 s lease in CI at b593670, see the SIGKILL trait).
      const taken = await b.lease.acquire({ wait: 10_000, ttlSeconds: 4 });
      expect(Date.now() >= held.expiresAt.getTime() - SKEW_MS, `taken at ${new Date().toISOString()}, before the old lease ran out at ${held.expiresAt.toISOString()}`).toBe(true);
      expect(taken.token > held.token, 'the new holder has a greater token').toBe(true);
      // b keeps its 4 s lease alive with its heartbeat for longer than its TTL.
      await sleep(4_500);
      await expectRejects(expect, 'acquire while the heartbeat renews', HELD, () => c.lease.acquire());
      await b.authKeys.set(2, authKey(2));
    });

    test('holder() answers null once the lease ran out', async (s) => {
      const a = await s.open();
      const b = await s.open();
      // 2 s, not 1: b's first read, which also opens its connection, must come before the
      // TTL runs out (FerretDB under load answered it after the 1 s lease had gone).
      const held = await a.lease.acquire({ ttlSeconds: 2, heartbeat: false });
      expect(await b.lease.holder()).toEqual(held);
      await sleep(held.expiresAt.getTime() - Date.now() + SKEW_MS);
      expect(await b.lease.holder(), 'a lease past its expiry has no holder').toBeNull();
    });

    test('writes under a lease that ran out are rejected with LeaseLostError and not applied', async (s) => {
      const a = await s.open();
      const b = await s.open();
      await a.save(minimalSession());
      // 3 s, not 1: both writes below must land within ¾ of it after the acquire (a dozen
      // round trips on FerretDB, past 750 ms with round trips of 0-200 ms, as under load).
      await a.lease.acquire({ ttlSeconds: 3, heartbeat: false });
      await a.authKeys.set(2, authKey(1));
      await a.kv.set('k', new Uint8Array([1]));
      // a stalls past its TTL; b takes over and writes.
      await b.lease.acquire({ wait: 10_000, ttlSeconds: 20 });
      await b.authKeys.set(2, authKey(2));
      await b.kv.set('k', new Uint8Array([2]));
      const writes: [string, (storage: Storage) => Promise<unknown>][] = [
        ['authKeys.set', (x) => x.authKeys.set(2, authKey(3))],
        ['authKeys.delete', (x) => x.authKeys.delete(2)],
        ['authKeys.deleteByDc', (x) => x.authKeys.deleteByDc(2)],
        ['kv.set', (x) => x.kv.set('k', new Uint8Array([3]))],
        ['kv.clear', (x) => x.kv.clear()],
        ['save', (x) => x.save({ ...minimalSession(), homeDcId: 2, dcs: [{ id: 2, port: 443, authKey: authKey(3) }] })],
        ['update', (x) => x.update({ apiId: 99 })],
        ['saveUpdateState', (x) => x.saveUpdateState({ pts: 9, qts: 9, date: 9, seq: 9 })],
        ['peers.upsert', (x) => x.peers.upsert([peer('user', 1)])],
        ['refMessages.store', (x) => x.refMessages.store(1n, -100n, 5)],
        ['delete', (x) => x.delete()],
      ];
      for (const [what, write] of writes) await expectRejects(expect, `${what} by the old holder`, LOST, () => write(a));
      expect(await a.authKeys.get(2), 'reads are not fenced; b’s key is stored').toEqual(authKey(2));
      expect(await b.kv.get('k')).toEqual(new Uint8Array([2]));
      const loaded = await b.load();
      expect(loaded?.apiId, 'the old holder’s update was not applied').toBeUndefined();
      expect(loaded?.state, 'the old holder’s state was not applied').toBeUndefined();
      expect(await b.peers.getById('user', 1n)).toBeNull();
      await expectRejects(expect, 'renew by the old holder', LOST, () => a.lease.renew());
      // Released, a is an unleased instance again (its writes are not fenced).
      await a.lease.release();
      expect(await b.lease.holder()).toEqual(b.lease.held);
    });

    test('a holder past ¾ of its TTL by its own clock has lost the lease for good: writes and renew() reject, onLost once, acquire takes a new one', async (s) => {
      // The first write is made under a long lease, so it lands however slow the round
      // trips (a 1 s, then 2 s lease's first ¾ was seen too short for the acquire and a
      // write on FerretDB under load, CI of 6 Dec 2026). Acquiring again while holding
      // renews with the new TTL (§12), so the short lease's ¾ counts from that renewal's
      // send, which is before it resolved: the sleep below passes it whatever it took.
      const ttlSeconds = 2;
      const a = await s.open();
      const lost: Error[] = [];
      const onLost = (error: Error): void => void lost.push(error);
      const first = await a.lease.acquire({ ttlSeconds: 60, heartbeat: false, onLost });
      await a.kv.set('k', new Uint8Array([1]));
      const renewed = await a.lease.acquire({ ttlSeconds, heartbeat: false, onLost });
      expect(renewed.token, 'acquiring again while holding renews the same lease').toBe(first.token);
      // Past ¾ of the renewed TTL by this clock.
      await sleep(ttlSeconds * 800);
      expect(a.lease.held, 'held past ¾ TTL').toBeNull();
      await expectRejects(expect, 'a write past ¾ TTL', LOST, () => a.kv.set('k', new Uint8Array([2])));
      expect(lost.map((e) => (e as { code?: unknown }).code), 'onLost was called once').toEqual([LOST]);
      await expectRejects(expect, 'renew after the lapse', LOST, () => a.lease.renew());
      await expectRejects(expect, 'a write after renew was refused', LOST, () => a.kv.set('k', new Uint8Array([3])));
      expect(lost.length, 'onLost was called once').toBe(1);
      expect(await a.kv.get('k')).toEqual(new Uint8Array([1]));
      const again = await a.lease.acquire({ ttlSeconds: 20, heartbeat: false });
      expect(again.token > first.token, 'acquiring again gives a new token').toBe(true);
      await a.kv.set('k', new Uint8Array([4]));
      expect(await a.kv.get('k')).toEqual(new Uint8Array([4]));
    });

    test('force takes the lease from a live holder; its next renewal reports LeaseLostError and its writes are rejected', async (s) => {
      const a = await s.open();
      const b = await s.open();
      const lost: Error[] = [];
      const first = await a.lease.acquire({ ttlSeconds: 20, onLost: (error) => lost.push(error) });
      const forced = await b.lease.acquire({ force: true, owner: owner('operator') });
      expect(forced.token > first.token, 'the forced lease has a greater token').toBe(true);
      await expectRejects(expect, 'renew after the takeover', LOST, () => a.lease.renew());
      expect(lost.map((e) => (e as { code?: unknown }).code), 'onLost was called once').toEqual([LOST]);
      const error = await expectRejects(expect, 'a write after the takeover', LOST, () => a.kv.set('k', new Uint8Array([1])));
      expect(error.message.includes('operator'), `the message names the new holder: ${error.message}`).toBe(true);
      expect(await b.kv.get('k')).toBeNull();
      expect(a.lease.held).toBeNull();
    });

    test('a release by the old holder after a force takeover leaves the new holder its lease', async (s) => {
      const a = await s.open();
      const b = await s.open();
      const c = await s.open();
      await a.lease.acquire({ ttlSeconds: 60, heartbeat: false });
      const taken = await b.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false, owner: owner('operator') });
      // a has not renewed since the takeover, so it does not know: it gives back the token it held.
      await a.lease.release();
      expect(await c.lease.holder(), 'the new holder keeps the lease').toEqual(taken);
      await expectRejects(expect, 'acquire by a third instance after the old holder’s release', HELD, () => c.lease.acquire({ ttlSeconds: 20 }));
      expect((await b.lease.renew()).token, 'the new holder renews its own token').toBe(taken.token);
    });

    test('after a force takeover the old holder’s next write is refused by the database, before any renewal tells it', async (s) => {
      // The local fence cannot see a takeover until the next heartbeat (TTL/4), so each
      // write below passes it: only a token check inside the write itself refuses it.
      const a = await s.open();
      const b = await s.open();
      await b.save(minimalSession());
      await b.authKeys.set(2, authKey(2));
      await b.kv.set('k', new Uint8Array([2]));
      await b.peers.upsert([peer('user', 7)]);
      await b.refMessages.store(7n, -100n, 5);
      const writes: [string, (storage: Storage) => Promise<unknown>][] = [
        ['save', (x) => x.save({ ...minimalSession(), homeDcId: 4, dcs: [{ id: 4, port: 443, authKey: authKey(3) }] })],
        ['update', (x) => x.update({ apiId: 99 })],
        ['saveUpdateState', (x) => x.saveUpdateState({ pts: 9, qts: 9, date: 9, seq: 9 })],
        ['authKeys.set', (x) => x.authKeys.set(2, authKey(3))],
        ['authKeys.delete', (x) => x.authKeys.delete(2)],
        ['authKeys.setTemp', (x) => x.authKeys.setTemp(2, { index: 0, key: authKey(4), expiresAt: 2_000_000_000 })],
        ['authKeys.deleteByDc', (x) => x.authKeys.deleteByDc(2)],
        ['authKeys.clear', (x) => x.authKeys.clear()],
        ['kv.set', (x) => x.kv.set('k', new Uint8Array([3]))],
        ['kv.delete', (x) => x.kv.delete('k')],
        ['kv.clear', (x) => x.kv.clear()],
        ['peers.upsert', (x) => x.peers.upsert([peer('user', 1), peer('user', 7, { usernames: ['moved'] })])],
        ['peers.clear', (x) => x.peers.clear()],
        ['refMessages.store', (x) => x.refMessages.store(1n, -100n, 6)],
        ['refMessages.deleteByPeer', (x) => x.refMessages.deleteByPeer(7n)],
        ['refMessages.clear', (x) => x.refMessages.clear()],
        ['delete', (x) => x.delete()],
      ];
      for (const [what, write] of writes) {
        const lost: Error[] = [];
        const first = await a.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false, onLost: (error) => lost.push(error) });
        const taken = await b.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false, owner: owner('operator') });
        expect(taken.token > first.token, 'the forced lease has a greater token').toBe(true);
        await expectRejects(expect, `${what} by the old holder right after the takeover`, LOST, () => write(a));
        expect(a.lease.held, `after the refused ${what} the old holder knows it lost the lease`).toBeNull();
        expect(lost.map((e) => (e as { code?: unknown }).code), `onLost was called once for ${what}`).toEqual([LOST]);
        await expectRejects(expect, `a second write after the refused ${what} (local fence)`, LOST, () => a.kv.set('k', new Uint8Array([4])));
        expect(b.lease.held?.token, `${what}: the new holder keeps its lease`).toBe(taken.token);
      }
      const loaded = await b.load();
      expect(loaded, 'the old holder’s delete was not applied').not.toBeNull();
      expect(loaded?.apiId, 'the old holder’s save / update was not applied').toBe(minimalSession().apiId);
      expect(loaded?.homeDcId, 'the old holder’s save was not applied').toBe(minimalSession().homeDcId);
      expect(loaded?.state, 'the old holder’s state was not applied').toBeUndefined();
      expect(await b.authKeys.get(2), 'the old holder’s key writes were not applied').toEqual(authKey(2));
      expect(await b.authKeys.getTemp(2, 0)).toBeNull();
      expect(await b.kv.get('k')).toEqual(new Uint8Array([2]));
      expect(await b.peers.getById('user', 1n)).toBeNull();
      expect((await b.peers.getById('user', 7n))?.usernames, 'the old holder’s username move was not applied').toEqual(peer('user', 7).usernames);
      expect(await b.refMessages.getByPeer(7n)).toEqual({ chatId: -100n, messageId: 5 });
      expect(await b.refMessages.getByPeer(1n)).toBeNull();
      // An instance that never held a lease is not fenced (the lease is cooperative).
      const c = await s.open();
      await c.kv.set('free', new Uint8Array([1]));
      expect(await b.kv.get('free')).toEqual(new Uint8Array([1]));
    });

    // The trait above writes over what another instance wrote; an adapter may fence a
    // write over the holder's own earlier write differently (SQLite rewrites a stored key
    // in place, fenced by the token kept in the key's own row, which an acquire must
    // update). Each write is made once under the lease, then again after the takeover.
    test('after a force takeover the old holder’s write over what it wrote itself under its lease is refused and not applied', async (s) => {
      const a = await s.open();
      const b = await s.open();
      const temp = (k: number) => ({ index: 0, key: authKey(k), expiresAt: 2_000_000_000 });
      const writes: [string, (x: Storage, v: number) => Promise<unknown>, (x: Storage) => Promise<unknown>][] = [
        ['authKeys.set', (x, v) => x.authKeys.set(2, authKey(v)), (x) => x.authKeys.get(2)],
        ['authKeys.setTemp', (x, v) => x.authKeys.setTemp(2, temp(v)), (x) => x.authKeys.getTemp(2, 0)],
        ['kv.set', (x, v) => x.kv.set('k', new Uint8Array([v])), (x) => x.kv.get('k')],
        ['peers.upsert', (x, v) => x.peers.upsert([peer('user', 1, { accessHash: BigInt(v) })]), (x) => x.peers.getById('user', 1n)],
        ['refMessages.store', (x, v) => x.refMessages.store(1n, -100n, v), (x) => x.refMessages.getByPeer(1n)],
        ['save', (x, v) => x.save({ ...minimalSession(), apiId: v }), async (x) => (await x.load())?.apiId],
      ];
      for (const [what, write, read] of writes) {
        await a.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false });
        await write(a, 11);
        const stored = await read(b);
        const taken = await b.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false, owner: owner('operator') });
        await expectRejects(expect, `${what} by the old holder over its own write, after the takeover`, LOST, () => write(a, 12));
        expect(await read(b), `${what}: what the old holder wrote under its lease is what is stored`).toEqual(stored);
        expect(b.lease.held?.token, `${what}: the new holder keeps its lease`).toBe(taken.token);
      }
    });

    test('writes already in flight when the old holder learns of a takeover are refused too: none is applied unfenced', async (s) => {
      // All of them pass the local fence in one tick; the first the database refuses marks
      // the lease lost while the others may still be on their way to their own token read.
      const a = await s.open();
      const b = await s.open();
      await b.save(minimalSession());
      await a.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false });
      await b.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false, owner: owner('operator') });
      const writes = Array.from({ length: 12 }, (_, i) =>
        i % 3 === 0 ? a.kv.set(`k${i}`, new Uint8Array([i])) : i % 3 === 1 ? a.peers.upsert([peer('user', 100 + i)]) : a.refMessages.store(BigInt(100 + i), -100n, i),
      );
      const settled = await Promise.allSettled(writes);
      settled.forEach((result, i) => {
        expect(result.status, `write ${i} of the old holder`).toBe('rejected');
        if (result.status === 'rejected') expect((result.reason as { code?: unknown }).code, `write ${i} of the old holder`).toBe(LOST);
      });
      for (let i = 0; i < 12; i++) {
        if (i % 3 === 0) expect(await b.kv.get(`k${i}`), `kv k${i}`).toBeNull();
        else if (i % 3 === 1) expect(await b.peers.getById('user', BigInt(100 + i)), `peer ${100 + i}`).toBeNull();
        else expect(await b.refMessages.getByPeer(BigInt(100 + i)), `reference message of ${100 + i}`).toBeNull();
      }
    });

    test('a holder’s first write of a name with nothing stored is stored, and the holder keeps its lease', async (s) => {
      // Each write on its own name: the first write of a name is the one that creates what the name needs.
      const temp = { index: 0, key: authKey(3), expiresAt: 2_000_000_000 };
      const firsts: [string, (x: Storage) => Promise<unknown>, (x: Storage) => Promise<unknown>, unknown][] = [
        ['authKeys.set', (x) => x.authKeys.set(2, authKey(2)), (x) => x.authKeys.get(2), authKey(2)],
        ['authKeys.setTemp', (x) => x.authKeys.setTemp(2, temp), (x) => x.authKeys.getTemp(2, 0), temp],
        ['kv.set', (x) => x.kv.set('k', new Uint8Array([1])), (x) => x.kv.get('k'), new Uint8Array([1])],
        ['refMessages.store', (x) => x.refMessages.store(7n, -100n, 5), (x) => x.refMessages.getByPeer(7n), { chatId: -100n, messageId: 5 }],
        ['peers.upsert', (x) => x.peers.upsert([peer('user', 7)]), async (x) => (await x.peers.getById('user', 7n))?.usernames, peer('user', 7).usernames],
        ['save', (x) => x.save(minimalSession()), async (x) => (await x.load())?.homeDcId, minimalSession().homeDcId],
      ];
      for (const [k, [what, write, read, expected]] of firsts.entries()) {
        const name = `first-${k}`;
        const holder = await s.open(name);
        await holder.lease.acquire({ ttlSeconds: 20, heartbeat: false });
        await write(holder);
        expect(await read(await s.open(name)), `${what}, the first write of ${name} under a lease, is stored`).toEqual(expected);
        expect(holder.lease.held, `${what}: the holder keeps its lease`).not.toBeNull();
      }
    });

    test('a holder’s deletes and clears of what is not stored resolve: finding nothing to change is not a lost lease', async (s) => {
      const holder = await s.open();
      const held = await holder.lease.acquire({ ttlSeconds: 20, heartbeat: false });
      const deletes: [string, (x: Storage) => Promise<unknown>][] = [
        ['authKeys.delete', (x) => x.authKeys.delete(2)],
        ['authKeys.deleteTemp', (x) => x.authKeys.deleteTemp(2, 0)],
        ['authKeys.deleteByDc', (x) => x.authKeys.deleteByDc(2)],
        ['authKeys.clear', (x) => x.authKeys.clear()],
        ['kv.delete', (x) => x.kv.delete('k')],
        ['kv.clear', (x) => x.kv.clear()],
        ['refMessages.delete', (x) => x.refMessages.delete(-100n, [5])],
        ['refMessages.deleteByPeer', (x) => x.refMessages.deleteByPeer(7n)],
        ['refMessages.clear', (x) => x.refMessages.clear()],
        ['peers.clear', (x) => x.peers.clear()],
      ];
      // First on a name with nothing stored, then on one with something else stored.
      for (const where of ['on a name with nothing stored', 'with other keys, kv and references stored']) {
        for (const [what, remove] of deletes) {
          await remove(holder).catch((error: unknown) => {
            throw new Error(`${what} ${where}, under a live lease, rejected: ${String(error)}`);
          });
        }
        expect(holder.lease.held, `after the deletes ${where} the holder keeps its lease`).toEqual(held);
        await holder.authKeys.set(4, authKey(4));
        await holder.kv.set('other', new Uint8Array([4]));
        await holder.refMessages.store(8n, -100n, 6);
      }
      const reader = await s.open();
      expect(await reader.authKeys.get(4)).toEqual(authKey(4));
      expect(await reader.kv.get('other')).toEqual(new Uint8Array([4]));
      expect(await reader.refMessages.getByPeer(8n)).toEqual({ chatId: -100n, messageId: 6 });
      expect((await holder.lease.renew()).token, 'the holder renews its own token').toBe(held.token);
    });

    // docs/contract.md §12: "an instance that never acquired is not fenced (the lease is
    // cooperative)" — for every write, not only the kv.set the takeover trait tries.
    test('an instance that never acquired is not fenced: each of its writes applies while another instance holds the lease', async (s) => {
      const holder = await s.open();
      const held = await holder.lease.acquire({ ttlSeconds: 20, heartbeat: false });
      const free = await s.open();
      const temp = { index: 0, key: authKey(21), expiresAt: 5 };
      const writes: [string, () => Promise<unknown>][] = [
        ['save', () => free.save(minimalSession())],
        ['update', () => free.update({ apiId: 7 })],
        ['saveUpdateState', () => free.saveUpdateState({ pts: 3, qts: 3, date: 3, seq: 3 }, [{ id: 9n, pts: 9 }])],
        ['authKeys.set', () => free.authKeys.set(2, authKey(2))],
        ['authKeys.setTemp', () => free.authKeys.setTemp(2, temp)],
        ['authKeys.set of another DC', () => free.authKeys.set(4, authKey(4))],
        ['kv.set', () => free.kv.set('k', new Uint8Array([1]))],
        ['peers.upsert', () => free.peers.upsert([peer('user', 7)])],
        ['refMessages.store', () => free.refMessages.store(7n, -100n, 5)],
        ['authKeys.delete', () => free.authKeys.delete(4)],
      ];
      for (const [what, write] of writes) {
        await write().catch((error: unknown) => {
          throw new Error(`${what} by an instance that never acquired, while another holds the lease, rejected: ${String(error)}`);
        });
      }
      const loaded = await holder.load();
      expect(loaded?.apiId, 'update applied').toBe(7);
      expect(loaded?.state, 'saveUpdateState applied').toEqual({ pts: 3, qts: 3, date: 3, seq: 3 });
      expect(loaded?.channels).toEqual([{ id: 9n, pts: 9 }]);
      expect(await holder.authKeys.get(2), 'authKeys.set applied').toEqual(authKey(2));
      expect(await holder.authKeys.getTemp(2, 0), 'authKeys.setTemp applied').toEqual(temp);
      expect(await holder.authKeys.get(4), 'authKeys.delete applied').toBeNull();
      expect(await holder.kv.get('k'), 'kv.set applied').toEqual(new Uint8Array([1]));
      expect(await holder.peers.getById('user', 7n), 'peers.upsert applied').toEqual(peer('user', 7));
      expect(await holder.refMessages.getByPeer(7n), 'refMessages.store applied').toEqual({ chatId: -100n, messageId: 5 });
      expect(free.lease.held, 'the free instance holds nothing').toBeNull();
      expect(await free.lease.holder(), 'the holder keeps its lease').toEqual(held);
      await free.delete();
      expect(await holder.load(), 'delete() applied').toBeNull();
      expect((await holder.lease.renew()).token, 'the holder renews its own token').toBe(held.token);
    });

    test('lease options are validated before any I/O', async (s) => {
      const a = await s.open();
      const bad: unknown[] = [
        'x',
        { ttlSeconds: 0 },
        { ttlSeconds: 0.5 },
        { ttlSeconds: 86_401 },
        { ttlSeconds: '30' },
        { wait: -1 },
        { wait: 'yes' },
        { force: 1 },
        { heartbeat: 'no' },
        { owner: 'me' },
        { owner: { pid: 1.5 } },
        { owner: { host: '' } },
        { owner: { label: 'a\nb' } },
        { owner: { label: 'x'.repeat(129) } },
        { onLost: true },
      ];
      for (const options of bad) {
        await expectRejects(expect, `acquire(${JSON.stringify(options)})`, CODES.invalid, () => a.lease.acquire(options as never));
      }
      expect(await a.lease.holder()).toBeNull();
      await expectRejects(expect, 'renew without a lease', LOST, () => a.lease.renew());
    });

    const names = [
      'worker processes racing for one lease: exactly one holder, named to the others',
      'a SIGKILLed holder’s lease is taken after its TTL and not before',
    ];
    const module = options.processes?.module;
    if (module === undefined) {
      for (const name of names) skip(name, NO_MODULE);
      return;
    }

    test(names[0] as string, async (s) => {
      // Six races, each winner releasing before the next: one race let an acquire that reads
      // the lease and then writes it (no lock across processes) through about half the time.
      const rounds = 6;
      const workers = Array.from({ length: 4 }, () => new Worker({ module, namespace: s.namespace, name: 'main', kind: 'lease-race', ttlSeconds: 20, rounds }));
      try {
        await Promise.all(workers.map((w) => w.message((m) => m.ready === true, 20_000, 'opening the storage')));
        let pid = 0;
        for (let round = 1; round <= rounds; round++) {
          for (const worker of workers) worker.go();
          const outcomes = await Promise.all(workers.map((w) => w.message((m) => m.round === round && 'won' in m, 20_000, `racing for the lease (round ${round})`)));
          const winners = outcomes.filter((m) => m.won === true);
          expect(winners, `round ${round} of ${rounds}: processes told they hold the lease`).toHaveLength(1);
          pid = (winners[0] as { pid: number }).pid;
          for (const loser of outcomes.filter((m) => m.won !== true)) expect(loser.holderPid, `round ${round}: LeaseHeldError names the winner’s pid`).toBe(pid);
          if (round === rounds) break;
          const winner = workers[outcomes.indexOf(winners[0] as Record<string, unknown>)] as Worker;
          winner.go();
          await winner.message((m) => m.round === round && m.released === true, 20_000, `releasing the lease (round ${round})`);
        }
        const reader = await s.open();
        expect((await reader.lease.holder())?.owner.pid, 'holder() names the last winner').toBe(pid);
      } finally {
        await Promise.all(workers.map((w) => w.kill()));
      }
    });

    test(names[1] as string, async (s) => {
      // Not shorter: the holder is a child process whose renewals must land within ¾ of it;
      // with 2 s one delayed ~1 s on a loaded 2-core CI box lost the lease early (redis
      // Cluster, CI at b593670: the acquire while it lived resolved).
      const ttlSeconds = 4;
      const worker = new Worker({ module, namespace: s.namespace, name: 'main', kind: 'lease-hold', ttlSeconds });
      let killedAt: number;
      try {
        await worker.message((m) => m.ready === true, 20_000, 'opening the storage');
        worker.go();
        await worker.message((m) => m.won === true, 20_000, 'taking the lease');
        // Alive past its TTL: its heartbeat renews it.
        await sleep(ttlSeconds * 1000 + 500);
        const probe = await s.open();
        await expectRejects(expect, 'acquire while the worker lives', HELD, () => probe.lease.acquire());
      } finally {
        await worker.kill();
        killedAt = Date.now();
      }
      const next = await s.open();
      const error = (await expectRejects(expect, 'acquire right after the SIGKILL', HELD, () => next.lease.acquire({ owner: owner('successor') }))) as Error & { holder: LeaseHolder };
      const expiresAt = error.holder.expiresAt.getTime();
      expect(expiresAt - killedAt <= ttlSeconds * 1000 + SKEW_MS, 'the dead holder’s lease runs out within one TTL').toBe(true);
      const held = await next.lease.acquire({ wait: 20_000, owner: owner('successor') });
      expect(Date.now() >= expiresAt - SKEW_MS, `taken at ${new Date().toISOString()}, before the dead holder’s lease ran out at ${new Date(expiresAt).toISOString()}`).toBe(true);
      expect(held.token > error.holder.token, 'the successor’s token is greater').toBe(true);
    });
  });
}
