/**
 * What a SessionSubject's onBusError hears when the bus fails: one report per failed
 * NOTIFY statement (which carries up to 1,000 events), not one per event.
 */
import { createServer } from 'node:net';
import { checkServer } from '@mtstore/conformance/vitest';
import { SessionSubject, type SessionEvent } from '@mtstore/core';
import { describe, expect, it } from 'vitest';
import { PostgresSessionEventBus, PostgresSessionStorage } from '../src/index.js';
import { freshSchema, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

/** A loopback port nothing listens on (taken, then freed): connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as { port: number };
  await new Promise((resolve) => listener.close(resolve));
  return port;
}

describe.runIf(server.available)('bus errors', () => {
  it('a destroyAllSessions of 1,000 sessions whose NOTIFY fails (the bus database down) is one onBusError report saying it carried 1,000 events', async () => {
    const schema = freshSchema();
    const storage = track(new PostgresSessionStorage({ connectionString: url, schema }));
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => storage.createSession(5n, BigInt(i + 1))));
    const bus = track(
      new PostgresSessionEventBus({ config: { host: '127.0.0.1', port: await closedPort(), user: 'postgres', database: 'test' }, schema, reconnectDelay: { initial: 1_000, max: 1_000 }, onError: () => {} }),
    );
    const reports: Array<{ error: unknown; event: SessionEvent | undefined }> = [];
    const subject = track(new SessionSubject(storage, { bus, resubscribeDelay: 60_000, onBusError: (error, event) => reports.push({ error, event }) }));
    await expect(subject.ready()).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
    expect(await subject.destroyAllSessions(5n)).toHaveLength(1_000);
    const publishes = reports.filter((r) => r.event !== undefined);
    // One statement's failure was 1,000 reports.
    expect(publishes).toHaveLength(1);
    expect(publishes[0]?.error).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('the NOTIFY carrying 1000 events failed') });
    expect(publishes[0]?.event).toMatchObject({ type: 'destroyed', authKeyId: 5n });
  });
});
