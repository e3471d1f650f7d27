/**
 * Model-based traits (fast-check `fc.commands` + `fc.asyncModelRun`): random sequences
 * of every client and server operation, spread over two instances of one backend,
 * each result checked against a small reference model written here from
 * docs/contract.md. A failure shrinks to a minimal sequence, printed with the seed and
 * path that replay it (`MTSTORE_KIT_SEED` / `MTSTORE_KIT_PATH`); `MTSTORE_KIT_RUNS`
 * or the suite's `modelRuns` raises the number of runs.
 */
import fc from 'fast-check';
import {
  isStorageError,
  mergePeer,
  normalizePeerBatch,
  peerKey,
  usernameKey,
  type ChannelState,
  type DataCenter,
  type Peer,
  type PeerType,
  type RefMessageEntry,
  type SelfUser,
  type Session,
  type SessionStorageProtocol,
  type Storage,
  type TempAuthKey,
  type UpdateState,
  type AuthKeyEntry,
} from '@mtstore/core';
import { authKey } from '../fixtures.js';
import type { Expect } from '../api.js';
import type { ServerRegistrar, StorageRegistrar } from './context.js';

// ---- the reference model ----------------------------------------------------------

interface EntryKeys {
  key?: Uint8Array;
  temps: Map<number, TempAuthKey>;
}

interface ClientModel {
  snapshot: Session | null; // without keys
  keys: Map<string, EntryKeys>; // `dcId:0|1`
  kv: Map<string, Uint8Array>;
  peers: Map<string, Peer>;
  refs: RefMessageEntry[]; // every reference of the session, oldest first (store order)
}

const emptyModel = (): ClientModel => ({ snapshot: null, keys: new Map(), kv: new Map(), peers: new Map(), refs: [] });
const entryId = (dcId: number, media: boolean | undefined): string => `${dcId}:${media === true ? 1 : 0}`;

function entryKeys(model: ClientModel, id: string): EntryKeys {
  let keys = model.keys.get(id);
  if (keys === undefined) model.keys.set(id, (keys = { temps: new Map() }));
  return keys;
}

/** What load() must return for the model (docs/contract.md §2). */
function expectedSession(model: ClientModel): Session | null {
  if (model.snapshot === null) return null;
  const used = new Set<string>();
  const withKeys = (dc: DataCenter, keys: EntryKeys | undefined): DataCenter => {
    const out: DataCenter = { ...dc };
    if (keys?.key !== undefined) out.authKey = keys.key;
    if (keys !== undefined && keys.temps.size > 0) out.tempAuthKeys = [...keys.temps.values()].sort((x, y) => x.index - y.index);
    return out;
  };
  const dcs = model.snapshot.dcs.map((dc) => {
    const id = entryId(dc.id, dc.mediaOnly);
    used.add(id);
    return withKeys(dc, model.keys.get(id));
  });
  const orphans = [...model.keys.entries()]
    .filter(([id, keys]) => !used.has(id) && (keys.key !== undefined || keys.temps.size > 0))
    .map(([id, keys]) => [id.split(':').map(Number) as [number, number], keys] as const)
    .sort(([[a, ma]], [[b, mb]]) => a - b || ma - mb);
  for (const [[dcId, media], keys] of orphans) dcs.push(withKeys(media === 1 ? { id: dcId, mediaOnly: true } : { id: dcId }, keys));
  return { ...model.snapshot, dcs };
}

/** What authKeys.entries() must return for the model (docs/contract.md §3). */
function expectedEntries(model: ClientModel): AuthKeyEntry[] {
  return [...model.keys.entries()]
    .filter(([, keys]) => keys.key !== undefined || keys.temps.size > 0)
    .map(([id, keys]) => {
      const [dcId, media] = id.split(':').map(Number) as [number, number];
      const entry: AuthKeyEntry = { dcId, mediaOnly: media === 1, tempAuthKeys: [...keys.temps.values()].sort((x, y) => x.index - y.index) };
      if (keys.key !== undefined) entry.authKey = keys.key;
      return entry;
    })
    .sort((x, y) => x.dcId - y.dcId || Number(x.mediaOnly) - Number(y.mediaOnly));
}

