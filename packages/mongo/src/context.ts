import type { Collection } from 'mongodb';
import type { StringIdDocument } from './codec.js';
import type { WriteFence } from './fence.js';
import type { SessionLocks, WriteCheck } from './lock.js';
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
  /** The database side of the session lease's fence (fence.ts). */
  fence: WriteFence;
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
  /**
   * `work` on the prepared context (connected and migrated first), counted as a call in
   * flight until it settles: close() lets it finish (connection.ts, Closing.track). The
   * only way a repository reaches its collections, so none of its calls goes uncounted.
   */
  run<T>(work: (c: Context) => Promise<T>): Promise<T>;
  /** `Class.operation("name")`. */
  where(operation: string): string;
  /** The token of the session lease this instance holds (BaseStorage.fenceToken), read once per write. */
  fenceToken(): bigint | undefined;
}

/**
 * Runs leased work: under the write lease of lock.ts (multi-document writes; on
 * FerretDB 1.x also single-document updates) and, when this instance holds the
 * session lease, under its write permit (fence.ts). `work` calls `check()` before each
 * command. Without a session lease nothing is added.
 */
export function leased<T>(c: Context, scope: Scope, operation: string, work: (check: WriteCheck) => Promise<T>): Promise<T> {
  const token = scope.fenceToken();
  const where = scope.where(operation);
  if (token === undefined) return c.locks.run(scope.name, where, work);
  return c.locks.run(scope.name, where, (lease) => c.fence.run(token, where, (permit) => work({ check: () => (lease.check(), permit.check()) })));
}

/**
 * Runs a write that is atomic on every server (one insert, replace or delete): alone,
 * or under the session lease's write permit (fence.ts) when this instance holds a
 * session lease. Without one, no more than the write itself.
 */
export function fenced<T>(c: Context, scope: Scope, operation: string, write: () => Promise<T>): Promise<T> {
  const token = scope.fenceToken();
  if (token === undefined) return write();
  return c.fence.run(token, scope.where(operation), (permit) => (permit.check(), write()));
}

/**
 * Runs a single-document update: as `fenced` where update operators are atomic, under
 * the write lease too where they are not (FerretDB 1.x).
 */
export function guarded<T>(c: Context, scope: Scope, operation: string, write: () => Promise<T>): Promise<T> {
  return c.locked ? leased(c, scope, operation, (check) => (check.check(), write())) : fenced(c, scope, operation, write);
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
