/**
 * A peer batch's statement reads each of its lists once, whatever the batch size: no
 * part of it may scan a list of the batch once per stored row. It did: the release of
 * usernames tested each username row of the session with `owner IN (batch) OR name IN
 * (names)`, and PostgreSQL hashes such a list only when it expects the hash to fit
 * work_mem; past that (the names of ~7,000 peers under the default 4 MB) it scanned the
 * list again for every row. A 10,000-peer batch into a session holding 10,000 peers took
 * ~30 s and the next one timed out (`mtstore import` of a large Telethon file).
 *
 * Checked by the plan, not by time: the statement exactly as the adapter sent it, run
 * again under EXPLAIN ANALYZE with a work_mem too small to hash this batch's lists (as
 * 4 MB is for a large batch), in a transaction rolled back. A list scanned per row shows
 * as a CTE Scan with more than one loop.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import type { Peer } from '@mtstore/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { admin, freshSchema, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

interface PlanNode {
  'Node Type': string;
  'CTE Name'?: string;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

/** Every node of a plan with its children, depth first. */
function nodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodes)];
}

/** Users `from` … `from + count - 1`, each with a username and a phone of its own. */
function users(from: number, count: number): Peer[] {
  return Array.from({ length: count }, (_, i) => {
    const id = BigInt(from + i);
    return { type: 'user', id, accessHash: id * 7n, usernames: [`user${id}`], phone: `99${id}`, updatedAt: 1_700_000_000 };
  });
}

describe.runIf(server.available)('the peer batch statement', () => {
  it('reads each list of the batch once, not once per stored username row', async () => {
    const pool = track(new pg.Pool({ connectionString: url, max: 1 }));
    let sent: { text: string; values: unknown[] } | undefined;
    pool.on('acquire', (client) => {
      const marked = client as pg.PoolClient & { watched?: boolean };
      if (marked.watched) return;
      marked.watched = true;
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
        const config = args[0] as { name?: string; text?: string; values?: unknown[] };
        if (typeof config === 'object' && config.name?.startsWith('mtstore_upsert_peers_')) sent = { text: config.text as string, values: config.values as unknown[] };
        return query(...args);
      };
    });
    const storage = track(new PostgresStorage({ pool, schema: freshSchema(), name: 'plan' }));
    await storage.peers.upsert(users(1, 300)); // username rows of other peers, stored
    await storage.peers.upsert(users(1_001, 2_000));
    expect(sent?.values).toHaveLength(10); // the premise: the batch statement was caught

    const client = await admin().connect();
    try {
      await client.query('BEGIN');
      await client.query("SET LOCAL work_mem = '64kB'");
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sent?.text}`, sent?.values);
      const plan = nodes(rows[0]?.['QUERY PLAN'][0].Plan as PlanNode);
      expect(plan.filter((n) => n['Node Type'] === 'CTE Scan').length).toBeGreaterThan(0); // the premise: the lists are CTEs
      const rescanned = plan.filter((n) => n['Node Type'] === 'CTE Scan' && (n['Actual Loops'] ?? 0) > 1).map((n) => `${n['CTE Name']} ×${n['Actual Loops']}`);
      expect(rescanned).toEqual([]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    // The batch went in as a whole: every name and phone resolves.
    expect((await storage.peers.getByUsername('USER2500'))?.id).toBe(2_500n);
    expect((await storage.peers.getByPhone('991')))?.toMatchObject({ id: 1n });
  });
});