function putPeers(model: ClientModel, batch: readonly Peer[]): void {
  for (const incoming of normalizePeerBatch(batch)) {
    const key = peerKey(incoming.type, incoming.id);
    const peer = mergePeer(model.peers.get(key), incoming);
    for (const [otherKey, other] of model.peers) {
      if (otherKey === key) continue;
      const names = new Set(peer.usernames.map(usernameKey));
      other.usernames = other.usernames.filter((u) => !names.has(usernameKey(u)));
      if (peer.phone !== undefined && other.phone === peer.phone) delete other.phone;
    }
    model.peers.set(key, peer);
  }
}

function peerByUsername(model: ClientModel, username: string): Peer | null {
  const found = [...model.peers.values()].find((p) => p.usernames.some((u) => usernameKey(u) === usernameKey(username)));
  return found === undefined || found.min === true ? null : found;
}

function peerByPhone(model: ClientModel, phone: string): Peer | null {
  const found = [...model.peers.values()].find((p) => p.phone === phone);
  return found === undefined || found.min === true ? null : found;
}

// ---- what a command does to the real instance and the model ---------------------------

interface ClientReal {
  instances: Storage[];
  expect: Expect;
}

/** Runs `call`; if the model says it must fail, its code; otherwise its value. */
async function settle<T>(call: () => Promise<T>): Promise<{ value?: T; code?: string }> {
  try {
    return { value: await call() };
  } catch (error) {
    if (!isStorageError(error)) throw error;
    return { code: error.code };
  }
}

class ClientCommand implements fc.AsyncCommand<ClientModel, ClientReal> {
  constructor(
    readonly label: string,
    readonly instance: number,
    readonly run_: (storage: Storage, model: ClientModel, expect: Expect, label: string) => Promise<void>,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: ClientModel, real: ClientReal): Promise<void> {
    const storage = real.instances[this.instance % real.instances.length] as Storage;
    await this.run_(storage, model, real.expect, this.toString());
  }
  toString(): string {
    return `[${this.instance}] ${this.label}`;
  }
}

const show = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `<${v.length}B:${v[0]}>` : v));

const dcIds = fc.constantFrom(1, 2, 4, 203);
const keySeed = fc.integer({ min: 1, max: 6 });
const peerTypes = fc.constantFrom<PeerType>('user', 'channel');
// Small pools, so sequences collide: the same peer, username, phone, DC and key again.
const peerIds = fc.constantFrom(1n, -(2n ** 63n), 2n ** 63n - 1n);
const usernamePool = fc.constantFrom('alpha', 'ALPHA', 'Beta', 'gamma_1');
const phones = fc.constantFrom('111', '222');
const channelIds = fc.constantFrom(1n, 2n, -5n, 2n ** 62n);

const tempKey: fc.Arbitrary<TempAuthKey> = fc.record({ index: fc.integer({ min: 0, max: 2 }), key: keySeed.map(authKey), expiresAt: fc.constantFrom(0, 1_700_000_000, 2 ** 32 - 1) });

const selfUser: fc.Arbitrary<SelfUser> = fc.record(
  { id: peerIds, dcId: dcIds, bot: fc.boolean(), usernames: fc.uniqueArray(fc.constantFrom('me', 'Second'), { maxLength: 2 }), premium: fc.boolean() },
  { requiredKeys: ['id', 'dcId', 'bot'] },
);

