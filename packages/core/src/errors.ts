/**
 * The only errors an mtstore adapter throws. Each has a stable `code` so callers
 * (and the conformance kit) can branch on it even when two copies of core are
 * installed and `instanceof` would lie.
 *
 * Messages name the operation and the key (session name, ids), never auth key bytes.
 * A driver error is kept as `cause`, after `sanitizeCause` strips anything that can
 * carry query parameters (TypeORM's `parameters`, mysql2's `sql`, pg's `detail`).
 */
import type { LeaseHolder } from './model.js';

export type StorageErrorCode =
  | 'MTSTORE_INVALID_ARGUMENT'
  | 'MTSTORE_STORAGE_CLOSED'
  | 'MTSTORE_CORRUPT_DATA'
  | 'MTSTORE_NOT_FOUND'
  | 'MTSTORE_STORAGE_UNAVAILABLE'
  | 'MTSTORE_MIGRATION'
  | 'MTSTORE_ADAPTER_UNAVAILABLE'
  | 'MTSTORE_ENCRYPTION'
  | 'MTSTORE_LEASE_HELD'
  | 'MTSTORE_LEASE_LOST';

/**
 * The code of each of core's error classes (their instances carry it as `code`), for
 * `instanceof` across copies of core. Filled below each class; open.ts adds its own.
 */
const CLASS_CODES = new Map<abstract new (...args: never[]) => StorageError, StorageErrorCode>();

/** Registers a core error class's code with `instanceof` (see StorageError's Symbol.hasInstance). */
export function registerErrorCode(errorClass: abstract new (...args: never[]) => StorageError, code: StorageErrorCode): void {
  CLASS_CODES.set(errorClass, code);
}

export abstract class StorageError extends Error {
  abstract readonly code: StorageErrorCode;

  /**
   * `instanceof` that also answers for an error made by another copy of @mtstore/core:
   * two copies are common (an app that `require`s core while an adapter was `import`ed,
   * the ESM and CommonJS builds side by side; npm's global installs, where each package
   * gets its own copy of a peer), and a `catch (e) { if (e instanceof
   * StorageUnavailableError) … }` that silently stops matching would be worse than
   * useless. An Error of another copy is an instance of one of core's classes when its
   * `code` is that class's (of StorageError: any mtstore code). A subclass of the
   * caller's own keeps plain `instanceof`: only objects of its prototype chain.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!(value instanceof Error)) return false;
    const code = (value as { code?: unknown }).code;
    if (typeof code !== 'string') return false;
    if (this === StorageError) return Object.hasOwn(ERROR_CODES, code);
    return CLASS_CODES.get(this) === code;
  }

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: sanitizeCause(options.cause) });
    this.name = new.target.name;
  }
}

/** An argument failed validation. Thrown before any I/O. */
export class InvalidArgumentError extends StorageError {
  readonly code = 'MTSTORE_INVALID_ARGUMENT' as const;
}

/** The storage (or subject, or bus) was closed before this call. */
export class StorageClosedError extends StorageError {
  readonly code = 'MTSTORE_STORAGE_CLOSED' as const;
}

/** Stored data does not decode. The message says which session / row. */
export class CorruptDataError extends StorageError {
  readonly code = 'MTSTORE_CORRUPT_DATA' as const;
}

/** The operation needs a stored session that is not there. */
export class NotFoundError extends StorageError {
  readonly code = 'MTSTORE_NOT_FOUND' as const;
}

/** The database could not be reached or did not complete the operation (connection lost, timeout). */
export class StorageUnavailableError extends StorageError {
  readonly code = 'MTSTORE_STORAGE_UNAVAILABLE' as const;
}

/** Another library whose session store an adapter recognises and refuses (see MigrationError.foreignLibrary). */
export type ForeignLibrary = 'telethon' | 'pyrogram' | 'mtcute';

/**
 * The schema could not be created or migrated, it was written by a newer version, or
 * the store belongs to another library.
 */
export class MigrationError extends StorageError {
  readonly code = 'MTSTORE_MIGRATION' as const;
  /**
   * Set when the store is another library's session store (a Telethon, Pyrogram or
   * mtcute file where the adapter would keep its own): a caller can tell the user to
   * convert it (`mtstore import`) instead of showing a schema problem. Undefined for
   * every other refusal.
   */
  readonly foreignLibrary?: ForeignLibrary | undefined;

  constructor(message: string, options?: { cause?: unknown; foreignLibrary?: ForeignLibrary | undefined }) {
    super(message, options);
    if (options?.foreignLibrary !== undefined) this.foreignLibrary = options.foreignLibrary;
  }
}

/** Why a sealed value could not be opened. */
export type EncryptionFailure = 'missing-key' | 'does-not-open';

/**
 * A sealed value (see `encryption` in the storage options) could not be opened:
 * `missing-key` — the key it names (`keyId`) is not configured, or no encryption is;
 * `does-not-open` — the key under that id is the wrong one, or the value was moved
 * from another session / DC / slot, or altered. Never carries key or value bytes.
 */
export class EncryptionError extends StorageError {
  readonly code = 'MTSTORE_ENCRYPTION' as const;

  constructor(
    message: string,
    /** The id of the key the sealed value needs. */
    readonly keyId: string,
    readonly reason: EncryptionFailure,
  ) {
    super(message);
  }
}

/**
 * Another process holds the session's lease: using the session now would make two
 * clients share one auth key, which Telegram answers with AUTH_KEY_DUPLICATED and a
 * revoked key. `holder` says who and until when.
 */
export class LeaseHeldError extends StorageError {
  readonly code = 'MTSTORE_LEASE_HELD' as const;
  readonly holder: LeaseHolder;

