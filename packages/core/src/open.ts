/**
 * Open any storage from a path, a URL or an instance (Telethon's ergonomics), with
 * adapters plugged in by URL scheme. Core depends on no adapter: the matching
 * @mtstore package is loaded (import(), or require() in the CommonJS build) only when its scheme is used,
 * and a third-party package adds its own scheme with `registerAdapter`.
 *
 *   openStorage()                                   → @mtstore/memory
 *   openStorage('bot')                              → @mtstore/sqlite, ./bot.session
 *   openStorage('postgres://u:p@db/app?schema=tg', { name: 'alice' })
 *   openSessionStorage('redis://cache:6379')        → { storage, bus }
 */
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { redactUrl, type OpenedSessionStorage, type StorageAdapter } from './adapter.js';
import { InvalidArgumentError, registerErrorCode, StorageError } from './errors.js';
import type { SessionStorageProtocol, Storage } from './model.js';
import type { EncryptionOptions } from './seal.js';
import { assertKnownOptions, assertSessionName, describeValue, nearestName } from './validate.js';

/** The adapter package could not be loaded: not installed, or its driver failed to load. */
export class AdapterUnavailableError extends StorageError {
  readonly code = 'MTSTORE_ADAPTER_UNAVAILABLE' as const;
}
registerErrorCode(AdapterUnavailableError, 'MTSTORE_ADAPTER_UNAVAILABLE');

/**
 * Loads an adapter package the way this copy of core was loaded: `require` in the
 * CommonJS build, `import()` in the ESM one. An `import()`
 * from the CommonJS build would load the adapter's ESM build on the ESM build of core,
 * a second copy beside the one the application required: its registry of adapters and
 * its classes (a storage that is not `instanceof` the app's BaseStorage) apart.
 */
function loadPackage(name: string): Promise<unknown> {
  return typeof __MTSTORE_CJS__ === 'boolean' && __MTSTORE_CJS__ ? Promise.resolve().then(() => require(name) as unknown) : import(name);
}
/** Set by the build (tsup.config.base.ts): true in the CommonJS build; not defined when the source runs as it is (tests). */
declare const __MTSTORE_CJS__: boolean | undefined;

export type StorageInput = string | URL | Storage | null | undefined;
export type SessionStorageInput = string | URL | SessionStorageProtocol | null | undefined;

export interface OpenStorageOptions {
  /** Session name. Default: `?session=` in the URL, else `default` (as `new SqliteStorage(path)`). */
  name?: string | undefined;
  /**
   * Seal auth keys at rest (see `EncryptionOptions`). Keys go here — given as bytes
   * or named by environment variable (`{ id, env: 'MTSTORE_KEY' }`) — never in the URL.
   */
  encryption?: EncryptionOptions | undefined;
}

/** Resolves to an adapter, or to a module exporting one as `adapter`. */
export type AdapterLoader = () => Promise<StorageAdapter | { adapter: StorageAdapter }>;

interface KnownAdapter {
  readonly packageName: string;
  /** The driver to install beside it (none for memory). */
  readonly driver?: string;
}

const SQLITE: KnownAdapter = { packageName: '@mtstore/sqlite', driver: 'better-sqlite3' };
const KNOWN: Readonly<Record<string, KnownAdapter>> = {
  memory: { packageName: '@mtstore/memory' },
  sqlite: SQLITE,
  file: SQLITE,
  postgres: { packageName: '@mtstore/postgres', driver: 'pg' },
  postgresql: { packageName: '@mtstore/postgres', driver: 'pg' },
  redis: { packageName: '@mtstore/redis', driver: 'ioredis' },
  rediss: { packageName: '@mtstore/redis', driver: 'ioredis' },
  mongodb: { packageName: '@mtstore/mongo', driver: 'mongodb' },
  'mongodb+srv': { packageName: '@mtstore/mongo', driver: 'mongodb' },
};

/** Schemes served only through @mtstore/typeorm's classes (a DataSource, not a URL): the error says so. */
const THROUGH_TYPEORM: readonly string[] = ['typeorm', 'mysql', 'mariadb'];

const registered = new Map<string, AdapterLoader>();

const SCHEME = /^[a-z][a-z0-9+.-]*$/;

/**
 * Plugs an adapter in under a URL scheme (`'dynamodb'` or `'dynamodb:'`), replacing
 * a built-in one of the same name. The loader runs on first use of the scheme.
 */
export function registerAdapter(scheme: string, loader: AdapterLoader): void {
  const name = typeof scheme === 'string' ? scheme.replace(/:$/, '').toLowerCase() : scheme;
  if (typeof name !== 'string' || !SCHEME.test(name)) {
    throw new InvalidArgumentError(`registerAdapter: scheme must be a URL scheme like 'dynamodb', got ${describeValue(scheme)}`);
  }
  if (typeof loader !== 'function') throw new InvalidArgumentError('registerAdapter: loader must be a function returning a promise of the adapter');
  registered.set(name, loader);
}

/** Every scheme openStorage understands right now, built-in and registered. */
export function knownSchemes(): string[] {
  return [...new Set([...Object.keys(KNOWN), ...registered.keys()])].sort();
}

