import type { Collection } from 'mongodb';
import type { StringIdDocument } from './codec.js';
import type { Lease, SessionLocks } from './lock.js';
import type { ServerProfile } from './schema.js';

/** What every repository of one MongoStorage shares once it is prepared. */
export interface Context {
  sessions: Collection<StringIdDocument>;
  peers: Collection<StringIdDocument>;
  index: Collection<StringIdDocument>;
  /** FerretDB peer batches' redo journal (peers.ts). */
  journal: Collection<StringIdDocument>;
  kv: Collection<StringIdDocument>;
  refs: Collection<StringIdDocument>;
  locks: SessionLocks;
  profile: ServerProfile;
  /** Single-document updates take the session's lease too (FerretDB 1.x, or writeMode 'locked'). */
  locked: boolean;
}

/** How a repository reaches its collections and the session's lease. */
export interface Scope {
  /** The session name. */
  readonly name: string;
  /** `session "name"`, for CorruptDataError messages. */
  readonly label: string;
  ready(): Promise<Context>;
  /** `Class.operation("name")`. */
  where(operation: string): string;
}

/** Runs a single-document update under the lease where update operators are not atomic. */
export function guarded<T>(c: Context, scope: Scope, operation: string, write: () => Promise<T>): Promise<T> {
  return c.locked ? c.locks.run(scope.name, scope.where(operation), (lease: Lease) => (lease.check(), write())) : write();
}

/** Upserts racing on one `_id` may meet each other's insert (FerretDB, older MongoDB): the loser retries once. */
export async function upsertRetry<T>(write: () => Promise<T>, isDuplicate: (error: unknown) => boolean): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!isDuplicate(error)) throw error;
    return write();
  }
}
