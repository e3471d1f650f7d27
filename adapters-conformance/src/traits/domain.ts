/**
 * The whole valid domain (docs/contract.md §1): values generated across every range
 * the contract allows, not a few hand-picked fixtures — DC ids up to 1000 (CDN DCs are
 * 200+), epoch seconds up to 2^32-1, counters from 0 to 2^31-1, temp keys on several
 * DCs and at any slot, `tempAuthKeys: []`, mixed- and upper-case names and usernames,
 * `min: false` given explicitly, every 64-bit field of every peer type at both ends,
 * more than 100 sessions per auth key, event origins with any characters.
 */
import fc from 'fast-check';
import {
  assertPeer,
  assertSession,
  mergePeer,
  SessionSubject,
  type ChannelState,
  type DataCenter,
  type Peer,
  type PeerType,
  type SelfUser,
  type Session,
  type SessionEvent,
  type TempAuthKey,
} from '@mtstore/core';
import { ID_EXTREMES, minimalSession, peer, show } from '../fixtures.js';
import { sleep, waitFor } from '../harness.js';
import { recorder } from './events.js';
import type { BusRegistrar, ServerRegistrar, StorageRegistrar } from './context.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;

/** Both ends and the interesting middle of a range, then anything in it. */
const int = (min: number, max: number, edges: number[] = []): fc.Arbitrary<number> =>
  fc.oneof(fc.constantFrom(min, max, ...edges.filter((e) => e >= min && e <= max)), fc.integer({ min, max }));
const int64: fc.Arbitrary<bigint> = fc.oneof(fc.constantFrom(...ID_EXTREMES, INT64_MIN + 1n, INT64_MAX - 1n, 2n ** 31n, 2n ** 32n), fc.bigInt({ min: INT64_MIN, max: INT64_MAX }));
export const dcId = int(1, 1000, [2, 5, 200, 201, 203, 255, 256, 999]);
const seconds = int(0, UINT32_MAX, [2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1]);
const counter = int(0, INT32_MAX, [1, 2 ** 16, 2 ** 24]);
const key = fc.uint8Array({ minLength: 256, maxLength: 256 });
const usernameChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_';
export const username = fc.oneof(
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,30}$/),
  fc.constantFrom('A', 'Z9', 'UPPER_CASE', 'MiXeD_cAsE', '_', '0', 'x'.repeat(64), 'Y'.repeat(64)),
  fc.string({ unit: fc.constantFrom(...usernameChars), minLength: 1, maxLength: 64 }),
);
const usernames = fc.uniqueArray(username, { selector: (u) => u.toLowerCase(), maxLength: 4 });
const ipv6 = fc.constantFrom('2001:67c:4e8:f002::a', '::1', 'fe80::1', '2001:db8:85a3::8a2e:370:7334', '2001:b28:f23d:f001::e');
const host = fc.constantFrom('vesta.web.telegram.org', 'a', 'x-1.example', 'cdn-203.telegram.org', `${'l'.repeat(63)}.${'m'.repeat(63)}`);

const tempKeys: fc.Arbitrary<TempAuthKey[]> = fc.uniqueArray(fc.record({ index: int(0, INT32_MAX, [1, 2, 3]), key, expiresAt: seconds }), {
  selector: (t) => t.index,
  maxLength: 3,
});

const dataCenter: fc.Arbitrary<DataCenter> = fc
  .record(
    {
      id: dcId,
      ipv4: fc.ipV4(),
      ipv6,
      host,
      port: int(1, 65535, [80, 443]),
      testMode: fc.boolean(),
      mediaOnly: fc.boolean(),
      authKey: key,
      // `[]` on purpose: an empty list is the same as none and loads absent.
      tempAuthKeys: fc.oneof(tempKeys, fc.constant<TempAuthKey[]>([])),
    },
    { requiredKeys: ['id'] },
  )
  .map((dc) => ((dc.ipv4 ?? dc.ipv6 ?? dc.host) !== undefined && dc.port === undefined ? { ...dc, port: 443 } : dc));

const selfUser: fc.Arbitrary<SelfUser> = fc.record({ id: int64, dcId, bot: fc.boolean(), usernames, premium: fc.boolean() }, { requiredKeys: ['id', 'dcId', 'bot'] });
const channels: fc.Arbitrary<ChannelState[]> = fc.uniqueArray(fc.record({ id: int64, pts: counter }), { selector: (c) => c.id, maxLength: 5 });

