/**
 * What the conformance kit cannot see from outside, on every driver: how values sit
 * in the tables, corrupt rows, what TypeORM's query log prints, and many
 * DataSources writing one session at once.
 */
import { authKey, fullSession, ID_EXTREMES, minimalSession, peer, randomNamespace } from '@mtstore/conformance/vitest';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { DataSource, EventSubscriber, type DataSourceOptions, type EntitySubscriberInterface, type Logger } from 'typeorm';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { availableDrivers, keyForms, plain, type TestDriver } from './drivers.js';

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** A fresh namespace, a DataSource on it for direct queries, and cleanup. */
async function withTables(db: TestDriver, body: (ctx: { namespace: string; prefix: string; app: DataSource; table: (name: string) => string }) => Promise<void>) {
  const namespace = randomNamespace();
  const prefix = `${namespace}_`;
  const app = await new DataSource(db.options(namespace)).initialize();
  try {
    await body({ namespace, prefix, app, table: (name) => app.driver.escape(`${prefix}${name}`) });
  } finally {
    await app.destroy();
    await db.cleanup(namespace);
  }
}

const text = (db: TestDriver, column: string) => `CAST(${column} AS ${db.name === 'mysql' ? 'CHAR' : 'TEXT'})`;

afterEach(() => {
  vi.restoreAllMocks();
});

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

