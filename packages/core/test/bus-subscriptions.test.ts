/**
 * BusSubscriptions: the subscription bookkeeping every bus keeps (docs/contract.md §7),
 * and the in-process bus that keeps its own on it. The networked buses' use of it is
 * tested against their servers in their packages (bus tests and the kit).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BusSubscriptions, LocalEventChannel, LocalSessionEventBus, type SessionEvent, type SessionEventBusState } from '../src/index.js';

const event = (n: number): SessionEvent => Object.freeze({ type: 'created', authKeyId: BigInt(n), sessionId: BigInt(n), origin: 'test' });

/** Each subscription's events (by authKeyId) and states, by name. */
function recorder() {
  const heard: string[] = [];
  return {
    heard,
    listener: (name: string) => (e: SessionEvent) => void heard.push(`${name} ${e.authKeyId}`),
    onState: (name: string) => (state: SessionEventBusState) => void heard.push(`${name} ${state}`),
  };
}

describe('BusSubscriptions', () => {
  let errors: unknown[][];
  beforeEach(() => {
    errors = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void errors.push(args));
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('delivers each event to every subscription in subscription order; a listener added twice hears it twice', () => {
    const subscriptions = new BusSubscriptions('TestBus');
    const r = recorder();
    const one = r.listener('one');
    subscriptions.add(one, undefined);
    subscriptions.add(r.listener('two'), { onState: r.onState('two') });
    subscriptions.add(one, undefined);
    expect(subscriptions.size).toBe(3);
    subscriptions.deliver(event(1));
    expect(r.heard).toEqual(['one 1', 'two 1', 'one 1']);
  });

  it('unsubscribe is idempotent: true once, then false; the removed subscription hears nothing more', () => {
    const subscriptions = new BusSubscriptions('TestBus');
    const r = recorder();
    const remove = subscriptions.add(r.listener('one'), { onState: r.onState('one') });
    subscriptions.add(r.listener('two'), undefined);
    expect(remove()).toBe(true);
    expect(remove()).toBe(false);
    subscriptions.deliver(event(1));
    subscriptions.lost();
    expect(r.heard).toEqual(['two 1']);
    expect(subscriptions.size).toBe(1);
  });

  it('a subscription removed by an earlier listener of the same event hears nothing more, that event included; one added meanwhile hears the next', () => {
    const subscriptions = new BusSubscriptions('TestBus');
    const r = recorder();
    let removeLast: (() => boolean) | undefined;
    subscriptions.add((e) => {
      r.listener('first')(e);
      removeLast?.();
      subscriptions.add(r.listener('added'), undefined);
    }, undefined);
    removeLast = subscriptions.add(r.listener('last'), undefined);
    subscriptions.deliver(event(1));
    expect(r.heard).toEqual(['first 1']);
    subscriptions.deliver(event(2));
    expect(r.heard).toEqual(['first 1', 'first 2', 'added 2']);
  });

  it('a listener that throws is reported under the bus name and the others still hear the event', () => {
    const subscriptions = new BusSubscriptions('TestBus');
    const r = recorder();
    subscriptions.add(() => {
      throw new Error('listener fails');
    }, undefined);
    subscriptions.add(r.listener('after'), undefined);
    subscriptions.deliver(event(1));
    expect(r.heard).toEqual(['after 1']);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.[0])).toBe('TestBus: a session event listener threw on a created event');
  });

  it('accept filters by the data kept per subscription; forEach updates it', () => {
    const subscriptions = new BusSubscriptions<{ after: number }>('TestBus');
    const r = recorder();
    subscriptions.add(r.listener('from 0'), undefined, { after: 0 });
    subscriptions.add(r.listener('from 5'), undefined, { after: 5 });
    const at = (seq: number) => (position: { after: number }) => seq > position.after;
    subscriptions.deliver(event(3), at(3));
    subscriptions.forEach((position) => {
      if (position.after > 2) position.after = 2;
    });
    subscriptions.deliver(event(4), at(4));
    expect(r.heard).toEqual(['from 0 3', 'from 0 4', 'from 5 4']);
  });

  it('lost is said once until live; live only after lost; a subscription added while lost hears lost at once, then live with the others', () => {
    const subscriptions = new BusSubscriptions('TestBus');
    const r = recorder();
    subscriptions.add(() => undefined, { onState: r.onState('one') });
    subscriptions.live();
    expect(r.heard, 'live without lost').toEqual([]);
    subscriptions.lost();
    subscriptions.lost();
    expect(subscriptions.isLost).toBe(true);
    subscriptions.add(() => undefined, { onState: r.onState('late') });
    subscriptions.add(() => undefined, undefined);
    subscriptions.live();
    subscriptions.live();
    expect(subscriptions.isLost).toBe(false);
    expect(r.heard).toEqual(['one lost', 'late lost', 'one live', 'late live']);
  });

  it('a subscription removed by an earlier subscriber’s onState hears nothing more, that state included', () => {
    const subscriptions = new BusSubscriptions('TestBus');
    const r = recorder();
    let removeSecond: (() => boolean) | undefined;
    subscriptions.add(() => undefined, {
      onState: (state) => {
        r.onState('first')(state);
        removeSecond?.();
      },
    });
    removeSecond = subscriptions.add(() => undefined, { onState: r.onState('second') });
    subscriptions.lost();
    subscriptions.live();
    expect(r.heard).toEqual(['first lost', 'first live']);
  });

  it('an onState that throws is reported and the others still hear the state', () => {
    const subscriptions = new BusSubscriptions('TestBus');
    const r = recorder();
    subscriptions.add(() => undefined, {
      onState: () => {
        throw new Error('hook fails');
      },
    });
    subscriptions.add(() => undefined, { onState: r.onState('after') });
    subscriptions.lost();
    expect(r.heard).toEqual(['after lost']);
    expect(String(errors[0]?.[0])).toBe('TestBus: a subscriber\'s onState threw on "lost"');
  });

  it('forgetLost drops the lost state saying nothing: a subscription added next hears neither lost nor live', () => {
    const subscriptions = new BusSubscriptions('TestBus');
    const r = recorder();
    subscriptions.lost();
    subscriptions.forgetLost();
    subscriptions.add(() => undefined, { onState: r.onState('new') });
    subscriptions.live();
    expect(r.heard).toEqual([]);
  });

  it('clear removes every subscription: nothing reaches them, their unsubscribe says false', () => {
    const subscriptions = new BusSubscriptions('TestBus');
    const r = recorder();
    const remove = subscriptions.add(r.listener('one'), { onState: r.onState('one') });
    subscriptions.clear();
    subscriptions.deliver(event(1));
    subscriptions.lost();
    expect(r.heard).toEqual([]);
    expect(subscriptions.size).toBe(0);
    expect(remove()).toBe(false);
  });
});

