import type { SessionEvent, SessionEventBus } from '@mtstore/core';

/**
 * An application that stalls: the event loop blocked by a long synchronous task, again
 * and again. Shared by the bus tests (imported by path, as proxy.ts is).
 */

/**
 * For `forMs`, blocks the event loop for `blockMs` right after each tick of the timers of
 * `interval` ms made before the call: a timer of the same interval made later runs just
 * after them in the same timers phase. A heartbeat that sent its check on such a tick then
 * ticks again late, before the answer waiting in the socket is read (Node runs due timers
 * before it polls sockets). Resolves when the stalls are over.
 */
export async function stallAfterTimers(interval: number, blockMs: number, forMs: number): Promise<void> {
  const stall = setInterval(() => {
    const until = performance.now() + blockMs;
    while (performance.now() < until) {
      // blocked
    }
  }, interval);
  await new Promise((resolve) => setTimeout(resolve, forMs));
  clearInterval(stall);
}

/** A bus behind a proxy (`listener`) and one straight to the server (`publisher`), as the bus tests set them up. */
export interface BusBehindProxy {
  proxy: { blackhole(): void };
  listener: SessionEventBus;
  publisher: SessionEventBus;
}

/**
 * The Redis and PostgreSQL buses' scenario for a link that goes dark while the
 * application stalls for 2.5 heartbeats right after every heartbeat tick (so every
 * tick comes late): the listener hears `event(1)`, then the proxy blackholes and the
 * stalls run for 3.5 s, while the states the listener's subscribers hear are recorded.
 * Returns them and how long after the link went dark `lost` came (Infinity: never).
 */
export async function darkWhileStalling(bus: BusBehindProxy, heartbeat: number, event: (n: number) => SessionEvent): Promise<{ states: string[]; noticedMs: number }> {
  const heard: SessionEvent[] = [];
  const states: string[] = [];
  let lostAt = Infinity;
  await bus.listener.subscribe((e) => heard.push(e), {
    onState: (state) => {
      states.push(state);
      if (state === 'lost') lostAt = Math.min(lostAt, performance.now());
    },
  });
  await bus.publisher.publish(event(1));
  if (!(await heardWithin(heard, 10_000))) throw new Error('the first event never came');
  bus.proxy.blackhole();
  const dark = performance.now();
  await stallAfterTimers(heartbeat, 2.5 * heartbeat, 3_500);
  return { states, noticedMs: lostAt - dark };
}

/**
 * The buses' scenario for an application that blocks its loop for 350 ms right after
 * every heartbeat tick (interval 100 ms) for 2 s while the server answers every check:
 * the listener (made with `heartbeatInterval: 100`) subscribes, the stalls run, then
 * after 500 ms more `event(1)` is published. Returns the states heard (none is right)
 * and whether the event arrived within 10 s.
 */
export async function answeredWhileStalling(bus: Omit<BusBehindProxy, 'proxy'>, event: (n: number) => SessionEvent): Promise<{ states: string[]; delivered: boolean }> {
  const heard: SessionEvent[] = [];
  const states: string[] = [];
  await bus.listener.subscribe((e) => heard.push(e), { onState: (state) => states.push(state) });
  // Right after each check went out: the next check comes late, before the answer waiting in the socket is read.
  await stallAfterTimers(100, 350, 2_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = [...states];
  await bus.publisher.publish(event(1));
  return { states: after, delivered: await heardWithin(heard, 10_000) };
}

/** Whether `heard` holds an event within `ms` (checked every 20 ms). */
async function heardWithin(heard: readonly SessionEvent[], ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (heard.length === 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return heard.length > 0;
}
