/**
 * The mtcute storage provider over one mtstore `Storage` (one named session):
 * `new TelegramClient({ storage: mtcuteStorage(storage) })`.
 *
 * Write policy, as mtcute's own storages: auth keys are written at once; peers,
 * kv entries (typed session fields included) and reference messages are written by
 * the driver's `save()`, which mtcute calls after caching peers, after every update
 * batch, on disconnect and before exit (it has no save interval): peers and references
 * first, kv (the update state with it) once they are stored (see MtstoreDriver.#save).
 * A write that failed stays pending for the next save, and one that failed for want of
 * the database is saved again by the driver itself once it is back (#retrySoon); one
 * mtstore can never store is dropped and logged (ReportDropped) instead, so it never
 * blocks the writes after it.
 */
import { assertKnownOptions, BackoffTimer, assertLeaseAcquireOptions, assertOptional, InvalidArgumentError, isStorageError, optionNames, StorageClosedError, type LeaseAcquireOptions, type Storage } from '@mtstore/core';
import type { ICorePlatform, IStorageDriver, ITelegramStorageProvider } from '@mtcute/core';
import type { Logger } from '@mtcute/core/utils.js';
import { MtstoreAuthKeys } from './auth-keys.js';
import { MtstoreKeyValue } from './kv.js';
import { MtstorePeers } from './peers.js';
import { MtstoreRefMessages } from './ref-messages.js';
import { SessionKv } from './session-kv.js';

export interface MtcuteStorageOptions {
  /**
   * Close the mtstore storage when mtcute destroys the client (as mtcute's own
   * storages close their database). Default true; false when the storage is shared.
   */
  closeOnDestroy?: boolean | undefined;
  /**
   * Store each peer's display name (read out of the TL object mtcute stores), so
   * other mtstore clients (GramJS, Telethon) see it. Default true.
   */
  displayNames?: boolean | undefined;
  /**
   * Take the session's lease when mtcute loads the storage (client start) and give it
   * back on destroy, so a second client on the same session fails at start with
   * LeaseHeldError naming the first — not with a revoked key (AUTH_KEY_DUPLICATED).
   * Default true; an object is passed to `storage.lease.acquire` (owner label, TTL,
   * wait); false turns it off.
   */
  lease?: boolean | LeaseAcquireOptions | undefined;
  /**
   * Whether the client runs on Telegram's test servers: pass the client's own
   * `testMode`. mtcute tells its storage nothing of it, so without this option the
   * session is stored without a mode (other clients and `mtstore export` take it for
   * production). Given, every DC entry the bridge writes carries it (entries stored
   * without it get it at the next save), and a session stored for the other server set
   * is refused at load with InvalidArgumentError. Default: not given (nothing marked
   * or checked).
   */
  testMode?: boolean | undefined;
}

/** Every option of mtcuteStorage: any other name is refused (a misspelt `testMode` left a test session unmarked). */
const OPTIONS = optionNames<MtcuteStorageOptions>()(['closeOnDestroy', 'displayNames', 'lease', 'testMode']);

/**
 * The driver's own save after one failed for want of the database: the first delay, and
 * the cap it doubles to. mtcute 0.29 saves only when something happens (an API result
 * with peers, an update batch, a disconnect); an idle client's pending writes would wait
 * for that — up to the updates keep-alive's 15 minutes, or for ever without updates.
 */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;

class MtstoreDriver implements IStorageDriver {
  readonly #storage: Storage;
  readonly #provider: MtcuteStorage;
  readonly #closeOnDestroy: boolean;
  readonly #lease: LeaseAcquireOptions | undefined;
  #log: Logger | undefined;
  #destroyed = false;
  /** This driver closed the storage (closeOnDestroy): no later load can work. */
  #closed = false;
  #saving: Promise<void> = Promise.resolve();
  /** The background save's timer (see #retrySoon): its delay doubles per save the database refused. */
  readonly #retryTimer = new BackoffTimer(() => this.#retry(), RETRY_FIRST_MS, RETRY_MAX_MS);
  /** The code of the background save failure logged last: the next one is logged only if it differs. */
  #retryLogged: string | undefined;

  constructor(storage: Storage, provider: MtcuteStorage, closeOnDestroy: boolean, lease: LeaseAcquireOptions | undefined) {
    this.#storage = storage;
    this.#lease = lease;
    this.#provider = provider;
    this.#closeOnDestroy = closeOnDestroy;
  }