function valid<T>(assert: (value: T) => void): (value: T) => boolean {
  return (value) => {
    try {
      assert(value);
      return true;
    } catch {
      return false;
    }
  };
}

/** Any valid session. */
export const anySession: fc.Arbitrary<Session> = fc
  .record(
    {
      dcs: fc.uniqueArray(dataCenter, { selector: (dc) => `${dc.id}:${dc.mediaOnly === true}`, minLength: 1, maxLength: 5 }),
      apiId: int(1, INT32_MAX),
      user: selfUser,
      state: fc.record({ pts: counter, qts: counter, date: seconds, seq: counter }),
      channels,
      takeoutId: int64,
      home: fc.nat(),
    },
    { requiredKeys: ['dcs', 'channels', 'home'] },
  )
  .map(({ home, ...s }) => ({ version: 1 as const, homeDcId: (s.dcs[home % s.dcs.length] as DataCenter).id, ...s }))
  .filter(valid((s) => assertSession(s, 'session')));

/** Every corner at once: DC 1000 and CDN 203, temp keys on several DCs and top slots, `[]`, zero counters, the largest time. */
const CORNER_SESSION: Session = {
  version: 1,
  homeDcId: 1000,
  dcs: [
    { id: 1000, host: 'cdn-1000.example', port: 65535, authKey: new Uint8Array(256).fill(1), tempAuthKeys: [{ index: INT32_MAX, key: new Uint8Array(256).fill(2), expiresAt: UINT32_MAX }, { index: 0, key: new Uint8Array(256).fill(3), expiresAt: 0 }] },
    { id: 203, ipv4: '91.108.56.1', port: 1, tempAuthKeys: [{ index: 1, key: new Uint8Array(256).fill(4), expiresAt: 2 ** 31 }] },
    { id: 203, port: 443, mediaOnly: true, tempAuthKeys: [] },
    { id: 1, authKey: new Uint8Array(256).fill(5), tempAuthKeys: [] },
  ],
  apiId: INT32_MAX,
  user: { id: INT64_MIN, dcId: 1000, bot: false, usernames: ['MixedCase', 'UPPER'], premium: false },
  state: { pts: 0, qts: 0, date: UINT32_MAX, seq: 0 },
  channels: [{ id: INT64_MAX, pts: 0 }, { id: INT64_MIN, pts: INT32_MAX }],
  takeoutId: INT64_MAX,
};

/** What `load` returns for `session`: temp keys by slot, an empty list absent. */
export function expectedLoad(session: Session): Session {
  return {
    ...session,
    dcs: session.dcs.map(({ tempAuthKeys, ...dc }) =>
      tempAuthKeys === undefined || tempAuthKeys.length === 0 ? dc : { ...dc, tempAuthKeys: [...tempAuthKeys].sort((a, b) => a.index - b.index) },
    ),
  };
}

const PEER_TYPES: readonly PeerType[] = ['user', 'chat', 'channel'];

export const anyPeer: fc.Arbitrary<Peer> = fc
  .record(
    {
      type: fc.constantFrom(...PEER_TYPES),
      id: int64,
      accessHash: int64,
      usernames,
      phone: fc.oneof(fc.stringMatching(/^[0-9]{1,20}$/), fc.constantFrom('0', '9'.repeat(20), '00123')),
      min: fc.boolean(),
      updatedAt: seconds,
      displayName: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constantFrom('', ' ', 'Павел Дуров 🚀', 'a:b @c', '\u0000x', 'ß'.repeat(1024))),
      complete: fc.uint8Array({ maxLength: 64 }),
    },
    { requiredKeys: ['type', 'id', 'accessHash', 'usernames', 'updatedAt'] },
  )
  .filter(valid((p) => assertPeer(p, 'peer')));

function runs(fallback: number): fc.Parameters<unknown> {
  return { numRuns: Number(process.env.MTSTORE_KIT_RUNS ?? fallback), endOnFailure: true, interruptAfterTimeLimit: 60_000 };
}

