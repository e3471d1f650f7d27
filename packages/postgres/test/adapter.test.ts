/**
 * `openStorage('postgres://…?schema=…&session=…')` and `openSessionStorage(url)`
 * through core, with this package's adapter (from source) plugged in for both schemes.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession } from '@mtstore/conformance';
import { openSessionStorage, openStorage, registerAdapter, SessionSubject, type SessionEvent } from '@mtstore/core';
import { describe, expect, it } from 'vitest';
import { adapter, PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { freshSchema, plain, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

registerAdapter('postgres', async () => adapter);
registerAdapter('postgresql', async () => adapter);

function withParameters(base: string, parameters: Record<string, string>): string {
  const target = new URL(base);
  for (const [key, value] of Object.entries(parameters)) target.searchParams.set(key, value);
  return target.href;
}

describe.runIf(server.available)('adapter', () => {
  it('opens a named session in the schema from the URL, for postgres:// and postgresql://', async () => {
    const schema = freshSchema();
    const alice = track(await openStorage(withParameters(url, { schema, session: 'alice' })));
    expect(alice).toBeInstanceOf(PostgresStorage);
    expect((alice as PostgresStorage).schema).toBe(schema);
    expect((alice as PostgresStorage).name).toBe('alice');
    await alice.save(fullSession(1));
    const again = track(await openStorage(withParameters(url.replace(/^postgres:/, 'postgresql:'), { schema }), { name: 'alice' }));
    expect(plain(await again.load())).toEqual(fullSession(1));
    const other = track(await openStorage(withParameters(url, { schema })));
    expect((other as PostgresStorage).name).toBe('default');
    expect(await other.load()).toBeNull();
  });

  it('openSessionStorage gives storage and a bus on the same schema: a subject is one line', async () => {
    const target = withParameters(url, { schema: freshSchema() });
    const a = await openSessionStorage(target);
    const b = await openSessionStorage(target);
    for (const opened of [a, b]) {
      expect(opened.storage).toBeInstanceOf(PostgresSessionStorage);
      expect(opened.bus).toBeInstanceOf(PostgresSessionEventBus);
      track(opened.storage);
      track(opened.bus as PostgresSessionEventBus);
    }
    const subjectA = track(new SessionSubject(a.storage, { bus: a.bus, id: 'a' }));
    const subjectB = track(new SessionSubject(b.storage, { bus: b.bus, id: 'b' }));
    await Promise.all([subjectA.ready(), subjectB.ready()]);
    const heard: SessionEvent[] = [];
    subjectB.subscribe({ update: (event) => void heard.push(event) });
    expect(await subjectA.createSession(1n, 2n)).toBe(true);
    await until(() => heard.length === 1, 'the event on the other subject');
    expect(heard).toEqual([{ type: 'created', authKeyId: 1n, sessionId: 2n, origin: 'a' }]);
    expect(await b.storage.hasSession(1n, 2n)).toBe(true);
  });

  it('an invalid schema parameter is InvalidArgumentError; no error shows the password', async () => {
    const secret = 'pw-that-must-not-leak';
    const withPassword = new URL(url);
    withPassword.password = secret;
    const invalid = await openStorage(withParameters(withPassword.href, { schema: 'bad;schema' })).then(
      () => undefined,
      (e: Error & { code: string }) => e,
    );
    expect(invalid?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(invalid?.message).not.toContain(secret);
    // A server that refuses the connection: the error names the operation, not the URL.
    const refused = track(await openStorage(`postgres://postgres:${secret}@127.0.0.1:1/test?schema=${freshSchema()}`));
    const error = await refused.load().then(
      () => undefined,
      (e: Error & { code: string }) => e,
    );
    expect(error?.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(`${error?.message} ${String(error?.cause)}`).not.toContain(secret);
  });
});