function isStorage(value: unknown): value is Storage {
  const s = value as Partial<Storage> | null;
  return typeof s === 'object' && s !== null && typeof s.load === 'function' && typeof s.save === 'function' && typeof s.saveUpdateState === 'function' && typeof s.peers === 'object';
}

function isSessionStorage(value: unknown): value is SessionStorageProtocol {
  const s = value as Partial<SessionStorageProtocol> | null;
  return typeof s === 'object' && s !== null && typeof s.createSession === 'function' && typeof s.hasSession === 'function';
}

interface Target {
  url: URL;
}

// "scheme:" of two or more characters starts a URL; one letter is a Windows drive ("C:\\…").
const URL_SCHEME = /^([a-z][a-z0-9+.-]+):/i;

/** A string or URL input → the URL to open; plain paths become sqlite `file:` URLs. */
function toTarget(input: string | URL, where: string): Target {
  if (input instanceof URL) return { url: input };
  if (typeof input !== 'string' || input.length === 0) {
    throw new InvalidArgumentError(`${where}: expected a path, a URL, a storage instance or null, got ${describeValue(input)}`);
  }
  const scheme = URL_SCHEME.exec(input)?.[1];
  if (scheme !== undefined) {
    try {
      return { url: new URL(input) };
    } catch {
      // The text may hold credentials: name only its scheme.
      throw new InvalidArgumentError(`${where}: the "${scheme.toLowerCase()}:" URL is malformed`);
    }
  }
  // Telethon's convention: a path without an extension gets `.session`, relative to the working directory.
  return { url: pathToFileURL(resolve(process.cwd(), extname(input) === '' ? `${input}.session` : input)) };
}

/** Every field of OpenStorageOptions. */
const OPEN_OPTIONS: readonly string[] = ['name', 'encryption'];

/**
 * A misspelt option was ignored: `{ nmae }` opened session "default", `{ encrypton }`
 * stored auth keys in plaintext. Adapter options (create, schema, prefix, …) are read
 * from the URL only.
 */
function refuseUnknownOptions(options: object, where: string): void {
  assertKnownOptions(options, OPEN_OPTIONS, where, "it takes name and encryption; an adapter's own options go in the URL (?create=false, ?schema=, ?prefix=, …) or to its class");
}

/** A URL ends up in logs, shell history and error messages: a key there would leak (so it is not echoed here either). */
function refuseKeyInUrl(url: URL, where: string, instead: string): void {
  if ([...url.searchParams.keys()].some((key) => /encrypt|secret|^key$/i.test(key))) {
    throw new InvalidArgumentError(`${where}: encryption keys never go in the URL: ${instead}`);
  }
}

function sessionName(target: Target, options: OpenStorageOptions, where: string): string {
  // The path (or URL) picks the file or database; the name picks the session in it.
  // Like Telethon, one file is one session unless a name says otherwise.
  const name = options.name ?? target.url.searchParams.get('session') ?? 'default';
  assertSessionName(name, `${where}: name`);
  return name;
}

async function loadAdapter(url: URL, where: string): Promise<StorageAdapter> {
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  const custom = registered.get(scheme);
  const known = KNOWN[scheme];
  if (!custom && !known) {
    if (THROUGH_TYPEORM.includes(scheme)) {
      throw new InvalidArgumentError(
        `${where}: no adapter for "${scheme}:" URLs (${redactUrl(url)}): ${scheme === 'typeorm' ? 'TypeORM' : 'MySQL / MariaDB'} is served by @mtstore/typeorm, which opens no URL: ` +
          'construct TypeormStorage / TypeormSessionStorage with your DataSource ({ dataSource, name }).',
      );
    }
    const guess = nearestName(scheme, knownSchemes());
    const hint = guess === undefined ? '' : ` (did you mean "${guess}:"?)`;
    throw new InvalidArgumentError(`${where}: no adapter for "${scheme}:" URLs (${redactUrl(url)})${hint}; known schemes: ${knownSchemes().map((s) => `${s}:`).join(', ')}. A package can add one with registerAdapter().`);
  }
  let loaded: StorageAdapter | { adapter: StorageAdapter } | undefined;
  try {
    loaded = custom ? await custom() : ((await loadPackage(known!.packageName)) as { adapter: StorageAdapter });
  } catch (error) {
    throw explainLoadFailure(error, scheme, known, where);
  }
  const adapter = loaded && 'adapter' in loaded ? loaded.adapter : (loaded as StorageAdapter | undefined);
  if (typeof adapter?.openStorage !== 'function' || typeof adapter.openSessionStorage !== 'function') {
    throw new AdapterUnavailableError(`${where}: the adapter for "${scheme}:" does not export an mtstore StorageAdapter (openStorage, openSessionStorage)`);
  }
  return adapter;
}

function isNativeLoadFailure(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  return e?.code === 'ERR_DLOPEN_FAILED' || /better_sqlite3\.node|Could not locate the bindings file|NODE_MODULE_VERSION|invalid ELF header/.test(message);
}

