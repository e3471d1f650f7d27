/**
 * The two peer-batch write strategies (MongoDB: `$in` reads and one replacing
 * bulkWrite per collection; FerretDB 1.x: `_id` reads or a session scan, journal,
 * delete + insertMany) must store exactly the same documents. The test server is FerretDB,
 * so the conformance kit exercises its strategy; here both run on the same batches
 * (small enough for FerretDB's multi-statement update command) and the stored
 * collections are compared document by document.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Collection, Document } from 'mongodb';
import { normalizePeerBatch, type Peer } from '@mtstore/core';
import { peer, randomNamespace } from '@mtstore/conformance/vitest';
import type { StringIdDocument } from '../src/codec.js';
import { Lease } from '../src/lock.js';
import { writePeers } from '../src/peers.js';
import { adminClient, closeAdmin, dropDatabase, server } from './server.js';

const batches: Peer[][] = [
  [
    peer('user', 1, { usernames: ['Shared', 'keep'], phone: '100' }),
    peer('user', 2, { usernames: ['other'] }),
    peer('user', 8, { usernames: [], displayName: 'Eight', complete: Uint8Array.of(8, 8) }),
  ],
  // 'Shared' and phone 100 move to peers outside user 1's batch: user 1 loses both, keeps 'keep'.
  [peer('channel', 3, { usernames: ['SHARED'] }), peer('user', 2, { usernames: [], phone: '100' })],
  // A min peer over a non-min one: the stored access hash stays, everything else is news.
  [peer('user', 1, { usernames: ['keep', 'new'], accessHash: 999n, min: true, updatedAt: 1_800_000_000 })],
  [peer('user', 4, { usernames: ['m'], min: true, accessHash: 1n })],
  [peer('user', 4, { usernames: ['m'], min: true, accessHash: 2n }), peer('chat', 5, { usernames: [] })],
  // user 1 drops 'keep': its lookup lingers, pointing at a peer that no longer lists it.
  [peer('user', 1, { usernames: ['new'] })],
  // An unchanged peer is not rewritten; the lingering lookup of 'other' (user 2 dropped it) moves to user 6.
  [peer('user', 2, { usernames: [], phone: '100' }), peer('user', 6, { usernames: ['other'] })],
  // A min peer over a non-min one keeps the stored complete object and access hash, takes the new display name.
  [peer('user', 8, { usernames: [], displayName: 'Eight again', complete: Uint8Array.of(1), min: true, accessHash: 3n })],
];

async function dump(collection: Collection<StringIdDocument>): Promise<Document[]> {
  return collection.find({}, { sort: { _id: 1 }, useBigInt64: true }).toArray();
}

if (server.available) {
  afterAll(closeAdmin);

  describe('peer batch strategies', () => {
    it('MongoDB’s and FerretDB’s write strategies store the same documents', async () => {
      const results: Document[][][] = [];
      for (const ferretdb1 of [true, false]) {
        const database = randomNamespace();
        try {
          const db = adminClient().db(database);
          const c = {
            peers: db.collection<StringIdDocument>('s_peers'),
            index: db.collection<StringIdDocument>('s_index'),
            journal: db.collection<StringIdDocument>('s_journal'),
            profile: { ferretdb1, version: 'test' },
          };
          // No session document at all: the cache belongs to the name.
          for (const batch of batches) {
            await writePeers(c, 'acct', normalizePeerBatch(batch), 'test', new Lease(Date.now(), 'test'));
            expect(await c.journal.countDocuments()).toBe(0); // cleared once the batch is in place
          }
          results.push([await dump(c.peers), await dump(c.index)]);
        } finally {
          await dropDatabase(database);
        }
      }
      const [ferret, mongo] = results as [Document[][], Document[][]];
      expect(mongo).toEqual(ferret);
      const [peers, index] = ferret;
      const byId = new Map((peers ?? []).map((p) => [p._id, p]));
      expect(byId.get('acct/user/1')).toMatchObject({ usernames: ['new'], accessHash: 1n * 7919n + 13n, updatedAt: 1_700_000_001 });
      expect(byId.get('acct/user/1')?.phone).toBe('10000000001'); // the fixture's phone, given again in batch 3
      expect(byId.get('acct/user/1')).not.toHaveProperty('min');
      expect(byId.get('acct/user/2')).toMatchObject({ usernames: [], phone: '100' });
      expect(byId.get('acct/user/4')).toMatchObject({ accessHash: 2n, min: true });
      expect(byId.get('acct/user/6')).toMatchObject({ usernames: ['other'] });
      const eight = byId.get('acct/user/8');
      expect(eight).toMatchObject({ displayName: 'Eight again', accessHash: 8n * 7919n + 13n });
      expect(eight).not.toHaveProperty('min');
      expect([...(eight?.complete.buffer as Uint8Array)]).toEqual([8, 8]);
      expect(index).toEqual([
        { _id: 'acct/p/100', session: 'acct', peer: 'acct/user/2' },
        { _id: 'acct/p/10000000001', session: 'acct', peer: 'acct/user/1' },
        // user 2's first phone lingers (it took phone 100 instead); lookups check the owner still has it.
        { _id: 'acct/p/10000000002', session: 'acct', peer: 'acct/user/2' },
        { _id: 'acct/p/10000000004', session: 'acct', peer: 'acct/user/4' },
        { _id: 'acct/p/10000000006', session: 'acct', peer: 'acct/user/6' },
        { _id: 'acct/p/10000000008', session: 'acct', peer: 'acct/user/8' },
        { _id: 'acct/u/keep', session: 'acct', peer: 'acct/user/1', username: 'keep' },
        { _id: 'acct/u/m', session: 'acct', peer: 'acct/user/4', username: 'm' },
        { _id: 'acct/u/new', session: 'acct', peer: 'acct/user/1', username: 'new' },
        { _id: 'acct/u/other', session: 'acct', peer: 'acct/user/6', username: 'other' },
        { _id: 'acct/u/shared', session: 'acct', peer: 'acct/channel/3', username: 'SHARED' },
      ]);
    });
  });
}
