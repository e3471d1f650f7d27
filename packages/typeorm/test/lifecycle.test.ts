/**
 * What an application does to its own DataSource while the storages use it: destroys it
 * with calls in flight and initializes it again. On every driver.
 */
import { randomNamespace, fullSession } from '@mtstore/conformance/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { availableDrivers, plain } from './drivers.js';

type Outcome = { code?: string; message: string } | 'fulfilled' | 'pending';

/** How `call` ended within `ms`: fulfilled, the error's code and message, or still pending. */
async function within(call: Promise<unknown>, ms: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<Outcome>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  const settled = call.then(
    (): Outcome => 'fulfilled',
    (error: unknown): Outcome => ({ code: (error as { code?: string }).code, message: (error as Error).message }),
  );
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

for (const db of drivers) {
  describe(`${db.name}: the application's DataSource changes under the storages`, () => {
    it('calls in flight when the application destroys its DataSource settle (StorageUnavailableError), and work once it initializes it again', async () => {
      const namespace = randomNamespace();
      const prefix = db.prefix(namespace);
      // One connection, and no connectTimeoutMS: calls wait in the pool's queue, unbounded.
      const { connectTimeoutMS: _bound, ...options } = { ...db.options(namespace), poolSize: 1 } as DataSourceOptions & { connectTimeoutMS?: number };
      const app = await new DataSource(options as DataSourceOptions).initialize();
      const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'alice' });
      const sessions = new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix });
      try {
        await storage.save(fullSession(1));
        await storage.kv.set('a', Uint8Array.of(1));
        // A new instance whose first call (making the schema ready) is among them.
        const fresh = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'bob' });
        const calls = [storage.kv.get('a'), storage.kv.set('b', Uint8Array.of(2)), storage.load(), storage.save(fullSession(2)), sessions.createSession(1n, 2n), fresh.load(), storage.kv.get('a'), storage.authKeys.get(1)];
        const destroyed = app.destroy();
        const outcomes = await Promise.all(calls.map((call) => within(call, 2000)));
        await destroyed;
        expect(outcomes.filter((outcome) => outcome === 'pending')).toEqual([]);
        const failures = outcomes.filter((outcome) => typeof outcome === 'object');
        expect(failures.map((failure) => failure.code)).toEqual(failures.map(() => 'MTSTORE_STORAGE_UNAVAILABLE'));
        if (db.name !== 'sqlite') expect(failures.length).toBeGreaterThanOrEqual(calls.length - 1);

        await app.initialize();
        expect(plain(await storage.kv.get('a'))).toEqual(Uint8Array.of(1));
        await storage.kv.set('a', Uint8Array.of(3));
        expect(plain(await storage.kv.get('a'))).toEqual(Uint8Array.of(3));
        await storage.save(fullSession(3));
        expect(plain(await storage.load())).toEqual(fullSession(3));
        expect(await sessions.createSession(5n, 6n)).toBe(true);
        expect(await sessions.hasSession(5n, 6n)).toBe(true);
        await fresh.save(fullSession(4));
        expect(plain(await fresh.load())).toEqual(fullSession(4));
        await fresh.close();
      } finally {
        await storage.close();
        await sessions.close();
        if (app.isInitialized) await app.destroy();
        await db.cleanup(namespace);
      }
    });
  });
}
