/**
 * Write leases of client sessions: `{ _id: <session name>, token, expiresAt }` in
 * `<prefix>locks`. Taking one is a plain insert (a duplicate `_id` means someone else
 * holds it), giving it back a delete of our own token: the two operations every
 * MongoDB-wire server performs atomically (FerretDB 1.x included, whose update
 * operators are not atomic). A lease whose holder died expires and is taken over.
 *
 * Peer batches and `delete()` always run under the lease (they span many documents);
 * `save`/`saveUpdateState` only where single-document updates are not atomic.
 */
import { randomUUID } from 'node:crypto';
import { MongoServerError, type Collection } from 'mongodb';
import { StorageUnavailableError } from '@mtstore/core';

export interface LockDocument {
  _id: string;
  token: string;
  expiresAt: Date;
}

/** Longest a holder may take before others may assume it died (a 10,000-peer batch on a slow server fits). */
export const LEASE_MS = 30_000;
/** Longest a writer waits for a lease before giving up with StorageUnavailableError. */
export const WAIT_MS = LEASE_MS + 5_000;

export function isDuplicateKey(error: unknown): boolean {
  return (error instanceof MongoServerError || (error instanceof Error && error.name === 'MongoServerError')) && (error as MongoServerError).code === 11000;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** When a lease ends, by this machine's clock; a damaged lease document counts as expired. */
const expiry = (lock: LockDocument): number => (lock.expiresAt instanceof Date ? lock.expiresAt.getTime() : 0);

export class SessionLocks {
  readonly #locks: Collection<LockDocument>;
  /** Leases this instance took but failed to give back (connection lost): safe for it to clear. */
  readonly #orphans = new Set<string>();
  /**
   * Writers of one session in this instance queue here first, so only one of them at
   * a time asks the server for the lease: concurrent callers cost no failed inserts.
   */
  readonly #queues = new Map<string, Promise<void>>();

  constructor(locks: Collection<LockDocument>) {
    this.#locks = locks;
  }

  /** Runs `work` holding the lease of `session`, after this instance's earlier writers of it. */
  async run<T>(session: string, where: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(session);
    let done!: () => void;
    const turn = new Promise<void>((resolve) => (done = resolve));
    const tail = previous ? previous.then(() => turn) : turn;
    this.#queues.set(session, tail);
    try {
      await previous;
      const token = await this.#acquire(session, where);
      try {
        return await work();
      } finally {
        await this.#locks.deleteOne({ _id: session, token }).catch(() => this.#orphans.add(token));
      }
    } finally {
      done();
      if (this.#queues.get(session) === tail) this.#queues.delete(session);
    }
  }

  /** True while some writer holds an unexpired lease of `session`. */
  async held(session: string): Promise<boolean> {
    const lock = await this.#locks.findOne({ _id: session });
    return lock !== null && expiry(lock) > Date.now();
  }

  /** Waits (up to WAIT_MS) until no writer holds the lease of `session`. */
  async settled(session: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (let delay = 2; (await this.held(session)) && Date.now() < deadline; delay = Math.min(delay * 2, 50)) await sleep(delay);
  }

  async #acquire(session: string, where: string): Promise<string> {
    const token = randomUUID();
    const deadline = Date.now() + WAIT_MS;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      try {
        await this.#locks.insertOne({ _id: session, token, expiresAt: new Date(Date.now() + LEASE_MS) });
        return token;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const holder = await this.#locks.findOne({ _id: session });
      if (holder !== null && (this.#orphans.has(holder.token) || expiry(holder) <= Date.now())) {
        // Ours from a lost connection, or its holder died: take it over (the token guards against a new holder).
        await this.#locks.deleteOne({ _id: session, token: holder.token });
        this.#orphans.delete(holder.token);
        continue;
      }
      if (Date.now() >= deadline) {
        throw new StorageUnavailableError(`${where}: timed out after ${WAIT_MS} ms waiting for another writer of this session to finish`);
      }
      await sleep(delay / 2 + Math.random() * delay);
    }
  }
}
