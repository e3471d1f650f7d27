/**
 * What a test of a describe block opens on one driver, closed after each test: its
 * proxies first (a silent one would hold a close up), then its storages, then the tables
 * of its namespaces. Shared by the files that open owned DataSources through proxies.
 */
import { afterEach } from 'vitest';
import type { TypeormStorage } from '../src/index.js';
import type { TestDriver } from './drivers.js';
import type { Proxy } from './proxy.js';

export interface Tracked {
  readonly proxies: Proxy[];
  readonly storages: TypeormStorage[];
  readonly namespaces: string[];
}

export function trackedEachTest(db: TestDriver): Tracked {
  const tracked: Tracked = { proxies: [], storages: [], namespaces: [] };
  afterEach(async () => {
    await Promise.all(tracked.proxies.splice(0).map((proxy) => proxy.close()));
    await Promise.all(tracked.storages.splice(0).map((storage) => storage.close()));
    for (const namespace of tracked.namespaces.splice(0)) await db.cleanup(namespace);
  });
  return tracked;
}
