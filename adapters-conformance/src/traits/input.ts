/**
 * Invalid input (DESIGN §2, §5): every argument of every client method, each bad
 * value rejected with InvalidArgumentError as a rejected promise, and nothing
 * stored: the stored session and peers are exactly as before the call.
 */
import type { Peer, Session, Storage } from '@mtstore/core';
import { authKey, fullSession, peer } from '../fixtures.js';
import { CODES, expectRejects } from '../harness.js';
import type { StorageRegistrar } from './context.js';

type Mutation = (session: Session & Record<string, unknown>) => void;

/** Deep-ish clone so each case edits its own copy. */
function sessionWith(mutate: Mutation): unknown {
  const session = fullSession(1) as Session & Record<string, unknown>;
  mutate(session);
  return session;
}

function dc(session: Session, index = 0): Record<string, unknown> {
  return session.dcs[index] as unknown as Record<string, unknown>;
}

const INT64_BAD: readonly [string, unknown][] = [
  ['a number', 1],
  ['a decimal string', '1'],
  ['2^63 (above the range)', 2n ** 63n],
  ['-2^63-1 (below the range)', -(2n ** 63n) - 1n],
  ['undefined', undefined],
];

/** Argument → bad values of `save(session)`. */
const SAVE_CASES: readonly [string, readonly [string, Mutation | unknown][]][] = [
  ['session', [['null', null], ['a string', 'session'], ['an array', []], ['a number', 42]]],
  ['session.version', [['2', (x: Record<string, unknown>) => (x.version = 2)], ['missing', (x: Record<string, unknown>) => delete x.version]]],
  [
    'session.homeDcId',
    [
      ['0', (x: Session) => (x.homeDcId = 0)],
      ['1001', (x: Session) => (x.homeDcId = 1001)],
      ['1.5', (x: Session) => (x.homeDcId = 1.5)],
      ['a string', (x: Record<string, unknown>) => (x.homeDcId = '2')],
      ['a DC that is not in dcs', (x: Session) => (x.homeDcId = 9)],
    ],
  ],
  [
    'session.dcs',
    [
      ['not an array', (x: Record<string, unknown>) => (x.dcs = {})],
      ['empty', (x: Session) => (x.dcs = [])],
      ['holding a non-object', (x: Session) => ((x.dcs as unknown[])[0] = 5)],
      ['holding two main entries for one DC', (x: Session) => x.dcs.push({ id: 1, port: 443 })],
    ],
  ],
  ['session.dcs[].id', [['0', (x: Session) => (dc(x).id = 0)], ['NaN', (x: Session) => (dc(x).id = Number.NaN)], ['1001', (x: Session) => (dc(x).id = 1001)]]],
  [
    'session.dcs[].port',
    [
      ['0', (x: Session) => (dc(x).port = 0)],
      ['65536', (x: Session) => (dc(x).port = 65536)],
      ['a string', (x: Session) => (dc(x).port = '443')],
      ['missing', (x: Session) => delete dc(x).port],
    ],
  ],
  [
    'session.dcs[].ipv4 and ipv6',
    [
      ['ipv4 with three parts', (x: Session) => (dc(x).ipv4 = '1.2.3')],
      ['ipv4 with a part over 255', (x: Session) => (dc(x).ipv4 = '256.1.1.1')],
      ['ipv4 holding an IPv6 address', (x: Session) => (dc(x).ipv4 = '::1')],
      ['ipv6 in brackets', (x: Session) => (dc(x).ipv6 = '[::1]')],
      ['ipv6 with non-hex digits', (x: Session) => (dc(x).ipv6 = 'zz::1')],
    ],
  ],
  ['session.dcs[].testMode and mediaOnly', [['testMode a string', (x: Session) => (dc(x).testMode = 'yes')], ['mediaOnly 1', (x: Session) => (dc(x).mediaOnly = 1)]]],
  [
    'session.dcs[].authKey',
    [
      ['255 bytes', (x: Session) => (dc(x).authKey = new Uint8Array(255))],
      ['257 bytes', (x: Session) => (dc(x).authKey = new Uint8Array(257))],
      ['empty', (x: Session) => (dc(x).authKey = new Uint8Array(0))],
      ['an array of 256 numbers', (x: Session) => (dc(x).authKey = Array.from(authKey(1)))],
      ['a hex string', (x: Session) => (dc(x).authKey = 'ab'.repeat(256))],
    ],
  ],
  [
    'session.dcs[].tempAuthKeys',
    [
      ['not an array', (x: Session) => (dc(x, 1).tempAuthKeys = {})],
      ['a key of 128 bytes', (x: Session) => ((dc(x, 1).tempAuthKeys as { key: unknown }[])[0]!.key = new Uint8Array(128))],
      ['expiresAt in milliseconds', (x: Session) => ((dc(x, 1).tempAuthKeys as { expiresAt: unknown }[])[0]!.expiresAt = 1_900_000_000_000)],
      ['a negative index', (x: Session) => ((dc(x, 1).tempAuthKeys as { index: unknown }[])[0]!.index = -1)],
      ['two keys with one index', (x: Session) => ((dc(x, 1).tempAuthKeys as { index: unknown }[])[1]!.index = 0)],
    ],
  ],
  [
    'session.user',
    [
      ...INT64_BAD.map(([what, value]): [string, Mutation] => [`id ${what}`, (x) => ((x.user as unknown as Record<string, unknown>).id = value)]),
      ['dcId 0', (x: Session) => ((x.user as unknown as Record<string, unknown>).dcId = 0)],
      ['bot a string', (x: Session) => ((x.user as unknown as Record<string, unknown>).bot = 'no')],
      ['a username with @', (x: Session) => ((x.user as unknown as Record<string, unknown>).usernames = ['@alice'])],
      ['a username with a space', (x: Session) => ((x.user as unknown as Record<string, unknown>).usernames = ['al ice'])],
      ['usernames not an array', (x: Session) => ((x.user as unknown as Record<string, unknown>).usernames = 'alice')],
      ['the same username twice in different case', (x: Session) => ((x.user as unknown as Record<string, unknown>).usernames = ['Alice', 'aLICE'])],
      ['premium a number', (x: Session) => ((x.user as unknown as Record<string, unknown>).premium = 1)],
    ],
  ],
  [
    'session.state',
    [
      ['pts -1', (x: Session) => ((x.state as unknown as Record<string, unknown>).pts = -1)],
      ['qts 1.5', (x: Session) => ((x.state as unknown as Record<string, unknown>).qts = 1.5)],
      ['date in milliseconds', (x: Session) => ((x.state as unknown as Record<string, unknown>).date = Date.now())],
      ['seq 2^31', (x: Session) => ((x.state as unknown as Record<string, unknown>).seq = 2 ** 31)],
      ['seq missing', (x: Session) => delete (x.state as unknown as Record<string, unknown>).seq],
    ],
  ],
  [
    'session.channels',
    [
      ['missing', (x: Record<string, unknown>) => delete x.channels],
      ['an id that is a number', (x: Session) => ((x.channels[0] as unknown as Record<string, unknown>).id = 5)],
      ['the same channel twice', (x: Session) => x.channels.push({ ...(x.channels[0] as { id: bigint; pts: number }) })],
      ['pts -1', (x: Session) => ((x.channels[0] as unknown as Record<string, unknown>).pts = -1)],
    ],
  ],
  ['session.takeoutId', INT64_BAD.filter(([w]) => w !== 'undefined').map(([what, value]): [string, Mutation] => [what, (x) => ((x as Record<string, unknown>).takeoutId = value)])],
  [
    'session.apiId',
    [
      ['0', (x: Session) => (x.apiId = 0)],
      ['1.5', (x: Session) => (x.apiId = 1.5)],
      ['a string', (x: Record<string, unknown>) => (x.apiId = '1')],
    ],
  ],
];

