/**
 * The label-free checks of a session (isSession and the isDataCenter, isSelfUser, isDcs,
 * isChannels it calls) and of an update() patch (isSessionUpdate) must accept exactly what their labelled checks (explainSession,
 * explainDataCenter, …) accept: one accepting a value the other refuses would let a bad
 * session through, or refuse a good one with no message. Checked with fast-check over
 * values whose fields are mostly valid (so that whole DCs and sessions often are) and
 * otherwise an edge case of their rule; then through assertSession, which must still
 * name the field at fault and build no label for a valid session.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accepts } from './accepts.js';
import {
  assertChannels,
  assertSession,
  explainChannels,
  explainDataCenter,
  explainDcs,
  explainSelfUser,
  explainSession,
  explainSessionUpdate,
  assertSessionUpdate,
  isChannels,
  isDataCenter,
  isDcs,
  isSelfUser,
  isSession,
  isSessionUpdate,
} from '../src/validate.js';

/** `good` most of the time, else one of `bad` (or, rarely, a value of another type). */
const mostly = <T>(good: fc.Arbitrary<T>, ...bad: unknown[]): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary: good, weight: 30 }, { arbitrary: fc.constantFrom(...bad), weight: 1 }, { arbitrary: other, weight: 1 });

const other = fc.constantFrom<unknown>(undefined, null, '1', 1n, true, [], {}, Number.NaN, 0.5);
const key = (length: number, fill = 7): Uint8Array => new Uint8Array(length).fill(fill);

