/**
 * Crash safety through the bridge: a real mtcute client writing through the provider
 * (test/children/crash-writer.mjs, the built @mtstore/mtcute) is killed with SIGKILL
 * at an arbitrary point after driver.save() resolved, again and again; after each kill
 * a fresh storage must hold everything acknowledged (`ack <i>` is printed only once
 * the save resolved): the key of every DC (that write or a later one), every peer the
 * client cached, the update state. On a SQLite file and on PostgreSQL.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Storage } from '@mtstore/core';
import { killAfterAcks, fileNamespace, processTargetsOfFile, serverAnswers } from '@mtstore/test-adapters/processes';
// @ts-expect-error: plain JS shared with the child, no declarations
import { crashKey, crashUser } from './children/crash-data.mjs';

const key = crashKey as (i: number) => Uint8Array;
const userOf = crashUser as (i: number) => { id: number; accessHash: bigint; username: string };
const WRITER = fileURLToPath(new URL('./children/crash-writer.mjs', import.meta.url));
const KILLS = 2;
const RUN = 1000; // write i of run r is r * RUN + n

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

const targets = processTargetsOfFile('mtcute-crash');

for (const target of targets) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`mtcute client killed with SIGKILL after driver.save() on ${target.name}`, () => {
    const ns = fileNamespace('mtcute_crash');
    afterAll(() => target.cleanup(ns));

    it(`keeps every acknowledged write over ${KILLS} kills`, async () => {
      const acked: number[] = [];
      for (let run = 0; run < KILLS; run++) {
        // A varying number of acknowledged writes, so kills land at different points.
        acked.push(...(await killAfterAcks(WRITER, [...target.args(ns), String(run * RUN)], 3 + ((run * 13) % 20))));
        const storage = target.open(ns, 'crash');
        try {
          await expectAcknowledged(storage, acked);
        } finally {
          await storage.close();
        }
      }
      // Two writer processes, each importing mtcute and the bridge before its first write:
      // past the default 30 s in 2 of 3 runs on a 2-core machine at a load average of 14-18.
    }, 90_000);
  });
}