/** "Cannot find package 'pg' imported from …" names the missing one; the path after it may name others. */
function isMissingModule(error: unknown, name: string): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && (message.includes(`'${name}'`) || message.includes(`'${name}/`));
}

/** Turns an import or open failure into the error a user can act on. */
function explainLoadFailure(error: unknown, scheme: string, known: KnownAdapter | undefined, where: string): Error {
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  if (known && isMissingModule(error, known.packageName)) {
    const install = ['npm install', known.packageName, known.driver].filter(Boolean).join(' ');
    return new AdapterUnavailableError(`${where}: "${scheme}:" needs the ${known.packageName} adapter, which is not installed. Run: ${install}`, { cause: error });
  }
  if (known?.driver && isMissingModule(error, known.driver)) {
    return new AdapterUnavailableError(`${where}: ${known.packageName} needs its driver ${known.driver}, which is not installed. Run: npm install ${known.driver}`, { cause: error });
  }
  if (known?.driver === 'better-sqlite3' && isNativeLoadFailure(error)) {
    return new AdapterUnavailableError(
      `${where}: better-sqlite3 failed to load its native module (${reason}). Rebuild it for this Node.js (npm rebuild better-sqlite3), ` +
        'or use the memory adapter (openStorage(null)) or another database (postgres://, redis://, mongodb://).',
      { cause: error },
    );
  }
  if (error instanceof StorageError) return error;
  return new AdapterUnavailableError(`${where}: the adapter for "${scheme}:" failed to load: ${reason}`, { cause: error });
}

/**
 * A driver may load lazily, when the adapter opens: a missing driver or a native
 * module that fails then is explained like a failed import. Anything else is the
 * adapter's own error and passes through.
 */
function explainOpenFailure(error: unknown, scheme: string, where: string): unknown {
  const known = KNOWN[scheme];
  // The adapter may have wrapped the driver's error: look at its cause too.
  for (const candidate of [error, (error as { cause?: unknown } | null)?.cause]) {
    if (known?.driver === undefined || candidate === undefined) continue;
    if (isMissingModule(candidate, known.driver) || (known.driver === 'better-sqlite3' && isNativeLoadFailure(candidate))) {
      return explainLoadFailure(candidate, scheme, known, where);
    }
  }
  return error;
}

/**
 * Opens a client Storage: `null`/`undefined` → memory; a path or `file:` URL →
 * sqlite (`.session` added when the path has no extension); `sqlite:`, `memory:`,
 * `postgres://`, `redis://`, `mongodb://` → that adapter; a Storage → itself.
 * The storage owns its connection: close it when done.
 */
export async function openStorage(input?: StorageInput, options: OpenStorageOptions = {}): Promise<Storage> {
  const where = 'openStorage';
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}: options must be an object, got ${describeValue(options)}`);
  refuseUnknownOptions(options, where);
  if (isStorage(input)) {
    if (options.encryption !== undefined) throw new InvalidArgumentError(`${where}: encryption cannot be added to an open storage instance; pass it to the instance's own options`);
    return input;
  }
  const target = input === null || input === undefined ? { url: new URL('memory:') } : toTarget(input as string | URL, where);
  const name = sessionName(target, options, where);
  refuseKeyInUrl(target.url, where, "pass options.encryption, e.g. { keys: [{ id: 'k1', env: 'MTSTORE_KEY' }] }");
  const adapter = await loadAdapter(target.url, where);
  const scheme = target.url.protocol.replace(/:$/, '');
  try {
    return await adapter.openStorage(target.url, options.encryption === undefined ? { name } : { name, encryption: options.encryption });
  } catch (error) {
    throw explainOpenFailure(error, scheme, where);
  }
}

/**
 * Opens server session storage the same way, with the adapter's cross-process event
 * bus where its database has one: `new SessionSubject(storage, { bus })` is one line.
 * A SessionStorageProtocol instance is returned as `{ storage }`. Server storage has no
 * session names: a URL with `?session=` is an InvalidArgumentError before any I/O.
 */
export async function openSessionStorage(input?: SessionStorageInput): Promise<OpenedSessionStorage> {
  const where = 'openSessionStorage';
  if (isSessionStorage(input)) return { storage: input };
  const target = input === null || input === undefined ? { url: new URL('memory:') } : toTarget(input as string | URL, where);
  // Every adapter accepts `?session=` in its URLs because openStorage reads it, so without
  // this check a client URL copied into a server would open with the name silently dropped.
  // Checked before the adapter loads: no connection is attempted.
  if (target.url.searchParams.has('session')) {
    throw new InvalidArgumentError(
      `${where}: unexpected URL parameter "session": server storage has no session name (one store holds every session, keyed by auth key id and session id). ` +
        'Remove "session" from the URL; it names a client session only for openStorage.',
    );
  }
  refuseKeyInUrl(target.url, where, 'server storage keeps no auth keys to seal; remove the parameter');
  const adapter = await loadAdapter(target.url, where);
  const scheme = target.url.protocol.replace(/:$/, '');
  try {
    return await adapter.openSessionStorage(target.url);
  } catch (error) {
    throw explainOpenFailure(error, scheme, where);
  }
}
