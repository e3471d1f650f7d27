/**
 * SessionSubject: a SessionStorageProtocol that tells observers about real
 * transitions (DESIGN §4.2). It is the one place events are made and dispatched;
 * adapters only store sessions and, where they can, carry events between processes.
 */
import { InvalidArgumentError, StorageClosedError } from './errors.js';
import { CallsInFlight } from './inflight.js';
import { assertKnownOptions, assertTimerMs, describeValue, optionNames } from './validate.js';
import type {
  ExpiredSession,
  SessionDestroyReason,
  SessionEvent,
  SessionInfo,
  SessionEventBus,
  SessionEventType,
  SessionObserver,
  SessionStorageProtocol,
} from './model.js';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** Events one call emits before it lets the event loop run (#emitDestroyed). */
const EMIT_CHUNK = 1_000;

/** Every option of SessionSubject's constructor: any other name is refused. */
const SUBJECT_OPTIONS = optionNames<SessionSubjectOptions>()(['bus', 'id', 'onObserverError', 'onBusError', 'resubscribeDelay', 'sweepInterval', 'sweepBatch', 'onSweepError']);

export interface SessionSubjectOptions {
  /** Carries events to subjects in other processes, and theirs to this one. */
  bus?: SessionEventBus | undefined;
  /** This node's id, the `origin` of the events it makes. Default: a random UUID. */
  id?: string | undefined;
  /** Told about each observer that threw or rejected. Default: console.error. */
  onObserverError?: ((error: unknown, event: SessionEvent, observer: SessionObserver) => void) | undefined;
  /**
   * Told when publishing to or subscribing on the bus failed (subscribing is tried again
   * every `resubscribeDelay` ms). Once per failure: a bus that sent several events in one
   * statement rejects their publishes with one error object, told once, with the first
   * of them (the error says how many it carried). Default: console.error.
   */
  onBusError?: ((error: unknown, event?: SessionEvent) => void) | undefined;
  /** Wait before trying to subscribe on the bus again after a failure, ms. Default 1,000. */
  resubscribeDelay?: number | undefined;
  /**
   * Runs `expireSessions` every this many ms in the background (a timer that keeps no
   * process alive; one sweep at a time; batches of `sweepBatch`, the event loop free
   * between them), so expired sessions are removed and announced as `destroyed` with
   * reason `expired`. Default: no sweep. Needs a storage with `expireSessions`.
   */
  sweepInterval?: number | undefined;
  /** Sessions per sweep step (one bounded statement each). Default 1,000, at most 10,000. */
  sweepBatch?: number | undefined;
  /** Told when a background sweep failed (it runs again next interval). Default: console.error. */
  onSweepError?: ((error: unknown) => void) | undefined;
}

function defaultObserverError(error: unknown, event: SessionEvent): void {
  console.error(
    `SessionSubject: an observer failed on ${event.type} (authKeyId=${event.authKeyId}, sessionId=${event.sessionId})`,
    error,
  );
}

function defaultBusError(error: unknown, event?: SessionEvent): void {
  const what = event ? `publishing ${event.type} (authKeyId=${event.authKeyId}, sessionId=${event.sessionId})` : 'subscribing';
  console.error(`SessionSubject: the event bus failed ${what}`, error);
}

export class SessionSubject implements SessionStorageProtocol {
  /** This node's id: the `origin` of every event this subject makes. */
  readonly id: string;
  readonly #storage: SessionStorageProtocol;
  readonly #bus: SessionEventBus | undefined;
  readonly #observers = new Set<SessionObserver>();
  readonly #onObserverError: NonNullable<SessionSubjectOptions['onObserverError']>;
  readonly #onBusError: NonNullable<SessionSubjectOptions['onBusError']>;
  /** Publish failures already told to onBusError (see #reportBusError). */
  readonly #publishFailures = new WeakSet<object>();
  #ready: Promise<void>;
  readonly #resubscribeDelay: number;
  #retry: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #closing: Promise<void> | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  readonly #sweepBatch: number;
  readonly #onSweepError: (error: unknown) => void;
  /** Calls that may still emit, and deliveries of remote events: close() waits for them. */
  readonly #calls = new CallsInFlight();

  constructor(storage: SessionStorageProtocol, options: SessionSubjectOptions = {}) {
    if (typeof storage?.createSession !== 'function' || typeof storage.destroyAllSessions !== 'function') {
      throw new InvalidArgumentError('SessionSubject: storage must implement SessionStorageProtocol');
    }
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`SessionSubject: options must be an object, got ${describeValue(options)}`);
    // A misspelt option was ignored: `{ sweepIntervl }` left sweeping off, `{ bsu }` kept events in this process.
    assertKnownOptions(options, SUBJECT_OPTIONS, 'SessionSubject');
    const id = options.id ?? globalThis.crypto.randomUUID();
    if (typeof id !== 'string' || id.length === 0 || id.length > 200) {
      throw new InvalidArgumentError('SessionSubject: id must be a non-empty string of at most 200 characters');
    }
    this.id = id;
    this.#storage = storage;
    // Checked here, as CachedSessionStorage does: `{ bus: {} }` was taken, and its TypeError
    // went to onBusError once a second for the subject's life; a hook that is no function
    // (`onObserverError: 'log'`) threw inside the report, which swallows hook failures, so
    // every observer error vanished unreported.
    if (options.bus !== undefined && (typeof options.bus?.subscribe !== 'function' || typeof options.bus.publish !== 'function')) {
      throw new InvalidArgumentError(`SessionSubject: options.bus must be a SessionEventBus, got ${describeValue(options.bus)}`);
    }
    for (const hook of ['onObserverError', 'onBusError', 'onSweepError'] as const) {
      if (options[hook] !== undefined && typeof options[hook] !== 'function') {
        throw new InvalidArgumentError(`SessionSubject: ${hook} must be a function, got ${describeValue(options[hook])}`);
      }
    }
    this.#bus = options.bus;
    this.#onObserverError = options.onObserverError ?? defaultObserverError;
    this.#onBusError = options.onBusError ?? defaultBusError;
    const { sweepInterval, sweepBatch = 1_000, onSweepError } = options;
    if (sweepBatch !== undefined && (!Number.isInteger(sweepBatch) || sweepBatch < 1 || sweepBatch > 10_000)) {
      throw new InvalidArgumentError('SessionSubject: sweepBatch must be an integer from 1 to 10000');
    }
    this.#sweepBatch = sweepBatch;
    const { resubscribeDelay = 1_000 } = options;
    assertTimerMs(resubscribeDelay, 'SessionSubject: resubscribeDelay');
    this.#resubscribeDelay = resubscribeDelay;
    this.#onSweepError = onSweepError ?? ((error) => console.error('SessionSubject: sweeping expired sessions failed; retrying next interval', error));
    if (sweepInterval !== undefined) {
      assertTimerMs(sweepInterval, 'SessionSubject: sweepInterval', 10);
      if (typeof storage.expireSessions !== 'function') throw new InvalidArgumentError('SessionSubject: sweepInterval needs a storage with expireSessions');
      this.#sweepTimer = setInterval(() => this.#sweep(), sweepInterval);
      this.#sweepTimer.unref();
    }
    this.#ready = this.#bus ? this.#attach(this.#bus) : Promise.resolve();
  }

  /**
   * Subscribes on the bus. A failure (the bus's database down at start) is reported and
   * tried again every resubscribeDelay ms until it works or the subject closes: a
   * subject that gave up would stay deaf to other nodes for its whole life. (Once
   * subscribed, the bus itself reconnects.)
   */
  #attach(bus: SessionEventBus): Promise<void> {
    const attempt = (async () => {
      const unsubscribe = await bus.subscribe((event) => this.#onRemote(event));
      if (this.#closing) await unsubscribe();
      else this.#unsubscribe = unsubscribe;
    })();
    attempt.catch((error: unknown) => {
      // ready() rejects with it; here it must not become an unhandled rejection.
      if (this.#closing) return;
      this.#reportBusError(error);
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        if (!this.#closing) this.#ready = this.#attach(bus);
      }, this.#resubscribeDelay);
      this.#retry.unref();
    });
    return attempt;
  }

  /**
   * Resolves once the bus subscription is live (at once without a bus); rejects if the
   * latest attempt failed (the subject keeps trying: see onBusError).
   */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Adds an observer. Subscribing the same observer twice is a no-op. */
  subscribe(observer: SessionObserver): void {
    if (typeof observer?.update !== 'function') {
      throw new InvalidArgumentError('SessionSubject.subscribe: observer must have an update(event) method');
    }
    this.#observers.add(observer);
  }

  /** Removes an observer. Removing one that is not subscribed is a no-op. */
  unsubscribe(observer: SessionObserver): void {
    this.#observers.delete(observer);
  }

  // The calls that can emit are not async themselves: an async wrapper around the tracked
  // promise would cost each call a second promise and the ticks of resolving one with another.
  createSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    if (this.#closing) return Promise.reject(this.#closedError('createSession'));
    return this.#calls.track(this.#createSession(authKeyId, sessionId));
  }

  async #createSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const created = await this.#storage.createSession(authKeyId, sessionId);
    if (created) await this.#emit('created', authKeyId, sessionId);
    return created;
  }

  hasSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    if (this.#closing) return Promise.reject(this.#closedError('hasSession'));
    return this.#storage.hasSession(authKeyId, sessionId);
  }

  destroySession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    if (this.#closing) return Promise.reject(this.#closedError('destroySession'));
    return this.#calls.track(this.#destroySession(authKeyId, sessionId));
  }

  async #destroySession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const destroyed = await this.#storage.destroySession(authKeyId, sessionId);
    if (destroyed) await this.#emit('destroyed', authKeyId, sessionId);
    return destroyed;
  }

  async listSessions(authKeyId: bigint): Promise<bigint[]> {
    this.#assertOpen('listSessions');
    return this.#storage.listSessions(authKeyId);
  }

  destroyAllSessions(authKeyId: bigint): Promise<bigint[]> {
    if (this.#closing) return Promise.reject(this.#closedError('destroyAllSessions'));
    return this.#calls.track(this.#destroyAllSessions(authKeyId));
  }

  async #destroyAllSessions(authKeyId: bigint): Promise<bigint[]> {
    const removed = await this.#storage.destroyAllSessions(authKeyId);
    await this.#emitDestroyed(removed, (sessionId) => this.#emit('destroyed', authKeyId, sessionId));
    return removed;
  }

  /** The storage's `touchSession`: no event (a touch is not a transition). */
  async touchSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    this.#assertOpen('touchSession');
    if (typeof this.#storage.touchSession !== 'function') return this.#storage.hasSession(authKeyId, sessionId);
    return this.#storage.touchSession(authKeyId, sessionId);
  }

  async sessionInfo(authKeyId: bigint, sessionId: bigint): Promise<SessionInfo | null> {
    this.#assertOpen('sessionInfo');
    if (typeof this.#storage.sessionInfo !== 'function') {
      return (await this.#storage.hasSession(authKeyId, sessionId)) ? { lastUsedAt: null, expiresAt: null } : null;
    }
    return this.#storage.sessionInfo(authKeyId, sessionId);
  }

  /**
   * One bounded step of the storage's `expireSessions`, each removed session announced
   * as `destroyed` with reason `expired` (once: of racing nodes, the one whose call
   * removed it announces it). The background sweep (`sweepInterval`) calls this.
   */
  expireSessions(limit?: number): Promise<ExpiredSession[]> {
    if (this.#closing) return Promise.reject(this.#closedError('expireSessions'));
    return this.#calls.track(this.#expireSessions(limit));
  }

  async #expireSessions(limit: number | undefined): Promise<ExpiredSession[]> {
    if (typeof this.#storage.expireSessions !== 'function') return [];
    const removed = await this.#storage.expireSessions(limit);
    await this.#emitDestroyed(removed, (s) => this.#emit('destroyed', s.authKeyId, s.sessionId, 'expired'));
    return removed;
  }

  /**
   * The events of a call that removed many sessions, EMIT_CHUNK at a time with the
   * event loop free in between: emitted all at once they held it for the whole lot
   * (seen: destroyAllSessions of an auth key with 50,000 sessions, about 1 s over
   * memory and 1.8 s for 20,000 over PostgreSQL with its bus, every hasSession waiting).
   */
  async #emitDestroyed<T>(removed: readonly T[], emit: (item: T) => Promise<void>): Promise<void> {
    for (let i = 0; i < removed.length; i += EMIT_CHUNK) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      await Promise.all(removed.slice(i, i + EMIT_CHUNK).map(emit));
    }
  }

  /**
   * A background sweep: batches until one removes nothing; never two at once. Not until
   * one comes back short: nodes sweeping one storage together each remove part of the
   * same expired sessions (MongoDB: each of two nodes got about half of a batch), so
   * each batch came back short and both stopped with most of the backlog left for
   * later intervals (seen: 100 of 600 removed in a round).
   */
  #sweep(): void {
    if (this.#sweeping || this.#closing) return;
    this.#sweeping = (async () => {
      try {
        while (!this.#closing) {
          const removed = await this.expireSessions(this.#sweepBatch);
          if (removed.length === 0) break;
          // Let the hot path in between batches.
          await new Promise((resolve) => setImmediate(resolve));
        }
      } catch (error) {
        if (!this.#closing) {
          try {
            this.#onSweepError(error);
          } catch {
            // A failing hook must not stop the sweeps.
          }
        }
      } finally {
        this.#sweeping = undefined;
      }
    })();
  }

  /**
   * Detaches from the bus. Closes neither the storage nor the bus: whoever created
   * them closes them. Later calls reject with StorageClosedError. Idempotent.
   *
   * Resolves once every call made before it that can emit (create, destroy, destroy all,
   * expire) has settled, its events delivered and published, and every remote event
   * already heard has been delivered (async observers settled): no observer hears
   * anything after it, and the bus can be closed next without failing a publish. So an
   * observer must not await its own subject's close() in update(): that close waits for it.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#retry);
    const sweeping = this.#sweeping;
    this.#closing = this.#ready.then(
      () => this.#unsubscribe?.(),
      () => undefined,
    )
      .then(() => sweeping?.catch(() => undefined))
      .then(() => this.#calls.settled())
      .then(() => undefined);
    return this.#closing;
  }

  #assertOpen(operation: string): void {
    if (this.#closing) throw this.#closedError(operation);
  }

  #closedError(operation: string): StorageClosedError {
    return new StorageClosedError(`SessionSubject.${operation}: the subject is closed`);
  }

  /** Local observers and the bus, after the write; the caller waits for both to settle. */
  async #emit(type: SessionEventType, authKeyId: bigint, sessionId: bigint, reason: SessionDestroyReason = 'explicit'): Promise<void> {
    const event: SessionEvent = Object.freeze(type === 'destroyed' ? { type, authKeyId, sessionId, origin: this.id, reason } : { type, authKeyId, sessionId, origin: this.id });
    const bus = this.#bus;
    if (bus) {
      await Promise.all([this.#deliver(event), bus.publish(event).catch((error: unknown) => this.#reportBusError(error, event))]);
    } else {
      await this.#deliver(event);
    }
  }

  #onRemote(event: SessionEvent): void {
    // Our own events come back over the bus: they were delivered locally already.
    if (this.#closing || event.origin === this.id) return;
    void this.#calls.track(this.#deliver(event));
  }

  /** Each observer isolated: a throw or rejection is reported and never reaches the caller or the others. */
  async #deliver(event: SessionEvent): Promise<void> {
    let pending: Promise<void>[] | undefined;
    // A snapshot: an observer subscribed during this dispatch waits for the next event. One
    // unsubscribed during it (by an earlier observer's update) gets nothing more, as with the
    // buses, which check at delivery: after unsubscribe() returns, nothing reaches it.
    for (const observer of [...this.#observers]) {
      if (!this.#observers.has(observer)) continue;
      try {
        const result = observer.update(event);
        if (result !== undefined && typeof (result as PromiseLike<void>).then === 'function') {
          (pending ??= []).push(Promise.resolve(result).catch((error: unknown) => this.#reportObserverError(error, event, observer)));
        }
      } catch (error) {
        this.#reportObserverError(error, event, observer);
      }
    }
    if (pending) await Promise.all(pending);
  }

  #reportObserverError(error: unknown, event: SessionEvent, observer: SessionObserver): void {
    try {
      this.#onObserverError(error, event, observer);
    } catch {
      // A failing error hook must not undo the isolation it exists for.
    }
  }

  #reportBusError(error: unknown, event?: SessionEvent): void {
    // One failed statement of a batching bus (the PostgreSQL bus sends up to 1,000 events
    // in one NOTIFY) rejects each of its publishes with the same error: 1,000 reports of
    // one failure would bury it, and flood a log at the moment the bus is down.
    if (event !== undefined && typeof error === 'object' && error !== null) {
      if (this.#publishFailures.has(error)) return;
      this.#publishFailures.add(error);
    }
    try {
      this.#onBusError(error, event);
    } catch {
      // As above.
    }
  }

  [INSPECT](): string {
    return `SessionSubject { id: ${JSON.stringify(this.id)}, observers: ${this.#observers.size}, bus: ${this.#bus ? this.#bus.constructor.name : 'none'}, closed: ${this.#closing !== undefined} }`;
  }
}
