/**
 * Session events on the wire, and the in-process bus.
 *
 * Every bus that crosses a process boundary (Redis pub/sub, Postgres NOTIFY, a Mongo
 * collection) sends the same compact JSON, made and read here, so buses of different
 * adapters agree and no adapter writes its own (de)serializer.
 */
import { CorruptDataError, InvalidArgumentError, StorageClosedError } from './errors.js';
import type { SessionEvent, SessionEventBus, SessionEventSubscribeOptions } from './model.js';
import { BusSubscriptions } from './subscriptions.js';
import { assertKnownOptions, assertSessionEvent, assertTimerMs, INT64_MAX, INT64_MIN } from './validate.js';

interface WireEvent {
  t: 'c' | 'd';
  a: string;
  s: string;
  o: string;
  /** Destroy reason: `x` expired, `e` explicit; absent on created events (and from older writers). */
  r?: 'e' | 'x';
}

/** The last origin encodeSessionEvent quoted, and its JSON: a node publishes under one origin. */
let lastOrigin = '';
let lastOriginJson = '""';

/**
 * `{"t":"c","a":"<authKeyId>","s":"<sessionId>","o":"<origin>"}`: ids only, as decimal
 * strings. The text JSON.stringify makes of a WireEvent (keys in that order), made by hand
 * in about a third of the time (every bus encodes each event it publishes). Only the
 * origin can need escaping; its JSON is made once per origin.
 */
export function encodeSessionEvent(event: SessionEvent): string {
  assertSessionEvent(event);
  const origin = event.origin;
  if (origin !== lastOrigin) {
    lastOriginJson = JSON.stringify(origin);
    lastOrigin = origin;
  }
  const head = `{"t":"${event.type === 'created' ? 'c' : 'd'}","a":"${event.authKeyId}","s":"${event.sessionId}","o":${lastOriginJson}`;
  if (event.reason === undefined) return `${head}}`;
  return `${head},"r":"${event.reason === 'expired' ? 'x' : 'e'}"}`;
}

/**
 * The text encodeSessionEvent writes when the origin needs no escaping (a node's is a
 * UUID), as a pattern: one match reads it in under half the time JSON.parse and the
 * checks after it take (every subscriber decodes each event). Every text it matches is
 * JSON that JSON.parse reads to the same fields, which pass the same checks (`o`: 1 to
 * 200 UTF-16 units, none that JSON must escape) but for the ids' range, checked after;
 * any other text is read the long way.
 */
const PLAIN_WIRE = /^\{"t":"([cd])","a":"(-?\d{1,19})","s":"(-?\d{1,19})","o":"([^"\\\u0000-\u001f]{1,200})"(?:,"r":"([ex])")?\}$/;

/**
 * Reads what `encodeSessionEvent` wrote. Anything else is CorruptDataError. The event is
 * frozen: a bus decodes a message once and hands that one object to every listener, so
 * one listener (an application's observer) must not be able to change what the next (a
 * session cache, a subject) hears (contract §7).
 */
export function decodeSessionEvent(text: string): SessionEvent {
  const plain = PLAIN_WIRE.exec(text);
  if (plain !== null) {
    const [, t, a, s, origin, r] = plain as unknown as [string, 'c' | 'd', string, string, string, 'e' | 'x' | undefined];
    const authKeyId = BigInt(a);
    const sessionId = BigInt(s);
    // Out of range, or a reason on a created event: the long way says what is wrong.
    if (authKeyId >= INT64_MIN && authKeyId <= INT64_MAX && sessionId >= INT64_MIN && sessionId <= INT64_MAX) {
      if (r === undefined) return Object.freeze({ type: t === 'c' ? 'created' : 'destroyed', authKeyId, sessionId, origin });
      if (t === 'd') return Object.freeze({ type: 'destroyed', authKeyId, sessionId, origin, reason: r === 'x' ? 'expired' : 'explicit' });
    }
  }
  let event: SessionEvent;
  try {
    const wire = JSON.parse(text) as Partial<WireEvent>;
    if (wire.t !== 'c' && wire.t !== 'd') throw new Error('bad type');
    if (typeof wire.a !== 'string' || !/^-?\d{1,19}$/.test(wire.a)) throw new Error('bad authKeyId');
    if (typeof wire.s !== 'string' || !/^-?\d{1,19}$/.test(wire.s)) throw new Error('bad sessionId');
    event = {
      type: wire.t === 'c' ? 'created' : 'destroyed',
      authKeyId: BigInt(wire.a),
      sessionId: BigInt(wire.s),
      origin: wire.o as string,
    };
    if (wire.r !== undefined) {
      if (wire.r !== 'e' && wire.r !== 'x') throw new Error('bad reason');
      event.reason = wire.r === 'x' ? 'expired' : 'explicit';
    }
    assertSessionEvent(event);
  } catch (error) {
    throw new CorruptDataError(`not an mtstore session event (${text.length} chars): ${(error as Error).message}`);
  }
  return Object.freeze(event);
}

