/**
 * v1 → v2: a schema built by v1's own migration and filled through v1's layout
 * (keys on the DC rows, temp keys in temp_auth_keys, one user_username) opens with
 * this code and reads back everything, keys included, then works as a v2 store.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { authKey } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionStorage, PostgresStorage, SCHEMA_VERSION } from '../src/index.js';
import { refStatements } from '../src/refs.js';
import { migrate } from '../src/schema.js';
import { admin, freshSchema, plain, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

/** Writes two sessions, peers and a server session the way v1's statements stored them. */
async function writeV1(pool: pg.Pool, schema: string): Promise<void> {
  const s = `"${schema}"`;
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO ${s}.sessions (name, home_dc_id, api_id, user_id, user_dc_id, user_bot, user_username, pts, qts, state_date, seq, takeout_id)
     VALUES ('alice', 2, 12345, 9223372036854775807, 2, false, 'Alice_1', 10, 20, 1700000000, 30, -5),
            ('bob', 1, NULL, 42, 1, true, NULL, NULL, NULL, NULL, NULL, NULL)
     RETURNING id::text`,
  );
  const [alice, bob] = rows.map((r) => r.id) as [string, string];
  // alice: DC 2 main with a key and two temp keys stored out of index order, DC 2 media-only
  // with its own key, DC 4 without keys but with an empty temp key list; bob: DC 1 with a key.
  await pool.query(
    `INSERT INTO ${s}.dcs (session_id, position, dc_id, ipv4, ipv6, port, test_mode, media_only, auth_key, has_temp_keys)
     VALUES ($1, 0, 2, '149.154.167.51', '2001:67c:4e8:f002::a', 443, false, NULL, $3, true),
            ($1, 1, 2, '149.154.167.151', NULL, 443, NULL, true, $4, false),
            ($1, 2, 4, NULL, '2001:67c:4e8:f004::a', 80, true, false, NULL, true),
            ($2, 0, 1, '149.154.175.53', NULL, 443, NULL, NULL, $5, false)`,
    [alice, bob, authKey(1), authKey(2), authKey(3)],
  );
  await pool.query(
    `INSERT INTO ${s}.temp_auth_keys (session_id, dc_position, position, key_index, key, expires_at)
     VALUES ($1, 0, 0, 3, $2, 1900000003), ($1, 0, 1, 0, $3, 1900000000)`,
    [alice, authKey(4), authKey(5)],
  );
  await pool.query(
    `INSERT INTO ${s}.channels (session_id, channel_id, pts, position)
     VALUES ($1, -9223372036854775808, 7, nextval('${s}.channel_position')), ($1, 5, 8, nextval('${s}.channel_position'))`,
    [alice],
  );
  await pool.query(
    `INSERT INTO ${s}.peers (session_id, type, id, access_hash, phone, min, updated_at)
     VALUES ($1, 'user', 77, -1, '15550001', NULL, 1700000077), ($1, 'channel', 88, 5, NULL, true, 1700000088)`,
    [alice],
  );
  await pool.query(
    `INSERT INTO ${s}.peer_usernames (session_id, username_key, username, type, peer_id, position)
     VALUES ($1, 'seventy', 'Seventy', 'user', 77, 1), ($1, 'seven', 'seven', 'user', 77, 2)`,
    [alice],
  );
  await pool.query(`INSERT INTO ${s}.server_sessions (auth_key_id, session_id) VALUES (1, 2)`);
}

describe.runIf(server.available)('migration v1 → v2', () => {
  it('reads back every v1 session with its keys, peers and server sessions; v2 operations work on it', async () => {
    const schema = freshSchema();
    const pool = track(new pg.Pool({ connectionString: url, max: 2 }));
    await migrate(pool, schema, 1);
    await writeV1(pool, schema);

    const alice = track(new PostgresStorage({ connectionString: url, schema, name: 'alice' }));
    expect(plain(await alice.load())).toEqual({
      version: 1,
      homeDcId: 2,
      dcs: [
        {
          id: 2,
          ipv4: '149.154.167.51',
          ipv6: '2001:67c:4e8:f002::a',
          port: 443,
          testMode: false,
          authKey: authKey(1),
          tempAuthKeys: [
            { index: 0, key: authKey(5), expiresAt: 1_900_000_000 },
            { index: 3, key: authKey(4), expiresAt: 1_900_000_003 },
          ],
        },
        { id: 2, ipv4: '149.154.167.151', port: 443, mediaOnly: true, authKey: authKey(2) },
        // v1's empty temp key list is no keys in v2: keys are rows, and there are none.
        { id: 4, ipv6: '2001:67c:4e8:f004::a', port: 80, testMode: true, mediaOnly: false },
      ],
      apiId: 12345,
      user: { id: 2n ** 63n - 1n, dcId: 2, bot: false, usernames: ['Alice_1'] },
      state: { pts: 10, qts: 20, date: 1_700_000_000, seq: 30 },
      channels: [
        { id: -(2n ** 63n), pts: 7 },
        { id: 5n, pts: 8 },
      ],
      takeoutId: -5n,
    });
    const bob = track(new PostgresStorage({ connectionString: url, schema, name: 'bob' }));
    expect(plain(await bob.load())).toEqual({
      version: 1,
      homeDcId: 1,
      dcs: [{ id: 1, ipv4: '149.154.175.53', port: 443, authKey: authKey(3) }],
      user: { id: 42n, dcId: 1, bot: true }, // no username in v1: usernames stays absent
      channels: [],
    });

    expect(await alice.peers.getByUsername('SEVEN')).toEqual({
      type: 'user',
      id: 77n,
      accessHash: -1n,
      usernames: ['Seventy', 'seven'],
      phone: '15550001',
      updatedAt: 1_700_000_077,
    });
    expect(await alice.peers.getById('channel', 88n)).toEqual({ type: 'channel', id: 88n, accessHash: 5n, usernames: [], min: true, updatedAt: 1_700_000_088 });
    const sessions = track(new PostgresSessionStorage({ connectionString: url, schema }));
    expect(await sessions.hasSession(1n, 2n)).toBe(true);

    // The moved keys are the v2 keys: authKeys reads and replaces them, update keeps them.
    expect(plain(await alice.authKeys.get(2))).toEqual(authKey(1));
    expect(plain(await alice.authKeys.getTemp(2, 3))).toEqual({ index: 3, key: authKey(4), expiresAt: 1_900_000_003 });
    await alice.authKeys.set(2, authKey(9));
    await alice.update({ homeDcId: 4, dcs: [{ id: 4, host: 'vesta.web.telegram.org', port: 443 }] });
    const updated = await alice.load();
    expect(updated?.homeDcId).toBe(4);
    expect(plain(updated?.dcs)).toEqual([
      { id: 4, host: 'vesta.web.telegram.org', port: 443 },
      { id: 2, authKey: authKey(9), tempAuthKeys: [
        { index: 0, key: authKey(5), expiresAt: 1_900_000_000 },
        { index: 3, key: authKey(4), expiresAt: 1_900_000_003 },
      ] },
      { id: 2, mediaOnly: true, authKey: authKey(2) },
    ]);
    expect(await alice.listNames()).toEqual(['alice', 'bob']);

    const versions = await admin().query(`SELECT version FROM "${schema}".migrations ORDER BY version`);
    expect(versions.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
    expect(SCHEMA_VERSION).toBe(4);
    // v1's key columns and table are gone: no key is left behind in the old layout.
    const old = await admin().query(
      `SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = $1 AND (table_name = 'temp_auth_keys' OR column_name IN ('auth_key', 'has_temp_keys', 'user_username'))`,
      [schema],
    );
    expect(old.rows).toEqual([]);
  });

  it('an empty v1 schema migrates too, and a second open finds nothing to do', async () => {
    const schema = freshSchema();
    const pool = track(new pg.Pool({ connectionString: url, max: 1 }));
    await migrate(pool, schema, 1);
    const storage = track(new PostgresStorage({ pool, schema }));
    expect(await storage.load()).toBeNull();
    await migrate(pool, schema);
    const versions = await pool.query(`SELECT version FROM "${schema}".migrations ORDER BY version`);
    expect(versions.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
  });

  it('v3 → v4 adds ref_messages_stored: a refMessages.list page is one range scan of that index, with no sort', async () => {
    const schema = freshSchema();
    const s = `"${schema}"`;
    const pool = track(new pg.Pool({ connectionString: url, max: 1 }));
    await migrate(pool, schema, 3);
    // 50,000 references over five sessions: sorting a session's 10,000 would be the alternative.
    await pool.query(`INSERT INTO ${s}.sessions (name) SELECT 'n' || g FROM generate_series(1, 5) g`);
    await pool.query(`INSERT INTO ${s}.ref_messages (session_id, peer_id, chat_id, message_id)
      SELECT (SELECT id FROM ${s}.sessions WHERE name = 'n' || (1 + g % 5)), g % 997, -100, g FROM generate_series(1, 50000) g`);
    const index = `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'ref_messages_stored'`;
    expect((await pool.query(index, [schema])).rows).toEqual([]);

    const storage = track(new PostgresStorage({ pool, schema, name: 'n3' }));
    const first = await storage.refMessages.list({ limit: 100 });
    expect(first.refs).toHaveLength(100);
    expect((await pool.query(index, [schema])).rows[0]?.indexdef).toMatch(/\(session_id, stored\)/);
    await pool.query(`ANALYZE ${s}.ref_messages`);

    // The named statement's own text, as a custom and as a generic (cached) plan.
    await pool.query(`PREPARE ref_list_plan (text, int8, int8) AS ${refStatements(s).list.text}`);
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      await pool.query(`SET plan_cache_mode = ${mode}`);
      const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE ref_list_plan ('n3', 1000, 101)`);
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan, mode).toContain('Index Scan using ref_messages_stored');
      expect(plan, mode).not.toMatch(/Sort/);
      expect(plan, mode).toMatch(/Index Scan using ref_messages_stored[^\n]*\(actual rows=101 /);
    }
    await pool.query('RESET plan_cache_mode');
    await pool.query('DEALLOCATE ref_list_plan');
  });

  it('a migration step that fails is MigrationError naming the caller, the schema, the step and the version it started from; the next call tries again', async () => {
    const schema = freshSchema();
    const s = `"${schema}"`;
    const pool = track(new pg.Pool({ connectionString: url, max: 1 }));
    await migrate(pool, schema, 3);
    // Something of another program's in the way of v4's index: the step fails on the server.
    await pool.query(`CREATE TABLE ${s}.ref_messages_stored (x int)`);
    const storage = track(new PostgresStorage({ connectionString: url, schema, name: 'alice' }));
    const error = await storage.load().then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(error?.code).toBe('MTSTORE_MIGRATION');
    expect(error?.message).toMatch(
      new RegExp(`^PostgresStorage: could not migrate schema "[^"]+" to version ${SCHEMA_VERSION}: step 3 → 4 \\(index ref_messages_stored\\), from version 3 failed: .*already exists \\(SQLSTATE 42P07\\)$`),
    );
    expect(error?.message).toContain(schema);
    // Nothing of the step stayed (one transaction), and once the obstacle is gone the same instance migrates.
    expect((await pool.query(`SELECT max(version) AS v FROM ${s}.migrations`)).rows[0].v).toBe(3);
    await pool.query(`DROP TABLE ${s}.ref_messages_stored`);
    expect(await storage.load()).toBeNull();
    const server = track(new PostgresSessionStorage({ connectionString: url, schema }));
    expect(await server.createSession(1n, 1n)).toBe(true);
  });

  it('a newer schema is MigrationError naming the caller (storage or server storage)', async () => {
    const schema = freshSchema();
    const pool = track(new pg.Pool({ connectionString: url, max: 1 }));
    await migrate(pool, schema);
    await pool.query(`INSERT INTO "${schema}".migrations (version) VALUES ($1)`, [SCHEMA_VERSION + 1]);
    const client = track(new PostgresStorage({ pool, schema }));
    const server = track(new PostgresSessionStorage({ pool, schema }));
    await expect(client.load()).rejects.toMatchObject({ code: 'MTSTORE_MIGRATION', message: expect.stringMatching(new RegExp(`^PostgresStorage: schema "[^"]+" is at version ${SCHEMA_VERSION + 1}`)) });
    await expect(server.hasSession(1n, 1n)).rejects.toMatchObject({ code: 'MTSTORE_MIGRATION', message: expect.stringMatching(/^PostgresSessionStorage: schema /) });
  });
});
