/**
 * Session leases in `<prefix>leases`, as an insert-only log: one document per
 * acquisition, `{ _id: '<session>#<token, 20 digits>', session, token, owner,
 * expiresAt }`. Taking the lease inserts the next token's document: the unique `_id`
 * makes exactly one of any number of racing acquirers win, with nothing but the one
 * operation every MongoDB-wire server performs atomically (FerretDB 1.x included,
 * whose update operators are not atomic — see lock.ts). The holder is the document
 * with the greatest token (an `_id` range scan: session names contain no `#` or `$`,
 * and the padded token sorts as text). Older documents are removed after a takeover.
 *
 * Only the holder updates its own document (renew sets `expiresAt`, release sets it
 * to the epoch), and a renewal checks afterwards that no greater token exists, so it
 * reports a takeover rather than hiding it.
 *
 * Clocks: `expiresAt` is written by the client's clock (FerretDB has no server-side
 * time for inserts), so the hosts sharing a database must agree on the time to well
 * within a quarter of the TTL (NTP does). This lease is separate from the short
 * write leases of `<prefix>locks`, which serialize multi-document writes.
 */
import type { Collection } from 'mongodb';
import type { LeaseRepository, StoredLease } from '@mtstore/core';
import { sealToken, tidySeals, type FenceDocument } from './fence.js';
import { isDuplicateKey } from './lock.js';

export interface LeaseDocument {
  _id: string;
  session: string;
  token: number;
  owner: string;
  expiresAt: Date;
}

const pad = (token: number): string => String(token).padStart(20, '0');
const toLease = (doc: LeaseDocument): StoredLease => ({
  token: BigInt(doc.token),
  owner: doc.owner,
  expiresAt: doc.expiresAt instanceof Date ? doc.expiresAt.getTime() : Number.NaN,
});

/**
 * `work` on the lease and fence collections once the store is prepared, counted as a call
 * in flight until it settles (close() lets it finish: connection.ts, Closing.track).
 */
export type LeaseRun = <T>(work: (leases: Collection<LeaseDocument>, fences: Collection<FenceDocument>) => Promise<T>) => Promise<T>;

export class MongoLeases implements LeaseRepository {
  readonly #first: string;
  readonly #end: string;

  constructor(
    private readonly run: LeaseRun,
    private readonly name: string,
    private readonly where: string,
  ) {
    this.#first = `${name}#`;
    this.#end = `${name}$`;
  }

  #id(token: number): string {
    return `${this.name}#${pad(token)}`;
  }

  async #latest(leases: Collection<LeaseDocument>): Promise<LeaseDocument | null> {
    return leases.findOne({ _id: { $gt: this.#first, $lt: this.#end } }, { sort: { _id: -1 } });
  }

  acquire(owner: string, ttlMs: number, force: boolean): Promise<{ acquired: boolean; lease: StoredLease }> {
    return this.run(async (leases, fences) => {
      for (;;) {
        const latest = await this.#latest(leases);
        if (latest !== null && toLease(latest).expiresAt > Date.now() && !force) return { acquired: false, lease: toLease(latest) };
        // The token taken over is sealed first: its holder's writes in flight finish, later ones are refused (fence.ts).
        if (latest !== null) await sealToken(fences, this.name, latest.token, this.where);
        const token = (latest?.token ?? 0) + 1;
        const doc: LeaseDocument = { _id: this.#id(token), session: this.name, token, owner, expiresAt: new Date(Date.now() + ttlMs) };
        try {
          await leases.insertOne(doc);
        } catch (error) {
          if (isDuplicateKey(error)) continue; // another acquirer took this token: look again
          throw error;
        }
        // Earlier acquisitions are history now; removing them is tidying, not correctness.
        await leases.deleteMany({ _id: { $gt: this.#first, $lt: doc._id } }).catch(() => undefined);
        await tidySeals(fences, this.name);
        return { acquired: true, lease: toLease(doc) };
      }
    });
  }

  renew(token: bigint, ttlMs: number): Promise<number | null> {
    return this.run(async (leases) => {
      const id = this.#id(Number(token));
      const expiresAt = new Date(Date.now() + ttlMs);
      // Only a lease still running by our clock is extended: once it ran out, another
      // process may be inserting the next token.
      const result = await leases.updateOne({ _id: id, expiresAt: { $gt: new Date() } }, { $set: { expiresAt } });
      if (result.matchedCount === 0) return null;
      const newer = await leases.findOne({ _id: { $gt: id, $lt: this.#end } }, { projection: { _id: 1 } });
      return newer === null ? expiresAt.getTime() : null;
    });
  }

  release(token: bigint): Promise<void> {
    return this.run(async (leases) => {
      await leases.updateOne({ _id: this.#id(Number(token)) }, { $set: { expiresAt: new Date(0) } });
    });
  }

  holder(): Promise<StoredLease | null> {
    return this.run(async (leases) => {
      const latest = await this.#latest(leases);
      if (latest === null) return null;
      const lease = toLease(latest);
      return lease.expiresAt > Date.now() ? lease : null;
    });
  }
}
