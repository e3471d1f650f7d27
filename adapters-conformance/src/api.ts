/**
 * What the kit needs from a test runner, and what it needs from an adapter.
 * The kit never imports a runner: `@mtstore/conformance/vitest` binds vitest, and
 * any runner with describe/it and a jest-style expect can be bound the same way.
 */
import type { EncryptionOptions, SessionEventBus, SessionStorageProtocol, Storage } from '@mtstore/core';

/** The jest/vitest matchers the kit uses. */
export interface Assertion {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeNull(): void;
  toBeUndefined(): void;
  toHaveLength(length: number): void;
  toContain(item: unknown): void;
  toContainEqual(item: unknown): void;
  toBeGreaterThan(value: number): void;
  readonly not: Assertion;
}

export type Expect = (actual: unknown, message?: string) => Assertion;

export interface TestApi {
  describe(name: string, body: () => void): void;
  it(name: string, body: () => Promise<void>, timeout?: number): void;
  /** Registers a test that does not run, with the reason; called only for a declared capability. */
  skip(name: string, reason: string): void;
  expect: Expect;
}

type MaybePromise<T> = T | Promise<T>;

/** Adapter-specific behaviour the kit must know about. A trait is skipped only by one of these. */
export interface StorageCapabilities {
  /** Size of the peer batch trait. Default 10,000 (the design's figure); lower only if the backend cannot. */
  peerBatchSize?: number | undefined;
  /**
   * Two `open` calls on one namespace reach the same data (separate connections
   * where the database has them). Default true. False skips the traits that need two
   * instances on one data set; the durability, concurrency and torn-read traits then
   * run on one instance instead.
   */
  sharedBackend?: boolean | undefined;
}

/**
 * The module worker processes import to open instances of your adapter in other
 * processes: an ES module (absolute path or file URL, plain JavaScript that Node runs
 * as is) exporting `openStorage(namespace, name)` and/or `openSessionStorage(namespace)`,
 * doing what your `open` does. Without it the cross-process traits are skipped, listed
 * with that reason.
 */
export interface ProcessesOption {
  module: string;
}

/**
 * What the encryption-at-rest traits need: an instance with `encryption` in its
 * options, and the bytes the database really holds, to search them for plaintext keys.
 */
export interface EncryptionSuiteOption {
  /** Opens like `open`, passing `encryption` (undefined: none) in the adapter's options. */
  open(namespace: string, name: string, encryption: EncryptionOptions | undefined): MaybePromise<Storage>;
  /**
   * Every byte the backend stores for `namespace` — the database file, every row's
   * columns, every key's value, every document — as raw bytes (decode hex, base64 or
   * BSON wrappers the database hands back). The kit checks that a plaintext key shows
   * up in it and a sealed one never does.
   */
  dump(namespace: string): MaybePromise<Uint8Array>;
}

/**
 * Stored data the adapter's own code never writes, planted by the `tamper` hook: each
 * kind names what is wrong in terms of the model, and the adapter maps it onto its
 * storage (a column, a hash field, a document field, an object in memory). See
 * DAMAGES for what each kind plants and where.
 */
export type Damage =
  | 'user-without-id'
  | 'state-without-pts'
  | 'user-only-id'
  | 'user-only-dc-id'
  | 'user-only-bot'
  | 'user-only-usernames'
  | 'user-only-premium'
  | 'state-only-pts'
  | 'state-only-qts'
  | 'state-only-date'
  | 'state-only-seq'
  | 'state-negative-pts'
  | 'dc-id-zero'
  | 'flag-not-boolean'
  | 'user-usernames-not-list'
  | 'channel-id-not-integer'
  | 'takeout-id-not-integer'
  | 'peer-type-unknown'
  | 'peer-usernames-not-list'
  | 'peer-complete-not-bytes'
  | 'peer-usernames-respelled'
  | 'peer-usernames-not-text'
  | 'peer-access-hash-not-integer'
  | 'kv-value-not-bytes'
  | 'ref-chat-id-not-integer'
  | 'ref-peer-id-not-integer'
  | 'version-newer'
  | 'version-zero'
  | 'version-absent'
  | 'marker-absent'
  | 'foreign-telethon'
  | 'foreign-pyrogram'
  | 'foreign-mtcute'
  | 'foreign-lookalike';

/**
 * What each damage kind plants, for adapter authors (the README lists the same). The
 * kit calls `tamper.apply(namespace, name, kind)` after writing, through the adapter,
 * what the description names; the `foreign-*` kinds are applied to a namespace nothing
 * was opened on yet.
 */