const BAD_STATES: readonly [string, unknown][] = [
  ['null', null],
  ['pts -1', { pts: -1, qts: 1, date: 1, seq: 1 }],
  ['qts a string', { pts: 1, qts: '1', date: 1, seq: 1 }],
  ['date 1.5', { pts: 1, qts: 1, date: 1.5, seq: 1 }],
  ['date in milliseconds', { pts: 1, qts: 1, date: 1_700_000_000_000, seq: 1 }],
  ['seq missing', { pts: 1, qts: 1, date: 1 }],
];

const BAD_CHANNELS: readonly [string, unknown][] = [
  ['a string', 'channels'],
  ['an id that is a number', [{ id: 1, pts: 1 }]],
  ['an id of 2^63', [{ id: 2n ** 63n, pts: 1 }]],
  ['the same channel twice', [{ id: 1n, pts: 1 }, { id: 1n, pts: 2 }]],
  ['pts -1', [{ id: 1n, pts: -1 }]],
  ['pts missing', [{ id: 1n }]],
];

function peerWith(overrides: Record<string, unknown>): Peer {
  return { ...peer('user', 500), ...overrides } as Peer;
}

const BAD_PEERS: readonly [string, readonly [string, unknown][]][] = [
  ['peers', [['not an array', 'peers'], ['null', null], ['an object', {}]]],
  ['peers[].type', [['group', [peerWith({ type: 'group' })]], ['missing', [peerWith({ type: undefined })]]]],
  ['peers[].id', INT64_BAD.map(([what, value]): [string, unknown] => [what, [peerWith({ id: value })]])],
  ['peers[].accessHash', INT64_BAD.map(([what, value]): [string, unknown] => [what, [peerWith({ accessHash: value })]])],
  [
    'peers[].usernames',
    [
      ['not an array', [peerWith({ usernames: 'user_500' })]],
      ['with @', [peerWith({ usernames: ['@user_500'] })]],
      ['with a space', [peerWith({ usernames: ['user 500'] })]],
      ['empty string', [peerWith({ usernames: [''] })]],
      ['the same name twice in different case', [peerWith({ usernames: ['Foo_bar', 'foo_BAR'] })]],
    ],
  ],
  ['peers[].phone', [['with +', [peerWith({ phone: '+15550001' })]], ['with dashes', [peerWith({ phone: '555-0001' })]], ['empty', [peerWith({ phone: '' })]], ['a number', [peerWith({ phone: 5550001 })]]]],
  ['peers[].min', [['a string', [peerWith({ min: 'yes' })]], ['1', [peerWith({ min: 1 })]]]],
  ['peers[].updatedAt', [['in milliseconds', [peerWith({ updatedAt: Date.now() })]], ['negative', [peerWith({ updatedAt: -1 })]], ['missing', [peerWith({ updatedAt: undefined })]]]],
  ['one bad peer among good ones', [['the last of six', [...[1, 2, 3, 4, 5].map((n) => peer('chat', n)), peerWith({ id: 1 })]]]],
];