  setup(log: Logger, _platform: ICorePlatform): void {
    this.#log = log.create('mtstore');
  }

  async load(): Promise<void> {
    if (this.#closed) {
      // mtcute's own storages open their database again on the next load, so reusing a
      // provider in a new client works there; an mtstore Storage stays closed. Said here,
      // instead of the first repository call's bare "the storage is closed".
      throw new StorageClosedError(
        'mtcuteStorage: this provider closed its mtstore storage when its client was destroyed (closeOnDestroy, the default), and a closed storage does not open again: give each new client a new provider over a new storage, or pass closeOnDestroy: false and close the storage yourself',
      );
    }
    this.#destroyed = false;
    let acquired = false;
    if (this.#lease !== undefined && this.#storage.lease.held === null) {
      await this.#storage.lease.acquire({
        ...this.#lease,
        owner: { label: 'mtcute', ...this.#lease.owner },
        onLost: (error) => {
          this.#log?.error('%s', error.message);
          this.#lease?.onLost?.(error);
        },
      });
      acquired = true;
    }
    try {
      await this.#provider.sessionKv.load();
    } catch (error) {
      // mtcute never destroys a driver whose load failed (StorageManager._destroy returns
      // unless the load finished), so a lease taken here would be renewed by its heartbeat
      // for as long as the process lives, and every new client on the session — in this
      // process too, over a new storage — would get LeaseHeldError naming this one.
      if (acquired) {
        await this.#storage.lease.release().catch((releaseError: unknown) => this.#log?.warn('could not give the lease back after a failed load: %e', releaseError));
      }
      throw error;
    }
  }

  /** Saves run one after another; each writes what was pending when it started. */
  save(): Promise<void> {
    const run = this.#saving.catch(() => undefined).then(() => this.#save());
    this.#saving = run;
    // The caller gets `run` itself (and its rejection); this branch only decides on the background save.
    run.then(this.#saved, this.#failed);
    return run;
  }

  readonly #saved = (): void => {
    if (this.#provider.pending) return;
    this.#retryTimer.reset();
    if (this.#retryLogged !== undefined) this.#log?.info('the writes pending since the database was unavailable are stored');
    this.#retryLogged = undefined;
  };

  /**
   * Any save that failed (mtcute's or the driver's own). For want of the database: saved
   * again by a timer, since mtcute may not save again for a long time. A lost lease or a
   * closed storage: no save can pass, the timer stops; mtcute's next save tries anyway.
   */
  readonly #failed = (error: unknown): void => {
    const code = isStorageError(error) ? error.code : undefined;
    if (code === 'MTSTORE_STORAGE_UNAVAILABLE') this.#retrySoon();
    else if (code === 'MTSTORE_LEASE_LOST' || code === 'MTSTORE_STORAGE_CLOSED') this.#cancelRetry();
  };

  /**
   * Sets the background save's timer (core's BackoffTimer: jittered, unref()ed, so it
   * never keeps a process alive) unless one is set or the client is destroyed.
   */
  #retrySoon(): void {
    if (!this.#destroyed) this.#retryTimer.soon();
  }

  /**
   * The background save: the driver's own save(), in line with mtcute's. Its failure
   * reaches mtcute's log once per kind: mtcute's caller already got the save that
   * failed first, and a line every 5 s for as long as an outage lasts would bury it.
   */
  #retry(): void {
    if (this.#destroyed || !this.#provider.pending) return;
    this.save().catch((error: unknown) => {
      const code = isStorageError(error) ? error.code : String(error);
      if (code === this.#retryLogged) return;
      this.#retryLogged = code;
      this.#log?.warn('saving the writes pending since the database was unavailable failed: %e', error);
    });
  }

  #cancelRetry(): void {
    this.#retryTimer.cancel();
  }

  /**
   * Peers and reference messages first, kv (update state, channel pts, DC options, user,
   * the other entries) only once they are stored. mtcute's own SQLite storage commits a
   * save in one transaction; here they are separate writes, and an update state stored
   * ahead of the peers its updates brought would lose those peers for good after a crash
   * or a failed peer write: mtcute resumes from the stored pts and never gets those
   * updates again. The other way round (peers stored, state not) it fetches them again.
   * Everything is taken in one tick, so the state written is never newer than the peers
   * written before it; when those fail, the kv part stays pending for the next save.
   */
  async #save(): Promise<void> {
    const { peers, kv, refMessages, sessionKv } = this.#provider;
    // Taking the typed kv part needs the stored session (mtcute's load has read it).
    if (sessionKv.pending) await sessionKv.load();
    const taken = kv.take();
    const results = await Promise.allSettled([peers.save(), refMessages.save()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      kv.restore(taken);
      throw failed.reason;
    }
    await kv.write(taken);
  }

  /** A write the repositories dropped (see ReportDropped): a warning on mtcute's log, once it set the driver up. */
  readonly reportDropped = (message: string): void => {
    this.#log?.warn('a write mtstore can never store was dropped: %s', message);
  };

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    // Its last save is below; a failure there is logged, not retried (the storage closes).
    this.#cancelRetry();
    try {
      // A save under way (mtcute's updates loop saves after every batch, awaited by
      // nothing) is no longer pending, yet its later writes would meet a closed storage:
      // it finishes first. One that failed left its writes pending: tried once more below.
      await this.#saving.catch(() => undefined);
      if (this.#provider.pending) await this.save();
    } catch (error) {
      this.#log?.warn('could not save pending changes before closing: %e', error);
    }
    this.#provider.sessionKv.unload();
    if (this.#closeOnDestroy) {
      this.#closed = true;
      await this.#storage.close(); // gives the lease back too
    }
    else if (this.#lease !== undefined) await this.#storage.lease.release();
  }
}

export class MtcuteStorage implements ITelegramStorageProvider {
  /** The mtstore session this provider reads and writes. */
  readonly storage: Storage;
  readonly driver: IStorageDriver;
  readonly authKeys: MtstoreAuthKeys;
  readonly kv: MtstoreKeyValue;
  readonly peers: MtstorePeers;
  readonly refMessages: MtstoreRefMessages;
  /** Whether anything waits for the driver's `save()`. */
  get pending(): boolean {
    return this.peers.pending || this.kv.pending || this.refMessages.pending;
  }

  /** @internal The typed-session part of `kv`. */
  readonly sessionKv: SessionKv;

  constructor(storage: Storage, options: MtcuteStorageOptions = {}) {
    if (typeof storage !== 'object' || storage === null || typeof storage.load !== 'function' || typeof storage.authKeys !== 'object') {
      throw new InvalidArgumentError('mtcuteStorage: storage must be an mtstore Storage');
    }
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('mtcuteStorage: options must be an object');
    assertKnownOptions(options, OPTIONS, 'mtcuteStorage');
    this.storage = storage;
    const lease = options.lease ?? true;
    if (typeof lease !== 'boolean' && (typeof lease !== 'object' || lease === null)) {
      throw new InvalidArgumentError('mtcuteStorage: options.lease must be a boolean or lease options');
    }
    // Checked here, where it is given: acquired only when mtcute loads the storage (client start).
    if (typeof lease === 'object') assertLeaseAcquireOptions(lease, 'mtcuteStorage: options.lease');
    // closeOnDestroy: 'no' (truthy) closed a storage the application shares; displayNames: 0 stored none.
    assertOptional(options.closeOnDestroy, 'boolean', 'mtcuteStorage: options.closeOnDestroy');
    assertOptional(options.displayNames, 'boolean', 'mtcuteStorage: options.displayNames');
    if (options.testMode !== undefined && typeof options.testMode !== 'boolean') {
      throw new InvalidArgumentError('mtcuteStorage: options.testMode must be a boolean (the client\'s own testMode)');
    }
    const driver = new MtstoreDriver(storage, this, options.closeOnDestroy ?? true, lease === false ? undefined : lease === true ? {} : { ...lease });
    this.driver = driver;
    this.sessionKv = new SessionKv(storage, options.testMode);
    this.authKeys = new MtstoreAuthKeys(storage);
    this.kv = new MtstoreKeyValue(storage, this.sessionKv, driver.reportDropped);
    this.peers = new MtstorePeers(storage, { displayName: options.displayNames ?? true }, driver.reportDropped);
    this.refMessages = new MtstoreRefMessages(storage, driver.reportDropped);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `MtcuteStorage { storage: ${String((this.storage as { constructor?: { name?: string } }).constructor?.name ?? 'Storage')} }`;
  }
}

/** An mtcute storage provider over `storage`: `new TelegramClient({ storage: mtcuteStorage(storage) })`. */
export function mtcuteStorage(storage: Storage, options?: MtcuteStorageOptions): MtcuteStorage {
  return new MtcuteStorage(storage, options);
}
