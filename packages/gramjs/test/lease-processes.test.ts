/**
 * Two processes on one session through the bridge (contract §12), on a SQLite file and
 * on PostgreSQL: a child process (test/children/lease-holder.mjs, the built
 * @mtstore/gramjs) holds the session; this process connecting gets LeaseHeldError
 * naming the child (its pid, label `gramjs`, when its lease runs out), as the README
 * says. Taking it by force stops the child: its next write goes to onError as
 * LeaseLostError, onLost is called once, and nothing of it lands over this process's
 * data. Once the child closes, nothing of it is left holding the session.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ChildLines, fileNamespace, processTargetsOfFile, serverAnswers } from '@mtstore/test-adapters/processes';
import { StorageSession } from '../src/index.js';
// @ts-expect-error: plain JS shared with the child, no declarations
import { crashKey } from './children/crash-data.mjs';
import { gramKey } from './client.js';

const HOLDER = fileURLToPath(new URL('./children/lease-holder.mjs', import.meta.url));
const key = crashKey as (i: number) => Uint8Array;

const targets = processTargetsOfFile('gramjs-lease');

for (const target of targets) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`two processes on one GramJS session over ${target.name}`, () => {
    const ns = fileNamespace('gramjs_lease');
    afterAll(() => target.cleanup(ns));

    it('the second gets LeaseHeldError naming the first; after a forced takeover the first’s writes are refused and reported', async () => {
      const holder = new ChildLines(HOLDER, target.args(ns));
      try {
        const pid = Number((await holder.next(/^ready /)).slice(6));
        expect(pid).toBe(holder.child.pid);
        holder.send('write 1');
        await holder.next(/^saved 1$/);

        const storage = target.open(ns, 'leased');
        const refused = await new StorageSession(storage).load().then(
          () => null,
          (error: unknown) => error as Error & { code?: string; holder?: { owner: { pid: number; label?: string }; expiresAt: Date } },
        );
        expect([refused?.code, refused?.holder?.owner.pid, refused?.holder?.owner.label]).toEqual(['MTSTORE_LEASE_HELD', pid, 'gramjs']);
        expect(refused?.message).toContain(`pid ${pid}`);
        expect(refused?.holder?.expiresAt.getTime()).toBeGreaterThan(Date.now());

        const second = new StorageSession(storage, { lease: { force: true } });
        await second.load();
        expect(second.getAuthKey(2)?.getKey()).toEqual(Buffer.from(key(1)));
        second.setAuthKey(await gramKey(key(100)), 2);
        await second.save();

        holder.send('write 2');
        await holder.next(/^saved 2$/);
        holder.send('write 3');
        await holder.next(/^saved 3$/);
        const reported = holder.lines.filter((line) => line.startsWith('error ') || line.startsWith('lost '));
        expect(reported.length).toBeGreaterThan(0);
        expect(new Set(reported.map((line) => line.split(' ').at(-1)))).toEqual(new Set(['MTSTORE_LEASE_LOST']));
        expect(reported.filter((line) => line.startsWith('lost '))).toHaveLength(1);

        const probe = target.open(ns, 'leased');
        expect(Buffer.from((await probe.authKeys.get(2)) as Uint8Array).equals(Buffer.from(key(100)))).toBe(true);
        expect(await probe.peers.getByUsername('holder_2')).toBeNull();
        expect((await probe.peers.getByUsername('holder_1'))?.id).toBe(1n);

        holder.send('exit');
        await holder.next(/^closed$/);
        // The child's close() gave nothing back it no longer held: the second still holds the session.
        expect((await probe.lease.holder())?.owner.pid).toBe(process.pid);
        await second.close();
        expect(await probe.lease.holder()).toBeNull();
        await Promise.all([probe.close(), storage.close()]);
      } finally {
        holder.child.kill('SIGKILL');
      }
    });
  });
}
