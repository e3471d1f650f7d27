/**
 * Session events on the wire, and the in-process bus.
 *
 * Every bus that crosses a process boundary (Redis pub/sub, Postgres NOTIFY, a Mongo
 * collection) sends the same compact JSON, made and read here, so buses of different
 * adapters agree and no adapter writes its own (de)serializer.
 */
import { CorruptDataError, InvalidArgumentError, StorageClosedError } from './errors.js';
import type { SessionEvent, SessionEventBus } from './model.js';
import { assertSessionEvent } from './validate.js';

interface WireEvent {
  t: 'c' | 'd';
  a: string;
  s: string;
  o: string;
}

/** `{"t":"c","a":"<authKeyId>","s":"<sessionId>","o":"<origin>"}`: ids only, as decimal strings. */
export function encodeSessionEvent(event: SessionEvent): string {
  assertSessionEvent(event);
  const wire: WireEvent = {
    t: event.type === 'created' ? 'c' : 'd',
    a: event.authKeyId.toString(),
    s: event.sessionId.toString(),
    o: event.origin,
  };
  return JSON.stringify(wire);
}

/** Reads what `encodeSessionEvent` wrote. Anything else is CorruptDataError. */
export function decodeSessionEvent(text: string): SessionEvent {
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
    assertSessionEvent(event);
  } catch (error) {
    throw new CorruptDataError(`not an mtstore session event (${text.length} chars): ${(error as Error).message}`);
  }
  return event;
}

type Listener = (event: SessionEvent) => void;

/**
 * Calls a bus listener so that its failure reaches neither the bus (which must keep
 * delivering) nor the publisher. Every bus delivers through this.
 */
export function deliverSafely(listener: Listener, event: SessionEvent, bus: string): void {
  try {
    listener(event);
  } catch (error) {
    console.error(`${bus}: a session event listener threw on a ${event.type} event`, error);
  }
}

/**
 * The shared medium of in-process buses: every LocalSessionEventBus on one channel
 * hears every other one.
 */
export class LocalEventChannel {
  readonly listeners = new Set<Listener>();
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
    const copy = Object.freeze({ type: event.type, authKeyId: event.authKeyId, sessionId: event.sessionId, origin: event.origin });
    for (const listener of [...this.channel.listeners]) {
      queueMicrotask(() => {
        if (this.channel.listeners.has(listener)) listener(copy);
      });
    }
  }

  async subscribe(listener: (event: SessionEvent) => void): Promise<() => Promise<void>> {
    if (this.#closed) throw new StorageClosedError('LocalSessionEventBus.subscribe: the bus is closed');
    if (typeof listener !== 'function') throw new InvalidArgumentError('LocalSessionEventBus.subscribe: listener must be a function');
    // Each subscription gets its own wrapper so subscribing one function twice gives two subscriptions.
    const wrapper: Listener = (event) => deliverSafely(listener, event, 'LocalSessionEventBus');
    this.channel.listeners.add(wrapper);
    this.#own.add(wrapper);
    return async () => {
      this.channel.listeners.delete(wrapper);
      this.#own.delete(wrapper);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#own) this.channel.listeners.delete(listener);
    this.#own.clear();
  }
}