for (const db of drivers) {
  describe(`${db.name}: storage`, () => {
    it('64-bit ids are stored as native BIGINTs, exact at both ends and above 2^53', () =>
      withTables(db, async ({ prefix, app, table }) => {
        const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix });
        const server = new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix });
        const session = fullSession(1);
        session.user = { id: INT64_MAX, dcId: 2, bot: false };
        session.takeoutId = INT64_MIN;
        await storage.save(session);
        await storage.peers.upsert([peer('channel', 1, { id: 2n ** 53n + 1n, accessHash: INT64_MIN })]);
        await server.createSession(INT64_MIN, INT64_MAX);

        // Compared with integer literals: numeric columns, not text, and exact.
        const found = await app.query(
          `SELECT ${text(db, 'user_id')} AS u, ${text(db, 'takeout_id')} AS t FROM ${table('sessions')} WHERE user_id = 9223372036854775807 AND takeout_id = -9223372036854775808`,
        );
        expect(found).toEqual([{ u: '9223372036854775807', t: '-9223372036854775808' }]);
        const peers = await app.query(`SELECT ${text(db, 'access_hash')} AS h FROM ${table('peers')} WHERE peer_id = 9007199254740993`);
        expect(peers).toEqual([{ h: '-9223372036854775808' }]);
        expect(await app.query(`SELECT 1 AS one FROM ${table('server_sessions')} WHERE auth_key_id = -9223372036854775808 AND session_id = 9223372036854775807`)).toHaveLength(1);
        // 2^53 and 2^53+1 are the same double: the lookup must not be.
        expect(await storage.peers.getById('channel', 2n ** 53n)).toBeNull();
        expect((await storage.peers.getById('channel', 2n ** 53n + 1n))?.accessHash).toBe(INT64_MIN);
        await storage.close();
        await server.close();
      }));

    it('auth keys are stored as 256 binary bytes in auth_keys, one row per key; absent booleans as NULL', () =>
      withTables(db, async ({ prefix, app, table }) => {
        const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix });
        const session = minimalSession();
        session.dcs = [{ id: 2, port: 443, authKey: authKey(5), testMode: false, tempAuthKeys: [{ index: 3, key: authKey(6), expiresAt: 2 ** 32 - 1 }] }];
        await storage.save(session);
        const [dc] = (await app.query(`SELECT test_mode AS t, media_only AS m, host AS h FROM ${table('datacenters')}`)) as { t: unknown; m: unknown; h: unknown }[];
        expect(Number(dc?.t)).toBe(0);
        expect(dc?.m).toBeNull();
        expect(dc?.h).toBeNull();
        const keys = (await app.query(
          `SELECT dc_id AS d, media_only AS m, slot AS s, auth_key AS k, ${text(db, 'expires_at')} AS e FROM ${table('auth_keys')} ORDER BY slot`,
        )) as { d: unknown; m: unknown; s: unknown; k: Uint8Array; e: unknown }[];
        expect(keys.map((k) => [Number(k.d), Number(k.m), Number(k.s), k.e])).toEqual([
          [2, 0, -1, null],
          [2, 0, 3, String(2 ** 32 - 1)],
        ]);
        expect(Buffer.from(keys[0]?.k as Uint8Array).equals(Buffer.from(authKey(5)))).toBe(true);
        expect(Buffer.from(keys[1]?.k as Uint8Array).equals(Buffer.from(authKey(6)))).toBe(true);
        await storage.close();
      }));

    it('kv values come back as plain Uint8Arrays with buffers of their own; a peer’s complete holds no other session’s secret', () =>
      withTables(db, async ({ prefix, app }) => {
        // Drivers hand binary columns out as Buffers that are views of shared memory (pg:
        // Node's Buffer pool; mysql2: the packet): a value's `buffer` held what the
        // process read just before, another session's kv secret too.
        const secret = 'OTHER-SESSION-SECRET';
        const ascii = (value: string): Uint8Array => Uint8Array.from(value, (c) => c.charCodeAt(0));
        const holds = (bytes: Uint8Array): boolean => Buffer.from(bytes.buffer).toString('latin1').includes(secret);
        const mine = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'alice' });
        const theirs = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'bob' });
        await theirs.kv.set('theirs', ascii(secret), { secret: true });
        await mine.kv.set('mine', ascii('MY-SECRET-VALUE'), { secret: true });
        await mine.peers.upsert([peer('user', 1, { complete: new Uint8Array(200).fill(0x44) })]);
        for (let round = 0; round < 3; round++) {
          await theirs.kv.get('theirs');
          const value = (await mine.kv.get('mine')) as Uint8Array;
          expect(value.constructor).toBe(Uint8Array);
          expect([value.byteOffset, value.buffer.byteLength]).toEqual([0, value.length]);
          expect(holds(value)).toBe(false);
          await theirs.kv.entries();
          const [entry] = await mine.kv.entries();
          expect(entry?.value.constructor).toBe(Uint8Array);
          expect([entry?.value.byteOffset, entry?.value.buffer.byteLength]).toEqual([0, entry?.value.length]);
          await theirs.kv.get('theirs');
          const complete = (await mine.peers.getById('user', 1n))?.complete as Uint8Array;
          expect(complete.constructor).toBe(Uint8Array);
          expect(plain(complete)).toEqual(new Uint8Array(200).fill(0x44));
          expect(holds(complete)).toBe(false);
        }
        await mine.close();
        await theirs.close();
      }));

    it('a truncated key in the table is CorruptDataError naming the session, without the bytes', () =>
      withTables(db, async ({ prefix, app, table }) => {
        const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'victim' });
        await storage.save(fullSession(1));
        const key = fullSession(1).dcs[0]?.authKey as Uint8Array;
        await app.query(`UPDATE ${table('auth_keys')} SET auth_key = ${db.name === 'postgres' ? '$1' : '?'} WHERE dc_id = 1 AND slot = -1`, [Buffer.from(key.subarray(0, 10))]);
        let error: Error | undefined;
        try {
          await storage.load();
        } catch (caught) {
          error = caught as Error;
        }
        expect((error as { code?: string } | undefined)?.code).toBe('MTSTORE_CORRUPT_DATA');
        expect(error?.message).toContain('session "victim"');
        expect(error?.message).toContain('10 bytes, expected 256');
        for (const form of keyForms(key)) expect(error?.message).not.toContain(form);
        await storage.close();
      }));

    it('with TypeORM query logging on, the log shows no key bytes', () =>
      withTables(db, async ({ namespace, prefix }) => {
        const printed: string[] = [];
        for (const method of ['log', 'info', 'error', 'warn'] as const) {
          vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
        }
        const storage = new TypeormStorage({ options: { ...db.options(namespace), logging: true }, tablePrefix: prefix });
        const session = fullSession(4);
        await storage.save(session);
        await storage.load();
        await storage.close();
        vi.restoreAllMocks();
        const log = printed.join('\n');
        expect(log).toContain('[redacted auth key]'); // the parameters were printed, keys as the placeholder
        const keys = session.dcs.flatMap((dc) => [dc.authKey, ...(dc.tempAuthKeys ?? []).map((t) => t.key)]).filter((k) => k !== undefined);
        for (const key of keys) for (const form of keyForms(key)) expect(log.includes(form), `log shows ${form}`).toBe(false);
      }));

    it('query logs (logging: true, a custom Logger) show no key or kv bytes from any write, with or without a lease or encryption', () =>
      withTables(db, async ({ namespace, prefix }) => {
        const printed: string[] = [];
        for (const method of ['log', 'info', 'error', 'warn', 'debug'] as const) {
          vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
        }
        // A custom Logger's arguments, as a JSON logger (pino, winston) or inspect would print them.
        const given: string[] = [];
        const record = (...args: unknown[]) => void given.push(...args.map((arg) => `${JSON.stringify(arg, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value))} ${inspect(arg, { depth: 5 })}`));
        // The query runner, the last argument of the query methods, is left out (circular).
        const logger: Logger = {
          logQuery: (query, parameters) => record(query, parameters),
          logQueryError: (error, query, parameters) => record(String(error), query, parameters),
          logQuerySlow: (time, query, parameters) => record(time, query, parameters),
          logSchemaBuild: (message) => record(message),
          logMigration: (message) => record(message),
          log: (level, message) => record(level, message),
        };
        const secrets: Uint8Array[] = [];
        const fresh = (length: number) => {
          const bytes = randomBytes(length);
          secrets.push(bytes);
          return bytes;
        };
        for (const logging of [{ logging: true }, { logger }]) {
          const app = await new DataSource({ ...db.options(namespace), ...logging } as DataSourceOptions).initialize();
          try {
            for (const encryption of [undefined, { keys: [{ id: 'k1', key: randomBytes(32) }] }]) {
              for (const leased of [false, true]) {
                const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: `n${String(leased)}`, ...(encryption === undefined ? {} : { encryption }) });
                if (leased) await storage.lease.acquire({ heartbeat: false });
                const session = fullSession(4);
                for (const dc of session.dcs) for (const key of [dc.authKey, ...(dc.tempAuthKeys ?? []).map((temp) => temp.key)]) if (key !== undefined) secrets.push(key);
                await storage.save(session);
                await storage.authKeys.set(2, fresh(256));
                await storage.authKeys.setTemp(2, { index: 1, key: fresh(256), expiresAt: 2_000_000_000 });
                await storage.kv.set('salts:2', fresh(64), { secret: true });
                await storage.kv.set('plain', fresh(64));
                await storage.load();
                await storage.authKeys.entries();
                await storage.kv.entries();
                await storage.close();
              }
            }
          } finally {
            await app.destroy();
          }
        }
        vi.restoreAllMocks();
        const log = printed.join('\n');
        expect(log).toContain('[redacted auth key]'); // the parameters were printed, with placeholders
        expect(log).toContain('[redacted kv value]');
        expect(given.join('\n')).toContain('[redacted kv value]');
        for (const [where, text] of [['console', log], ['logger', given.join('\n')]] as const) {
          for (const secret of secrets) for (const form of keyForms(secret).slice(0, 4)) expect(text.includes(form), `${where} shows ${form}`).toBe(false);
        }
      }));

    it('many DataSources writing one session at once: every call succeeds and the result is one of the writes', () =>
      withTables(db, async ({ namespace, prefix }) => {
        const instances = Array.from({ length: 4 }, () => new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix }));
        try {
          await (instances[0] as TypeormStorage).save(fullSession(1));
          const calls = instances.flatMap((storage, i) =>
            Array.from({ length: 6 }, (_, round) => {
              const n = i * 10 + round;
              switch (round % 3) {
                case 0:
                  return storage.save(fullSession(n + 1));
                case 1:
                  return storage.saveUpdateState({ pts: n, qts: n, date: n, seq: n }, [{ id: BigInt(n), pts: n }]);
                default:
                  return storage.peers.upsert([peer('user', n, { usernames: ['contested', `own_${n}`], phone: '15550000' }), peer('chat', n)]);
              }
            }),
          );
          const outcomes = await Promise.allSettled(calls);
          expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
          const loaded = await (instances[1] as TypeormStorage).load();
          expect(loaded).not.toBeNull();
          // Exactly one peer answers to the contested username and phone, and lists it.
          const owner = await (instances[2] as TypeormStorage).peers.getByUsername('contested');
          expect(owner?.usernames).toContain('contested');
          expect((await (instances[3] as TypeormStorage).peers.getByPhone('15550000'))?.id).toBe(owner?.id);
        } finally {
          await Promise.all(instances.map((storage) => storage.close()));
        }
      }));

    it('50 callers on 5 DataSources racing to create, then to destroy, one session: one true each time', () =>
      withTables(db, async ({ namespace, prefix }) => {
        const servers = Array.from({ length: 5 }, () => new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: prefix }));
        try {
          for (const [authKeyId, sessionId] of [[1n, 1n], [INT64_MIN, INT64_MAX]] as const) {
            const created = await Promise.all(Array.from({ length: 50 }, (_, i) => (servers[i % 5] as TypeormSessionStorage).createSession(authKeyId, sessionId)));
            expect(created.filter(Boolean)).toHaveLength(1);
            const destroyed = await Promise.all(Array.from({ length: 50 }, (_, i) => (servers[i % 5] as TypeormSessionStorage).destroySession(authKeyId, sessionId)));
            expect(destroyed.filter(Boolean)).toHaveLength(1);
          }
          // destroyAllSessions racing with itself and with creates of other keys.
          for (const id of ID_EXTREMES) await (servers[0] as TypeormSessionStorage).createSession(7n, id);
          const [removed] = await Promise.all([
            Promise.all(servers.map((s) => s.destroyAllSessions(7n))),
            Promise.all(servers.map((s, i) => s.createSession(8n, BigInt(i)))),
          ]);
          expect(removed.flat().sort((a, b) => (a < b ? -1 : 1))).toEqual([...ID_EXTREMES]);
          expect(await (servers[1] as TypeormSessionStorage).listSessions(8n)).toHaveLength(5);
        } finally {
          await Promise.all(servers.map((s) => s.close()));
        }
      }));

    it('usernames re-ordered, re-cased, swapped between peers, and phones swapped, in place', () =>
      withTables(db, async ({ prefix, app }) => {
        const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix });
        await storage.save(minimalSession());
        const usernamesOf = async (id: bigint) => (await storage.peers.getById('user', id))?.usernames;
        await storage.peers.upsert([peer('user', 1, { usernames: ['Alpha', 'beta'], phone: '111' }), peer('user', 2, { usernames: [], phone: '222' })]);
        await storage.peers.upsert([peer('user', 1, { usernames: ['beta', 'ALPHA'], phone: '111' })]);
        expect(await usernamesOf(1n)).toEqual(['beta', 'ALPHA']);
        await storage.peers.upsert([peer('user', 1, { usernames: ['beta', 'ALPHA'], phone: '111' })]); // unchanged
        expect(await usernamesOf(1n)).toEqual(['beta', 'ALPHA']);
        // One batch: user 1 gives both names to user 2 and takes a new one; the two swap phones.
        await storage.peers.upsert([peer('user', 1, { usernames: ['gamma'], phone: '222' }), peer('user', 2, { usernames: ['Beta', 'alpha'], phone: '111' })]);
        expect(await usernamesOf(1n)).toEqual(['gamma']);
        expect(await usernamesOf(2n)).toEqual(['Beta', 'alpha']);
        expect((await storage.peers.getByUsername('ALPHA'))?.id).toBe(2n);
        expect((await storage.peers.getByPhone('111'))?.id).toBe(2n);
        expect((await storage.peers.getByPhone('222'))?.id).toBe(1n);
        // A peer outside the batch loses a phone the batch hands to someone else.
        await storage.peers.upsert([peer('user', 3, { usernames: [], phone: '111' })]);
        expect((await storage.peers.getById('user', 2n))?.phone).toBeUndefined();
        expect((await storage.peers.getByPhone('111'))?.id).toBe(3n);
        // And one that loses a username and its phone in the same batch keeps the rest of its row.
        const four = peer('user', 4, { usernames: ['delta', 'Epsilon'], phone: '444', accessHash: 44n });
        await storage.peers.upsert([four]);
        await storage.peers.upsert([peer('user', 5, { usernames: ['DELTA'], phone: '444' })]);
        expect(await storage.peers.getById('user', 4n)).toEqual({ ...four, usernames: ['Epsilon'], phone: undefined });
        expect((await storage.peers.getByUsername('epsilon'))?.id).toBe(4n);
        expect((await storage.peers.getByUsername('delta'))?.id).toBe(5n);
        expect((await storage.peers.getByPhone('444'))?.id).toBe(5n);
        await storage.close();
      }));

    it('subscribers of the DataSource see every statement (beforeQuery / afterQuery), single statements included', () =>
      withTables(db, async ({ namespace, prefix }) => {
        const seen: string[] = [];
        // Only `query` is read: BeforeQueryEvent/AfterQueryEvent are generic in TypeORM 0.3, not in 1.x.
        class Watcher implements EntitySubscriberInterface {
          beforeQuery(event: { query: string }): void {
            seen.push(`before ${event.query}`);
          }
          afterQuery(event: { query: string }): void {
            seen.push(`after ${event.query}`);
          }
        }
        EventSubscriber()(Watcher); // what the decorator does
        const storage = new TypeormStorage({ options: { ...db.options(namespace), subscribers: [Watcher] }, tablePrefix: prefix });
        const server = new TypeormSessionStorage({ options: { ...db.options(namespace), subscribers: [Watcher] }, tablePrefix: prefix });
        try {
          await storage.load();
          await server.hasSession(1n, 1n);
          seen.length = 0;
          await storage.kv.set('k', Uint8Array.of(1));
          expect([...((await storage.kv.get('k')) ?? [])]).toEqual([1]);
          expect(await server.createSession(1n, 2n)).toBe(true);
          expect(seen.filter((q) => q.startsWith('before ')).map((q) => q.replace(/ .*/s, ''))).toHaveLength(3);
          expect(seen.filter((q) => q.startsWith('after '))).toHaveLength(3);
          expect(seen.some((q) => q.includes(`${prefix ?? ''}kv`) && /INSERT/i.test(q))).toBe(true);
        } finally {
          await storage.close();
          await server.close();
        }
      }));

    it('under a held lease a key or kv write is a transaction that reads the lease token first; without one, a single statement', () =>
      withTables(db, async ({ namespace, prefix }) => {
        const statements: string[] = [];
        const logger = { logQuery: (query: string) => void statements.push(query), logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
        const storage = new TypeormStorage({ options: { ...db.options(namespace), logger }, tablePrefix: prefix });
        try {
          await storage.load();
          statements.length = 0;
          await storage.kv.set('k', Uint8Array.of(1));
          expect(statements).toHaveLength(1);
          await storage.lease.acquire({ heartbeat: false });
          statements.length = 0;
          await storage.kv.set('k', Uint8Array.of(2));
          await storage.authKeys.set(2, authKey(1));
          const work = statements.filter((q) => !/^(START|BEGIN|COMMIT)/i.test(q));
          expect(work).toHaveLength(4);
          expect(work[0]).toMatch(/leases.* WHERE name = .* AND token = /);
          expect(work[0]).toMatch(db.name === 'postgres' ? /FOR SHARE$/ : db.name === 'mysql' ? /LOCK IN SHARE MODE$/ : /token = \?$/);
          expect(work[2]).toMatch(/leases/);
          if (db.name !== 'sqlite') expect(statements.filter((q) => /^(START TRANSACTION|BEGIN)/i.test(q))).toHaveLength(2);
          expect([...((await storage.kv.get('k')) ?? [])]).toEqual([2]);
        } finally {
          await storage.close();
        }
      }));

    it('a key, kv or reference write is one statement with no transaction around it; writers of different keys on two DataSources lose none', () =>
      withTables(db, async ({ namespace, prefix }) => {
        const statements: string[] = [];
        const logger = { logQuery: (query: string) => void statements.push(query), logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
        const a = new TypeormStorage({ options: { ...db.options(namespace), logger }, tablePrefix: prefix });
        const b = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix });
        try {
          await a.load(); // connected, schema ready
          for (const write of [
            () => a.authKeys.set(2, authKey(1)),
            () => a.authKeys.setTemp(2, { index: 0, key: authKey(2), expiresAt: 1 }),
            () => a.authKeys.delete(2),
            () => a.kv.set('x', Uint8Array.of(1)),
            () => a.kv.delete('x'),
            () => a.refMessages.store(1n, 2n, 3),
          ]) {
            statements.length = 0;
            await write();
            expect(statements, statements.join('\n')).toHaveLength(1);
            expect(statements[0]).not.toMatch(/^(START|BEGIN|COMMIT)/i);
          }
          // No snapshot anywhere: two instances write 40 keys and 40 kv entries at once, with peers in between.
          await Promise.all(
            Array.from({ length: 40 }, (_, i) => {
              const storage = i % 2 === 0 ? a : b;
              return Promise.all([
                storage.authKeys.set(i + 1, authKey(i)),
                storage.authKeys.setTemp(1, { index: i, key: authKey(100 + i), expiresAt: 1_900_000_000 + i }),
                storage.kv.set(`key${i}`, Uint8Array.of(i)),
                storage.peers.upsert([peer('user', i)]),
              ]);
            }),
          );
          for (let i = 0; i < 40; i++) {
            expect(plain(await b.authKeys.get(i + 1))).toEqual(plain(authKey(i)));
            expect((await a.authKeys.getTemp(1, i))?.expiresAt).toBe(1_900_000_000 + i);
          }
          expect((await a.kv.entries()).map((e) => e.key)).toEqual(Array.from({ length: 40 }, (_, i) => `key${i}`).sort());
          expect(await b.load()).toBeNull(); // keys alone are no snapshot
          expect(await b.listNames()).toEqual(['default']);
        } finally {
          await a.close();
          await b.close();
        }
      }));

    it('a large update: 5,000 channels in one saveUpdateState and 3,000 in a save round-trip', () =>
      withTables(db, async ({ prefix, app }) => {
        const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix });
        const session = minimalSession();
        session.channels = Array.from({ length: 3000 }, (_, i) => ({ id: BigInt(3000 - i), pts: i }));
        await storage.save(session);
        const added = Array.from({ length: 5000 }, (_, i) => ({ id: BigInt(10_000 + i), pts: i }));
        await storage.saveUpdateState({ pts: 1, qts: 2, date: 3, seq: 4 }, added);
        const loaded = await storage.load();
        // Saved order first, then new channels in the order they were added.
        expect(plain(loaded?.channels)).toEqual([...session.channels, ...added]);
        await storage.close();
      }));
  });
}
