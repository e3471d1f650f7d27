/**
 * `storage.lease`, written once for every adapter: validation, the owner record,
 * waiting, the heartbeat and the write fence. An adapter supplies only the database
 * operations (LeaseRepository in repositories.ts).
 *
 * The fence is local and costs no round trip: a holder stops writing once its lease
 * may have run out by its own monotonic clock — the send time of its last confirmed
 * acquire/renew plus three quarters of the TTL — or once a renewal found another
 * holder. The database decides expiry by its own clock (PostgreSQL `now()`, Redis
 * `PX`, ...) from the moment it receives the request, which is after the send time,
 * so the holder always stops at least TTL/4 before anyone may take over: that
 * quarter absorbs the write's transit and clock-rate differences. Clocks of
 * different hosts need not agree where the database keeps the time; where it cannot
 * (MongoDB documents, SQLite files) they must agree to well within TTL/4.
 *
 * What the local fence does not cover: a write that passed the check and then sat
 * unsent for longer than TTL/4 (the process was stopped between the check and the
 * socket write), and writes sent by a holder after a `force` takeover until its next
 * heartbeat (at most TTL/4) tells it. Both need the database to compare the token on
 * every write; see docs/contract.md §12.
 */
import { hostname } from 'node:os';
import { CorruptDataError, InvalidArgumentError, LeaseHeldError, LeaseLostError, StorageClosedError, StorageUnavailableError, toStorageError } from './errors.js';
import type { LeaseAcquireOptions, LeaseHolder, LeaseOwner, SessionLease } from './model.js';
import type { LeaseRepository, StoredLease } from './repositories.js';
import { assertKnownOptions, assertOptional, describeValue, optionNames } from './validate.js';

/**
 * The lease's clock: process.hrtime, read once here (`globalThis.process` is an accessor:
 * ~250 instructions a lookup under callgrind, Node 20). Not `import { hrtime } from
 * 'node:process'`: the ES module facade of `process` reads every property of it, and the
 * `stdout` getter switches a piped stdout to non-blocking writes (an application's
 * `fs.writeSync(1, …)` then fails with EAGAIN when the pipe is full). It reads what
 * performance.now() reads (libuv's uv_hrtime, CLOCK_MONOTONIC: never stepped, not the time
 * of day), without the brand check Node 20's `Performance.prototype.now` makes of its
 * receiver first (validateInternalField through hideStackFrames' wrapper: ~200 instructions
 * on every fenced write). Never Date.now(): the wall clock can step.
 */
const hrtime = process.hrtime;

/**
 * Milliseconds of the monotonic clock, from an arbitrary origin (process.hrtime's seconds
 * and nanoseconds). Every clock read of the lease is this one, so safeUntil and the reads
 * compared with it share that origin.
 */
function monotonicMs(): number {
  const time = hrtime();
  return time[0] * 1000 + time[1] / 1e6;
}

export const DEFAULT_LEASE_TTL_SECONDS = 30;
const MAX_TTL_SECONDS = 86_400;
/** Polling while waiting for another holder: often enough to notice a release soon. */
const WAIT_POLL_MS = 250;
/**
 * How long close() waits for its lease to be given back before it closes the
 * connection under the release: over a link that died silently the release would wait
 * the adapter's whole call timeout (PostgreSQL's query_timeout: 30 s by default) before
 * close() could even begin to close.
 */
const RELEASE_ON_CLOSE_MS = 2_000;

/** What the lease needs from the storage that owns it. */
export interface LeaseHost {
  readonly name: string;
  /** True once the storage's close() was called. */
  closed(): boolean;
  repository(): LeaseRepository | undefined;
  where(operation: string): string;
  closedError(operation: string): StorageClosedError;
}

/** Options after validation. */
interface Acquire {
  owner: LeaseOwner;
  ttlMs: number;
  waitMs: number;
  force: boolean;
  heartbeat: boolean;
  onLost: ((error: LeaseLostError) => void) | undefined;
}

