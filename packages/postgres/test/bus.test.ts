/**
 * The LISTEN/NOTIFY bus beyond the kit: one dedicated connection, ids-only payloads,
 * reconnection after the server kills the listening connection, and payloads that
 * are not mtstore events.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionEventBus } from '../src/index.js';
import { admin, applicationName, backends, freshSchema, gone, probe, terminate, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

function event(n: number, origin = 'test'): SessionEvent {
  return { type: 'created', authKeyId: BigInt(n), sessionId: -BigInt(n), origin };
}

function bus(schema: string, application: string, errors: unknown[] = []) {
  return track(
    new PostgresSessionEventBus({
      config: { connectionString: url, application_name: application },
      schema,
      reconnectDelay: { initial: 20, max: 200 },
      onError: (error) => errors.push(error),
    }),
  );
}

describe.runIf(server.available)('bus', () => {
  it('uses one dedicated connection for LISTEN and NOTIFY, and the payload carries ids only', async () => {
    const schema = freshSchema();
    const application = applicationName('bus-one');
    const a = bus(schema, application);
    // A plain pg client listening on the channel sees the wire format.
    const spy = track(new pg.Client({ connectionString: url }));
    await spy.connect();
    const raw: string[] = [];
    spy.on('notification', (n) => raw.push(n.payload ?? ''));
    await spy.query(`LISTEN "${a.channel}"`);
    const heard: SessionEvent[] = [];
    await a.subscribe((e) => heard.push(e));
    for (let i = 1; i <= 20; i++) await a.publish({ ...event(i), type: i % 2 ? 'created' : 'destroyed' });
    await until(() => heard.length === 20 && raw.length === 20, 'twenty events');
    expect(await backends(application)).toHaveLength(1);
    expect(a.channel).toBe(`mtstore_${schema}`);
    expect(JSON.parse(raw[0] as string)).toEqual({ t: 'c', a: '1', s: '-1', o: 'test' });
    for (const payload of raw) expect(Object.keys(JSON.parse(payload)).sort()).toEqual(['a', 'o', 's', 't']);
  });

  it('publishes made at once go out one at a time, in call order, without pg\'s concurrent-query deprecation warning', async () => {
    const schema = freshSchema();
    const a = bus(schema, applicationName('bus-order'));
    const heard: SessionEvent[] = [];
    await a.subscribe((e) => heard.push(e));
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      await Promise.all(Array.from({ length: 50 }, (_, i) => a.publish(event(i + 1))));
      await until(() => heard.length === 50, 'fifty events');
      // Let a warning emitted by pg reach the process listeners.
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('warning', onWarning);
    }
    expect(heard.map((e) => Number(e.authKeyId))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(warnings.filter((w) => /already executing a query/.test(w))).toEqual([]);
  });

  it('after the server kills its connection, the bus reconnects by itself, LISTENs again and keeps delivering', async () => {
    const schema = freshSchema();
    const application = applicationName('bus-listen');
    const errors: unknown[] = [];
    const listener = bus(schema, application, errors);
    const publisher = bus(schema, applicationName('bus-publish'));
    const heard: SessionEvent[] = [];
    await listener.subscribe((e) => heard.push(e));
    await publisher.publish(event(1));
    await until(() => heard.length === 1, 'the first event');

    for (let round = 0; round < 2; round++) {
      const killed = await terminate(application);
      expect(killed).toHaveLength(1);
      await gone(killed);
      await until(() => errors.length > round, 'the lost connection to be reported');
      // Publish until the reconnected bus hears a new event; events sent while it was away are lost (at-most-once).
      let n = 100 * (round + 1);
      const before = heard.length;
      await until(async () => {
        await publisher.publish(event(n++));
        return heard.length > before;
      }, 'delivery after reconnecting');
      const pids = await backends(application);
      expect(pids).toHaveLength(1);
      expect(killed).not.toContain(pids[0]);
    }
    expect(errors[0]).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
    // Every event heard was published, once each.
    const ids = heard.map((e) => e.authKeyId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a publish-only bus reconnects on the next publish', async () => {
    const schema = freshSchema();
    const application = applicationName('bus-pub-only');
    const a = bus(schema, application);
    const b = bus(schema, applicationName('bus-sub'));
    const heard: SessionEvent[] = [];
    await b.subscribe((e) => heard.push(e));
    await a.publish(event(1));
    await gone(await terminate(application));
    await a.publish(event(2));
    await until(() => heard.length === 2, 'both events');
    expect(heard.map((e) => e.authKeyId)).toEqual([1n, 2n]);
  });

  it('a payload that is not an mtstore event is reported and skipped; delivery goes on', async () => {
    const schema = freshSchema();
    const errors: unknown[] = [];
    const a = bus(schema, applicationName('bus-garbage'), errors);
    const heard: SessionEvent[] = [];
    await a.subscribe((e) => heard.push(e));
    await admin().query('SELECT pg_notify($1, $2)', [a.channel, '{"not":"an event"}']);
    await a.publish(event(3));
    await until(() => heard.length === 1, 'the valid event');
    expect(heard).toEqual([event(3)]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'MTSTORE_CORRUPT_DATA' });
  });

  it('close ends the connection; publish and subscribe then reject StorageClosedError', async () => {
    const schema = freshSchema();
    const application = applicationName('bus-close');
    const a = bus(schema, application);
    await a.subscribe(() => {});
    expect(await backends(application)).toHaveLength(1);
    await a.close();
    await until(async () => (await backends(application)).length === 0, 'the connection to end');
    await expect(a.publish(event(1))).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
    await expect(a.subscribe(() => {})).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
  });

  it('rejects invalid options', () => {
    expect(() => new PostgresSessionEventBus({ schema: 'bad-name' })).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
    expect(() => new PostgresSessionEventBus({ connectionString: url, config: {} })).toThrow(/not both/);
  });
});
