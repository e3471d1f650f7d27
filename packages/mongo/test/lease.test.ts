/**
 * The per-session write lease and crash safety of peer batches (issue 17, items 2
 * and 3): close() gives back what it holds, a lease left by a dead process costs the
 * next writer at most LEASE_MS, a holder whose lease was lost is fenced, and a batch
 * killed at any point (SIGKILL) loses no peer acknowledged before.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { minimalSession, peer } from '@mtstore/conformance/vitest';
import { MongoStorage } from '../src/index.js';
import { Lease, LEASE_MS, RENEW_MS, SessionLocks, type LockDocument } from '../src/lock.js';
import { adminClient, ownScratch, scratch, server, urlFor } from './server.js';

const here = dirname(fileURLToPath(import.meta.url));

if (server.available) {
  const { fresh, open } = scratch();
  const raw = (database: string) => adminClient().db(database);
  const leases = (database: string) => raw(database).collection<LockDocument>('mtstore_locks');


  describe('lease lifecycle', () => {
    it('close() lets leased work in flight finish and gives its lease back', async () => {
      const database = fresh();
      const a = new MongoStorage({ url: urlFor(database), name: 'alice' });
      await a.save(minimalSession());
      const batch = Array.from({ length: 300 }, (_, k) => peer('user', k + 1));
      const upsert = a.peers.upsert(batch);
      await new Promise((resolve) => setTimeout(resolve, 20)); // the batch holds the lease now
      await a.close();
      await upsert; // it finished on the open client
      expect(await leases(database).countDocuments()).toBe(0);
      const b = open(database);
      const started = Date.now();
      await b.peers.upsert([peer('user', 1000)]);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await b.peers.getById('user', 300n)).not.toBeNull();
    });

    // The next three wait on lease clocks (LEASE_MS, RENEW_MS) and hardly use the CPU or
    // the server: they run side by side, about 12 s instead of 25, each in scratch space of
    // its own (ownScratch: scratch()'s afterEach would close a neighbour's instances).
    it.concurrent('a lease left by a dead process costs the next writer at most LEASE_MS', async ({ onTestFinished, expect }) => {
      const { fresh, open } = ownScratch(onTestFinished);
      const database = fresh();
      const storage = open(database);
      await storage.save(minimalSession());
      // A holder that took the lease just now and died: it never renews.
      await leases(database).insertOne({ _id: 'alice', token: 'dead', expiresAt: new Date(Date.now() + LEASE_MS) });
      const started = Date.now();
      await storage.peers.upsert([peer('user', 1)]);
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThan(LEASE_MS - 1_500);
      expect(waited).toBeLessThan(LEASE_MS + 2_000);
    }, 30_000);

    it.concurrent('a holder keeps its lease past LEASE_MS by renewing it; others wait meanwhile', async ({ onTestFinished, expect }) => {
      const { fresh, open } = ownScratch(onTestFinished);
      const database = fresh();
      const locks = new SessionLocks(leases(database));
      const storage = open(database);
      await storage.save(minimalSession());
      let saved = false;
      let save: Promise<unknown> | undefined;
      await locks.run('alice', 'test', async (lease) => {
        save = storage.save(minimalSession()).then(() => (saved = true));
        await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 1_500));
        lease.check(); // still ours
        expect(saved).toBe(false);
        const doc = await leases(database).findOne({ _id: 'alice' });
        expect(doc?.expiresAt.getTime()).toBeGreaterThan(Date.now() + LEASE_MS - RENEW_MS - 1_000);
      });
      await save;
      expect(saved).toBe(true);
    }, 30_000);

    it.concurrent('a holder whose lease another writer took over is fenced: its next write throws', async ({ onTestFinished, expect }) => {
      const { fresh } = ownScratch(onTestFinished);
      const database = fresh();
      const locks = new SessionLocks(leases(database));
      const error = await locks
        .run('alice', 'MongoStorage.peers.upsert("alice")', async (lease) => {
          // Another process decided the lease expired and took it.
          await leases(database).deleteOne({ _id: 'alice' });
          await leases(database).insertOne({ _id: 'alice', token: 'successor', expiresAt: new Date(Date.now() + LEASE_MS) });
          await new Promise((resolve) => setTimeout(resolve, RENEW_MS + 1_000));
          lease.check();
        })
        .catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(String((error as Error).message)).toMatch(/taken over by another writer/);
      // The release deleted only our own token: the successor's lease is intact.
      expect((await leases(database).findOne({ _id: 'alice' }))?.token).toBe('successor');
    }, 15_000);

    it('a holder whose lease ran out (no renewal got through) is fenced', () => {
      expect(() => new Lease(Date.now() - LEASE_MS, 'test').check()).toThrow(/expired/);
      expect(() => new Lease(Date.now(), 'test').check()).not.toThrow();
    });
  });

  describe('crash safety of peer batches', () => {
    it('a FerretDB batch that died between delete and insert: readers use the journal, the next writer rolls it forward', async () => {
      const database = fresh();
      const storage = open(database);
      await storage.peers.upsert([peer('user', 1, { usernames: ['one'] }), peer('user', 2)]);
      const c = raw(database);
      const newer = { ...peer('user', 1, { usernames: ['one'], updatedAt: 1_800_000_000 }), _id: 'alice/user/1', session: 'alice' };
      // The crash: the new version journaled, the stored one deleted, nothing inserted.
      await c.collection('mtstore_peer_journal').insertOne({ _id: 'p|alice/user/1' as never, session: 'alice', doc: newer });
      await c.collection('mtstore_peers').deleteOne({ _id: 'alice/user/1' as never });
      expect((await storage.peers.getById('user', 1n))?.updatedAt).toBe(1_800_000_000);
      expect((await storage.peers.getByUsername('one'))?.updatedAt).toBe(1_800_000_000);
      await storage.peers.upsert([peer('user', 3)]);
      expect(await c.collection('mtstore_peer_journal').countDocuments()).toBe(0);
      expect(await c.collection('mtstore_peers').findOne({ _id: 'alice/user/1' as never })).toMatchObject({ updatedAt: 1_800_000_000 });
    });

    it('SIGKILL at random points of looping batches never loses an acknowledged peer', async () => {
      const database = fresh();
      // The child runs the adapter's source, bundled (its dependencies stay external).
      const bundle = join(here, '..', `.peer-writer-${process.pid}.mjs`);
      await build({ entryPoints: [join(here, '..', 'src', 'index.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: bundle, logLevel: 'silent' });
      try {
        const url = urlFor(database);
        let lastAck = -1;
        let midBatch = 0;
        const rounds = 4;
        for (let round = 0; round < rounds; round++) {
          const child = spawn(process.execPath, [join(here, 'fixtures', 'peer-writer.mjs'), bundle, url, 'alice'], { stdio: ['ignore', 'pipe', 'inherit'] });
          let acks = 0;
          const firstAck = new Promise<void>((resolve, reject) => {
            let buffered = '';
            child.stdout.on('data', (chunk: Buffer) => {
              buffered += chunk.toString();
              for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
                const line = buffered.slice(0, i);
                buffered = buffered.slice(i + 1);
                const match = /^ack (\d+)$/.exec(line);
                if (match) {
                  lastAck = Math.max(lastAck, round * 1_000_000 + Number(match[1]));
                  acks++;
                  resolve();
                }
              }
            });
            child.once('exit', (code) => reject(new Error(`writer exited with ${code} before its first batch`)));
          });
          await firstAck;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 1_500));
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          await exited;
          if ((await raw(database).collection('mtstore_peer_journal').countDocuments()) > 0) midBatch++;
          // Every peer is there, at the last acknowledged version or a later one (the batch in flight).
          const reader = open(database);
          const acked = lastAck % 1_000_000;
          for (let k = 1; k <= 50; k++) {
            const found = await reader.peers.getById('user', BigInt(k));
            expect(found, `round ${round}, peer ${k}`).not.toBeNull();
            expect(found?.updatedAt).toBeGreaterThanOrEqual(1_700_000_000 + acked);
            expect(found?.usernames).toEqual([`writer_${k}`]);
          }
          expect((await reader.peers.getByUsername('writer_17'))?.id).toBe(17n);
          expect(acks).toBeGreaterThan(0);
          // The killed writer's lease (if it died holding one) runs out LEASE_MS after its
          // last renewal, and the next writer would wait for that: what 'a lease left by a
          // dead process costs the next writer at most LEASE_MS' above checks. Here it is run
          // out at once, so the next writer takes it over by the same path (expired, its
          // token deleted, its journal rolled forward) without ~10 s of waiting each round.
          await leases(database).updateOne({ _id: 'alice' }, { $set: { expiresAt: new Date() } });
        }
        // Not asserted (timing decides), reported: how many kills left a batch mid-way.
        console.info(`peer-writer: ${rounds} kills, ${midBatch} left a journal behind`);
      } finally {
        await rm(bundle, { force: true });
      }
    }, 120_000);
  });
}
