/**
 * destroyAllSessions and expireSessions over many sessions. Each removal is its own
 * delete (and on FerretDB 1.x a lease around it), and they used to be sent all at
 * once: the driver queued every one for a pooled connection, and once the queue held
 * more than `waitQueueTimeoutMS` of work the rest failed ("Timed out while checking out
 * a connection from connection pool") — with the defaults (20 connections, 10 s) a key
 * of 5,000 sessions on FerretDB — and the sessions removed before that were never
 * reported. Now they go a few at a time: the queue for the pool stays short whatever
 * the number of sessions. Measured here by the driver's pool events (checkouts asked
 * for and not yet given), so the bound does not depend on the server's speed.
 */
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { MongoSessionStorage } from '../src/index.js';
import { scratch, server, urlFor } from './server.js';

const SESSIONS = 150;
/** Checkouts waiting at once: the removals in flight and their leases' steps; all of them (150+) before. */
const MAX_WAITING = 20;

describe.runIf(server.available)('removing many sessions', () => {
  const { fresh, track } = scratch();

  it(`destroyAllSessions and expireSessions of ${SESSIONS} sessions each keep at most ${MAX_WAITING} calls waiting for a pooled connection`, async () => {
    const database = fresh();
    let now = Date.now();
    const clock = (): number => now;
    const setup = track(new MongoSessionStorage({ url: urlFor(database), ttlSeconds: 60, clock }));
    const client = track(new MongoClient(urlFor(database), { maxPoolSize: 2, serverSelectionTimeoutMS: 5_000 }));
    let waiting = 0;
    let mostWaiting = 0;
    client.on('connectionCheckOutStarted', () => {
      waiting++;
      mostWaiting = Math.max(mostWaiting, waiting);
    });
    client.on('connectionCheckedOut', () => waiting--);
    client.on('connectionCheckOutFailed', () => waiting--);
    const tight = track(new MongoSessionStorage({ client, database, ttlSeconds: 60, clock }));
    const ids = Array.from({ length: SESSIONS }, (_, i) => BigInt(i + 1));
    const create = async (authKeyId: bigint): Promise<void> => {
      for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => setup.createSession(authKeyId, id)));
    };

    await create(1n);
    const destroyed = await tight.destroyAllSessions(1n);
    expect(destroyed.sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
    expect(await setup.listSessions(1n)).toEqual([]);
    expect(mostWaiting, 'destroyAllSessions').toBeLessThanOrEqual(MAX_WAITING);

    await create(2n);
    now += 61_000;
    mostWaiting = 0;
    const expired = await tight.expireSessions(SESSIONS);
    expect(expired).toHaveLength(SESSIONS);
    expect(new Set(expired.map((s) => s.sessionId)).size).toBe(SESSIONS);
    expect(await setup.expireSessions(SESSIONS)).toEqual([]);
    expect(mostWaiting, 'expireSessions').toBeLessThanOrEqual(MAX_WAITING);
  });
});
