/**
 * MariaDB, an owned DataSource: calls waiting in mysql2's pool for a connection fail
 * with StorageUnavailableError after about connectTimeout of the server's silence (they
 * used to drain one connect timeout at a time per connection slot: src/mysql-pool.ts),
 * never run afterwards, and a healthy server's burst is still served whole (mysql2's queue
 * has no timeout of its own).
 */
import { peer, randomNamespace } from '@mtstore/conformance/vitest';
import type { DataSourceOptions } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeormStorage } from '../src/index.js';
import { availableDrivers } from './drivers.js';
import { trackedEachTest } from './tracked.js';
// By path, as ./proxy.js is: this package cannot depend on @mtstore/test-adapters.
import { settle, unhandledRejections, type Settled } from '../../test-adapters/src/outcomes.js';
import { openProxy, within } from './proxy.js';

const drivers = (await availableDrivers()).filter((db) => db.name === 'mysql');
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

const CONNECT_TIMEOUT = 1_000;
/** Longer than the connect timeout: the stuck connections free no slot before the queue's bound applies. */
const STATEMENT_TIMEOUT = 2_000;
const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';
const quiet = { log: () => {}, logQuery: () => {}, logQueryError: () => {}, logQuerySlow: () => {}, logSchemaBuild: () => {}, logMigration: () => {} };

const failures = (results: Settled[]): string[] => results.flatMap((r, i) => (r.ok ? [] : [`call ${i}: ${r.error.message}`]));

for (const db of drivers) {
  describe('mariadb: calls waiting for a connection of an owned DataSource', () => {
    const { proxies, namespaces, storages } = trackedEachTest(db);
    const rejections = unhandledRejections();

    function open(url: string, name: string): { storage: TypeormStorage; namespace: string } {
      const namespace = randomNamespace();
      namespaces.push(namespace);
      const options: DataSourceOptions = {
        type: 'mariadb',
        url,
        poolSize: 2,
        logger: quiet,
        connectTimeout: CONNECT_TIMEOUT,
        enableQueryTimeout: true,
        maxQueryExecutionTime: STATEMENT_TIMEOUT,
      };
      const storage = new TypeormStorage({ options, tablePrefix: db.prefix(namespace), name });
      storages.push(storage);
      return { storage, namespace };
    }

    async function rows(namespace: string, sql: (table: (name: string) => string) => string): Promise<Record<string, unknown>[]> {
      const admin = await db.admin();
      return admin.query(sql((name) => admin.driver.escape(`${db.prefix(namespace)}${name}`)));
    }

    it('40 calls queued behind connections stuck on a silent server reject StorageUnavailableError after about the connect timeout, and none runs once the server answers again', async () => {
      const proxy = await openProxy(db.url);
      proxies.push(proxy);
      const { storage, namespace } = open(proxy.url(), 'stuck');
      await storage.kv.set('first', Uint8Array.of(0));
      // Both connections open, so the two first calls below run on them at once.
      await Promise.all([storage.kv.get('first'), storage.kv.get('first')]);
      proxy.blackhole();
      const stuck = [storage.kv.set('stuck-1', Uint8Array.of(1)), storage.kv.set('stuck-2', Uint8Array.of(2))].map(settle);
      // Single statements and transactions (peers.upsert) queue alike. The bound is 3x the
      // connect timeout: mysql2's queue alone rejected the last of 40 after about
      // statement timeout + 20 connect timeouts (one at a time per slot).
      const queued = Array.from({ length: 40 }, (_, i) =>
        settle(within(3 * CONNECT_TIMEOUT, `queued call ${i}`, i % 2 === 0 ? storage.kv.set(`queued-${i}`, Uint8Array.of(i)) : storage.peers.upsert([peer('user', i + 1)]))),
      );
      const rejected = await Promise.all(queued);
      for (const [i, result] of rejected.entries()) {
        expect(result.ok, `queued call ${i}`).toBe(false);
        if (result.ok) continue;
        expect(result.error.code, `queued call ${i}: ${result.error.message}`).toBe(UNAVAILABLE);
      }
      // The stuck calls fail on their statement timeout (their connections are destroyed).
      for (const result of await Promise.all(stuck)) expect(result.ok).toBe(false);

      // The server answers again: the pool opens new connections, which must not run any call it already failed.
      proxy.up();
      await storage.kv.set('after', Uint8Array.of(3));
      // Connections handed to a rejected call go back from a microtask: a few more turns for any straggler to show.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const kv = (await rows(namespace, (t) => `SELECT kv_key FROM ${t('kv')}`)).map((r) => String(r.kv_key));
      expect(kv.filter((key) => key.startsWith('queued-'))).toEqual([]);
      expect(kv).toContain('after');
      expect(Number((await rows(namespace, (t) => `SELECT COUNT(*) AS n FROM ${t('peers')}`))[0]?.n)).toBe(0);
      expect(rejections).toEqual([]);
    }, 60_000);

    it('2,000 writes at once on a pool of 2 of a server that keeps answering: every call resolves and is stored', async () => {
      const { storage, namespace } = open(db.url, 'herd');
      await storage.kv.set('first', Uint8Array.of(0));
      const half = 1_000;
      const started = performance.now();
      const results = await Promise.all([
        ...Array.from({ length: half }, (_, i) => settle(storage.kv.set(`k${String(i).padStart(5, '0')}`, Uint8Array.of(i & 255)))),
        ...Array.from({ length: half }, (_, i) => settle(storage.peers.upsert([peer('user', i + 1)]))),
      ]);
      const seconds = (performance.now() - started) / 1000;
      const failed = failures(results);
      expect(failed.length, failed.slice(0, 3).join('; ')).toBe(0);
      expect(Number((await rows(namespace, (t) => `SELECT COUNT(*) AS n FROM ${t('kv')}`))[0]?.n)).toBe(half + 1);
      expect(Number((await rows(namespace, (t) => `SELECT COUNT(*) AS n FROM ${t('peers')}`))[0]?.n)).toBe(half);
      expect(rejections).toEqual([]);
      console.info(`mariadb owned DataSource (poolSize 2, connect timeout ${CONNECT_TIMEOUT} ms): ${2 * half} writes at once, all stored in ${seconds.toFixed(1)} s`);
    }, 180_000);
  });
}
