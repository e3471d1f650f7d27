/**
 * Atomicity seen by concurrent readers (docs/contract.md §2, §5): not only the end
 * state — readers running while the writes run never observe a half-applied one.
 * `saveUpdateState` sets the state and the listed channels in one step; a peer batch
 * (here 1,000 peers whose usernames and phones all move) is applied whole.
 * With `sharedBackend: false` the reader is the writer's own instance.
 */
import type { Peer } from '@mtstore/core';
import { minimalSession } from '../fixtures.js';
import type { StorageRegistrar } from './context.js';
import { whileWriting } from './isolation.js';

const ROUND = 100_000n;

/** Peer k of round r: its username and phone are slot (k + r) mod n, its access hash says r. */
function movingPeer(round: number, k: number, n: number): Peer {
  const slot = (k + round) % n;
  return { type: 'user', id: BigInt(k + 1), accessHash: BigInt(round) * ROUND + BigInt(k), usernames: [`Mv_${slot}`], phone: String(4_000_000 + slot), updatedAt: round };
}

export function tornReads({ group, test, expect, options }: StorageRegistrar): void {
  const shared = options.capabilities?.sharedBackend !== false;
  const where = shared ? 'on another instance' : 'on the same instance';
  group('atomicity under concurrent readers', () => {
    test(`loads ${where} during saveUpdateState never see the state of one call with the channels of another`, async (s) => {
      const writer = await s.open();
      const reader = shared ? await s.open() : writer;
      const channels = (pts: number) => [{ id: 1n, pts }, { id: -(2n ** 63n), pts }, { id: 2n ** 40n, pts }];
      await writer.save({ ...minimalSession(), state: { pts: 0, qts: 0, date: 0, seq: 0 }, channels: channels(0) });
      const seen = await whileWriting(
        () => reader.load(),
        async () => {
          for (let i = 1; i <= 40; i++) await writer.saveUpdateState({ pts: i, qts: i, date: i, seq: i }, channels(i));
        },
      );
      expect(seen.length).toBeGreaterThan(0);
      for (const loaded of seen) {
        const pts = loaded?.state?.pts;
        expect(loaded, `a load saw state ${pts}`).toEqual({ ...minimalSession(), state: { pts, qts: pts, date: pts, seq: pts }, channels: channels(pts as number) });
      }
    });

    const size = Math.min(1_000, options.capabilities?.peerBatchSize ?? 1_000);
    test(`reads ${where} during ${size}-peer batches that move every username and phone never see half a batch`, async (s) => {
      const writer = await s.open();
      const reader = shared ? await s.open() : writer;
      await writer.save(minimalSession());
      const batch = (round: number) => Array.from({ length: size }, (_, k) => movingPeer(round, k, size));
      await writer.peers.upsert(batch(0));
      const problems: string[] = [];
      let probe = 0;
      const seen = await whileWriting(
        async () => {
          // One whole page, then single lookups by a moving name and phone. A listing is not
          // a snapshot (docs/contract.md §5: a page read while a batch runs may miss peers
          // the batch rewrites, or hold some from before it and some from after), so the
          // page is checked peer by peer: each listed peer is whole, from one batch.
          const page = await reader.peers.list({ limit: size });
          for (const p of page.peers) {
            const expected = movingPeer(Number(p.accessHash / ROUND), Number(p.id) - 1, size);
            if (p.usernames[0] !== expected.usernames[0] || p.phone !== expected.phone) problems.push(`peer ${p.id} of batch ${p.accessHash / ROUND} holds ${p.usernames[0]} / ${p.phone}`);
          }
          const slot = (probe = (probe + 337) % size);
          for (const [what, found] of [
            ['username', await reader.peers.getByUsername(`MV_${slot}`)],
            ['phone', await reader.peers.getByPhone(String(4_000_000 + slot))],
          ] as const) {
            if (found === null) problems.push(`${what} of slot ${slot} had no owner`);
            else if ((Number(found.id) - 1 + Number(found.accessHash / ROUND)) % size !== slot) problems.push(`${what} of slot ${slot} answered with peer ${found.id} of batch ${found.accessHash / ROUND}`);
          }
          return page.peers.length;
        },
        async () => {
          for (let round = 1; round <= 4; round++) await writer.peers.upsert(batch(round));
        },
      );
      expect(seen.length).toBeGreaterThan(0);
      expect(problems.slice(0, 5), `${problems.length} torn reads in ${seen.length}`).toEqual([]);
    });
  });
}

