/**
 * docs/contract.md §7 / §8: a bus's `subscribe(listener, options)` takes `onState` only.
 * A misspelt `{ onstate }` was ignored: the subscription resolved and never heard `lost`,
 * so a cache built on it (CachedSessionStorage's kind of subscriber) would keep serving
 * "yes" across a dropped connection with no sign of it. Every bus (the in-process one,
 * PostgreSQL, Redis, MongoDB) checks its options with core's assertSubscribeOptions.
 */
import { describe, expect, it } from 'vitest';
import { assertSubscribeOptions, LocalEventChannel, LocalSessionEventBus, type SessionEventBusState } from '../src/index.js';
import { thrown } from './thrown.js';

describe('bus subscribe options', () => {
  it('an option subscribe does not have is InvalidArgumentError naming the nearest one, before anything is subscribed', async () => {
    const channel = new LocalEventChannel();
    const bus = new LocalSessionEventBus(channel);
    const error = await bus.subscribe(() => undefined, { onstate: () => undefined } as never).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(error?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(error?.message).toContain('LocalSessionEventBus.subscribe');
    expect(error?.message).toContain('unknown option "onstate" (did you mean "onState"?)');
    expect(channel.subscriptions.size).toBe(0);
    await bus.close();
  });

  it('null for onState is refused; undefined and a function are taken, and the function hears lost and live', async () => {
    expect(thrown(() => assertSubscribeOptions({ onState: null }, 'Bus'))?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(thrown(() => assertSubscribeOptions({ onState: undefined }, 'Bus'))).toBeUndefined();
    expect(thrown(() => assertSubscribeOptions(undefined, 'Bus'))).toBeUndefined();
    const channel = new LocalEventChannel();
    const bus = new LocalSessionEventBus(channel);
    const heard: SessionEventBusState[] = [];
    await bus.subscribe(() => undefined, { onState: (state) => heard.push(state) });
    await channel.interrupt(1);
    expect(heard).toEqual(['lost', 'live']);
    await bus.close();
  });
});