export function clientDomain({ group, test, expect }: StorageRegistrar): void {
  group('value domain', () => {
    test('generated sessions across every valid range round-trip through save (DC ids to 1000, temp keys on any DC and slot, [] temp keys, times to 2^32-1, zero counters)', async (s) => {
      const storage = await s.open();
      await fc.assert(
        fc.asyncProperty(anySession, async (session) => {
          await storage.save(session);
          expect(await storage.load(), `saved ${show(session)}`).toEqual(expectedLoad(session));
        }),
        // The corners first, every run: then random values across the ranges.
        { ...runs(40), examples: [[CORNER_SESSION]] },
      );
    });

    test('generated peers of every type round-trip, and every lookup finds them (min: false explicit, mixed-case usernames)', async (s) => {
      const storage = await s.open();
      await storage.save(minimalSession());
      await fc.assert(
        fc.asyncProperty(anyPeer, async (p) => {
          await storage.peers.clear();
          await storage.peers.upsert([p]);
          const label = `upserted ${show(p)}`;
          expect(await storage.peers.getById(p.type, p.id), label).toEqual(p);
          for (const u of p.usernames) {
            for (const asked of [u, u.toUpperCase(), u.toLowerCase()]) expect(await storage.peers.getByUsername(asked), `${label}, asked ${asked}`).toEqual(p.min === true ? null : p);
          }
          if (p.phone !== undefined) expect(await storage.peers.getByPhone(p.phone), label).toEqual(p.min === true ? null : p);
        }),
        runs(40),
      );
    });

    test('every 64-bit field of every peer type at both extremes: ids and access hashes, users included', async (s) => {
      const storage = await s.open();
      for (const [round, hashes] of [ID_EXTREMES, [...ID_EXTREMES].reverse()].entries()) {
        const batch = PEER_TYPES.flatMap((type) => ID_EXTREMES.map((id, i) => peer(type, i, { id, accessHash: hashes[i] as bigint, usernames: [`${type}_${round}_${i}`] })));
        await storage.peers.upsert(batch);
        for (const p of batch) {
          expect(await storage.peers.getById(p.type, p.id), `${p.type} ${p.id} hash ${p.accessHash}`).toEqual(p);
          expect(await storage.peers.getByUsername((p.usernames[0] as string).toUpperCase()), `${p.type} ${p.id} by username`).toEqual(p);
        }
      }
    });

    test('min: false given explicitly is a non-min peer: found by username and phone, kept by merges, replaced by nothing min', async (s) => {
      const storage = await s.open();
      for (const type of PEER_TYPES) {
        const full = peer(type, 1, { min: false, usernames: [`Full_${type}`], phone: '15550100' });
        await storage.peers.upsert([full]);
        expect(await storage.peers.getById(type, 1n)).toEqual(full);
        expect(await storage.peers.getByUsername(`full_${type}`)).toEqual(full);
        expect(await storage.peers.getByPhone('15550100')).toEqual(full);
        // A min peer over an explicitly non-min one keeps its hash and its `min: false`.
        const min = peer(type, 1, { min: true, accessHash: 999n, usernames: [`Full_${type}`], phone: '15550100', displayName: 'min' });
        await storage.peers.upsert([min]);
        expect(await storage.peers.getById(type, 1n), `${type}: min over min:false`).toEqual(mergePeer(full, min));
        expect(await storage.peers.getByUsername(`FULL_${type}`), `${type}: still found by username`).toEqual(mergePeer(full, min));
        // And `min: false` over a min peer replaces it.
        const minFirst = peer(type, 2, { min: true, accessHash: 5n, usernames: [`Was_min_${type}`] });
        const nowFull = peer(type, 2, { min: false, accessHash: 6n, usernames: [`Was_min_${type}`] });
        await storage.peers.upsert([minFirst]);
        expect(await storage.peers.getByUsername(`was_min_${type}`)).toBeNull();
        await storage.peers.upsert([nowFull]);
        expect(await storage.peers.getByUsername(`WAS_MIN_${type}`), `${type}: min:false over min`).toEqual(nowFull);
        // Within one batch: min:false then min.
        await storage.peers.upsert([peer(type, 3, { min: false, accessHash: 7n }), peer(type, 3, { min: true, accessHash: 8n })]);
        expect((await storage.peers.getById(type, 3n))?.accessHash, `${type}: batch min:false then min`).toBe(7n);
      }
    });

    test('session names are exact: Main, MAIN and main are three sessions; every allowed character and 128 characters work', async (s) => {
      const names = ['Main', 'MAIN', 'main', 'a.b:c@d+e=f-g_h', 'Z'.repeat(128), '0'];
      const storages = await Promise.all(names.map((n) => s.open(n)));
      for (const [i, storage] of storages.entries()) {
        await storage.save({ ...minimalSession(), apiId: i + 1 });
        await storage.peers.upsert([peer('user', i + 1)]);
      }
      for (const [i, storage] of storages.entries()) {
        expect((await storage.load())?.apiId, `session ${names[i]}`).toBe(i + 1);
        expect((await storage.peers.list()).peers, `peers of ${names[i]}`).toEqual([peer('user', i + 1)]);
      }
      expect(await (storages[0] as { listNames(): Promise<string[]> }).listNames()).toEqual([...names].sort());
      await (storages[1] as { delete(): Promise<void> }).delete();
      expect((await (storages[0] as { load(): Promise<Session | null> }).load())?.apiId, 'Main after MAIN was deleted').toBe(1);
      expect((await (storages[2] as { load(): Promise<Session | null> }).load())?.apiId, 'main after MAIN was deleted').toBe(3);
    });
  });
}