interface Held {
  holder: LeaseHolder;
  ttlMs: number;
  /** monotonicMs() after which this holder writes no more. */
  safeUntil: number;
  /**
   * Set when a renewal or write found another holder, or when the lease may have run out
   * by this instance's clock ('expired': see #lapse): permanent until released or
   * acquired again.
   */
  lost: LeaseHolder | 'gone' | 'expired' | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  heartbeat: boolean;
  onLost: ((error: LeaseLostError) => void) | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function defaultOwner(): LeaseOwner {
  let host = 'unknown';
  try {
    host = hostname() || host;
  } catch {
    // Some sandboxes forbid it; the pid still tells processes apart on one machine.
  }
  return { host, pid: process.pid };
}

function printable(value: unknown, max: number): value is string {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  return typeof value === 'string' && value.length >= 1 && value.length <= max && !/[\u0000-\u001f\u007f]/.test(value);
}

/** Every option of lease.acquire (and of a bridge's `lease`): any other name is refused (a misspelt `ttlSecond` took 30 s). */
const ACQUIRE_OPTIONS = optionNames<LeaseAcquireOptions>()(['owner', 'ttlSeconds', 'wait', 'force', 'heartbeat', 'onLost']);

/** The fields of a lease owner a caller may give. */
const OWNER_FIELDS = optionNames<LeaseOwner>()(['host', 'pid', 'label']);

function parseOptions(options: unknown): Acquire {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`options must be an object, got ${describeValue(options)}`);
  // Names, and null for any option (docs/contract.md §8), before anything is read.
  assertKnownOptions(options, ACQUIRE_OPTIONS, 'options');
  // Each option read once: what is checked is what is used.
  const { owner: givenOwner, ttlSeconds, wait, force, heartbeat, onLost } = options as Record<string, unknown>;
  const owner = defaultOwner();
  if (givenOwner !== undefined) {
    if (typeof givenOwner !== 'object' || givenOwner === null) throw new InvalidArgumentError(`options.owner must be an object, got ${describeValue(givenOwner)}`);
    // A misspelt { lable } left the holder unlabelled, which is what an operator reads.
    assertKnownOptions(givenOwner, OWNER_FIELDS, 'options.owner');
    const { host, pid, label } = givenOwner as Record<string, unknown>;
    if (host !== undefined) {
      if (!printable(host, 253)) throw new InvalidArgumentError(`options.owner.host must be 1-253 printable characters, got ${describeValue(host)}`);
      owner.host = host as string;
    }
    if (pid !== undefined) {
      if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 0 || pid > 2 ** 31 - 1) {
        throw new InvalidArgumentError(`options.owner.pid must be an integer from 0 to 2^31-1, got ${describeValue(pid)}`);
      }
      owner.pid = pid;
    }
    if (label !== undefined) {
      if (!printable(label, 128)) throw new InvalidArgumentError(`options.owner.label must be 1-128 printable characters, got ${describeValue(label)}`);
      owner.label = label as string;
    }
  }
  // Left out is the default; null is refused as `wait: null` and `owner: null` are (docs/contract.md §8).
  const ttl = ttlSeconds === undefined ? DEFAULT_LEASE_TTL_SECONDS : ttlSeconds;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new InvalidArgumentError(`options.ttlSeconds must be a number from 1 to ${MAX_TTL_SECONDS}, got ${describeValue(ttl)}`);
  }
  let waitMs = 0;
  if (wait === true) waitMs = Infinity;
  else if (typeof wait === 'number' && Number.isFinite(wait) && wait >= 0) waitMs = wait;
  else if (wait !== undefined && wait !== false) {
    throw new InvalidArgumentError(`options.wait must be a boolean or a number of milliseconds ≥ 0, got ${describeValue(wait)}`);
  }
  assertOptional(force, 'boolean', 'options.force');
  assertOptional(heartbeat, 'boolean', 'options.heartbeat');
  assertOptional(onLost, 'function', 'options.onLost');
  return {
    owner,
    ttlMs: Math.round(ttl * 1000),
    waitMs,
    force: force === true,
    heartbeat: heartbeat !== false,
    onLost: onLost as ((error: LeaseLostError) => void) | undefined,
  };
}

/** parseOptions, its refusals InvalidArgumentError prefixed with `where`. */
function parseAcquire(options: unknown, where: string): Acquire {
  try {
    return parseOptions(options);
  } catch (error) {
    // A getter or Proxy trap of the options that throws is bad input too (docs/contract.md §8).
    throw error instanceof InvalidArgumentError
      ? new InvalidArgumentError(`${where}: ${error.message}`)
      : new InvalidArgumentError(`${where}: an argument could not be read (a getter or Proxy trap of it threw)`, { cause: error });
  }
}

