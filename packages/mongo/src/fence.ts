/**
 * The database side of the session lease's fence (docs/contract.md §12, issue 21):
 * writes made under a lease token that another instance has since taken over (force,
 * or after it ran out) are refused by the server, not only by the holder's clock.
 *
 * MongoDB without transactions (and FerretDB 1.x, whose update operators are not even
 * atomic per document) cannot make "the lease still has my token" and "write this
 * document" one atomic step: they are different documents. So the check is made a
 * mutual exclusion instead, built from the two operations every MongoDB-wire server
 * performs atomically, a unique `_id` insert and a delete, in `<prefix>fences`:
 *
 * - **Writer** (an instance holding lease token T): before its write it inserts the
 *   *write permit* `{ _id: '<session>#<T, 20 digits>', token: <uuid>, expiresAt }`,
 *   writes, and deletes the permit LINGER_MS after the instance's last write (writes in
 *   a row reuse it). Concurrent writes of the instance share one permit (counted here),
 *   renewed every RENEW_MS while it is held.
 * - **Taker** (`lease.acquire` about to store token T+1, forced or after T ran out):
 *   first inserts the *seal* `{ _id: '<session>#<T>', sealed: true }` — the same `_id`.
 *   While a permit is there the seal's insert fails: the taker inserts the *seal
 *   request* `{ _id: '<session>#<T>~', requested: true }` and waits for the permit to
 *   go (writes finished) or to run out (a writer that died), then seals, then stores
 *   T+1; it removes the request once sealed.
 * - **Holder, asked to let go.** A holder writing without pause never idles for
 *   LINGER_MS, so without the request a taker would wait WAIT_MS and fail. The holder
 *   looks for it with each permit renewal (every RENEW_MS) and each permit insert.
 *   Once it has seen it, no new write under the token starts (LeaseLostError, nothing
 *   written), the writes already holding the permit finish, and the last one to leave
 *   removes the permit. A forced takeover of a busy holder thus takes about RENEW_MS
 *   plus its longest write in flight, at most. The request only makes the holder let
 *   go; which writes land is still decided by the seal alone.
 *
 * The `_id` is the meeting point: a writer's insert after the seal fails (duplicate
 * key, the stored document says sealed) and the write is refused with
 * LeaseLostError before anything is written; a write whose permit was inserted first
 * finishes before the seal, so before the takeover's `acquire` returns. Every stored
 * token was sealed before the next one was stored, so all earlier tokens are refused.
 *
 * What remains is a clock assumption, the same as for the write leases of lock.ts: a
 * permit lasts LEASE_MS unless renewed, and the writer checks before each command that
 * more than FENCE_MARGIN_MS of it remain by its own clock. A write that sat unsent or
 * undelivered longer than that margin after the check (a frozen process, a stalled
 * socket) can land after a taker removed the expired permit and sealed. Where the
 * clocks agree and no command is delayed by more than FENCE_MARGIN_MS, nothing lands
 * after the takeover.
 *
 * Seals are kept SEAL_KEEP_MS (2 days, more than the longest lease TTL of one day:
 * an old holder's own clock fences it by then) and removed by later acquisitions.
 */
import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import { LeaseLostError, StorageUnavailableError } from '@mtstore/core';
import { isDuplicateKey, Lease, LEASE_MS, RENEW_MS, WAIT_MS, type WriteCheck } from './lock.js';

export interface FenceDocument {
  _id: string;
  /** A write permit's holder (random per permit). */
  token?: string;
  sealed?: true;
  /** A seal request: a taker waits to seal this token. */
  requested?: true;
  /** Permit: when it runs out unless renewed. Seal: when it may be removed. */
  expiresAt: Date;
}

/**
 * A permit outlives its last write by this much, so writes in a row (an update burst)
 * pay its insert and delete once; a takeover waits at most this long for an idle holder.
 */
export const LINGER_MS = 200;

/** How long a seal is kept: longer than any lease's TTL (at most one day). */
export const SEAL_KEEP_MS = 2 * 86_400_000;

/** The `_id` of the permit and the seal of one lease token: the same, on purpose. */
export const fenceId = (session: string, token: bigint | number): string => `${session}#${String(token).padStart(20, '0')}`;

/** The `_id` of the seal request of one lease token: in the session's `_id` range, next to the permit's. */
export const requestId = (session: string, token: bigint | number): string => `${fenceId(session, token)}~`;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const expiry = (doc: FenceDocument): number => (doc.expiresAt instanceof Date ? doc.expiresAt.getTime() : 0);

/** The database's refusal: core turns it into the lease's LeaseLostError (its message, onLost once). */
const refused = () => new LeaseLostError('fence: the session lease was taken over; nothing was written');