export function serverDomain({ group, test, expect }: ServerRegistrar): void {
  group('value domain', () => {
    test('more than 100 sessions per auth key: 250 are listed and destroyed exactly', async (s) => {
      const storage = await s.open();
      const ids = Array.from({ length: 250 }, (_, i) => (i % 2 ? BigInt(i) : INT64_MAX - BigInt(i)));
      // 50 at a time: the point is the count, not 250 sequential round trips.
      for (let i = 0; i < ids.length; i += 50) {
        const created = await Promise.all(ids.slice(i, i + 50).map((id) => storage.createSession(INT64_MIN, id)));
        expect(created.every(Boolean), `sessions ${i}-${i + 49} created`).toBe(true);
      }
      await storage.createSession(INT64_MAX, 1n);
      const sorted = (xs: readonly bigint[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      expect(sorted(await storage.listSessions(INT64_MIN))).toEqual(sorted(ids));
      expect(sorted(await storage.destroyAllSessions(INT64_MIN))).toEqual(sorted(ids));
      expect(await storage.listSessions(INT64_MIN)).toEqual([]);
      expect(await storage.listSessions(INT64_MAX)).toEqual([1n]);
    });

    test('generated (authKeyId, sessionId) pairs across the 64-bit range are distinct sessions', async (s) => {
      const storage = await s.open();
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(fc.tuple(int64, int64), { selector: ([a, b]) => `${a}/${b}`, minLength: 1, maxLength: 8 }), async (pairs) => {
          for (const [a] of pairs) await storage.destroyAllSessions(a);
          for (const [a, b] of pairs) expect(await storage.createSession(a, b), `create ${a}/${b}`).toBe(true);
          for (const [a, b] of pairs) expect(await storage.hasSession(a, b), `has ${a}/${b}`).toBe(true);
          for (const [a, b] of pairs) expect(await storage.destroySession(a, b), `destroy ${a}/${b}`).toBe(true);
        }),
        runs(20),
      );
    });
  });
}

/** Origins a node id may carry: separators, spaces, quotes, non-ASCII, 200 characters. */
export const ORIGINS = ['node:1', 'a b', 'узел-ß', '🚀', '"quoted"\\', 'x'.repeat(200), 'c', '{"t":"c"}', 'tab\there', 'new\nline'];

export function busDomain({ group, test, expect, options }: BusRegistrar): void {
  const timeout = options.capabilities?.deliveryTimeout ?? 5_000;
  group('value domain', () => {
    test('event origins with any characters cross the bus exactly (:, spaces, quotes, non-ASCII, 200 characters)', async (s) => {
      const a = await s.openBus();
      const b = await s.openBus();
      const heard: SessionEvent[] = [];
      await b.subscribe((e) => void heard.push(e));
      const sent = ORIGINS.map((origin, i): SessionEvent => ({ type: i % 2 ? 'destroyed' : 'created', authKeyId: ID_EXTREMES[i % ID_EXTREMES.length] as bigint, sessionId: BigInt(i), origin }));
      for (const e of sent) await a.publish(e);
      await waitFor(() => heard.length >= sent.length, timeout, 'every origin');
      await sleep(100);
      expect(heard).toEqual(sent);
    });

    test('subjects whose node ids hold any characters tell each other’s events apart', async (s) => {
      const [idA, idB] = ['node:a b', 'node:a'];
      const a = s.track(new SessionSubject(await s.open(), { id: idA, bus: await s.openBus() }));
      const b = s.track(new SessionSubject(await s.open(), { id: idB, bus: await s.openBus() }));
      await Promise.all([a.ready(), b.ready()]);
      const atB = recorder();
      b.subscribe(atB);
      await a.createSession(1n, 1n);
      await waitFor(() => atB.events.length >= 1, timeout, 'the event from node "node:a b"');
      await sleep(100);
      expect(atB.events).toEqual([{ type: 'created', authKeyId: 1n, sessionId: 1n, origin: idA }]);
    });
  });
}