/**
 * Checks `lease.acquire` options as acquire does, without acquiring: for an API that
 * takes them now and acquires later (a bridge's `lease` option, used when the client
 * loads the session), so bad input is refused where it is given, before any I/O
 * (docs/contract.md §8), not at the client's start. `where` prefixes the message.
 */
export function assertLeaseAcquireOptions(options: unknown, where: string): void {
  parseAcquire(options, where);
}

/** `pid 123 on host "box" (label "bot")`: who holds it, for a person. */
export function describeHolder(holder: LeaseHolder): string {
  const label = holder.owner.label === undefined ? '' : ` (${JSON.stringify(holder.owner.label)})`;
  return `pid ${holder.owner.pid} on host ${JSON.stringify(holder.owner.host)}${label}`;
}

export class StorageLease implements SessionLease {
  readonly #host: LeaseHost;
  #held: Held | null = null;

  constructor(host: LeaseHost) {
    this.#host = host;
  }

  get held(): LeaseHolder | null {
    const held = this.#held;
    return held === null || held.lost !== undefined || monotonicMs() >= held.safeUntil ? null : { ...held.holder, owner: { ...held.holder.owner } };
  }

  #repository(operation: string): LeaseRepository {
    if (this.#host.closed()) throw this.#host.closedError(operation);
    const repository = this.#host.repository();
    if (repository === undefined) throw new StorageUnavailableError(`${this.#host.where(operation)}: this adapter has no session lease`);
    return repository;
  }