  constructor(message: string, holder: LeaseHolder, options?: { cause?: unknown }) {
    super(message, options);
    this.holder = holder;
  }
}

/**
 * This instance's lease was taken over or ran out (the process stalled, or lost the
 * database for longer than the lease lasts): the write was not applied.
 */
export class LeaseLostError extends StorageError {
  readonly code = 'MTSTORE_LEASE_LOST' as const;
}

registerErrorCode(InvalidArgumentError, 'MTSTORE_INVALID_ARGUMENT');
registerErrorCode(StorageClosedError, 'MTSTORE_STORAGE_CLOSED');
registerErrorCode(CorruptDataError, 'MTSTORE_CORRUPT_DATA');
registerErrorCode(NotFoundError, 'MTSTORE_NOT_FOUND');
registerErrorCode(StorageUnavailableError, 'MTSTORE_STORAGE_UNAVAILABLE');
registerErrorCode(MigrationError, 'MTSTORE_MIGRATION');
registerErrorCode(EncryptionError, 'MTSTORE_ENCRYPTION');
registerErrorCode(LeaseHeldError, 'MTSTORE_LEASE_HELD');
registerErrorCode(LeaseLostError, 'MTSTORE_LEASE_LOST');

/**
 * Every code, for StorageError's `instanceof`: a record typed by StorageErrorCode, so the
 * compiler rejects a code added to the type and forgotten here (a list could not).
 */
const ERROR_CODES: Readonly<Record<StorageErrorCode, true>> = {
  MTSTORE_INVALID_ARGUMENT: true,
  MTSTORE_STORAGE_CLOSED: true,
  MTSTORE_CORRUPT_DATA: true,
  MTSTORE_NOT_FOUND: true,
  MTSTORE_STORAGE_UNAVAILABLE: true,
  MTSTORE_MIGRATION: true,
  MTSTORE_ADAPTER_UNAVAILABLE: true,
  MTSTORE_ENCRYPTION: true,
  MTSTORE_LEASE_HELD: true,
  MTSTORE_LEASE_LOST: true,
};

/** True for any mtstore error, also one thrown by another copy of @mtstore/core. */
export function isStorageError(error: unknown): error is StorageError {
  return error instanceof StorageError;
}

/**
 * Turns whatever a driver threw into an mtstore error. mtstore errors pass through;
 * anything else means the database did not do the work, which is what
 * `StorageUnavailableError` reports (with the driver error as `cause`).
 */
export function toStorageError(error: unknown, operation: string): StorageError {
  if (isStorageError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StorageUnavailableError(`${operation} failed: ${withoutBytes(reason)}`, { cause: error });
}

/**
 * A driver message without the bytes it quotes: MySQL's `Incorrect string value:
 * '\xAB\xCD…'` quotes the start of the value it refused, which may be a key; a
 * driver or an adapter may quote a value as hex (`\x…`, `0x…`, a bytea literal, a
 * dump of rows) or as a Buffer prints (`<Buffer ab cd …>`). Runs of 32 or more hex
 * digits (16 bytes), and of 16 or more space- or colon-separated hex bytes, go too:
 * no diagnostic text is that long a hex run.
 */
function withoutBytes(message: string): string {
  return message
    .replace(/'[^']*\\x[0-9A-Fa-f]{2}[^']*'/g, "'…'")
    .replace(/(?:\\x|0x)?[0-9A-Fa-f]{32,}/g, '…')
    .replace(/(?:[0-9A-Fa-f]{2}[ :]){15,}[0-9A-Fa-f]{2}\b/g, '…');
}

/** Scalar fields of driver errors that help diagnose a failure and cannot hold query values. */
const SAFE_CAUSE_FIELDS = [
  'code',
  'errno',
  'syscall',
  'address',
  'port',
  'severity',
  'routine',
  'sqlState',
  'codeName',
] as const;

/**
 * A copy of a driver error that keeps its class name, message, stack and diagnostic
 * scalars, and drops every field that may hold bound parameters or row values (and
 * bytes its message quotes: withoutBytes).
 * Nested causes are sanitized too.
 */
export function sanitizeCause(cause: unknown, depth = 0): unknown {
  if (!(cause instanceof Error)) {
    return typeof cause === 'string' || typeof cause === 'number' ? cause : new Error(String(cause));
  }
  if (isStorageError(cause)) return cause;
  const copy = new Error(withoutBytes(cause.message));
  copy.name = cause.name;
  if (cause.stack !== undefined) copy.stack = withoutBytes(cause.stack);
  const source = cause as unknown as Record<string, unknown>;
  const target = copy as unknown as Record<string, unknown>;
  for (const field of SAFE_CAUSE_FIELDS) {
    const value = source[field];
    if (typeof value === 'string' || typeof value === 'number') target[field] = value;
  }
  if (depth < 3 && cause.cause !== undefined) {
    Object.defineProperty(copy, 'cause', { value: sanitizeCause(cause.cause, depth + 1), enumerable: false });
  }
  if (cause instanceof AggregateError && depth < 3) {
    Object.defineProperty(copy, 'errors', {
      value: cause.errors.map((e) => sanitizeCause(e, depth + 1)),
      enumerable: false,
    });
  }
  return copy;
}
