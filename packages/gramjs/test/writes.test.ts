/**
 * The write-through queue on its own: call order, where failures go, when a write
 * starts, and how peer batches merge.
 */
import { describe, expect, it } from 'vitest';
import type { Peer } from '@mtstore/core';
import { WriteQueue } from '../src/writes.js';

const peer = (id: number): Peer => ({ type: 'user', id: BigInt(id), accessHash: 1n, usernames: [], updatedAt: 1 });

/** A promise and its resolver. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('WriteQueue', () => {
  it('starts a write on an idle queue at once, and queues the next ones behind it in call order', async () => {
    const errors: string[] = [];
    const queue = new WriteQueue((_, operation) => errors.push(operation));
    const log: string[] = [];
    const first = deferred();
    queue.write('a', () => {
      log.push('a');
      return first.promise;
    });
    expect(log, 'started inside write()').toEqual(['a']);
    queue.write('b', async () => {
      log.push('b');
    });
    queue.write('c', async () => {
      log.push('c');
    });
    await Promise.resolve();
    expect(log, 'b waits for a').toEqual(['a']);
    const settled = queue.settled();
    first.resolve();
    await settled;
    expect(log).toEqual(['a', 'b', 'c']);
    expect(errors).toEqual([]);
    // Idle again: the next write starts at once too.
    queue.write('d', async () => {
      log.push('d');
    });
    expect(log.at(-1)).toBe('d');
    await queue.settled();
  });

  it('sends failures (a rejection or a synchronous throw) to the handler, never out of write(), and keeps going', async () => {
    const errors: [string, string][] = [];
    const queue = new WriteQueue((error, operation) => errors.push([operation, (error as Error).message]));
    queue.write('throws', () => {
      throw new Error('sync');
    });
    queue.write('rejects', () => Promise.reject(new Error('async')));
    let ran = false;
    queue.write('after', async () => {
      ran = true;
    });
    await queue.settled();
    expect(errors).toEqual([
      ['throws', 'sync'],
      ['rejects', 'async'],
    ]);
    expect(ran).toBe(true);
  });

  it('run() hands its result or failure to the caller, after the writes queued before it', async () => {
    const errors: string[] = [];
    const queue = new WriteQueue((_, operation) => errors.push(operation));
    const log: string[] = [];
    const slow = deferred();
    queue.write('slow', () => slow.promise.then(() => void log.push('slow')));
    const result = queue.run(async () => {
      log.push('run');
      return 7;
    });
    const failed = queue.run(() => Promise.reject(new Error('no')));
    slow.resolve();
    expect(await result).toBe(7);
    await expect(failed).rejects.toThrow('no');
    await queue.settled();
    expect(log).toEqual(['slow', 'run']);
    expect(errors, 'a run failure is not a write failure').toEqual([]);
  });

  it('merges the peers of one synchronous run into one upsert, and later ones into the batch waiting behind a write', async () => {
    const queue = new WriteQueue(() => {});
    const upserts: number[][] = [];
    const upsert = async (batch: Peer[]): Promise<void> => {
      upserts.push(batch.map((p) => Number(p.id)));
    };
    queue.upsertPeers([peer(1)], upsert);
    queue.upsertPeers([peer(2), peer(3)], upsert);
    expect(upserts, 'a batch starts a microtask later, even on an idle queue').toEqual([]);
    await queue.settled();
    expect(upserts).toEqual([[1, 2, 3]]);

    const slow = deferred();
    queue.write('slow', () => slow.promise);
    queue.upsertPeers([peer(4)], upsert);
    queue.upsertPeers([peer(5)], upsert);
    queue.write('key', async () => {});
    queue.upsertPeers([peer(6)], upsert); // after another write: a new batch, in order
    slow.resolve();
    await queue.settled();
    expect(upserts).toEqual([[1, 2, 3], [4, 5], [6]]);
  });

  it('peers join only a batch queued with the same upsert (a background retry, quiet on an outage, and a new write, reported, stay apart)', async () => {
    const queue = new WriteQueue(() => {});
    const upserts: string[] = [];
    const upsertOf =
      (name: string) =>
      async (batch: Peer[]): Promise<void> => {
        upserts.push(`${name} ${batch.map((p) => Number(p.id)).join(',')}`);
      };
    const quiet = upsertOf('quiet');
    const loud = upsertOf('loud');
    queue.upsertPeers([peer(1)], quiet);
    queue.upsertPeers([peer(2)], loud);
    queue.upsertPeers([peer(3)], loud);
    queue.upsertPeers([peer(4)], quiet);
    await queue.settled();
    expect(upserts).toEqual(['quiet 1', 'loud 2,3', 'quiet 4']);
  });

  it('settled() on an idle queue resolves at once; while busy, after writes queued meanwhile too', async () => {
    const queue = new WriteQueue(() => {});
    await queue.settled();
    const first = deferred();
    const log: string[] = [];
    queue.write('first', () => first.promise);
    const settled = queue.settled().then(() => log.push('settled'));
    queue.write('second', async () => {
      log.push('second');
    });
    first.resolve();
    await settled;
    expect(log).toEqual(['second', 'settled']);
  });
});
