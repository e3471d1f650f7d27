/**
 * Crash safety through the bridge: a process writing through a GramJS session
 * (test/children/crash-writer.mjs, the built @mtstore/gramjs) is killed with SIGKILL
 * at an arbitrary point after save() resolved, again and again; after each kill a
 * fresh storage must hold everything acknowledged (`ack <i>` is printed only once
 * save() resolved): the key of every DC (that write or a later one), every entity,
 * the logged-in user and the home DC. On a SQLite file and on PostgreSQL.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Storage } from '@mtstore/core';
import { killAfterAcks, fileNamespace, processTargetsOfFile, serverAnswers } from '@mtstore/test-adapters/processes';
// @ts-expect-error: plain JS shared with the child, no declarations
import { crashKey, crashUser } from './children/crash-data.mjs';

const key = crashKey as (i: number) => Uint8Array;
const userOf = crashUser as (i: number) => { id: bigint; accessHash: bigint; username: string; self: boolean };
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
    const peer = await storage.peers.getById('user', spec.id);
    expect([peer?.accessHash, peer?.usernames], `entity of write ${i}`).toEqual([spec.accessHash, [spec.username]]);
  }
  const lastSelf = Math.max(...acked.filter((i) => i % 7 === 0));
  expect(Number(session?.user?.id) - 1, 'the logged-in user').toBeGreaterThanOrEqual(lastSelf);
  const lastDc = Math.max(...acked.filter((i) => i % 11 === 0));
  const home = session?.dcs.find((dc) => dc.id === session.homeDcId && dc.mediaOnly !== true);
  const octet = Number(home?.ipv4?.split('.')[3]);
  // The acknowledged setDC or one after it: write j sets DC 1 + j % 5 to 149.154.167.<j % 250>.
  const from = Array.from({ length: RUN }, (_, n) => lastDc + n).filter((j) => j % 11 === 0 && 1 + (j % 5) === session?.homeDcId && j % 250 === octet);
  expect(from.length, `home DC ${session?.homeDcId} ${home?.ipv4}, acknowledged setDC of write ${lastDc}`).toBeGreaterThan(0);
}

const targets = processTargetsOfFile('gramjs-crash');

for (const target of targets) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`GramJS session killed with SIGKILL after save() on ${target.name}`, () => {
    const ns = fileNamespace('gramjs_crash');
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
    });
  });
}
