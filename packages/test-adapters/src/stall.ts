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
