/**
 * close() while a Cluster connection mtstore opened is still being set up: ioredis'
 * Cluster.connect() never settles when disconnect() comes after its slots refresh and
 * before ready (its 'close' listener is gone by then), so the calls waiting for the
 * connection waited for ever. close() now settles the attempt: they reject
 * StorageUnavailableError.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { describe, expect, it } from 'vitest';
import { RedisConnection } from '../src/connection.js';
import { clusterSeed, probeCluster, randomName, REDIS_CLUSTER_URL } from './helpers.js';

const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

describe.runIf(cluster.available)('close() while the Cluster connection is set up', () => {
  it('the connect under way settles when close() comes between the slots refresh and ready', async () => {
    const connection = new RedisConnection({ cluster: { nodes: [clusterSeed()] }, prefix: `${randomName('closing')}:` }, 'test');
    // The moment ioredis has its slots and starts its ready check.
    connection.client.once('refresh', () => void connection.close());
    const outcome = await connection.ready().then(
      () => 'connected',
      (error: Error) => error.message,
    );
    expect(outcome).toBe('Connection is closed.');
  });
});