/** Saves a known session and peers, runs `body`, then checks both are exactly as before. */
async function unchangedAfter(storage: Storage, expect: StorageRegistrar['expect'], body: () => Promise<void>): Promise<void> {
  const before = fullSession(1);
  const peers = [peer('user', 1), peer('channel', 2)];
  await storage.save(before);
  await storage.peers.upsert(peers);
  await body();
  expect(await storage.load(), 'the stored session must be unchanged').toEqual(before);
  for (const p of peers) expect(await storage.peers.getById(p.type, p.id), 'stored peers must be unchanged').toEqual(p);
  expect(await storage.peers.getById('user', 500n), 'no invalid peer may be stored').toBeNull();
  for (const n of [1, 2, 3, 4, 5]) expect(await storage.peers.getById('chat', BigInt(n)), 'a batch with an invalid peer stores none of it').toBeNull();
}

export function invalidInput({ group, test, expect }: StorageRegistrar): void {
  group('invalid input', () => {
    for (const [argument, cases] of SAVE_CASES) {
      test(`save rejects a bad ${argument} with InvalidArgumentError and stores nothing`, async (s) => {
        const storage = await s.open();
        await unchangedAfter(storage, expect, async () => {
          for (const [what, mutation] of cases) {
            const bad = typeof mutation === 'function' ? sessionWith(mutation as Mutation) : mutation;
            await expectRejects(expect, `save with ${argument} ${what}`, CODES.invalid, () => storage.save(bad as Session));
          }
        });
      });
    }

    test('saveUpdateState rejects a bad state with InvalidArgumentError and stores nothing', async (s) => {
      const storage = await s.open();
      await unchangedAfter(storage, expect, async () => {
        for (const [what, state] of BAD_STATES) {
          await expectRejects(expect, `saveUpdateState with state ${what}`, CODES.invalid, () =>
            storage.saveUpdateState(state as never, [{ id: 1_000_000_000_000n, pts: 1 }]),
          );
        }
      });
    });

    test('saveUpdateState rejects bad channels with InvalidArgumentError and stores nothing', async (s) => {
      const storage = await s.open();
      await unchangedAfter(storage, expect, async () => {
        for (const [what, channels] of BAD_CHANNELS) {
          await expectRejects(expect, `saveUpdateState with channels ${what}`, CODES.invalid, () =>
            storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, channels as never),
          );
        }
      });
    });

    for (const [argument, cases] of BAD_PEERS) {
      test(`peers.upsert rejects ${argument === 'one bad peer among good ones' ? argument : `a bad ${argument}`} with InvalidArgumentError and stores nothing`, async (s) => {
        const storage = await s.open();
        await unchangedAfter(storage, expect, async () => {
          for (const [what, batch] of cases) {
            await expectRejects(expect, `peers.upsert with ${argument} ${what}`, CODES.invalid, () => storage.peers.upsert(batch as Peer[]));
          }
        });
      });
    }

    test('peers.getById rejects a bad type or id with InvalidArgumentError', async (s) => {
      const storage = await s.open();
      await unchangedAfter(storage, expect, async () => {
        for (const type of ['bot', '', undefined]) {
          await expectRejects(expect, `getById with type ${String(type)}`, CODES.invalid, () => storage.peers.getById(type as never, 1n));
        }
        for (const [what, id] of INT64_BAD) {
          await expectRejects(expect, `getById with id ${what}`, CODES.invalid, () => storage.peers.getById('user', id as bigint));
        }
      });
    });

    test('peers.getByUsername rejects a bad username with InvalidArgumentError', async (s) => {
      const storage = await s.open();
      await unchangedAfter(storage, expect, async () => {
        for (const username of ['', '@user_1', 'user 1', 5, undefined]) {
          await expectRejects(expect, `getByUsername(${JSON.stringify(username)})`, CODES.invalid, () => storage.peers.getByUsername(username as string));
        }
      });
    });

    test('contract v2 operations reject every bad argument with InvalidArgumentError and store nothing', async (s) => {
      const storage = await s.open();
      const key = authKey(1);
      const temp = { index: 0, key, expiresAt: 1 };
      const badDcs: unknown[] = [0, 1001, 1.5, '2', undefined, null];
      const calls: [string, () => Promise<unknown>][] = [
        ...badDcs.map((dc): [string, () => Promise<unknown>] => [`authKeys.set(${String(dc)})`, () => storage.authKeys.set(dc as number, key)]),
        ...badDcs.map((dc): [string, () => Promise<unknown>] => [`authKeys.get(${String(dc)})`, () => storage.authKeys.get(dc as number)]),
        ['authKeys.set with 255 bytes', () => storage.authKeys.set(2, new Uint8Array(255))],
        ['authKeys.set with a hex string', () => storage.authKeys.set(2, Buffer.from(key).toString('hex') as never)],
        ['authKeys.set with an array of numbers', () => storage.authKeys.set(2, Array.from(key) as never)],
        ['authKeys.setTemp with index -1', () => storage.authKeys.setTemp(2, { ...temp, index: -1 })],
        ['authKeys.setTemp with expiry in ms', () => storage.authKeys.setTemp(2, { ...temp, expiresAt: Date.now() })],
        ['authKeys.setTemp with a 257-byte key', () => storage.authKeys.setTemp(2, { ...temp, key: new Uint8Array(257) })],
        ['authKeys.setTemp with no temp', () => storage.authKeys.setTemp(2, undefined as never)],
        ['authKeys.getTemp with index 1.5', () => storage.authKeys.getTemp(2, 1.5)],
        ['authKeys.deleteTemp with index "0"', () => storage.authKeys.deleteTemp(2, '0' as never)],
        ['authKeys.deleteByDc(0)', () => storage.authKeys.deleteByDc(0)],
        ['kv.set with an empty key', () => storage.kv.set('', new Uint8Array(1))],
        ['kv.set with a key holding a space', () => storage.kv.set('a b', new Uint8Array(1))],
        ['kv.set with a 256-char key', () => storage.kv.set('x'.repeat(256), new Uint8Array(1))],
        ['kv.set with a non-ASCII key', () => storage.kv.set('ключ', new Uint8Array(1))],
        ['kv.set with a string value', () => storage.kv.set('k', 'value' as never)],
        ['kv.set with 65537 bytes', () => storage.kv.set('k', new Uint8Array(65_537))],
        ['kv.get with a number', () => storage.kv.get(5 as never)],
        ['kv.delete with a newline', () => storage.kv.delete('a\nb')],
        ['refMessages.store with a number peer id', () => storage.refMessages.store(1 as never, 1n, 1)],
        ['refMessages.store with message id 0', () => storage.refMessages.store(1n, 1n, 0)],
        ['refMessages.store with message id 2^31', () => storage.refMessages.store(1n, 1n, 2 ** 31)],
        ['refMessages.store with chat id 2^63', () => storage.refMessages.store(1n, 2n ** 63n, 1)],
        ['refMessages.delete with a non-array', () => storage.refMessages.delete(1n, 5 as never)],
        ['refMessages.delete with message id -1', () => storage.refMessages.delete(1n, [1, -1])],
        ['refMessages.delete with 10001 ids', () => storage.refMessages.delete(1n, Array.from({ length: 10_001 }, (_, i) => i + 1))],
        ['refMessages.getByPeer with a string', () => storage.refMessages.getByPeer('1' as never)],
        ['refMessages.deleteByPeer with undefined', () => storage.refMessages.deleteByPeer(undefined as never)],
        ['peers.list with limit 0', () => storage.peers.list({ limit: 0 })],
        ['peers.list with limit 10001', () => storage.peers.list({ limit: 10_001 })],
        ['peers.list with an empty cursor', () => storage.peers.list({ cursor: '' })],
        ['refMessages.list with limit 0', () => storage.refMessages.list({ limit: 0 })],
        ['refMessages.list with limit 10001', () => storage.refMessages.list({ limit: 10_001 })],
        ['refMessages.list with limit 1.5', () => storage.refMessages.list({ limit: 1.5 })],
        ['refMessages.list with a number cursor', () => storage.refMessages.list({ cursor: 5 as never })],
        ['refMessages.list with options "all"', () => storage.refMessages.list('all' as never)],
        ['peers.upsert with a 1025-char displayName', () => storage.peers.upsert([peer('user', 500, { displayName: 'x'.repeat(1025) })])],
        ['peers.upsert with U+0000 in the displayName', () => storage.peers.upsert([peer('user', 500, { displayName: 'a\u0000b' })])],
        ['peers.upsert with an unpaired surrogate in the displayName', () => storage.peers.upsert([peer('user', 500, { displayName: 'a\ud83d' })])],
        ['peers.upsert with complete as an array', () => storage.peers.upsert([peerWith({ complete: [1, 2] })])],
        ['peers.upsert with 65537 complete bytes', () => storage.peers.upsert([peer('user', 500, { complete: new Uint8Array(65_537) })])],
        ['update({})', () => storage.update({})],
        ['update with an unknown field', () => storage.update({ version: 1 } as never)],
        ['update with a state lacking qts', () => storage.update({ state: { pts: 1, date: 1, seq: 1 } as never })],
        ['update with a state date in milliseconds', () => storage.update({ state: { pts: 1, qts: 1, date: Date.now(), seq: 1 } })],
        ['update with channels null', () => storage.update({ channels: null as never })],
        ['update with a channel twice', () => storage.update({ channels: [{ id: 1n, pts: 1 }, { id: 1n, pts: 2 }] })],
        ['update with a channel id as a number', () => storage.update({ channels: [{ id: 1 as never, pts: 1 }] })],
        ['update with a good state and bad channels', () => storage.update({ state: { pts: 1, qts: 1, date: 1, seq: 1 }, channels: [{ id: 1n, pts: -1 }] })],
        ['update with homeDcId and no dcs', () => storage.update({ homeDcId: 2 })],
        ['update with dcs and no homeDcId', () => storage.update({ dcs: [{ id: 2, port: 443 }] })],
        ['update with a home DC not in dcs', () => storage.update({ homeDcId: 3, dcs: [{ id: 2, port: 443 }] })],
        ['update with a DC carrying a key', () => storage.update({ homeDcId: 2, dcs: [{ id: 2, port: 443, authKey: key }] })],
        ['update with a bad host', () => storage.update({ homeDcId: 2, dcs: [{ id: 2, host: 'bad host', port: 443 }] })],
        ['update with a numeric host', () => storage.update({ homeDcId: 2, dcs: [{ id: 2, host: '1.2.3.4', port: 443 }] })],
        ['update with a host and no port', () => storage.update({ homeDcId: 2, dcs: [{ id: 2, host: 'a.example' }] })],
        ['update with a user lacking bot', () => storage.update({ user: { id: 1n, dcId: 2 } as never })],
        ['update with a user username list holding @', () => storage.update({ user: { id: 1n, dcId: 2, bot: false, usernames: ['@me'] } })],
        ['update with premium "yes"', () => storage.update({ user: { id: 1n, dcId: 2, bot: false, premium: 'yes' as never } })],
        ['update with apiId 0', () => storage.update({ apiId: 0 })],
        ['update with takeoutId 1', () => storage.update({ takeoutId: 1 as never })],
      ];
      await unchangedAfter(storage, expect, async () => {
        for (const [what, call] of calls) await expectRejects(expect, what, CODES.invalid, call);
      });
      expect(await storage.authKeys.get(2)).toEqual(fullSession(1).dcs[1]?.authKey);
      expect(await storage.kv.entries()).toEqual([]);
      expect(await storage.refMessages.getByPeer(1n)).toBeNull();
    });

    test('peers.list and refMessages.list reject a cursor not in the contract’s format, and take any that is', async (s) => {
      const storage = await s.open();
      await unchangedAfter(storage, expect, async () => {
        await storage.peers.upsert([peer('chat', 30), peer('user', 40)]);
        for (const id of [1, 2, 3]) await storage.refMessages.store(BigInt(id), -100n, id);
        // A cursor the adapter returned, then changed: each change leaves the format.
        const peerCursor = (await storage.peers.list({ limit: 1 })).cursor as string;
        const refCursor = (await storage.refMessages.list({ limit: 1 })).cursor as string;
        const mangled = (c: string) => [`x${c}`, `${c}x`, `${c}\n`, ` ${c}`, `${c} `, `${c}\u0000`, c.toUpperCase() === c ? `${c}0a` : c.toUpperCase()];
        const badPeers = [
          ...mangled(peerCursor),
          `${peerCursor}:1`, peerCursor.replace(':', '/'), peerCursor.replace(':', '::'),
          'bot:1', 'users:1', 'user:', ':1', 'user', '1', 'user:01', 'user:-0', 'user:+1', 'user:-01', 'user:1.0', 'user:1e3', 'user:0x10', 'user:1_000',
          `user:${2n ** 63n}`, `chat:${-(2n ** 63n) - 1n}`, 'channel:99999999999999999999', 'user:١', '0:0', '2:15',
        ];
        const badRefs = [...mangled(refCursor), '-1', '-0', '01', '+1', '1.0', '1e3', '0x10', '1_0', String(2n ** 63n), '99999999999999999999', 'user:1', '١'];
        for (const cursor of badPeers) {
          await expectRejects(expect, `peers.list with cursor ${JSON.stringify(cursor)}`, CODES.invalid, () => storage.peers.list({ cursor }));
        }
        for (const cursor of badRefs) {
          await expectRejects(expect, `refMessages.list with cursor ${JSON.stringify(cursor)}`, CODES.invalid, () => storage.refMessages.list({ cursor }));
        }
        // Well-formed cursors of places never returned are not errors, up to both ends of the range.
        for (const cursor of [`user:${2n ** 63n - 1n}`, `channel:${-(2n ** 63n)}`, 'chat:0', `channel:${2n ** 63n - 1n}`]) {
          const page = await storage.peers.list({ cursor });
          expect(Array.isArray(page.peers), `peers.list with cursor ${cursor}`).toBe(true);
        }
        expect(await storage.refMessages.list({ cursor: String(2n ** 63n - 1n) }), 'a cursor past every reference').toEqual({ refs: [], cursor: null });
        expect((await storage.refMessages.list({ cursor: '0' })).refs.map((r) => r.messageId), 'cursor 0: from the start').toEqual([1, 2, 3]);
        await storage.refMessages.clear();
      });
    });

    test('peers.getByPhone rejects a bad phone with InvalidArgumentError', async (s) => {
      const storage = await s.open();
      await unchangedAfter(storage, expect, async () => {
        for (const phone of ['', '+15550001', '555-0001', 5550001, undefined]) {
          await expectRejects(expect, `getByPhone(${JSON.stringify(phone)})`, CODES.invalid, () => storage.peers.getByPhone(phone as string));
        }
      });
    });
  });
}
