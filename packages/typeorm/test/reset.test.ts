/**
 * An owned DataSource (postgres, MariaDB) whose pooled connections were all cut while
 * idle, the client told nothing until it sends (a NAT or firewall that lost the flows'
 * state, a database host that restarted: the next segment is answered with RST), played
 * by the loopback proxy's `forget()`. The first call that meets a dead connection fails
 * (ECONNRESET, EPIPE, connection lost); that error closes the pool's idle connections,
 * as dead as the one that failed, so later calls open fresh ones instead of each finding
 * a dead connection of its own.
 */
import { fullSession, randomNamespace } from '@mtstore/conformance/vitest';
import type { DataSourceOptions, Logger } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeormStorage } from '../src/index.js';
import { availableDrivers, type TestDriver } from './drivers.js';
import { trackedEachTest } from './tracked.js';
// By path, as ./proxy.js is: this package cannot depend on @mtstore/test-adapters.
import { settle, unhandledRejections } from '../../test-adapters/src/outcomes.js';
import { openProxy, within, type Proxy } from './proxy.js';

const drivers = (await availableDrivers()).filter((db) => db.name !== 'sqlite');
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

const POOL = 10;
const quiet: Logger = { logQuery() {}, logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
const port = (db: TestDriver): number => Number(new URL(db.url).port || (db.name === 'postgres' ? 5432 : 3306));

function ownedOptions(db: TestDriver, proxy: Proxy): DataSourceOptions {
  const url = new URL(db.url);
  url.hostname = proxy.host;
  url.port = String(proxy.port);
  return db.name === 'postgres'
    ? { type: 'postgres', url: url.href, poolSize: POOL, connectTimeoutMS: 3_000 }
    : { type: 'mariadb', url: url.href, poolSize: POOL, logger: quiet, connectTimeout: 3_000 };
}

for (const db of drivers) {
  describe(`${db.name}: owned DataSource whose idle connections were reset`, () => {
    const { proxies, namespaces, storages } = trackedEachTest(db);
    const rejections = unhandledRejections();

    async function setup() {
      const proxy = await openProxy(port(db));
      proxies.push(proxy);
      const namespace = randomNamespace();
      namespaces.push(namespace);
      const storage = new TypeormStorage({ options: ownedOptions(db, proxy), tablePrefix: db.prefix(namespace), name: 'victim' });
      storages.push(storage);
      await storage.save(fullSession(1));
      await storage.kv.set('k', Uint8Array.of(1));
      // Ten calls at once open ten pooled connections, idle afterwards.
      await Promise.all(Array.from({ length: POOL }, () => storage.kv.get('k')));
      expect(proxy.connections).toBeGreaterThanOrEqual(POOL - 2);
      return { proxy, storage };
    }

    const calls: [string, (storage: TypeormStorage) => Promise<unknown>][] = [
      ['kv.get', (storage) => storage.kv.get('k')],
      ['saveUpdateState (a transaction)', (storage) => storage.saveUpdateState({ pts: 5, qts: 0, date: 1, seq: 1 })],
    ];
    for (const [label, call] of calls) {
      it(`${label}: of 14 calls one after another, at most the first fails; the idle connections go with it`, async () => {
        const { proxy, storage } = await setup();
        proxy.forget();
        const failed: string[] = [];
        for (let i = 0; i < 14; i++) {
          const result = await settle(within(10_000, `${label} ${i}`, call(storage)));
          if (!result.ok) {
            expect(result.error.code, result.error.message).toBe('MTSTORE_STORAGE_UNAVAILABLE');
            failed.push(`#${i}: ${result.error.message}`);
          }
        }
        expect(failed.length, failed.join('\n')).toBeLessThanOrEqual(1);
        expect(failed.every((message) => message.startsWith('#0'))).toBe(true);
        await within(10_000, `${label} x10`, Promise.all(Array.from({ length: 10 }, () => call(storage))));
        expect((await storage.kv.get('k'))?.[0]).toBe(1);
        expect(rejections).toEqual([]);
      }, 60_000);
    }
  });
}