const dcId = mostly(fc.integer({ min: 1, max: 3 }), 0, 1000, 1001, -1, 2.5, '2');
const port = mostly(fc.constantFrom(1, 443, 65535), 0, 65536, -443, 443.5, '443');
const ipv4 = mostly(fc.oneof(fc.ipV4(), fc.constant('149.154.167.51')), '256.1.1.1', '1.2.3', '01.2.3.4', ' 1.2.3.4', '', '::1');
const ipv6 = mostly(fc.oneof(fc.ipV6(), fc.constantFrom('2001:67c:4e8:f002::a', '::', '::ffff:1.2.3.4')), '[::1]', '1::2::3', ':::', '1:2:3:4:5:6:7', '12345::', '1.2.3.4', '');
const host = mostly(fc.oneof(fc.domain(), fc.constant('venus.web.telegram.org')), 'a-.b', '-a.b', '1.2.3', 'a..b', 'a_b.c', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`, 'x'.repeat(64), '');
const flag = mostly(fc.constantFrom(undefined, true, false), 0, 1, 'true', null);
const authKey = mostly(fc.constant(key(256)), key(255), key(257), new Uint16Array(128), new DataView(new ArrayBuffer(256)), Array.from({ length: 256 }, () => 7), 'k'.repeat(256));
const epoch = mostly(fc.constantFrom(0, 1_700_000_000, 2 ** 32 - 1), -1, 2 ** 32, 1_700_000_000_000, 1.5);
const counter = mostly(fc.integer({ min: 0, max: 4 }).chain((i) => fc.constantFrom(i, 2 ** 31 - 1 - i)), -1, 2 ** 31, 0.5);

/** Temp keys with slots 0..3, so that lists of a few often repeat one. */
const tempKey = mostly(fc.record({ index: counter, key: authKey, expiresAt: epoch }, { requiredKeys: ['index', 'key', 'expiresAt'] }), { index: 0, key: key(256) }, new Uint8Array(8));
const tempKeys = mostly(fc.array(tempKey, { maxLength: 4 }), { length: 1, 0: { index: 0, key: key(256), expiresAt: 1 } }, 'keys');

/**
 * DCs of ids 1..3: with an address and its port, with keys only, or with any fields
 * present or not (an address without a port among them).
 */
const dcFields = { id: dcId, ipv4, ipv6, host, port, testMode: flag, mediaOnly: flag, authKey, tempAuthKeys: tempKeys };
const { ipv4: _4, ipv6: _6, host: _h, port: _p, ...keysOnlyFields } = dcFields;
/** A DC built from valid values only (one of the above breaks a rule less often than it should for lists of them). */
const cleanDc = fc.record(
  {
    id: fc.integer({ min: 1, max: 3 }),
    ipv4: fc.ipV4(),
    port: fc.constant(443),
    mediaOnly: fc.boolean(),
    authKey: fc.constant(key(256)),
    tempAuthKeys: fc.uniqueArray(fc.record({ index: fc.nat(3), key: fc.constant(key(256)), expiresAt: fc.nat() }), { selector: (t) => t.index, maxLength: 2 }),
  },
  { requiredKeys: ['id'] },
).map((dc) => (dc.ipv4 !== undefined && dc.port === undefined ? { ...dc, port: 80 } : dc));
const dc = mostly(
  fc.oneof(
    { arbitrary: cleanDc, weight: 3 },
    fc.record(dcFields, { requiredKeys: ['id', 'port'] }),
    fc.record(keysOnlyFields, { requiredKeys: ['id'] }),
    fc.record(dcFields, { requiredKeys: ['id'] }),
  ),
  new Uint8Array(4),
  [{ id: 2 }],
);
const dcs = mostly(fc.array(dc, { minLength: 1, maxLength: 3 }), [], { 0: { id: 2 }, length: 1 }, 'dcs');

const username = mostly(fc.constantFrom('durov', 'Durov', 'DUROV', 'tg', 'a_1', 'x'.repeat(64)), '@durov', '', 'x'.repeat(65), 'dúrov', 'a b');
const int64 = mostly(fc.constantFrom(0n, 777000n, -(2n ** 63n), 2n ** 63n - 1n), 2n ** 63n, -(2n ** 63n) - 1n, 777000, '777000');
const user = mostly(
  fc.record(
    { id: int64, dcId, bot: mostly(fc.boolean(), undefined, 0, 'false'), usernames: mostly(fc.array(username, { maxLength: 4 }), 'durov', { 0: 'durov', length: 1 }), premium: flag },
    { requiredKeys: ['id', 'dcId', 'bot'] },
  ),
  new Uint8Array(8),
);
const state = mostly(fc.record({ pts: counter, qts: counter, date: epoch, seq: counter }), { pts: 1, qts: 1, seq: 1 });
/** Channels of ids 0..5, so that short lists repeat one often. */
const channel = mostly(fc.record({ id: mostly(fc.bigInt({ min: 0n, max: 5n }), 2n ** 63n, 1, '1'), pts: counter }), { id: 1n }, new Uint8Array(2));
/**
 * Lists of 15 to 18 (up to 16 are searched for a repeat pairwise, longer ones through a
 * Set) of distinct ids, where one id may repeat another and one channel may be any.
 */
const longChannels = fc
  .record({ length: fc.integer({ min: 15, max: 18 }), from: fc.nat(17), to: fc.nat(17), repeat: fc.boolean(), at: fc.nat(17), odd: fc.option(channel, { nil: undefined }) })
  .map(({ length, from, to, repeat, at, odd }) => {
    const list: unknown[] = Array.from({ length }, (_, i) => ({ id: BigInt(i) * 1_000_003n, pts: i }));
    if (repeat) list[to % length] = { id: (list[from % length] as { id: bigint }).id, pts: 1 };
    if (odd !== undefined) list[at % length] = odd;
    return list;
  });
const channels = mostly(fc.oneof(fc.array(channel, { maxLength: 4 }), longChannels), { length: 0 }, 'channels');
const apiId = mostly(fc.constantFrom(1, 2040, 2 ** 31 - 1), 0, 2 ** 31, -1, 1.5, '2040');

const sessionFields = { version: mostly(fc.constant(1), 2, '1', 1n), homeDcId: dcId, dcs, apiId, user, state, channels, takeoutId: int64 };
const required: (keyof typeof sessionFields)[] = ['version', 'homeDcId', 'dcs', 'channels'];
/** Fields a valid session may have, for sessions where only one field is drawn from the above. */
const cleanFields: { [K in keyof typeof sessionFields]: fc.Arbitrary<unknown> } = {
  version: fc.constant(1),
  homeDcId: fc.constant(2),
  dcs: fc.array(cleanDc, { maxLength: 2 }).map((list) => [{ id: 2, port: 443, authKey: key(256) }, ...list.map((dc) => ({ ...dc, id: 3 + dc.id }))]),
  apiId: fc.constant(2040),
  user: fc.constant({ id: 1n, dcId: 2, bot: false, usernames: ['a', 'b'] }),
  state: fc.constant({ pts: 1, qts: 1, date: 1, seq: 1 }),
  channels: fc.constant([{ id: 1n, pts: 1 }]),
  takeoutId: fc.constant(5n),
};
const oneFieldOff = fc.constantFrom(...(Object.keys(sessionFields) as (keyof typeof sessionFields)[])).chain((field) =>
  fc.record({ ...cleanFields, [field]: sessionFields[field] }, { requiredKeys: required }),
);
const session = mostly(fc.oneof(oneFieldOff, fc.record(sessionFields, { requiredKeys: required })), new Uint8Array(8));

/**
 * update() patches: any of the fields, often null where null removes one (apiId, user,
 * takeoutId, state), homeDcId and dcs each present or not (so sometimes one without the
 * other), DCs that mostly carry no keys (update() refuses a DC with keys), sometimes a
 * field update() cannot change or a field given as undefined (which counts as absent).
 */
const nullable = (value: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ arbitrary: value, weight: 5 }, { arbitrary: fc.constant(null), weight: 1 });
const addressDc = fc
  .record({ id: fc.integer({ min: 1, max: 3 }), ipv4: fc.ipV4(), host: fc.constant('venus.web.telegram.org'), port: fc.constant(443), mediaOnly: fc.boolean(), testMode: fc.boolean() }, { requiredKeys: ['id'] })
  .map((dc) => ((dc.ipv4 !== undefined || dc.host !== undefined) && dc.port === undefined ? { ...dc, port: 80 } : dc));
const patchDcs = mostly(fc.array(fc.oneof({ arbitrary: addressDc, weight: 4 }, dc), { minLength: 1, maxLength: 3 }), [], 'dcs');
const patchFields = { homeDcId: dcId, dcs: patchDcs, apiId: nullable(apiId), user: nullable(user), takeoutId: nullable(int64), state: nullable(state), channels };
const allPatchFields = fc.record(patchFields, { requiredKeys: [] });
/** homeDcId and dcs drawn as a pair: both or neither. */
const pairedPatch = fc
  .tuple(fc.record({ ...patchFields, homeDcId: fc.constant(undefined), dcs: fc.constant(undefined) }, { requiredKeys: [] }), fc.option(fc.tuple(dcId, patchDcs), { freq: 2 }))
  .map(([fields, pair]) => {
    const { homeDcId: _home, dcs: _dcs, ...rest } = fields;
    return pair === null ? rest : { ...rest, homeDcId: pair[0], dcs: pair[1] };
  });
/** A field update() cannot change, given (refused) or given as undefined (counts as absent). */
const strayField = fc.tuple(fc.constantFrom('version', 'peers', 'authKey', 'toString'), fc.constantFrom<unknown>(undefined, undefined, 1, null, []));
const patch = mostly(
  fc.oneof(
    { arbitrary: pairedPatch, weight: 4 },
    { arbitrary: allPatchFields, weight: 1 },
    {
      arbitrary: fc.tuple(pairedPatch, strayField).map(([fields, [name, value]]) => ({ ...fields, [name]: value })),
      weight: 1,
    },
  ),
  {},
  { state: undefined },
  new Uint8Array(4),
);

/** Asserts both sides agree on every value, and that each side was seen both accepting and refusing. */
function agree<T>(values: fc.Arbitrary<T>, fast: (value: T) => boolean, labelled: (value: T) => void, runs = 5_000): void {
  const seen = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(values, (value) => {
      const ok = fast(value);
      expect(ok).toBe(accepts(() => labelled(value)));
      seen[ok ? 'accepted' : 'refused']++;
    }),
    { numRuns: runs },
  );
  // A generator that never reaches one side would make the property hold trivially.
  expect(seen.accepted).toBeGreaterThan(runs / 50);
  expect(seen.refused).toBeGreaterThan(runs / 50);
}

describe('the label-free session checks agree with the labelled ones', () => {
  it('isDataCenter accepts exactly what explainDataCenter accepts', () => {
    agree(dc, isDataCenter, (value) => explainDataCenter(value, 'dc'));
  });
  it('isSelfUser accepts exactly what explainSelfUser accepts', () => {
    agree(user, isSelfUser, (value) => explainSelfUser(value, 'user'));
  });
  it('isDcs accepts exactly what explainDcs accepts (unique by (id, mediaOnly), the home DC among them)', () => {
    agree(fc.tuple(dcs, dcId), ([list, home]) => isDcs(list, home), ([list, home]) => explainDcs(list, home, 'session'));
  });
  it('isChannels accepts exactly what explainChannels accepts', () => {
    agree(channels, isChannels, (value) => explainChannels(value, 'channels'));
  });
  it('isSession accepts exactly what explainSession accepts', () => {
    agree(session, isSession, (value) => explainSession(value, 'session'), 10_000);
  });
  it('isSessionUpdate accepts exactly what explainSessionUpdate accepts', () => {
    agree(patch, isSessionUpdate, (value) => explainSessionUpdate(value, 'patch'), 10_000);
  });
});

const valid = () => ({
  version: 1,
  homeDcId: 2,
  dcs: [
    { id: 2, ipv4: '149.154.167.51', ipv6: '2001:67c:4e8:f002::a', port: 443, authKey: key(256), tempAuthKeys: [{ index: 0, key: key(256, 1), expiresAt: 1_700_000_000 }, { index: 1, key: key(256, 2), expiresAt: 1_700_000_000 }] },
    { id: 2, host: 'venus.web.telegram.org', port: 443, mediaOnly: true, testMode: false },
    { id: 4, authKey: key(256, 3) },
  ],
  apiId: 2040,
  user: { id: 777000n, dcId: 2, bot: false, usernames: ['durov', 'Pavel'], premium: true },
  state: { pts: 1, qts: 2, date: 1_700_000_000, seq: 3 },
  channels: [{ id: 1n, pts: 5 }, { id: 2n, pts: 6 }],
  takeoutId: 5n,
});

/** A label that counts how often it is put into a string: a check builds its labels from it. */
const countingLabel = () => {
  const counter = { built: 0, toString: () => (counter.built++, 'session') };
  return counter;
};

describe('assertSession', () => {
  it('builds no label for a valid session, and builds them for an invalid one', () => {
    const good = countingLabel();
    assertSession(valid(), good as unknown as string);
    expect(good.built).toBe(0);
    const bad = countingLabel();
    const session = valid();
    session.dcs[0]!.tempAuthKeys![1]!.expiresAt = 2 ** 32;
    expect(() => assertSession(session, bad as unknown as string)).toThrow(/^session\.dcs\[0\]\.tempAuthKeys\[1\]\.expiresAt must be epoch seconds/);
    expect(bad.built).toBeGreaterThan(0);
  });

  const broken: [string, (session: ReturnType<typeof valid>) => void, string][] = [
    ['a repeated temp key slot', (s) => void (s.dcs[0]!.tempAuthKeys![1]!.index = 0), 'session.dcs[0].tempAuthKeys[1].index must be unique within its DC, got number 0'],
    ['an address without a port', (s) => void delete (s.dcs[1] as { port?: number }).port, 'session.dcs[1].port must be a port when an address is given, got undefined'],
    ['a second media-only entry', (s) => void (s.dcs[2] = { id: 2, mediaOnly: true } as never), 'session.dcs[2] must be the only media-only entry for DC 2, got number 2'],
    ['a home DC missing from the list', (s) => void (s.homeDcId = 5), 'session.homeDcId must be the id of one of session.dcs, got number 5'],
    ['a username repeated in another case', (s) => void (s.user.usernames[1] = 'DUROV'), 'session.user.usernames[1] must be unique (case-insensitively) in the list, got string "DUROV"'],
    ['an apiId of 0', (s) => void (s.apiId = 0), 'session.apiId must be an integer from 1 to 2147483647, got number 0'],
    ['a takeoutId out of range', (s) => void (s.takeoutId = 2n ** 63n), 'session.takeoutId must be within the signed 64-bit range, got 9223372036854775808n'],
  ];
  for (const [what, breakIt, message] of broken) {
    it(`names the field at fault: ${what}`, () => {
      const session = valid();
      breakIt(session);
      expect(() => assertSession(session)).toThrow(message);
    });
  }

  it('names the first channel at fault, whether it repeats an id or breaks a field', () => {
    const list = (length: number) => Array.from({ length }, (_, i) => ({ id: BigInt(i), pts: i }) as { id: unknown; pts: number });
    for (const length of [8, 40]) {
      const repeatFirst = list(length);
      repeatFirst[2]!.id = 0n;
      repeatFirst[5]!.id = 5;
      expect(() => assertChannels(repeatFirst, 'channels')).toThrow(/^channels\[2\]\.id must be unique in the list/);
      const badFirst = list(length);
      badFirst[1]!.id = 5;
      badFirst[3]!.id = 0n;
      expect(() => assertChannels(badFirst, 'channels')).toThrow(/^channels\[1\]\.id must be a bigint/);
    }
  });
});

describe('assertSessionUpdate', () => {
  it('builds no label for a valid patch, and builds them for an invalid one', () => {
    const patches = [
      { state: { pts: 1, qts: 2, date: 1_700_000_000, seq: 3 }, channels: [{ id: 1n, pts: 5 }, { id: 2n, pts: 6 }, { id: 3n, pts: 7 }] },
      { homeDcId: 2, dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443 }, { id: 2, host: 'venus.web.telegram.org', port: 443, mediaOnly: true }], user: { id: 777000n, dcId: 2, bot: false } },
      { apiId: 2040, takeoutId: 5n, user: null, state: null, channels: [] },
    ];
    for (const valid of patches) {
      const good = countingLabel();
      assertSessionUpdate(valid, good as unknown as string);
      expect(good.built).toBe(0);
    }
    const bad = countingLabel();
    expect(() => assertSessionUpdate({ ...patches[0], channels: [{ id: 1n, pts: 5 }, { id: 1n, pts: 6 }] }, bad as unknown as string)).toThrow(
      /^session\.channels\[1\]\.id must be unique in the list/,
    );
    expect(bad.built).toBeGreaterThan(0);
  });
});