/**
 * A frozen copy of a valid `event` with its fields only: what a bus hands its listeners
 * for an event published on it (the publisher's object may change or carry more), the
 * same as decodeSessionEvent would read back from its encoding.
 */
export function frozenSessionEvent(event: SessionEvent): SessionEvent {
  return Object.freeze(
    event.reason === undefined
      ? { type: event.type, authKeyId: event.authKeyId, sessionId: event.sessionId, origin: event.origin }
      : { type: event.type, authKeyId: event.authKeyId, sessionId: event.sessionId, origin: event.origin, reason: event.reason },
  );
}

/** Every option of a bus's `subscribe`: any other name is refused. */
const SUBSCRIBE_OPTIONS: readonly string[] = ['onState'];

/**
 * Checks `subscribe`'s options before any I/O. A misspelt `{ onstate }` was ignored: the
 * subscription never heard `lost`, and a cache on it served "yes" across a dropped
 * connection (docs/contract.md §7).
 */
export function assertSubscribeOptions(options: unknown, bus: string): asserts options is SessionEventSubscribeOptions | undefined {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${bus}.subscribe: options must be an object`);
  assertKnownOptions(options, SUBSCRIBE_OPTIONS, `${bus}.subscribe`);
  const onState = (options as SessionEventSubscribeOptions).onState;
  if (onState !== undefined && typeof onState !== 'function') throw new InvalidArgumentError(`${bus}.subscribe: options.onState must be a function`);
}

const DEFAULT_HEARTBEAT_INTERVAL = 15_000;
/** Below this a check's answer could lose the race with the next check on a busy server or a slow link. */
const MIN_HEARTBEAT_INTERVAL = 100;

/**
 * A networked bus's `heartbeatInterval` option (ms between checks that its connection
 * answers; docs/contract.md §7.2): 15,000 when not given, else an integer from 100 to
 * 2^31 - 1; InvalidArgumentError naming `bus` otherwise, before any I/O.
 */
export function heartbeatIntervalOption(value: unknown, bus: string): number {
  if (value === undefined) return DEFAULT_HEARTBEAT_INTERVAL;
  assertTimerMs(value, `${bus}: heartbeatInterval`, MIN_HEARTBEAT_INTERVAL);
  return value;
}

/** The verdicts of one connection's heartbeat (heartbeatJudge). */
export interface HeartbeatJudge {
  /**
   * Called on every tick of the heartbeat's timer with the connection's progress (a
   * count of its completed round trips): true when it is to be taken as dead.
   */
  silent(progress: number): boolean;
  /** Forgets what the ticks so far saw (a new connection, or none yet). */
  reset(): void;
}

/**
 * The verdicts of a networked bus's heartbeat, which ticks every `interval` ms, asks
 * the connection a question on each tick, and counts answers and other round trips
 * as progress. A tick that finds no progress since the previous one on time takes
 * the connection as dead: its question went unanswered for a whole interval.
 *
 * A tick that comes late (over 1.5 intervals after the previous one: the application
 * blocked the event loop) proves nothing by itself. Node runs due timers before it
 * reads sockets, so the answer may be waiting unread; and a driver that defers its
 * writes (ioredis' auto-pipelining sends from setImmediate) may have sent the last
 * question only just before the stall, or after it. So a late tick without progress
 * takes the connection as dead only when the tick before it found none either: in
 * between, the loop has read its sockets at least once after the question went out.
 * An application that stalls that long every interval thus still has a dead
 * connection noticed, one tick later.
 */
export function heartbeatJudge(interval: number): HeartbeatJudge {
  let last = performance.now();
  /** Progress at the previous tick; undefined: none yet to compare with. */
  let checked: number | undefined;
  /** The previous tick found no progress. */
  let wasQuiet = false;
  return {
    silent(progress) {
      const now = performance.now();
      const late = now - last > interval * 1.5;
      last = now;
      const quiet = checked === progress;
      checked = progress;
      const dead = quiet && (!late || wasQuiet);
      wasQuiet = quiet && !dead;
      return dead;
    },
    reset() {
      last = performance.now();
      checked = undefined;
      wasQuiet = false;
    },
  };
}

/**
 * The shared medium of in-process buses: every LocalSessionEventBus on one channel
 * hears every other one.
 */
export class LocalEventChannel {
  /** The subscriptions of every bus on this channel. */
  readonly subscriptions = new BusSubscriptions('LocalSessionEventBus');
  #interrupted = 0;

  /** True while `interrupt` holds the channel down: events are dropped. */
  get interrupted(): boolean {
    return this.#interrupted > 0;
  }

  /**
   * Takes the channel down for `ms` as a lost connection would: every subscription
   * hears `lost`, events published meanwhile are dropped (at-most-once), then every
   * subscription hears `live`. Calls that overlap hold it down until the last one ends,
   * one `lost` and one `live` in all, as one connection lost for that long. An
   * in-process channel never fails by itself; this is how tests (and the kit) exercise
   * what a subscriber does on a reconnect.
   */
  async interrupt(ms = 0): Promise<void> {
    this.#interrupted++;
    this.subscriptions.lost();
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.#interrupted--;
    if (this.#interrupted === 0) this.subscriptions.live();
  }
}

/**
 * An in-process SessionEventBus. Two SessionSubjects in one process share events
 * through bus instances on the same channel. It cannot reach other processes.
 * Delivery is asynchronous (next microtask), as on a real bus.
 */
export class LocalSessionEventBus implements SessionEventBus {
  readonly channel: LocalEventChannel;
  /** The unsubscribes of this bus's subscriptions on the channel: close() calls them. */
  readonly #own = new Set<() => boolean>();
  #closed: Promise<void> | undefined;

  constructor(channel: LocalEventChannel = new LocalEventChannel()) {
    if (!(channel instanceof LocalEventChannel)) {
      throw new InvalidArgumentError('LocalSessionEventBus: channel must be a LocalEventChannel');
    }
    this.channel = channel;
  }

  async publish(event: SessionEvent): Promise<void> {
    if (this.#closed) throw new StorageClosedError('LocalSessionEventBus.publish: the bus is closed');
    try {
      assertSessionEvent(event);
    } catch (error) {
      throw new InvalidArgumentError(`LocalSessionEventBus.publish: ${(error as Error).message}`);
    }
    const copy = frozenSessionEvent(event);
    // A channel held down by interrupt() drops events, as a lost connection would.
    if (this.channel.interrupted) return;
    queueMicrotask(() => this.channel.subscriptions.deliver(copy));
  }

  async subscribe(listener: (event: SessionEvent) => void, options?: SessionEventSubscribeOptions): Promise<() => Promise<void>> {
    if (this.#closed) throw new StorageClosedError('LocalSessionEventBus.subscribe: the bus is closed');
    if (typeof listener !== 'function') throw new InvalidArgumentError('LocalSessionEventBus.subscribe: listener must be a function');
    assertSubscribeOptions(options, 'LocalSessionEventBus');
    // Made while interrupt() holds the channel down, it hears `lost` now (BusSubscriptions.add).
    const remove = this.channel.subscriptions.add(listener, options);
    this.#own.add(remove);
    return async () => {
      remove();
      this.#own.delete(remove);
    };
  }

  /** Idempotent: every call returns the one promise of the first. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const remove of this.#own) remove();
      this.#own.clear();
    })();
    return this.#closed;
  }
}
