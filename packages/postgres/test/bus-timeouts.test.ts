/**
 * A bus whose connection runs with the application's short lock_timeout and
 * statement_timeout (its `options`, or a role's or database's setting, which reaches
 * the bus's own connection as well): NOTIFYs of several buses at once wait for each
 * other's commit (PostgreSQL's lock on the notification queue), and publishes failed
 * 'canceling statement due to lock timeout' (or statement timeout), their events lost.
 * The bus sets both limits on its own connection to pg's query_timeout, in the LISTEN's
 * round trip.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { describe, expect, it } from 'vitest';
import { PostgresSessionEventBus } from '../src/index.js';
import { freshSchema, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

describe.runIf(server.available)('buses under lock_timeout = 1ms and statement_timeout = 20ms', () => {
  it('sixteen buses publishing at once (64,000 events) lose none', async () => {
    const schema = freshSchema();
    const errors: unknown[] = [];
    const options = '-c lock_timeout=1ms -c statement_timeout=20ms';
    const buses = Array.from({ length: 16 }, () => track(new PostgresSessionEventBus({ config: { connectionString: url, options }, schema, onError: (e) => errors.push(e) })));
    const listener = track(new PostgresSessionEventBus({ connectionString: url, schema }));
    let heard = 0;
    await listener.subscribe(() => heard++);
    const publishes: Promise<void>[] = [];
    for (let round = 0; round < 40; round++) {
      for (const [b, bus] of buses.entries()) {
        for (let i = 0; i < 100; i++) publishes.push(bus.publish({ type: 'created', authKeyId: BigInt(b), sessionId: BigInt(round * 100 + i), origin: 'timeouts-test' }));
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const failed = (await Promise.allSettled(publishes)).flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
    // Each failure was a NOTIFY of 100 or more events, every one lost (on the old code 5 runs of 6).
    expect(failed).toEqual([]);
    await until(() => heard === publishes.length, `the ${publishes.length} events`);
    expect(errors).toEqual([]);
  });
});
