/**
 * Two processes on one session through the bridge (contract §12), on a SQLite file and
 * on PostgreSQL: a child process (test/children/lease-holder.mjs: a real mtcute client
 * on the built @mtstore/mtcute) holds the session; a client of this process starting
 * gets LeaseHeldError naming the child (its pid, label `mtcute`, when its lease runs
 * out), as the README says. Taking it by force stops the child: its writes reject with
 * LeaseLostError, onLost is called once, and nothing of it lands over this process's
 * data. The child's destroy() rejects at its refused save; StorageManager.destroy()
 * then closes it (README), leaving this process's lease alone.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ChildLines, fileNamespace, processTargetsOfFile, serverAnswers } from '@mtstore/test-adapters/processes';
import { mtcuteStorage } from '../src/index.js';
// @ts-expect-error: plain JS shared with the child, no declarations
import { crashKey } from './children/crash-data.mjs';

const HOLDER = fileURLToPath(new URL('./children/lease-holder.mjs', import.meta.url));
const key = crashKey as (i: number) => Uint8Array;

const targets = processTargetsOfFile('mtcute-lease');

for (const target of targets) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`two processes on one mtcute session over ${target.name}`, () => {
    const ns = fileNamespace('mtcute_lease');
    afterAll(() => target.cleanup(ns));

    it('the second gets LeaseHeldError naming the first; after a forced takeover the first’s writes are refused and reported', async () => {
      const holder = new ChildLines(HOLDER, target.args(ns));
      try {
        const pid = Number((await holder.next(/^ready /)).slice(6));
        expect(pid).toBe(holder.child.pid);
        holder.send('write 1');
        await holder.next(/^saved 1$/);

        const storage = target.open(ns, 'leased');
        const refused = await Promise.resolve(mtcuteStorage(storage).driver.load!()).then(
          () => null,
          (error: unknown) => error as Error & { code?: string; holder?: { owner: { pid: number; label?: string }; expiresAt: Date } },
        );
        expect([refused?.code, refused?.holder?.owner.pid, refused?.holder?.owner.label]).toEqual(['MTSTORE_LEASE_HELD', pid, 'mtcute']);
        expect(refused?.message).toContain(`pid ${pid}`);
        expect(refused?.holder?.expiresAt.getTime()).toBeGreaterThan(Date.now());

        const second = mtcuteStorage(storage, { lease: { force: true }, closeOnDestroy: false });
        await second.driver.load!();
        expect(Array.from((await second.authKeys.get(2)) ?? [])).toEqual(Array.from(key(1)));
        await second.authKeys.set(2, key(100));

        holder.send('write 2');
        expect(await holder.next(/^(saved|failed) 2/)).toBe('failed 2 MTSTORE_LEASE_LOST');
        holder.send('write 3');
        expect(await holder.next(/^(saved|failed) 3/)).toBe('failed 3 MTSTORE_LEASE_LOST');
        expect(holder.lines.filter((line) => line.startsWith('lost '))).toEqual(['lost MTSTORE_LEASE_LOST']);

        const probe = target.open(ns, 'leased');
        expect(Buffer.from((await probe.authKeys.get(2)) as Uint8Array).equals(Buffer.from(key(100)))).toBe(true);
        expect(await probe.peers.getByUsername('holder_2')).toBeNull();
        expect((await probe.peers.getByUsername('holder_1'))?.id).toBe(1n);

        holder.send('exit');
        await holder.next(/^destroyed$/);
        expect(holder.lines).toContain('destroy-failed MTSTORE_LEASE_LOST');
        // The child gave back nothing it no longer held: this process still holds the session.
        expect((await probe.lease.holder())?.owner.pid).toBe(process.pid);
        await second.driver.destroy!();
        expect(await probe.lease.holder()).toBeNull();
        await Promise.all([probe.close(), storage.close()]);
      } finally {
        holder.child.kill('SIGKILL');
      }
    });
  });
}
