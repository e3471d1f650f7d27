/**
 * Session events on the wire, and the in-process bus.
 *
 * Every bus that crosses a process boundary (Redis pub/sub, Postgres NOTIFY, a Mongo
 * collection) sends the same compact JSON, made and read here, so buses of different
 * adapters agree and no adapter writes its own (de)serializer.
 */
import { CorruptDataError, InvalidArgumentError, StorageClosedError } from './errors.js';
import type { SessionEvent, SessionEventBus, SessionEventBusState, SessionEventSubscribeOptions } from './model.js';
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

type Listener = (event: SessionEvent) => void;

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

/**
 * Calls a bus listener so that its failure reaches neither the bus (which must keep
 * delivering) nor the publisher. Every bus delivers through this.
 */
/**
 * Delivers `event` to each listener of `listeners` at once, over a copy (a listener may
 * subscribe or unsubscribe others), but only to those still subscribed when their turn
 * comes: one an earlier listener unsubscribed during this event hears nothing more, this
 * event included (contract §7). For buses that deliver in the call; the listeners are
 * deliverSafely wrappers, so one that throws does not stop the others.
 */
export function deliverToSubscribed(listeners: ReadonlySet<(event: SessionEvent) => void>, event: SessionEvent): void {
  for (const listener of [...listeners]) if (listeners.has(listener)) listener(event);
}

export function deliverSafely(listener: Listener, event: SessionEvent, bus: string): void {
  try {
    listener(event);
  } catch (error) {
    console.error(`${bus}: a session event listener threw on a ${event.type} event`, error);
  }
}

/**
 * Tells a subscriber its subscription was lost or is live again, isolated like
 * `deliverSafely`. Every bus reports states through this.
 */
export function reportStateSafely(options: SessionEventSubscribeOptions | undefined, state: SessionEventBusState, bus: string): void {
  const onState = options?.onState;
  if (onState === undefined) return;
  try {
    onState(state);
  } catch (error) {
    console.error(`${bus}: a subscriber's onState threw on "${state}"`, error);
  }
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
  readonly listeners = new Set<Listener>();
  /** State hooks of the subscriptions on this channel (see `interrupt`). */
  readonly states = new Map<Listener, SessionEventSubscribeOptions>();
  #interrupted = 0;

  /** True while `interrupt` holds the channel down: events are dropped. */
  get interrupted(): boolean {
    return this.#interrupted > 0;
  }

  /**
   * Takes the channel down for `ms` as a lost connection would: every subscription
   * hears `lost`, events published meanwhile are dropped (at-most-once), then every
   * subscription hears `live`. An in-process channel never fails by itself; this is
   * how tests (and the kit) exercise what a subscriber does on a reconnect.
   */
  async interrupt(ms = 0): Promise<void> {
    this.#interrupted++;
    for (const [, options] of [...this.states]) reportStateSafely(options, 'lost', 'LocalSessionEventBus');
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.#interrupted--;
    if (this.#interrupted > 0) return;
    for (const [listener, options] of [...this.states]) {
      if (this.listeners.has(listener)) reportStateSafely(options, 'live', 'LocalSessionEventBus');
    }
  }
}

/**
 * An in-process SessionEventBus. Two SessionSubjects in one process share events
 * through bus instances on the same channel. It cannot reach other processes.
 * Delivery is asynchronous (next microtask), as on a real bus.
 */
export class LocalSessionEventBus implements SessionEventBus {
  readonly channel: LocalEventChannel;
  readonly #own = new Set<Listener>();
  #closed = false;

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
    for (const listener of [...this.channel.listeners]) {
      queueMicrotask(() => {
        if (this.channel.listeners.has(listener)) listener(copy);
      });
    }
  }

  async subscribe(listener: (event: SessionEvent) => void, options?: SessionEventSubscribeOptions): Promise<() => Promise<void>> {
    if (this.#closed) throw new StorageClosedError('LocalSessionEventBus.subscribe: the bus is closed');
    if (typeof listener !== 'function') throw new InvalidArgumentError('LocalSessionEventBus.subscribe: listener must be a function');
    assertSubscribeOptions(options, 'LocalSessionEventBus');
    // Each subscription gets its own wrapper so subscribing one function twice gives two subscriptions.
    const wrapper: Listener = (event) => deliverSafely(listener, event, 'LocalSessionEventBus');
    this.channel.listeners.add(wrapper);
    if (options?.onState) {
      this.channel.states.set(wrapper, { onState: options.onState });
      // Made while interrupt() holds the channel down: as deaf as the others, and it hears
      // `live` with them, so it hears `lost` first (as a networked bus's would).
      if (this.channel.interrupted) reportStateSafely(options, 'lost', 'LocalSessionEventBus');
    }
    this.#own.add(wrapper);
    return async () => {
      this.channel.listeners.delete(wrapper);
      this.channel.states.delete(wrapper);
      this.#own.delete(wrapper);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#own) {
      this.channel.listeners.delete(listener);
      this.channel.states.delete(listener);
    }
    this.#own.clear();
  }
}
