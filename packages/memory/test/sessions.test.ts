import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NEVER, SHRINK_FLOOR, SessionTable, sessionHash, type SessionHash } from '../src/sessions.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Every place is found by its own ids, through the index, and the index is at most half full. */
function expectConsistent(table: SessionTable): void {
  for (let place = 0; place < table.size; place++) {
    expect(table.find(table.authKeyId(place), table.sessionId(place)), `place ${place}`).toBe(place);
  }
  expect(table.index.filter((slot) => slot !== 0).length).toBe(table.size);
  expect(table.index.length).toBeGreaterThanOrEqual(table.size * 2);
}

const sessionsOf = (table: SessionTable, authKeyId: bigint): bigint[] => table.placesOf(authKeyId).map((place) => table.sessionId(place));

describe('memory server session table (sessions.ts)', () => {
  it('keeps ids of every range apart (equal low or high halves, the int64 bounds), lists each key in insertion order, and frees places as it empties', () => {
    const authKeys = [1n, -1n, INT64_MIN, INT64_MAX, 5n << 32n, (5n << 32n) + 1n, 0n];
    const sessionIds = [0n, 1n, -1n, INT64_MIN, INT64_MAX, 7n << 32n, (7n << 32n) | 0xffff_ffffn, 2n ** 53n + 1n];
    const table = new SessionTable();
    let n = 0;
    for (const s of sessionIds) for (const a of authKeys) table.add(a, s, n, n++ % 3 === 0 ? NEVER : n * 10);
    for (let i = 0n; i < 5000n; i++) table.add(1n, 1000n + i * 104729n, 1, 2);
    expect(table.size).toBe(authKeys.length * sessionIds.length + 5000);
    expect(table.next.length).toBe(8192);
    expectConsistent(table);

    n = 0;
    for (const s of sessionIds) {
      for (const a of authKeys) {
        const place = table.find(a, s);
        expect(table.authKeyId(place)).toBe(a);
        expect(table.sessionId(place)).toBe(s);
        expect(table.lastUsedAt(place)).toBe(n);
        expect(table.expiresAt(place)).toBe(n++ % 3 === 0 ? NEVER : n * 10);
      }
    }
    expect(table.find(2n, 0n)).toBe(-1);
    expect(table.find(5n, 7n)).toBe(-1);
    expect(sessionsOf(table, INT64_MIN)).toEqual(sessionIds);
    expect(sessionsOf(table, 1n)).toEqual([...sessionIds, ...Array.from({ length: 5000 }, (_, i) => 1000n + BigInt(i) * 104729n)]);
    expect(sessionsOf(table, 3n)).toEqual([]);

    // Times change in place.
    const place = table.find(INT64_MAX, INT64_MIN);
    table.setTimes(place, 123, NEVER);
    expect([table.lastUsedAt(place), table.expiresAt(place)]).toEqual([123, NEVER]);

    // Remove every other session of key 1 (the moved ones keep their ids, times and list order).
    const kept = sessionsOf(table, 1n).filter((_, i) => i % 2 === 1);
    for (const [i, s] of sessionsOf(table, 1n).entries()) if (i % 2 === 0) table.remove(1n, table.find(1n, s));
    expect(sessionsOf(table, 1n)).toEqual(kept);
    expect(sessionsOf(table, INT64_MIN)).toEqual(sessionIds);
    expectConsistent(table);
    // Half full: not shrunk yet.
    expect(table.next.length).toBe(8192);

    // At most a quarter full, it halves (and stays consistent).
    while (table.size > 8192 / 4) table.remove(1n, table.find(1n, sessionsOf(table, 1n)[0] as bigint));
    expect(table.next.length).toBe(4096);
    expect(sessionsOf(table, INT64_MIN)).toEqual(sessionIds);
    expectConsistent(table);

    for (let place = table.size - 1; place >= 0; place--) table.remove(table.authKeyId(place), place);
    expect(table.size).toBe(0);
    expect(table.heads.size).toBe(0);
    expect(table.next.length).toBe(SHRINK_FLOOR);
    expect(table.index.every((slot) => slot === 0)).toBe(true);
  });

  it('spreads ids that differ in one half only', () => {
    const mask = 1023;
    const homes = new Set<number>();
    for (let i = 0; i < 512; i++) homes.add(sessionHash(1, 0, 0, i) & mask);
    for (let i = 0; i < 512; i++) homes.add(sessionHash(1, 0, i << 20, 0) & mask);
    // 1,024 ids into 1,024 slots: a random spread fills ~63%, a collapsed one far fewer.
    expect(homes.size).toBeGreaterThan(550);
  });

  type Op =
    | { kind: 'add'; a: number; s: number; t: number; never: boolean }
    | { kind: 'touch'; a: number; s: number; t: number }
    | { kind: 'remove'; a: number; s: number }
    | { kind: 'removeAt'; at: number }
    | { kind: 'fill'; a: number; from: number };

  // Ids whose halves collide: equal low halves, equal high halves, the bounds.
  const AUTH_KEYS = [1n, -1n, 1n << 32n, (1n << 32n) + 1n, INT64_MIN, INT64_MAX];
  const SESSIONS = Array.from({ length: 40 }, (_, i) => BigInt.asIntN(64, (i % 2 === 0 ? BigInt(i) : BigInt(i) << 32n) - BigInt(i % 3) * INT64_MAX));
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), a: fc.nat(AUTH_KEYS.length - 1), s: fc.nat(SESSIONS.length - 1), t: fc.nat(1000), never: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('touch' as const), a: fc.nat(AUTH_KEYS.length - 1), s: fc.nat(SESSIONS.length - 1), t: fc.nat(1000) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), a: fc.nat(AUTH_KEYS.length - 1), s: fc.nat(SESSIONS.length - 1) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('removeAt' as const), at: fc.nat(300) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('fill' as const), a: fc.nat(AUTH_KEYS.length - 1), from: fc.nat(SESSIONS.length - 1) }) },
  );
  // The table's own hash, and ones that put every id on a few home slots (long chains, wrapping).
  const hashes: [string, SessionHash][] = [
    ['the seeded hash', sessionHash],
    ['a hash of 4 values', (a0, a1, s0, s1) => (a0 ^ a1 ^ s0 ^ s1) & 3],
    ['one hash for all', () => 7],
  ];

  it.each(hashes)('answers as a Map with %s (fast-check): adds, touches, removes by id and by place, over growth', (_, hash) => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const table = new SessionTable(hash);
        // `${a}:${s}` → times, and each key's sessions in insertion order.
        const model = new Map<string, [number, number]>();
        const lists = new Map<bigint, bigint[]>();
        const add = (a: bigint, s: bigint, t: number, expires: number): void => {
          if (table.find(a, s) !== -1) return;
          table.add(a, s, t, expires);
          model.set(`${a}:${s}`, [t, expires]);
          lists.set(a, [...(lists.get(a) ?? []), s]);
        };
        const remove = (a: bigint, s: bigint): void => {
          table.remove(a, table.find(a, s));
          model.delete(`${a}:${s}`);
          const rest = (lists.get(a) as bigint[]).filter((x) => x !== s);
          if (rest.length === 0) lists.delete(a);
          else lists.set(a, rest);
        };
        let most = 0;
        for (const o of ops) {
          most = Math.max(most, table.size);
          if (o.kind === 'add') add(AUTH_KEYS[o.a] as bigint, SESSIONS[o.s] as bigint, o.t, o.never ? NEVER : o.t + 60);
          else if (o.kind === 'fill') {
            // Enough at once to grow past a doubling (and, removed later, to shrink).
            for (let k = 0; k < 24; k++) add(AUTH_KEYS[(o.a + k) % AUTH_KEYS.length] as bigint, SESSIONS[(o.from + k) % SESSIONS.length] as bigint, k, k);
          } else if (o.kind === 'touch') {
            const a = AUTH_KEYS[o.a] as bigint;
            const s = SESSIONS[o.s] as bigint;
            const place = table.find(a, s);
            expect(place === -1).toBe(!model.has(`${a}:${s}`));
            if (place === -1) continue;
            table.setTimes(place, o.t, o.t + 1);
            model.set(`${a}:${s}`, [o.t, o.t + 1]);
          } else if (o.kind === 'remove') {
            const a = AUTH_KEYS[o.a] as bigint;
            const s = SESSIONS[o.s] as bigint;
            if (model.has(`${a}:${s}`)) remove(a, s);
            else expect(table.find(a, s)).toBe(-1);
          } else if (table.size > 0) {
            const place = o.at % table.size;
            remove(table.authKeyId(place), table.sessionId(place));
          }
        }
        expect(table.size).toBe(model.size);
        for (const a of AUTH_KEYS) {
          expect(sessionsOf(table, a)).toEqual(lists.get(a) ?? []);
          for (const s of SESSIONS) {
            const place = table.find(a, s);
            const times = model.get(`${a}:${s}`);
            expect(place === -1 ? undefined : [table.lastUsedAt(place), table.expiresAt(place)]).toEqual(times);
          }
        }
        expect([...table.heads.keys()].sort()).toEqual([...lists.keys()].sort());
        expectConsistent(table);
        // Grown only as it filled (it shrinks only past SHRINK_FLOOR places: the first test).
        most = Math.max(most, table.size);
        expect(table.next.length).toBeLessThanOrEqual(Math.max(16, most * 2));
      }),
      { numRuns: 300 },
    );
  });
});
