/**
 * Crash safety through the bridge: a real mtcute client writing through the provider
 * (test/children/crash-writer.mjs, the built @mtstore/mtcute) is killed with SIGKILL
 * at an arbitrary point after driver.save() resolved, again and again; after each kill
 * a fresh storage must hold everything acknowledged (`ack <i>` is printed only once
 * the save resolved): the key of every DC (that write or a later one), every peer the
 * client cached, the update state. On a SQLite file and on PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { Storage } from '@mtstore/core';
import { PostgresStorage } from '@mtstore/postgres';
import { SqliteStorage } from '@mtstore/sqlite';
import { adapters, POSTGRES_URL, type AdapterCase } from '@mtstore/test-adapters';
// @ts-expect-error: plain JS shared with the child, no declarations
import { crashKey, crashUser } from './children/crash-data.mjs';

const key = crashKey as (i: number) => Uint8Array;
const userOf = crashUser as (i: number) => { id: number; accessHash: bigint; username: string };
const KILLS = 2;
const RUN = 1000; // write i of run r is r * RUN + n

/** Runs the writer until `acks` acknowledgements arrived, kills it, and returns every acknowledged i. */
async function killAfter(args: string[], acks: number): Promise<number[]> {
  const script = fileURLToPath(new URL('./children/crash-writer.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const acked: number[] = [];
  let partial = '';
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
      if (acked.length >= acks) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`writer exited before ${acks} acks: ${stderr}`)));
  });
  expect(await exited, stderr).toBe('SIGKILL');
  // Lines read after the kill was sent were acknowledged too.
  for (const line of partial.split('\n')) if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
  return acked;
}

async function expectAcknowledged(storage: Storage, acked: number[]): Promise<void> {
  const session = await storage.load();
  for (let dc = 1; dc <= 5; dc++) {
    const last = Math.max(-1, ...acked.filter((i) => 1 + (i % 5) === dc));
    if (last < 0) continue;
    const stored = await storage.authKeys.get(dc);
    expect(stored, `DC ${dc}`).not.toBeNull();
    const j = new DataView(stored!.buffer, stored!.byteOffset).getUint32(0);
    // The acknowledged write or one after it (the writer went on until the kill), never an older one.
    expect(j, `DC ${dc}: stored write ${j}, acknowledged ${last}`).toBeGreaterThanOrEqual(last);
    expect(Buffer.from(stored!).equals(Buffer.from(key(j))), `DC ${dc}: the bytes of write ${j}`).toBe(true);
  }
  for (const i of acked) {
    const spec = userOf(i);
    const peer = await storage.peers.getById('user', BigInt(spec.id));
    expect([peer?.accessHash, peer?.usernames], `entity of write ${i}`).toEqual([spec.accessHash, [spec.username]]);
  }
  expect(session?.state?.pts, 'update state').toBeGreaterThanOrEqual(Math.max(...acked));
  expect(session?.homeDcId).toBe(2);
}

interface Target {
  name: string;
  args(ns: string): string[];
  open(ns: string): Storage;
  cleanup(ns: string): Promise<void>;
}

const dir = mkdtempSync(join(tmpdir(), 'mtcute-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const targets: Target[] = [
  {
    name: 'sqlite',
    args: (ns) => ['sqlite', join(dir, `${ns}.session`)],
    open: (ns) => new SqliteStorage({ path: join(dir, `${ns}.session`), name: 'crash' }),
    cleanup: async () => undefined,
  },
  {
    name: 'postgres',
    args: (ns) => ['postgres', POSTGRES_URL, ns],
    open: (schema) => new PostgresStorage({ config: { connectionString: POSTGRES_URL }, schema, name: 'crash' }),
    async cleanup(schema) {
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    },
  },
];

for (const target of targets) {
  const available = await (adapters.find((adapter) => adapter.name === target.name) as AdapterCase).available();
  describe.skipIf(!available)(`mtcute client killed with SIGKILL after driver.save() on ${target.name}`, () => {
    const ns = `mtcute_crash_${process.pid}_${randomBytes(3).toString('hex')}`;
    afterAll(() => target.cleanup(ns));

    it(`keeps every acknowledged write over ${KILLS} kills`, async () => {
      const acked: number[] = [];
      for (let run = 0; run < KILLS; run++) {
        // A varying number of acknowledged writes, so kills land at different points.
        acked.push(...(await killAfter([...target.args(ns), String(run * RUN)], 3 + ((run * 13) % 20))));
        const storage = target.open(ns);
        try {
          await expectAcknowledged(storage, acked);
        } finally {
          await storage.close();
        }
      }
    });
  });
}