const dataCenter = (withKeys: boolean): fc.Arbitrary<DataCenter> =>
  fc
    .record(
      {
        id: dcIds,
        ipv4: fc.constant('149.154.167.51'),
        host: fc.constant('vesta.web.telegram.org'),
        port: fc.constantFrom(80, 443),
        mediaOnly: fc.boolean(),
        testMode: fc.boolean(),
        authKey: withKeys ? keySeed.map(authKey) : fc.constant(undefined),
        tempAuthKeys: withKeys ? fc.uniqueArray(tempKey, { selector: (t) => t.index, minLength: 1, maxLength: 2 }) : fc.constant(undefined),
      },
      { requiredKeys: ['id'] },
    )
    .map((dc) => {
      const out = Object.fromEntries(Object.entries(dc).filter(([, v]) => v !== undefined)) as unknown as DataCenter;
      if ((out.ipv4 !== undefined || out.host !== undefined) && out.port === undefined) out.port = 443;
      return out;
    });

const uniqueDcs = (withKeys: boolean) =>
  fc.uniqueArray(dataCenter(withKeys), { selector: (dc) => entryId(dc.id, dc.mediaOnly), minLength: 1, maxLength: 3 });

const state: fc.Arbitrary<UpdateState> = fc.record({ pts: fc.nat(50), qts: fc.nat(50), date: fc.constantFrom(0, 2 ** 31 + 1), seq: fc.nat(50) });
const channels: fc.Arbitrary<ChannelState[]> = fc.uniqueArray(fc.record({ id: channelIds, pts: fc.nat(99) }), { selector: (c) => c.id, maxLength: 3 });

const session: fc.Arbitrary<Session> = fc
  .record(
    { dcs: uniqueDcs(true), user: selfUser, state, channels, apiId: fc.integer({ min: 1, max: 10 }), takeoutId: peerIds },
    { requiredKeys: ['dcs', 'channels'] },
  )
  .map((s) => ({ version: 1 as const, homeDcId: (s.dcs[0] as DataCenter).id, ...s }));

const peer: fc.Arbitrary<Peer> = fc
  .record(
    {
      type: peerTypes,
      id: peerIds,
      accessHash: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      usernames: fc.uniqueArray(usernamePool, { selector: usernameKey, maxLength: 2 }),
      phone: phones,
      min: fc.boolean(),
      updatedAt: fc.nat(10),
      displayName: fc.constantFrom('A', 'Б 🚀'),
      complete: fc.constantFrom(Uint8Array.from([1]), Uint8Array.from([2, 2])),
    },
    { requiredKeys: ['type', 'id', 'accessHash', 'usernames', 'updatedAt'] },
  )
  .map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as unknown as Peer);

/** Every command once, the peer and reference commands (where most rules are) three times. */
function weighted<T>(commands: fc.Arbitrary<T>[], heavy: readonly number[]): fc.Arbitrary<T>[] {
  return [...commands, ...heavy.flatMap((i) => [commands[i] as fc.Arbitrary<T>, commands[i] as fc.Arbitrary<T>])];
}

