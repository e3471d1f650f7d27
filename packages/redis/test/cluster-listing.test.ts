/**
 * listNames() on a Cluster SCANs every master. ioredis drops a master's connection from
 * its pool when that connection ends (the node died, or the link did) and keeps sending
 * the master's slots there: the SCAN missed that master's keys and listNames() answered
 * a partial list as if complete. Now a slot without a connected master fails the call
 * (StorageUnavailableError), and once the connection is back the listing is whole.
 */
import { checkServer, minimalSession } from '@mtstore/conformance/vitest';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import { adminCluster, clusterSeed, dropPrefix, probeCluster, randomName, REDIS_CLUSTER_URL } from './helpers.js';

const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

describe.runIf(cluster.available)('listNames on a Cluster with a master not connected', () => {
  const admin = adminCluster();
  const prefix = `${randomName('listing')}:`;
  afterAll(async () => {
    await dropPrefix(admin, prefix);
    await admin.quit();
  });

  it('rejects StorageUnavailableError instead of a partial list, and lists every name once the master is back', async () => {
    const client = new Cluster([clusterSeed()]);
    try {
      // Sessions on every master: 24 names spread over the three.
      const names = Array.from({ length: 24 }, (_, i) => `n${String(i).padStart(2, '0')}`);
      const storages = names.map((name) => new RedisStorage({ client, prefix, name }));
      await Promise.all(storages.map((storage) => storage.save(minimalSession())));
      const first = storages[0] as RedisStorage;
      expect(await first.listNames()).toEqual(names);

      // One master's connection ends (as when the node dies): the pool forgets it.
      const [gone] = client.nodes('master') as [Redis];
      const where = `${gone.options.host}:${gone.options.port}`;
      const ended = new Promise((resolve) => client.once('-node', resolve));
      gone.disconnect();
      await ended;
      expect(client.nodes('master').map((node) => `${node.options.host}:${node.options.port}`)).not.toContain(where);

      const error = await first.listNames().then(
        (listed) => listed,
        (e: Error & { code?: string }) => e,
      );
      expect(error).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining(`master ${where}, which is not connected`) });

      // A command for one of its slots connects it again (ioredis reopens a node it is sent to).
      await Promise.all(storages.map((storage) => storage.load()));
      expect(await first.listNames()).toEqual(names);
    } finally {
      client.disconnect();
    }
  });
});