/** One instance's permit for one token, shared by its concurrent writes. */
interface Permit {
  readonly id: string;
  /** Where a taker asks to seal this permit's lease token. */
  readonly request: string;
  readonly token: string;
  users: number;
  lease?: Lease;
  timer?: NodeJS.Timeout;
  renewing?: Promise<void>;
  /** Set while no write uses the permit: gives it back after LINGER_MS. */
  idle?: NodeJS.Timeout;
  /** A taker asked to seal the token: the last write to leave gives the permit back at once. */
  sealing?: true;
  ready: Promise<void>;
}

/** What a fenced write checks before each command: its permit is still live by this clock. */
class PermitCheck implements WriteCheck {
  constructor(private readonly permit: Permit) {}

  check(): void {
    const lease = this.permit.lease as Lease;
    // Removed by a taker (it ran out and the token was sealed): the lease is gone.
    if (lease.lost) throw refused();
    lease.check();
  }
}

export class WriteFence {
  readonly #permits = new Map<string, Permit>();
  /** Permits of ours being given back or that failed to be: ours to remove when met again. */
  readonly #mine = new Set<string>();
  /** Permits whose token a taker asked to seal: later writes under it are refused without a round trip. */
  readonly #sealing = new Set<string>();

  constructor(
    private readonly fences: Collection<FenceDocument>,
    private readonly session: string,
    /** True once close() closed the client under the writes in flight (connection.ts, Closing): nothing more is sent. */
    private readonly stopped: () => boolean = () => false,
  ) {}

  /**
   * Runs `work` holding the write permit of lease `token`: a taker cannot seal the token
   * meanwhile, and once it has, this rejects with LeaseLostError before `work` starts.
   * `work` calls `check()` before each command it sends.
   */
  async run<T>(token: bigint, where: string, work: (permit: WriteCheck) => Promise<T>): Promise<T> {
    const permit = await this.#enter(token, where);
    try {
      return await work(new PermitCheck(permit));
    } finally {
      this.#leave(permit);
    }
  }