function clientCommands(instances: number): fc.Arbitrary<ClientCommand>[] {
  const on = fc.nat(instances - 1);
  const cmd = <T>(arb: fc.Arbitrary<T>, label: (v: T) => string, body: (v: T) => ClientCommand['run_']) =>
    fc.tuple(on, arb).map(([i, v]) => new ClientCommand(label(v), i, body(v)));
  const cleanKeys = (model: ClientModel): void => {
    for (const [id, keys] of model.keys) if (keys.key === undefined && keys.temps.size === 0) model.keys.delete(id);
  };
  const commands = [
    cmd(session, (s) => `save(${show(s)})`, (s) => async (storage, model, expect, label) => {
      await storage.save(s);
      model.keys.clear();
      for (const dc of s.dcs) {
        const keys = entryKeys(model, entryId(dc.id, dc.mediaOnly));
        if (dc.authKey !== undefined) keys.key = dc.authKey;
        for (const t of dc.tempAuthKeys ?? []) keys.temps.set(t.index, t);
      }
      cleanKeys(model);
      model.snapshot = { ...s, dcs: s.dcs.map(({ authKey: _k, tempAuthKeys: _t, ...address }) => address) };
      expect(await storage.load(), label).toEqual(expectedSession(model));
    }),
    cmd(fc.constant(null), () => 'load()', () => async (storage, model, expect, label) => {
      expect(await storage.load(), label).toEqual(expectedSession(model));
    }),
    cmd(fc.record({ dcs: uniqueDcs(false), user: fc.option(selfUser), apiId: fc.option(fc.integer({ min: 1, max: 9 })), state: fc.option(state), channels }, { requiredKeys: [] }), (p) => `update(${show(p)})`, (p) => async (storage, model, expect, label) => {
      const patch = { ...p, ...(p.dcs ? { homeDcId: (p.dcs[0] as DataCenter).id } : {}) };
      if (Object.keys(patch).length === 0) return;
      const result = await settle(() => storage.update(patch));
      if (model.snapshot === null && patch.dcs === undefined) {
        expect(result.code, label).toBe('MTSTORE_NOT_FOUND');
        return;
      }
      expect(result.code, label).toBeUndefined();
      const snapshot: Session = model.snapshot ?? { version: 1, homeDcId: 0, dcs: [], channels: [] };
      if (patch.dcs !== undefined) {
        snapshot.dcs = patch.dcs;
        snapshot.homeDcId = patch.homeDcId as number;
      }
      for (const field of ['user', 'apiId', 'state'] as const) {
        if (patch[field] === null) delete snapshot[field];
        else if (patch[field] !== undefined) (snapshot as unknown as Record<string, unknown>)[field] = patch[field];
      }
      if (patch.channels !== undefined) snapshot.channels = patch.channels.map((c) => ({ ...c }));
      model.snapshot = snapshot;
    }),
    cmd(fc.tuple(state, channels), ([st, ch]) => `saveUpdateState(${show(st)}, ${show(ch)})`, ([st, ch]) => async (storage, model, expect, label) => {
      const result = await settle(() => storage.saveUpdateState(st, ch));
      if (model.snapshot === null) {
        expect(result.code, label).toBe('MTSTORE_NOT_FOUND');
        return;
      }
      expect(result.code, label).toBeUndefined();
      model.snapshot.state = st;
      for (const c of ch) {
        const stored = model.snapshot.channels.find((x) => x.id === c.id);
        if (stored) stored.pts = c.pts;
        else model.snapshot.channels.push({ ...c });
      }
    }),
    cmd(fc.constant(null), () => 'delete()', () => async (storage, model) => {
      await storage.delete();
      Object.assign(model, emptyModel());
    }),
    cmd(fc.tuple(dcIds, fc.option(keySeed)), ([dc, seed]) => `authKeys.${seed === null ? `delete(${dc})` : `set(${dc}, key ${seed})`}`, ([dc, seed]) => async (storage, model, expect, label) => {
      if (seed === null) {
        await storage.authKeys.delete(dc);
        delete entryKeys(model, entryId(dc, false)).key;
      } else {
        await storage.authKeys.set(dc, authKey(seed));
        entryKeys(model, entryId(dc, false)).key = authKey(seed);
      }
      cleanKeys(model);
      expect(await storage.authKeys.get(dc), label).toEqual(model.keys.get(entryId(dc, false))?.key ?? null);
    }),
    cmd(fc.tuple(dcIds, fc.option(tempKey), fc.integer({ min: 0, max: 2 })), ([dc, t, index]) => `authKeys.${t === null ? `deleteTemp(${dc}, ${index})` : `setTemp(${dc}, ${show(t)})`}`, ([dc, t, index]) => async (storage, model, expect, label) => {
      if (t === null) {
        await storage.authKeys.deleteTemp(dc, index);
        entryKeys(model, entryId(dc, false)).temps.delete(index);
      } else {
        await storage.authKeys.setTemp(dc, t);
        entryKeys(model, entryId(dc, false)).temps.set(t.index, t);
      }
      cleanKeys(model);
      const slot = t?.index ?? index;
      expect(await storage.authKeys.getTemp(dc, slot), label).toEqual(model.keys.get(entryId(dc, false))?.temps.get(slot) ?? null);
    }),
    cmd(dcIds, (dc) => `authKeys.deleteByDc(${dc})`, (dc) => async (storage, model, expect, label) => {
      await storage.authKeys.deleteByDc(dc);
      model.keys.delete(entryId(dc, false));
      model.keys.delete(entryId(dc, true));
      expect(await storage.authKeys.get(dc), label).toBeNull();
    }),
    cmd(fc.tuple(fc.constantFrom('a', 'B', 'salts:2'), fc.option(fc.uint8Array({ maxLength: 4 }))), ([k, v]) => `kv.${v === null ? `delete(${k})` : `set(${k}, ${show(v)})`}`, ([k, v]) => async (storage, model, expect, label) => {
      if (v === null) {
        await storage.kv.delete(k);
        model.kv.delete(k);
      } else {
        await storage.kv.set(k, v);
        model.kv.set(k, v);
      }
      expect(await storage.kv.entries(), label).toEqual([...model.kv.keys()].sort().map((key) => ({ key, value: model.kv.get(key) })));
    }),
    cmd(fc.array(peer, { minLength: 1, maxLength: 4 }), (b) => `peers.upsert(${show(b)})`, (batch) => async (storage, model) => {
      await storage.peers.upsert(batch);
      putPeers(model, batch);
    }),
    cmd(fc.tuple(peerTypes, peerIds), ([t, id]) => `peers.getById(${t}, ${id})`, ([t, id]) => async (storage, model, expect, label) => {
      expect(await storage.peers.getById(t, id), label).toEqual(model.peers.get(peerKey(t, id)) ?? null);
    }),
    cmd(usernamePool, (u) => `peers.getByUsername(${u})`, (u) => async (storage, model, expect, label) => {
      expect(await storage.peers.getByUsername(u), label).toEqual(peerByUsername(model, u));
    }),
    cmd(phones, (p) => `peers.getByPhone(${p})`, (p) => async (storage, model, expect, label) => {
      expect(await storage.peers.getByPhone(p), label).toEqual(peerByPhone(model, p));
    }),
    cmd(fc.integer({ min: 1, max: 3 }), (limit) => `peers.list(limit ${limit}) to the end`, (limit) => async (storage, model, expect, label) => {
      const seen: Peer[] = [];
      let cursor: string | null = null;
      do {
        const page = await storage.peers.list({ cursor, limit });
        seen.push(...page.peers);
        cursor = page.cursor;
      } while (cursor !== null && seen.length <= model.peers.size);
      const order = (p: Peer) => peerKey(p.type, p.id);
      expect([...seen].sort((x, y) => order(x).localeCompare(order(y))), label).toEqual([...model.peers.values()].sort((x, y) => order(x).localeCompare(order(y))));
    }),
    cmd(fc.constant(null), () => 'peers.clear()', () => async (storage, model) => {
      await storage.peers.clear();
      model.peers.clear();
    }),
    // A few stores in a row: sequences are short, and the store order across peers needs several.
    cmd(fc.array(fc.tuple(peerIds, fc.constantFrom(-100n, -200n), fc.integer({ min: 1, max: 3 })), { minLength: 1, maxLength: 3 }), (refs) => refs.map(([p, c, m]) => `refMessages.store(${p}, ${c}, ${m})`).join('; '), (refs) => async (storage, model, expect, label) => {
      for (const [p, c, m] of refs) {
        await storage.refMessages.store(p, c, m);
        model.refs = model.refs.filter((r) => !(r.peerId === p && r.chatId === c && r.messageId === m));
        model.refs.push({ peerId: p, chatId: c, messageId: m });
        expect(await storage.refMessages.getByPeer(p), label).toEqual({ chatId: c, messageId: m });
      }
      // The model never holds more than one page: the whole store order, checked after the stores.
      expect((await storage.refMessages.list({ limit: 10_000 })).refs, `${label}: refMessages.list()`).toEqual(model.refs);
    }),
    cmd(fc.tuple(fc.constantFrom(-100n, -200n), fc.uniqueArray(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 })), ([c, ms]) => `refMessages.delete(${c}, ${show(ms)})`, ([c, ms]) => async (storage, model) => {
      await storage.refMessages.delete(c, ms);
      model.refs = model.refs.filter((r) => !(r.chatId === c && ms.includes(r.messageId)));
    }),
    cmd(peerIds, (p) => `refMessages.getByPeer(${p})`, (p) => async (storage, model, expect, label) => {
      const latest = model.refs.filter((r) => r.peerId === p).at(-1);
      expect(await storage.refMessages.getByPeer(p), label).toEqual(latest === undefined ? null : { chatId: latest.chatId, messageId: latest.messageId });
    }),
    // Contract v2.1 (appended, so the weights above keep their indexes).
    cmd(fc.constant(null), () => 'authKeys.entries()', () => async (storage, model, expect, label) => {
      expect(await storage.authKeys.entries(), label).toEqual(expectedEntries(model));
    }),
    cmd(fc.constant(null), () => 'authKeys.clear()', () => async (storage, model, expect, label) => {
      await storage.authKeys.clear();
      model.keys.clear();
      expect(await storage.authKeys.entries(), label).toEqual([]);
    }),
    cmd(fc.integer({ min: 1, max: 3 }), (limit) => `refMessages.list(limit ${limit}) to the end`, (limit) => async (storage, model, expect, label) => {
      const seen: RefMessageEntry[] = [];
      let cursor: string | null = null;
      do {
        const page = await storage.refMessages.list({ cursor, limit });
        seen.push(...page.refs);
        cursor = page.cursor;
      } while (cursor !== null && seen.length <= model.refs.length);
      expect(seen, label).toEqual(model.refs);
    }),
    cmd(peerIds, (p) => `refMessages.deleteByPeer(${p})`, (p) => async (storage, model) => {
      await storage.refMessages.deleteByPeer(p);
      model.refs = model.refs.filter((r) => r.peerId !== p);
    }),
  ];
  // upsert, getById, getByUsername, refMessages.store, refMessages.getByPeer, refMessages.list
  return weighted(commands, [9, 10, 11, 15, 17, 20]);
}