  #decode(stored: StoredLease): LeaseHolder {
    let owner: LeaseOwner | undefined;
    try {
      const parsed = JSON.parse(stored.owner) as Partial<LeaseOwner>;
      if (typeof parsed.host === 'string' && typeof parsed.pid === 'number') {
        owner = { host: parsed.host, pid: parsed.pid };
        if (typeof parsed.label === 'string') owner.label = parsed.label;
      }
    } catch {
      // reported below
    }
    if (owner === undefined || typeof stored.token !== 'bigint' || !Number.isFinite(stored.expiresAt)) {
      throw new CorruptDataError(`session ${JSON.stringify(this.#host.name)}: the stored lease does not decode`);
    }
    return { owner, token: stored.token, expiresAt: new Date(stored.expiresAt) };
  }

  #heldError(operation: string, holder: LeaseHolder): LeaseHeldError {
    const seconds = Math.max(0, Math.ceil((holder.expiresAt.getTime() - Date.now()) / 1000));
    return new LeaseHeldError(
      `${this.#host.where(operation)}: session ${JSON.stringify(this.#host.name)} is in use by ${describeHolder(holder)}; ` +
        `its lease runs out at ${holder.expiresAt.toISOString()} (in ${seconds} s) unless renewed. ` +
        'Two clients on one session make Telegram revoke its auth key (AUTH_KEY_DUPLICATED): stop the other process, ' +
        'or acquire with { wait: true } to wait for it, or { force: true } if you know it is gone.',
      holder,
    );
  }

  #lostError(operation: string, held: Held): LeaseLostError {
    const why =
      held.lost === undefined || held.lost === 'expired'
        ? `ran out (no renewal confirmed since before ${new Date(held.holder.expiresAt.getTime() - held.ttlMs / 4).toISOString()}: the process stalled or lost the database)`
        : held.lost === 'gone'
          ? 'was given up or taken over'
          : `was taken over by ${describeHolder(held.lost)}`;
    return new LeaseLostError(`${this.#host.where(operation)}: this instance's lease on session ${JSON.stringify(this.#host.name)} ${why}; nothing was written. Acquire it again to write.`);
  }

  /**
   * Called by every write of the storage before it touches the database: throws
   * LeaseLostError when this instance held a lease and may no longer write. No I/O.
   */
  fence(operation: string): void {
    const held = this.#held;
    // One condition, the errors built apart: the fence is inlined into every write's hot
    // path, and TurboFan inlines by a bytecode budget.
    if (held !== null && (held.lost !== undefined || monotonicMs() >= held.safeUntil)) throw this.#fenceError(held, operation);
  }

  /** The fence's refusal: lost already (a takeover, an earlier lapse), or run out by this clock now. */
  #fenceError(held: Held, operation: string): LeaseLostError {
    return held.lost !== undefined ? this.#lostError(operation, held) : this.#lapse(held, operation);
  }

  /**
   * The lease may have run out by this instance's clock (past safeUntil): someone may
   * take it over from here on, so it is lost for good, as after a takeover — no more
   * heartbeats, every later write and renew() rejects, `onLost` is called once. Renewing
   * it would be accepted by the database while nobody took it, but a holder that learned
   * of the lapse only at its next renewal could have gone on using the auth key while
   * another process did (docs/contract.md §12). Returns the error to throw.
   */
  #lapse(held: Held, operation: string): LeaseLostError {
    held.lost = 'expired';
    this.#stop(held);
    const error = this.#lostError(operation, held);
    this.#notifyLost(held, error);
    return error;
  }

  /**
   * The token of the lease this instance holds, also once it is known lost (until it is
   * released or acquired again); undefined when it holds none. A lost lease keeps its
   * token because a write that passed the local fence before the loss was known reads
   * the token later (after its connection or queue): with no token it would go to the
   * database unfenced and land over the new holder's data; with the old one the
   * database refuses it.
   */
  token(): bigint | undefined {
    return this.#held?.holder.token;
  }

  /**
   * The database refused a write because the stored lease has another token (taken over
   * with `force`, or run out and taken): this instance has lost it. Marks it lost (no
   * more heartbeats, every later write rejects locally), calls `onLost` once and returns
   * the error for the write.
   */
  refused(operation: string): LeaseLostError {
    const held = this.#held;
    if (held === null) {
      // Released while the write was in flight: the write was still refused.
      return new LeaseLostError(`${this.#host.where(operation)}: the lease on session ${JSON.stringify(this.#host.name)} belongs to another holder; nothing was written.`);
    }
    const first = held.lost === undefined;
    if (first) {
      held.lost = 'gone';
      this.#stop(held);
    }
    const error = this.#lostError(operation, held);
    if (first) this.#notifyLost(held, error);
    return error;
  }

  #notifyLost(held: Held, error: LeaseLostError): void {
    if (held.onLost === undefined || this.#held !== held) return;
    try {
      held.onLost(error);
    } catch {
      // An observer's failure is not the lease's.
    }
  }

  #confirm(held: Held, sentAt: number, expiresAt: number): void {
    held.safeUntil = sentAt + held.ttlMs - held.ttlMs / 4;
    held.holder = { ...held.holder, expiresAt: new Date(expiresAt) };
  }

  #schedule(held: Held): void {
    if (!held.heartbeat || held.lost !== undefined || this.#held !== held) return;
    held.timer = setTimeout(() => {
      held.timer = undefined;
      this.#renew(held, 'lease.heartbeat').then(
        () => this.#schedule(held),
        (error: unknown) => {
          // Lost: reported through onLost, no more beats. Anything else (database
          // unreachable): try again next beat; the fence stops writes meanwhile if it lasts.
          if (!(error instanceof LeaseLostError)) this.#schedule(held);
        },
      );
    }, held.ttlMs / 4);
    held.timer.unref?.();
  }

  #stop(held: Held): void {
    if (held.timer !== undefined) clearTimeout(held.timer);
    held.timer = undefined;
  }

  async #renew(held: Held, operation: string): Promise<LeaseHolder> {
    if (held.lost !== undefined) throw this.#lostError(operation, held);
    const repository = this.#repository(operation);
    const sentAt = monotonicMs();
    if (sentAt >= held.safeUntil) throw this.#lapse(held, operation);
    let expiresAt: number | null;
    try {
      expiresAt = await repository.renew(held.holder.token, held.ttlMs);
    } catch (error) {
      throw toStorageError(error, this.#host.where(operation));
    }
    // Found lost meanwhile (a write's fence after safeUntil, or a refused write): it stays lost.
    if (held.lost !== undefined) throw this.#lostError(operation, held);
    if (expiresAt !== null) {
      this.#confirm(held, sentAt, expiresAt);
      return { ...held.holder, owner: { ...held.holder.owner } };
    }
    let current: LeaseHolder | null = null;
    try {
      const stored = await repository.holder();
      current = stored === null ? null : this.#decode(stored);
    } catch {
      // Who took it is only for the message.
    }
    held.lost = current ?? 'gone';
    this.#stop(held);
    const error = this.#lostError(operation, held);
    this.#notifyLost(held, error);
    throw error;
  }

  async acquire(options?: LeaseAcquireOptions): Promise<LeaseHolder> {
    const operation = 'lease.acquire';
    const parsed = parseAcquire(options, this.#host.where(operation));
    let repository = this.#repository(operation);
    const previous = this.#held;
    if (previous !== null && previous.lost === undefined && monotonicMs() >= previous.safeUntil) this.#lapse(previous, operation);
    if (previous !== null && previous.lost === 'expired') {
      // This instance's own lease ran out by its clock: give its token back first (a no-op
      // when another holder has the lease by now), so acquiring again need not wait for the
      // database to let it run out. The acquisition below gets a new token.
      try {
        await repository.release(previous.holder.token);
      } catch (error) {
        throw toStorageError(error, this.#host.where(operation));
      }
      repository = this.#repository(operation);
    }
    if (previous !== null && previous.lost === undefined && !parsed.force) {
      // Held already: take the new settings and renew.
      previous.ttlMs = parsed.ttlMs;
      previous.onLost = parsed.onLost;
      if (previous.heartbeat !== parsed.heartbeat) {
        previous.heartbeat = parsed.heartbeat;
        this.#stop(previous);
      }
      const holder = await this.#renew(previous, operation);
      if (previous.timer === undefined) this.#schedule(previous);
      return holder;
    }
    const owner = JSON.stringify(parsed.owner);
    const deadline = monotonicMs() + parsed.waitMs;
    for (;;) {
      const sentAt = monotonicMs();
      let result: { acquired: boolean; lease: StoredLease };
      try {
        result = await repository.acquire(owner, parsed.ttlMs, parsed.force);
      } catch (error) {
        throw toStorageError(error, this.#host.where(operation));
      }
      const holder = this.#decode(result.lease);
      if (result.acquired) {
        if (previous !== null) this.#stop(previous);
        const held: Held = {
          holder,
          ttlMs: parsed.ttlMs,
          safeUntil: 0,
          lost: undefined,
          timer: undefined,
          heartbeat: parsed.heartbeat,
          onLost: parsed.onLost,
        };
        this.#confirm(held, sentAt, holder.expiresAt.getTime());
        this.#held = held;
        this.#schedule(held);
        return { ...holder, owner: { ...holder.owner } };
      }
      const now = monotonicMs();
      if (now >= deadline) throw this.#heldError(operation, holder);
      const untilExpiry = holder.expiresAt.getTime() - Date.now() + 20;
      await sleep(Math.max(10, Math.min(WAIT_POLL_MS, untilExpiry, deadline - now)));
      repository = this.#repository(operation);
    }
  }

  async renew(): Promise<LeaseHolder> {
    const held = this.#held;
    if (held === null) {
      this.#repository('lease.renew');
      throw new LeaseLostError(`${this.#host.where('lease.renew')}: this instance holds no lease on session ${JSON.stringify(this.#host.name)}; acquire it first`);
    }
    return this.#renew(held, 'lease.renew');
  }

  async release(): Promise<void> {
    const repository = this.#repository('lease.release');
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    this.#stop(held);
    // Taken over: the token is no longer the stored one. Run out by this clock: it may
    // still be, and giving it back lets the next acquirer in at once.
    if (held.lost !== undefined && held.lost !== 'expired') return;
    try {
      await repository.release(held.holder.token);
    } catch (error) {
      throw toStorageError(error, this.#host.where('lease.release'));
    }
  }

  async holder(): Promise<LeaseHolder | null> {
    const repository = this.#repository('lease.holder');
    let stored: StoredLease | null;
    try {
      stored = await repository.holder();
    } catch (error) {
      throw toStorageError(error, this.#host.where('lease.holder'));
    }
    return stored === null ? null : this.#decode(stored);
  }

  /**
   * For close(): stop the heartbeat and give the lease back, waiting at most
   * RELEASE_ON_CLOSE_MS for it; a release that fails or takes longer only means the
   * lease runs out by itself (TTL).
   */
  async end(): Promise<void> {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    this.#stop(held);
    if (held.lost !== undefined && held.lost !== 'expired') return;
    let release: Promise<void>;
    try {
      release = Promise.resolve(this.#host.repository()?.release(held.holder.token)).catch(() => undefined);
    } catch {
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, RELEASE_ON_CLOSE_MS);
    });
    await Promise.race([release, grace]);
    clearTimeout(timer);
  }
}