  /** Gives back every permit (core settled the writes in flight first) and removes those whose removal failed earlier. */
  async close(): Promise<void> {
    await Promise.all([...this.#permits.values()].map((p) => p.ready.catch(() => undefined)));
    if (this.stopped()) {
      // Closed under us (a silent server): our permits run out by themselves after LEASE_MS.
      for (const permit of this.#permits.values()) this.#halt(permit);
      return;
    }
    // A permit still in use (a write core did not wait for) is left to that write.
    await Promise.all([...this.#permits.values()].filter((p) => p.users === 0).map((p) => this.#release(p)));
    for (const token of [...this.#mine]) {
      await this.fences
        .deleteOne({ token })
        .then(() => this.#mine.delete(token))
        .catch(() => undefined);
    }
  }

  async #enter(token: bigint, where: string): Promise<Permit> {
    const id = fenceId(this.session, token);
    if (this.#sealing.has(id)) throw refused();
    let permit = this.#permits.get(id);
    if (permit?.idle !== undefined) {
      if (permit.lease?.valid === true) {
        clearTimeout(permit.idle); // still good: reused without a round trip
        permit.idle = undefined;
      } else {
        await this.#release(permit);
        permit = this.#permits.get(id);
      }
    }
    if (permit === undefined) {
      const created: Permit = { id, request: requestId(this.session, token), token: randomUUID(), users: 0, ready: Promise.resolve() };
      created.ready = this.#take(created, where).catch((error: unknown) => {
        if (this.#permits.get(id) === created) this.#permits.delete(id);
        throw error;
      });
      this.#permits.set(id, created);
      permit = created;
    }
    permit.users++;
    try {
      await permit.ready;
    } catch (error) {
      permit.users--;
      throw error;
    }
    return permit;
  }

  #leave(permit: Permit): void {
    if (--permit.users > 0) return;
    if (permit.sealing) {
      void this.#release(permit); // a taker is waiting for exactly this
      return;
    }
    permit.idle = setTimeout(() => void this.#release(permit), LINGER_MS);
    permit.idle.unref();
  }

  /** A taker asked to seal the permit's token: no write joins any more; an idle permit goes now, a busy one when its writes are done. */
  #letGo(permit: Permit): void {
    this.#sealing.add(permit.id);
    permit.sealing = true;
    if (permit.users === 0 && this.#permits.get(permit.id) === permit) void this.#release(permit);
  }

  async #requested(permit: Permit): Promise<boolean> {
    return (await this.fences.findOne({ _id: permit.request }, { projection: { _id: 1 } })) !== null;
  }

  /** Stops renewing and removes the permit from the server (the last writer left it, or close). */
  async #release(permit: Permit): Promise<void> {
    if (this.#permits.get(permit.id) === permit) this.#permits.delete(permit.id);
    clearTimeout(permit.idle);
    clearInterval(permit.timer);
    // A renewal in flight must not land after the removal.
    await permit.renewing;
    await this.#remove(permit);
  }

  /** Stops renewing a permit and forgets it (close() after the client was closed under it). */
  #halt(permit: Permit): void {
    if (this.#permits.get(permit.id) === permit) this.#permits.delete(permit.id);
    clearTimeout(permit.idle);
    clearInterval(permit.timer);
  }

  async #remove(permit: Permit): Promise<void> {
    this.#mine.add(permit.token);
    if (this.stopped()) return; // closed under us: it runs out by itself
    await this.fences.deleteOne({ _id: permit.id, token: permit.token }).then(
      () => this.#mine.delete(permit.token),
      () => undefined, // unreachable: removed when met again, or on close
    );
  }

  async #take(permit: Permit, where: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      if (this.stopped()) throw new StorageUnavailableError(`${where}: the storage was closed while taking the lease's write permit`);
      const sentAt = Date.now();
      // The request is read alongside the insert (no added latency): a holder that let go
      // for a taker must not take the token's permit again before the taker seals it.
      const [inserted, requested] = await Promise.all([
        this.fences.insertOne({ _id: permit.id, token: permit.token, expiresAt: new Date(sentAt + LEASE_MS) }).then(
          () => true,
          (error: unknown) => (isDuplicateKey(error) ? false : Promise.reject(error)),
        ),
        this.#requested(permit),
      ]);
      if (requested) {
        if (inserted) await this.#remove(permit);
        this.#sealing.add(permit.id);
        throw refused();
      }
      if (inserted) {
        permit.lease = new Lease(sentAt, where);
        permit.timer = setInterval(() => {
          permit.renewing ??= this.#renew(permit).finally(() => (permit.renewing = undefined));
        }, RENEW_MS);
        permit.timer.unref();
        return;
      }
      const stored = await this.fences.findOne({ _id: permit.id });
      if (stored?.sealed === true) throw refused();
      if (stored !== null && typeof stored.token === 'string' && (this.#mine.has(stored.token) || expiry(stored) <= Date.now())) {
        // Our own permit whose removal is pending or failed, or one left by a dead process holding this token.
        await this.fences.deleteOne({ _id: permit.id, token: stored.token });
        this.#mine.delete(stored.token);
        continue;
      }
      if (Date.now() >= deadline) throw new StorageUnavailableError(`${where}: timed out after ${WAIT_MS} ms waiting for the lease's write permit`);
      await sleep(delay / 2 + Math.random() * delay);
    }
  }

  async #renew(permit: Permit): Promise<void> {
    const lease = permit.lease as Lease;
    if (!lease.valid || this.stopped()) return; // too late to renew safely: the writes are fenced at their next check
    const sentAt = Date.now();
    try {
      const [result, requested] = await Promise.all([
        this.fences.updateOne({ _id: permit.id, token: permit.token }, { $set: { expiresAt: new Date(sentAt + LEASE_MS) } }),
        this.#requested(permit),
      ]);
      if (result.matchedCount === 1) lease.renewed(sentAt);
      else lease.lose();
      if (requested) this.#letGo(permit);
    } catch {
      // Unreachable: the permit runs out and the writes are fenced by the clock.
    }
  }
}

/**
 * The taker's side: seals lease `token` of `session` so that no write under it starts
 * any more, after the writes in flight under it finished (their permit is removed) or
 * their permit ran out. Call before storing the next token.
 */
export async function sealToken(fences: Collection<FenceDocument>, session: string, token: number, where: string): Promise<void> {
  const id = fenceId(session, token);
  const request = requestId(session, token);
  const deadline = Date.now() + WAIT_MS;
  let requested = false;
  try {
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      try {
        await fences.insertOne({ _id: id, sealed: true, expiresAt: new Date(Date.now() + SEAL_KEEP_MS) });
        return;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const stored = await fences.findOne({ _id: id });
      if (stored === null) continue;
      if (stored.sealed === true) return; // another taker sealed it
      if (expiry(stored) <= Date.now()) {
        // Its writer died or stalled past the permit (see the module comment): remove it, then seal.
        await fences.deleteOne({ _id: id, token: stored.token });
        continue;
      }
      if (!requested) {
        // A live holder is writing: ask it to let go (another taker may have asked already).
        await fences.insertOne({ _id: request, requested: true, expiresAt: new Date(Date.now() + SEAL_KEEP_MS) }).catch((error: unknown) => {
          if (!isDuplicateKey(error)) throw error;
        });
        requested = true;
      }
      if (Date.now() >= deadline) throw new StorageUnavailableError(`${where}: timed out after ${WAIT_MS} ms waiting for the holder's writes in flight`);
      await sleep(delay / 2 + Math.random() * delay);
    }
  } finally {
    // Once sealed the request is moot; after a failure it would stop a holder nobody took over.
    if (requested) await fences.deleteOne({ _id: request }).catch(() => undefined);
  }
}

/** Removes the session's seals kept long enough, and requests left by a taker that died (tidying: a failure changes nothing). */
export async function tidySeals(fences: Collection<FenceDocument>, session: string): Promise<void> {
  await fences
    .deleteMany({ _id: { $gt: `${session}#`, $lt: `${session}$` }, $or: [{ sealed: true }, { requested: true }], expiresAt: { $lt: new Date() } })
    .catch(() => undefined);
}