export const DAMAGES: Readonly<Record<Damage, string>> = {
  'user-without-id': "session `name`'s self user with its id missing (NULL, absent), dcId and bot kept",
  'state-without-pts': "session `name`'s update state with pts missing, qts, date and seq kept",
  'user-only-id': "session `name`'s self user with only its id left: dcId, bot, usernames and premium missing (NULL, absent)",
  'user-only-dc-id': "session `name`'s self user with only its dcId left: id, bot, usernames and premium missing",
  'user-only-bot': "session `name`'s self user with only its bot flag left: id, dcId, usernames and premium missing",
  'user-only-usernames': "session `name`'s self user with only its usernames left: id, dcId, bot and premium missing",
  'user-only-premium': "session `name`'s self user with only its premium flag left: id, dcId, bot and usernames missing",
  'state-only-pts': "session `name`'s update state with only pts left: qts, date and seq missing",
  'state-only-qts': "session `name`'s update state with only qts left: pts, date and seq missing",
  'state-only-date': "session `name`'s update state with only date left: pts, qts and seq missing",
  'state-only-seq': "session `name`'s update state with only seq left: pts, qts and date missing",
  'state-negative-pts': "session `name`'s update state with pts -1",
  'dc-id-zero': "session `name`'s first DC entry (the one with DC id 1) with DC id 0",
  'flag-not-boolean': "session `name`'s self user with `bot` neither true nor false (a 0/1 column holding 2, a field holding 2)",
  'user-usernames-not-list': "session `name`'s self user with usernames that are not a list (text that does not parse as one)",
  'channel-id-not-integer': "session `name`'s first channel with an id that is not a 64-bit integer (text such as `x`)",
  'takeout-id-not-integer': "session `name`'s takeout id not a 64-bit integer (text such as `x`)",
  'peer-type-unknown': "peer user 1 of session `name` stored with a type none of user / chat / channel (`robot`), in its row and in its lookup index entries",
  'peer-usernames-not-list': "peer user 1 of session `name` with usernames that are not a list (text that does not parse as one)",
  'peer-complete-not-bytes': "peer user 1 of session `name` with `complete` that is not bytes (text)",
  'peer-usernames-respelled':
    "peers user 1 (usernames user_1, User1_alt, user_1_c), user 2 (user_2) and user 3 (user_3, User3_alt) of session `name` with their usernames spelled as the storage format allows but the adapter never writes them (JSON: user 1's with a space after the second comma only, `[\"user_1\",\"User1_alt\", \"user_1_c\"]`; user 2's with an escape, `[\"user\\u005f2\"]`; user 3's with a space after the comma, `[\"user_3\", \"User3_alt\"]`): valid data, read back as stored",
  'peer-usernames-not-text': 'peer user 1 of session `name` with usernames that are not text (bytes such as 0x00ff where the adapter keeps JSON text; a number where it keeps a list)',
  'peer-access-hash-not-integer': "peer user 1 of session `name` with an access hash that is not a 64-bit integer (text such as `x`)",
  'kv-value-not-bytes': "kv entry `k` of session `name` with a value that is not bytes (text)",
  'ref-chat-id-not-integer': "session `name`'s reference message of peer 7 (chat -100, message 5) with a chat id that is not a 64-bit integer (text such as `x`)",
  'ref-peer-id-not-integer': "session `name`'s reference message of peer 7 (chat -100, message 5) with a peer id that is not a 64-bit integer (text such as `x`)",
  'version-newer': 'the namespace marked as written by a newer release of the adapter (its schema version plus one)',
  'version-zero': 'the namespace marked with schema version 0 (no version the adapter ever wrote)',
  'version-absent': 'the namespace with its schema version marker holding no version (the marker row or key removed, the table or collection kept)',
  'marker-absent': "the namespace with the adapter's tables but no version marker at all (its meta table or key dropped)",
  'foreign-telethon': "a namespace nothing was opened on, made to hold a Telethon 1.x session store where the adapter would keep its own (SQLite: a Telethon `.session` file)",
  'foreign-pyrogram': 'as foreign-telethon, a Pyrogram 2.x session store',
  'foreign-mtcute': 'as foreign-telethon, an mtcute session store',
  'foreign-lookalike':
    "a namespace nothing was opened on, made to hold another program's store that shares names with a library's but is not its store (SQLite: tables named as Pyrogram's, `version`, `sessions`, `peers`, whose `sessions` has the columns `id` and `dc_id` only)",
};

/**
 * The `tamper` hook: plants stored data the adapter's own code never writes (a
 * hand-edited row, a file from another program or a newer release), so the kit can
 * check that reading it answers with a typed error (CorruptDataError, MigrationError)
 * instead of garbage, and that the rest of the storage keeps working.
 */
export interface TamperOption {
  /**
   * The kinds `apply` can plant. A kind the backend cannot hold (memory keeps validated
   * objects, not rows; a backend without a schema version) is left out: its trait is
   * listed as skipped with that reason.
   */
  kinds: readonly Damage[];
  /** Plants `damage` (see DAMAGES) in `namespace`, for session `name` where the kind names one. */
  apply(namespace: string, name: string, damage: Damage): MaybePromise<void>;
}