// ---- server -----------------------------------------------------------------------

type ServerModel = Map<bigint, Set<bigint>>;
interface ServerReal {
  instances: SessionStorageProtocol[];
  expect: Expect;
}

class ServerCommand implements fc.AsyncCommand<ServerModel, ServerReal> {
  constructor(
    readonly label: string,
    readonly instance: number,
    readonly run_: (storage: SessionStorageProtocol, model: ServerModel, expect: Expect, label: string) => Promise<void>,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: ServerModel, real: ServerReal): Promise<void> {
    await this.run_(real.instances[this.instance % real.instances.length] as SessionStorageProtocol, model, real.expect, this.toString());
  }
  toString(): string {
    return `[${this.instance}] ${this.label}`;
  }
}

const AUTH_KEYS = [1n, -1n, 2n ** 63n - 1n];
const authKeyIds = fc.constantFrom(...AUTH_KEYS);
const sessionIds = fc.constantFrom(1n, 2n, -(2n ** 63n));
const sorted = (ids: readonly bigint[]): bigint[] => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function serverCommands(instances: number): fc.Arbitrary<ServerCommand>[] {
  const on = fc.nat(instances - 1);
  const cmd = <T>(arb: fc.Arbitrary<T>, label: (v: T) => string, body: (v: T) => ServerCommand['run_']) =>
    fc.tuple(on, arb).map(([i, v]) => new ServerCommand(label(v), i, body(v)));
  const pair = fc.tuple(authKeyIds, sessionIds);
  return [
    cmd(pair, ([a, s]) => `createSession(${a}, ${s})`, ([a, s]) => async (storage, model, expect, label) => {
      const set = model.get(a) ?? model.set(a, new Set()).get(a) ?? new Set<bigint>();
      expect(await storage.createSession(a, s), label).toBe(!set.has(s));
      set.add(s);
    }),
    cmd(pair, ([a, s]) => `destroySession(${a}, ${s})`, ([a, s]) => async (storage, model, expect, label) => {
      expect(await storage.destroySession(a, s), label).toBe(model.get(a)?.delete(s) ?? false);
    }),
    cmd(pair, ([a, s]) => `hasSession(${a}, ${s})`, ([a, s]) => async (storage, model, expect, label) => {
      expect(await storage.hasSession(a, s), label).toBe(model.get(a)?.has(s) ?? false);
    }),
    cmd(authKeyIds, (a) => `listSessions(${a})`, (a) => async (storage, model, expect, label) => {
      expect(sorted(await storage.listSessions(a)), label).toEqual(sorted([...(model.get(a) ?? [])]));
    }),
    cmd(authKeyIds, (a) => `destroyAllSessions(${a})`, (a) => async (storage, model, expect, label) => {
      expect(sorted(await storage.destroyAllSessions(a)), label).toEqual(sorted([...(model.get(a) ?? [])]));
      model.delete(a);
    }),
  ];
}