describe('LocalSessionEventBus on BusSubscriptions', () => {
  it('interrupts that overlap say lost once and live once, when the last ends', async () => {
    const channel = new LocalEventChannel();
    const bus = new LocalSessionEventBus(channel);
    const states: SessionEventBusState[] = [];
    await bus.subscribe(() => undefined, { onState: (state) => states.push(state) });
    const first = channel.interrupt(20);
    const second = channel.interrupt(40);
    await first;
    expect(states, 'while the second interrupt holds the channel down').toEqual(['lost']);
    await second;
    expect(states).toEqual(['lost', 'live']);
    await bus.close();
  });

  it('a subscription unsubscribed by an earlier subscriber’s onState hears nothing more, lost included', async () => {
    const channel = new LocalEventChannel();
    const bus = new LocalSessionEventBus(channel);
    const states: Record<'one' | 'two', SessionEventBusState[]> = { one: [], two: [] };
    const stops: Partial<Record<'one' | 'two', () => Promise<void>>> = {};
    // Each unsubscribes the other on its first state: whichever hears first, the other then hears nothing.
    stops.one = await bus.subscribe(() => undefined, { onState: (state) => void (states.one.push(state), stops.two?.()) });
    stops.two = await bus.subscribe(() => undefined, { onState: (state) => void (states.two.push(state), stops.one?.()) });
    await channel.interrupt(1);
    expect([states.one.join(), states.two.join()].sort()).toEqual(['', 'lost,live']);
    await bus.close();
  });

  it('an event reaches the subscriptions of every bus on the channel that are subscribed when it is delivered', async () => {
    const channel = new LocalEventChannel();
    const a = new LocalSessionEventBus(channel);
    const b = new LocalSessionEventBus(channel);
    const heard: string[] = [];
    await a.subscribe((e) => heard.push(`a ${e.authKeyId}`));
    const stop = await b.subscribe((e) => heard.push(`b ${e.authKeyId}`));
    await a.publish(event(1));
    await stop();
    await b.publish(event(2));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(heard).toEqual(['a 1', 'b 1', 'a 2']);
    await Promise.all([a.close(), b.close()]);
  });

  it('close returns one promise however often it is called; the closed bus’s subscriptions leave the channel, the others stay', async () => {
    const channel = new LocalEventChannel();
    const bus = new LocalSessionEventBus(channel);
    const other = new LocalSessionEventBus(channel);
    await bus.subscribe(() => undefined);
    await bus.subscribe(() => undefined);
    await other.subscribe(() => undefined);
    const closing = bus.close();
    expect(bus.close()).toBe(closing);
    await closing;
    expect(bus.close()).toBe(closing);
    expect(channel.subscriptions.size).toBe(1);
    await other.close();
    expect(channel.subscriptions.size).toBe(0);
  });
});
