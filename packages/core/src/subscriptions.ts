/**
 * The subscriptions of a bus: what every SessionEventBus keeps the same way, whatever
 * carries its events (docs/contract.md §7). A bus holds one BusSubscriptions and keeps
 * only its database code: it adds a subscription once its connection or feed is live,
 * delivers each event it reads, says `lost` when its connection or feed fails and
 * `live` once it is back, and clears them on close.
 */
import type { SessionEvent, SessionEventBusState, SessionEventSubscribeOptions } from './model.js';

type Listener = (event: SessionEvent) => void;

/**
 * Calls a bus listener so that its failure reaches neither the bus (which must keep
 * delivering) nor the publisher. Every bus delivers through this (BusSubscriptions).
 */
export function deliverSafely(listener: Listener, event: SessionEvent, bus: string): void {
  try {
    listener(event);
  } catch (error) {
    console.error(`${bus}: a session event listener threw on a ${event.type} event`, error);
  }
}

/**
 * Tells a subscriber its subscription was lost or is live again, isolated like
 * `deliverSafely`. Every bus reports states through this (BusSubscriptions).
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

/**
 * Delivers `event` to each listener of `listeners` at once, over a copy (a listener may
 * subscribe or unsubscribe others), but only to those still subscribed when their turn
 * comes: one an earlier listener unsubscribed during this event hears nothing more, this
 * event included (contract §7). The listeners are deliverSafely wrappers, so one that
 * throws does not stop the others. BusSubscriptions.deliver does this and the rest of
 * a bus's subscription bookkeeping; this stays for buses written against it.
 */
export function deliverToSubscribed(listeners: ReadonlySet<Listener>, event: SessionEvent): void {
  for (const listener of [...listeners]) if (listeners.has(listener)) listener(event);
}

interface Subscription<T> {
  readonly listener: Listener;
  readonly onState: ((state: SessionEventBusState) => void) | undefined;
  /** What the bus keeps per subscription (the MongoDB bus: its position in the log). */
  readonly data: T;
}

/**
 * One bus's subscriptions and its state, `lost` or live. Every call is synchronous, so a
 * bus that adds a subscription in the same turn as it learns its state can tell no
 * state in between. Listeners and onState hooks are called isolated (deliverSafely,
 * reportStateSafely): one that throws is reported under the bus's name and the others
 * are still called.
 *
 * Delivery and state reports go over the subscriptions as they were when they began,
 * but skip one removed meanwhile (by an earlier listener or hook): once its unsubscribe
 * was called, nothing reaches a subscription, the event or state under way included;
 * one added meanwhile hears the next one.
 *
 * `T` is data the bus keeps per subscription, handed to `deliver`'s filter and to
 * `forEach`; buses that need none leave it out.
 */
export class BusSubscriptions<T = undefined> {
  readonly #bus: string;
  /** In subscription order: every subscription hears an event in the order they subscribed. */
  readonly #subscriptions = new Set<Subscription<T>>();
  #lost = false;

  /** `bus`: the bus's class name, which reports of a throwing listener or hook carry. */
  constructor(bus: string) {
    this.#bus = bus;
  }

  /** How many subscriptions there are. */
  get size(): number {
    return this.#subscriptions.size;
  }

  /** The subscriptions were told `lost` and not `live` since. */
  get isLost(): boolean {
    return this.#lost;
  }

  /**
   * Adds a subscription of `listener` and returns its unsubscribe, idempotent: true when
   * it removed the subscription, false when it was gone already (removed, or cleared).
   * Each call is a subscription of its own: a listener added twice hears each event
   * twice. Added while lost, it hears `lost` now, before the bus's `subscribe()`
   * resolves, and `live` with the others: it is as deaf as they are, and a subscriber
   * told nothing takes itself as live (a cache on it would fill while it misses destroys).
   */
  add(listener: Listener, options: SessionEventSubscribeOptions | undefined, ...data: undefined extends T ? [data?: T] : [data: T]): () => boolean {
    const subscription: Subscription<T> = { listener, onState: options?.onState, data: data[0] as T };
    this.#subscriptions.add(subscription);
    if (this.#lost) this.#report(subscription, 'lost');
    return () => this.#subscriptions.delete(subscription);
  }

  /**
   * Hands `event` (frozen: one object for every listener, contract §7) to every
   * subscription, or to those whose data `accept` takes.
   */
  deliver(event: SessionEvent, accept?: (data: T) => boolean): void {
    for (const subscription of [...this.#subscriptions]) {
      if (!this.#subscriptions.has(subscription)) continue;
      if (accept === undefined || accept(subscription.data)) deliverSafely(subscription.listener, event, this.#bus);
    }
  }

  /** Calls `update` with each subscription's data (in subscription order). */
  forEach(update: (data: T) => void): void {
    for (const subscription of this.#subscriptions) update(subscription.data);
  }

  /** From now on events may be missed: every subscription hears `lost`, unless it was lost already (`lost` is said once until `live`). */
  lost(): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#tell('lost');
  }

  /** Live again after `lost` (events in between were missed): every subscription hears `live`. Nothing when not lost: each `live` follows a `lost`. */
  live(): void {
    if (!this.#lost) return;
    this.#lost = false;
    this.#tell('live');
  }

  /**
   * Drops the lost state without telling `live`: for a bus starting a new feed at the
   * position of the subscription it is about to add, which so missed nothing (telling
   * it `live` would be a `live` it never heard `lost` before).
   */
  forgetLost(): void {
    this.#lost = false;
  }

  /** Removes every subscription (the bus is closing): none hears anything more. */
  clear(): void {
    this.#subscriptions.clear();
  }

  #tell(state: SessionEventBusState): void {
    for (const subscription of [...this.#subscriptions]) {
      if (this.#subscriptions.has(subscription)) this.#report(subscription, state);
    }
  }

  #report(subscription: Subscription<T>, state: SessionEventBusState): void {
    if (subscription.onState !== undefined) reportStateSafely(subscription, state, this.#bus);
  }
}
