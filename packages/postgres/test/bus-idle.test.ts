/**
 * idle_session_timeout (PostgreSQL 14+), which applications and DBAs set per role,
 * database or connection to reap idle clients: the bus's listening connection is idle
 * by design, so a timeout shorter than its heartbeat had the server end it over and
 * over (lost / live, events missed in between). Here the connection's own options set
 * it; a role or database setting reaches the session the same way.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import { describe, expect, it } from 'vitest';
import { PostgresSessionEventBus } from '../src/index.js';
import { admin, applicationName, backends, freshSchema, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);
const version = server.available ? Number((await admin().query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v) : 0;

describe.runIf(server.available && version >= 140000)('bus under idle_session_timeout', () => {
  it('keeps its listening connection: no lost / live, one backend, every event heard', async () => {
    const schema = freshSchema();
    const application = applicationName('bus-idle');
    const states: string[] = [];
    const errors: unknown[] = [];
    const listener = track(
      new PostgresSessionEventBus({
        // 300 ms: far under the default 15 s heartbeat.
        config: { connectionString: url, application_name: application, options: '-c idle_session_timeout=300' },
        schema,
        onError: (error) => errors.push(error),
      }),
    );
    const publisher = track(new PostgresSessionEventBus({ connectionString: url, schema }));
    const heard: SessionEvent[] = [];
    await listener.subscribe((e) => heard.push(e), { onState: (state) => states.push(state) });
    const [pid] = await backends(application);
    expect(pid).toBeDefined();
    // Four timeouts' worth of idling.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await publisher.publish({ type: 'created', authKeyId: 1n, sessionId: 2n, origin: 'idle-test' });
    await until(() => heard.length === 1, 'the event');
    expect(states).toEqual([]);
    expect(errors).toEqual([]);
    expect(await backends(application)).toEqual([pid]);
  });
});