export interface StorageSuiteOptions {
  /** Opens session `name` in the backend `namespace`; the same namespace means the same data. */
  open(namespace: string, name: string): MaybePromise<Storage>;
  /** For the crash traits: a writer process SIGKILLed mid-write. */
  processes?: ProcessesOption | undefined;
  /** Runs of the model-based trait (random operation sequences). Default 30; `MTSTORE_KIT_RUNS` overrides. */
  modelRuns?: number | undefined;
  /** Removes what the namespace holds (tables, keys, files). Runs after each test. */
  cleanup?: ((namespace: string) => MaybePromise<void>) | undefined;
  /**
   * Optional: damages the stored snapshot of session `name` in `namespace` the
   * adapter's own way (a key column cut to 3 bytes, a garbage hash field, a field of
   * the wrong type), so that reading it cannot decode. The kit then expects
   * CorruptDataError. Without it the trait is skipped, listed with that reason.
   */
  corrupt?: ((namespace: string, name: string) => MaybePromise<void>) | undefined;
  /**
   * Optional: plants stored data the adapter never writes (see TamperOption, DAMAGES).
   * Without it the tampered-data traits are skipped, listed with that reason.
   */
  tamper?: TamperOption | undefined;
  /**
   * Optional: drops every connection that instances on `namespace` hold, the way a
   * server restart or a network cut would (pg_terminate_backend, CLIENT KILL, closing
   * the file handle). The kit then expects calls to resolve or reject with
   * StorageUnavailableError, and the instance to recover by itself.
   */
  interrupt?: ((namespace: string) => MaybePromise<void>) | undefined;
  /**
   * Optional: opens like `open`, with the adapter's `create: false` (URL
   * `?create=false`): only a store that is there opens (docs/contract.md §10). The kit
   * then expects a namespace nothing was written to to be NotFoundError on first use,
   * for reads and writes, with nothing created; and a store that `open` wrote to open,
   * read and take writes. Without it the "create: false" traits are skipped, listed
   * with that reason.
   */
  openExisting?: ((namespace: string, name: string) => MaybePromise<Storage>) | undefined;
  capabilities?: StorageCapabilities | undefined;
  /** For the encryption-at-rest traits (skipped, with that reason, without it). */
  encryption?: EncryptionSuiteOption | undefined;
  /** Per-test timeout in ms. Default 30,000. */
  timeout?: number | undefined;
}

export interface SessionStorageCapabilities {
  /** As for Storage: two `open` calls on one namespace reach the same data. Default true. */
  sharedBackend?: boolean | undefined;
  /** Concurrent callers in the race traits. Default 50. */
  raceCallers?: number | undefined;
}

export interface SessionStorageSuiteOptions {
  /** Opens the server session storage of `namespace`; the same namespace means the same data. */
  open(namespace: string): MaybePromise<SessionStorageProtocol>;
  /** For the race traits across processes. */
  processes?: ProcessesOption | undefined;
  /** Runs of the model-based trait. Default 30; `MTSTORE_KIT_RUNS` overrides. */
  modelRuns?: number | undefined;
  cleanup?: ((namespace: string) => MaybePromise<void>) | undefined;
  /** Optional: as for Storage, drops every connection of the namespace's instances. */
  interrupt?: ((namespace: string) => MaybePromise<void>) | undefined;
  capabilities?: SessionStorageCapabilities | undefined;
  timeout?: number | undefined;
  /**
   * Opens the namespace's storage with session lifetime (`ttlSeconds`, and `clock`, a
   * clock the kit moves). Without it the lifetime traits are listed as skipped with
   * that reason.
   */
  openWithLifetime?: ((namespace: string, lifetime: { ttlSeconds?: number | undefined; clock: () => number }) => MaybePromise<SessionStorageProtocol>) | undefined;
  /**
   * Optional: opens like `open`, with the adapter's `create: false` (docs/contract.md
   * §10), as `StorageSuiteOptions.openExisting` does for the client side. Without it the
   * server "create: false" traits are listed as skipped with that reason.
   */
  openExisting?: ((namespace: string) => MaybePromise<SessionStorageProtocol>) | undefined;
}

export interface SessionEventBusCapabilities {
  /**
   * Buses opened on one namespace reach each other across processes (separate
   * connections). Default true. False declares an in-process bus: the
   * cross-connection delivery trait is skipped and the in-process one runs instead.
   */
  crossProcess?: boolean | undefined;
  /** How long the kit waits for a remote delivery, ms. Default 5,000. */
  deliveryTimeout?: number | undefined;
}

export interface SessionEventBusSuiteOptions {
  /** Opens a bus on `namespace`: each call is a separate instance (connection) on the same channel. */
  open(namespace: string): MaybePromise<SessionEventBus>;
  /** Opens a server session storage on `namespace` for the subject traits (two calls share data). */
  openStorage(namespace: string): MaybePromise<SessionStorageProtocol>;
  cleanup?: ((namespace: string) => MaybePromise<void>) | undefined;
  capabilities?: SessionEventBusCapabilities | undefined;
  timeout?: number | undefined;
  /**
   * Cuts this bus's connection(s) as a failure would (terminate the backend, kill the
   * client, close the socket) and resolves once it is cut; the bus must notice, tell
   * its subscribers `lost`, reconnect by itself and tell them `live`. Without it the
   * reconnect traits of the session cache, and the bus trait on a subscription
   * unsubscribed during a state, are listed as skipped with that reason.
   */
  interrupt?: ((bus: SessionEventBus) => MaybePromise<void>) | undefined;
}
