/**
 * Write leases of client sessions: `{ _id: <session name>, token, expiresAt }` in
 * `<prefix>locks`. Taking one is a plain insert (a duplicate `_id` means someone else
 * holds it), giving it back a delete of our own token: the two operations every
 * MongoDB-wire server performs atomically (FerretDB 1.x included, whose update
 * operators are not atomic).
 *
 * A lease is short (LEASE_MS) and renewed every RENEW_MS while its work runs, so a
 * lease left by a dead process costs the next writer at most LEASE_MS, while a live
 * holder keeps a long batch. A holder is fenced: before each write its work calls
 * `Lease.check()`, which throws once the lease may have expired by this process's
 * clock (renewals failed for LEASE_MS - FENCE_MARGIN_MS, e.g. the process stalled or
 * lost the server) or a renewal found another holder's token. Renewals are only sent
 * while the lease is valid by that same clock, at least FENCE_MARGIN_MS before others
 * may take it over, so a renewal never lands on a successor's lease.
 *
 * Peer batches and `delete()` always run under the lease (they span many documents);
 * single-document updates only where update operators are not atomic (FerretDB 1.x).
 * `close()` waits for this instance's leased work and gives back what it holds.
 */
import { randomUUID } from 'node:crypto';
import { MongoServerError, type Collection } from 'mongodb';
import { StorageUnavailableError } from '@mtstore/core';

export interface LockDocument {
  _id: string;
  token: string;
  expiresAt: Date;
}

/** How long a lease lasts without renewal: what a dead holder costs the next writer. */
export const LEASE_MS = 10_000;
/** How often a live holder renews its lease. */
export const RENEW_MS = 2_000;
/** A holder stops writing (and renewing) when less than this remains of its lease by its own clock. */
export const FENCE_MARGIN_MS = 3_000;
/** Longest a writer waits for a lease held by live writers before giving up with StorageUnavailableError. */
export const WAIT_MS = 35_000;

export function isDuplicateKey(error: unknown): boolean {
  return (error instanceof MongoServerError || (error instanceof Error && error.name === 'MongoServerError')) && (error as MongoServerError).code === 11000;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** When a lease ends, by this machine's clock; a damaged lease document counts as expired. */
const expiry = (lock: LockDocument): number => (lock.expiresAt instanceof Date ? lock.expiresAt.getTime() : 0);

/** What leased work calls before each command it sends: throws once it may no longer write. */
export interface WriteCheck {
  check(): void;
}

/** A held lease, as its work sees it. */
export class Lease implements WriteCheck {
  /** Local time until which writing is safe: the lease's end by our clock, minus the margin. */
  #safeUntil: number;
  #lost = false;
  readonly #where: string;

  constructor(sentAt: number, where: string) {
    this.#safeUntil = sentAt + LEASE_MS - FENCE_MARGIN_MS;
    this.#where = where;
  }

  /** Throws StorageUnavailableError when this holder may no longer write. Call before each write. */
  check(): void {
    if (this.#lost || Date.now() >= this.#safeUntil) {
      throw new StorageUnavailableError(
        `${this.#where}: the session's write lease ${this.#lost ? 'was taken over by another writer' : 'expired'} before this write (the process stalled or lost the server); nothing more was written`,
      );
    }
  }

  get valid(): boolean {
    return !this.#lost && Date.now() < this.#safeUntil;
  }

  /** A renewal found the lease gone: another writer took it. */
  get lost(): boolean {
    return this.#lost;
  }

  renewed(sentAt: number): void {
    this.#safeUntil = sentAt + LEASE_MS - FENCE_MARGIN_MS;
  }

  lose(): void {
    this.#lost = true;
  }
}

export class SessionLocks {
  readonly #locks: Collection<LockDocument>;
  /** Leases this instance took but failed to give back (connection lost): safe for it to clear. */
  readonly #orphans = new Map<string, string>();
  /**
   * Writers of one session in this instance queue here first, so only one of them at
   * a time asks the server for the lease: concurrent callers cost no failed inserts.
   */
  readonly #queues = new Map<string, Promise<void>>();

  constructor(locks: Collection<LockDocument>) {
    this.#locks = locks;
  }

  /** Runs `work` holding the lease of `session`, after this instance's earlier writers of it. */
  async run<T>(session: string, where: string, work: (lease: Lease) => Promise<T>): Promise<T> {
    const previous = this.#queues.get(session);
    let done!: () => void;
    const turn = new Promise<void>((resolve) => (done = resolve));
    const tail = previous ? previous.then(() => turn) : turn;
    this.#queues.set(session, tail);
    try {
      await previous;
      const { token, lease } = await this.#acquire(session, where);
      let renewing: Promise<void> | undefined;
      const timer = setInterval(() => {
        renewing ??= this.#renew(session, token, lease).finally(() => (renewing = undefined));
      }, RENEW_MS);
      timer.unref();
      try {
        lease.check();
        return await work(lease);
      } finally {
        clearInterval(timer);
        // A renewal still in flight must not land after the release (on a successor's lease).
        await renewing;
        await this.#locks.deleteOne({ _id: session, token }).catch(() => this.#orphans.set(token, session));
      }
    } finally {
      done();
      if (this.#queues.get(session) === tail) this.#queues.delete(session);
    }
  }

  async #renew(session: string, token: string, lease: Lease): Promise<void> {
    if (!lease.valid) return; // too late to renew safely: the work is fenced at its next write
    const sentAt = Date.now();
    try {
      const result = await this.#locks.updateOne({ _id: session, token }, { $set: { expiresAt: new Date(sentAt + LEASE_MS) } });
      if (result.matchedCount === 1) lease.renewed(sentAt);
      else lease.lose();
    } catch {
      // The server is unreachable: the lease runs out and the work is fenced.
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

  /**
   * Waits for this instance's leased work to finish (it gives its leases back) and
   * clears the leases it failed to give back: nothing of ours outlives `close()`.
   */
  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()]);
    await Promise.all([...this.#orphans].map(([token, session]) => this.#locks.deleteOne({ _id: session, token }).then(() => this.#orphans.delete(token)).catch(() => undefined)));
  }

  async #acquire(session: string, where: string): Promise<{ token: string; lease: Lease }> {
    const token = randomUUID();
    const deadline = Date.now() + WAIT_MS;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      const sentAt = Date.now();
      try {
        await this.#locks.insertOne({ _id: session, token, expiresAt: new Date(sentAt + LEASE_MS) });
        return { token, lease: new Lease(sentAt, where) };
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