// ---- the traits -------------------------------------------------------------------

function runParameters(modelRuns: number | undefined): fc.Parameters<[unknown]> {
  const seed = process.env.MTSTORE_KIT_SEED;
  const path = process.env.MTSTORE_KIT_PATH;
  return {
    numRuns: Number(process.env.MTSTORE_KIT_RUNS ?? modelRuns ?? 30),
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path }),
    endOnFailure: false,
    // A real backend makes every shrink step a few round trips: keep the search bounded.
    interruptAfterTimeLimit: 90_000,
  };
}

/** fast-check's report, with how to replay it. */
function replayable(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const seed = /seed: (-?\d+)/.exec(message)?.[1];
  const path = /path: "([^"]*)"/.exec(message)?.[1];
  const replay = seed === undefined ? '' : `\nReplay: MTSTORE_KIT_SEED=${seed}${path === undefined ? '' : ` MTSTORE_KIT_PATH=${path}`} (same test filter)`;
  return new Error(`${message}${replay}`, { cause: error });
}

export function clientModel({ group, test, expect, options }: StorageRegistrar & { options: { modelRuns?: number } }): void {
  group('model-based', () => {
    const shared = options.capabilities?.sharedBackend !== false;
    test(`random sequences of every client operation over ${shared ? 'two instances' : 'one instance'} match the reference model`, async (s) => {
      const instances = shared ? [await s.open('model'), await s.open('model')] : [await s.open('model')];
      try {
        await fc.assert(
          fc.asyncProperty(fc.commands(clientCommands(instances.length), { maxCommands: 40 }), async (commands) => {
            await (instances[0] as Storage).delete();
            await fc.asyncModelRun(() => ({ model: emptyModel(), real: { instances, expect } }), commands);
          }),
          runParameters(options.modelRuns),
        );
      } catch (error) {
        throw replayable(error);
      }
    });
  });
}

export function serverModel({ group, test, expect, options }: ServerRegistrar & { options: { modelRuns?: number } }): void {
  group('model-based', () => {
    const shared = options.capabilities?.sharedBackend !== false;
    test(`random sequences of every server operation over ${shared ? 'two instances' : 'one instance'} match the reference model`, async (s) => {
      const instances = shared ? [await s.open(), await s.open()] : [await s.open()];
      try {
        await fc.assert(
          fc.asyncProperty(fc.commands(serverCommands(instances.length), { maxCommands: 25 }), async (commands) => {
            for (const a of AUTH_KEYS) await (instances[0] as SessionStorageProtocol).destroyAllSessions(a);
            await fc.asyncModelRun(() => ({ model: new Map(), real: { instances, expect } }), commands);
          }),
          runParameters(options.modelRuns),
        );
      } catch (error) {
        throw replayable(error);
      }
    });
  });
}
