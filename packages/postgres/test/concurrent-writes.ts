/**
 * The workload of the tests of pools whose sessions carry the application's settings
 * (isolation.test.ts, lock-timeout.test.ts): two instances on one session name, as two
 * processes would be, and a server storage, writing at once; then renewals and fenced
 * writes under a lease. Every call must go through.
 */
import { fullSession, peer } from '@mtstore/conformance';
import type pg from 'pg';
import { expect } from 'vitest';
import { PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { freshSchema, track } from './helpers.js';

const failures = (settled: PromiseSettledResult<unknown>[]): string[] => settled.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));

export async function expectConcurrentWritesGoThrough(pool: pg.Pool): Promise<void> {
  const schema = freshSchema();
  const a = track(new PostgresStorage({ pool, schema }));
  const b = track(new PostgresStorage({ pool, schema }));
  const sessions = track(new PostgresSessionStorage({ pool, schema, ttlSeconds: 100 }));
  await a.save(fullSession(1));
  const calls: Promise<unknown>[] = [];
  for (let i = 1; i <= 20; i++) {
    calls.push(
      a.saveUpdateState({ pts: i, qts: i, date: i, seq: i }, [{ id: 5n, pts: i }]),
      b.saveUpdateState({ pts: i, qts: i, date: i, seq: i }, [{ id: 5n, pts: i }]),
      a.peers.upsert([peer('user', i % 3)]),
      b.peers.upsert([peer('user', i % 3)]),
      a.kv.set('k', new Uint8Array([i])),
      b.kv.set('k', new Uint8Array([i + 1])),
      b.update({ apiId: i }),
      a.authKeys.set(2, new Uint8Array(256).fill(i)),
      a.refMessages.store(1n, 2n, i),
      sessions.createSession(1n, BigInt(i % 4)),
      sessions.touchSession(1n, BigInt(i % 4)),
      sessions.destroySession(1n, BigInt((i + 2) % 4)),
      b.save(fullSession(1)),
    );
  }
  expect(failures(await Promise.allSettled(calls))).toEqual([]);
  await a.lease.acquire({ ttlSeconds: 30, heartbeat: false });
  const leased = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? a.lease.renew() : a.saveUpdateState({ pts: i + 1, qts: 1, date: 1, seq: 1 }))));
  expect(failures(leased)).toEqual([]);
  expect((await a.load())?.state).toBeDefined();
}
