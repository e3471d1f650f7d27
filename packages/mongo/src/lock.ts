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
 *
 * The same leases, keyed by a server session and with longer times (LeaseTimes), make
 * FerretDB 1.x's removals of one server session run one at a time (server.ts).
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

/** A kind of lease's times; see the constants above for what each one costs. */
export interface LeaseTimes {
  /** How long a lease lasts without renewal. */
  readonly leaseMs: number;
  /** How often a live holder renews it. */
  readonly renewMs: number;
  /** The holder stops when less than this remains by its own clock. */
  readonly marginMs: number;
  /** Longest a caller waits for live holders. */
  readonly waitMs: number;
}

/** The write leases of client sessions (and the write permits of fence.ts). */
export const WRITE_LEASE: LeaseTimes = { leaseMs: LEASE_MS, renewMs: RENEW_MS, marginMs: FENCE_MARGIN_MS, waitMs: WAIT_MS };

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
  readonly #times: LeaseTimes;

  constructor(sentAt: number, where: string, times: LeaseTimes = WRITE_LEASE) {
    this.#times = times;
    this.#safeUntil = sentAt + times.leaseMs - times.marginMs;
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
    this.#safeUntil = sentAt + this.#times.leaseMs - this.#times.marginMs;
  }

  lose(): void {
    this.#lost = true;
  }
}

/** What `tryRun` gives back when its work ran (the work's own result may be anything). */
export interface Ran<T> {
  value: T;
}

export class SessionLocks {
  readonly #locks: Collection<LockDocument>;
  readonly #times: LeaseTimes;
  /** Who a waiter that timed out waited for, for its message. */
  readonly #holders: string;
  /** Leases this instance took but failed to give back (connection lost): safe for it to clear. */
  readonly #orphans = new Map<string, string>();
  /**
   * Holders of one key in this instance queue here first, so only one of them at
   * a time asks the server for the lease: concurrent callers cost no failed inserts.
   */
  readonly #queues = new Map<string, Promise<void>>();

  /** True once close() closed the client under the work in flight (connection.ts, Closing): nothing more is sent. */
  readonly #stopped: () => boolean;

  constructor(locks: Collection<LockDocument>, times: LeaseTimes = WRITE_LEASE, holders = 'another writer of this session', stopped: () => boolean = () => false) {
    this.#locks = locks;
    this.#times = times;
    this.#holders = holders;
    this.#stopped = stopped;
  }

  /** Runs `work` holding the lease of `key`, after this instance's earlier holders of it. */
  async run<T>(key: string, where: string, work: (lease: Lease) => Promise<T>): Promise<T> {
    return ((await this.#run(key, where, work, true)) as Ran<T>).value;
  }

  /**
   * Runs `work` holding the lease of `key` only if it can be had at once: null, without
   * waiting, while another holder (in this instance or elsewhere) has it.
   */
  async tryRun<T>(key: string, where: string, work: (lease: Lease) => Promise<T>): Promise<Ran<T> | null> {
    return this.#queues.has(key) ? null : this.#run(key, where, work, false);
  }

  async #run<T>(key: string, where: string, work: (lease: Lease) => Promise<T>, wait: boolean): Promise<Ran<T> | null> {
    const previous = this.#queues.get(key);
    let done!: () => void;
    const turn = new Promise<void>((resolve) => (done = resolve));
    const tail = previous ? previous.then(() => turn) : turn;
    this.#queues.set(key, tail);
    try {
      await previous;
      const taken = await this.#acquire(key, where, wait);
      if (taken === null) return null;
      const { token, lease } = taken;
      let renewing: Promise<void> | undefined;
      const timer = setInterval(() => {
        renewing ??= this.#renew(key, token, lease).finally(() => (renewing = undefined));
      }, this.#times.renewMs);
      timer.unref();
      try {
        lease.check();
        return { value: await work(lease) };
      } finally {
        clearInterval(timer);
        // A renewal still in flight must not land after the release (on a successor's lease).
        await renewing;
        // Closed under us (a silent server): a command now could wait on a dead connection; the lease runs out.
        if (this.#stopped()) this.#orphans.set(token, key);
        else await this.#locks.deleteOne({ _id: key, token }).catch(() => this.#orphans.set(token, key));
      }
    } finally {
      done();
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    }
  }

  async #renew(key: string, token: string, lease: Lease): Promise<void> {
    if (!lease.valid || this.#stopped()) return; // too late to renew safely: the work is fenced at its next write
    const sentAt = Date.now();
    try {
      const result = await this.#locks.updateOne({ _id: key, token }, { $set: { expiresAt: new Date(sentAt + this.#times.leaseMs) } });
      if (result.matchedCount === 1) lease.renewed(sentAt);
      else lease.lose();
    } catch {
      // The server is unreachable: the lease runs out and the work is fenced.
    }
  }

  /** True while some holder has an unexpired lease of `key`. */
  async held(key: string): Promise<boolean> {
    const lock = await this.#locks.findOne({ _id: key });
    return lock !== null && expiry(lock) > Date.now();
  }

  /** Waits (up to the wait time) until no holder has the lease of `key`. */
  async settled(key: string): Promise<void> {
    const deadline = Date.now() + this.#times.waitMs;
    for (let delay = 2; (await this.held(key)) && Date.now() < deadline; delay = Math.min(delay * 2, 50)) await sleep(delay);
  }

  /**
   * Waits for this instance's leased work to finish (it gives its leases back) and
   * clears the leases it failed to give back: nothing of ours outlives `close()`.
   */
  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()]);
    if (this.#stopped()) return; // closed under us: what is left runs out by itself
    await Promise.all([...this.#orphans].map(([token, key]) => this.#locks.deleteOne({ _id: key, token }).then(() => this.#orphans.delete(token)).catch(() => undefined)));
  }

  /** The lease of `key`; null when it is held by a live holder and `wait` is false. */
  async #acquire(key: string, where: string, wait: boolean): Promise<{ token: string; lease: Lease } | null> {
    const token = randomUUID();
    const deadline = Date.now() + this.#times.waitMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      if (this.#stopped()) throw new StorageUnavailableError(`${where}: the storage was closed while waiting for the write lease`);
      const sentAt = Date.now();
      try {
        await this.#locks.insertOne({ _id: key, token, expiresAt: new Date(sentAt + this.#times.leaseMs) });
        return { token, lease: new Lease(sentAt, where, this.#times) };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const holder = await this.#locks.findOne({ _id: key });
      if (holder !== null && (this.#orphans.has(holder.token) || expiry(holder) <= Date.now())) {
        // Ours from a lost connection, or its holder died: take it over (the token guards against a new holder).
        await this.#locks.deleteOne({ _id: key, token: holder.token });
        this.#orphans.delete(holder.token);
        continue;
      }
      if (!wait) return null;
      if (Date.now() >= deadline) {
        throw new StorageUnavailableError(`${where}: timed out after ${this.#times.waitMs} ms waiting for ${this.#holders} to finish`);
      }
      await sleep(delay / 2 + Math.random() * delay);
    }
  }
}
