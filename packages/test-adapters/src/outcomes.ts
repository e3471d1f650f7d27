/**
 * What the fault tests record about calls: how and when each settled, and any promise
 * rejection nobody handled. Shared by the adapters' tests (imported by path, as proxy.ts is).
 */
import { afterEach, beforeEach } from 'vitest';

export type Failure = Error & { code?: string };
export type Settled = { ok: true; at: number } | { ok: false; error: Failure; at: number };

/** Records when (performance.now()) and how a call settled. */
export function settle(promise: Promise<unknown>): Promise<Settled> {
  return promise.then(
    () => ({ ok: true, at: performance.now() }),
    (error: Failure) => ({ ok: false, error, at: performance.now() }),
  );
}

/**
 * The unhandled rejections of each test of the enclosing describe (emptied before each
 * test; the listener is on only while tests run): a call whose failure escaped its promise.
 */
export function unhandledRejections(): unknown[] {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  beforeEach(() => {
    rejections.length = 0;
    process.on('unhandledRejection', onRejection);
  });
  afterEach(() => {
    process.off('unhandledRejection', onRejection);
  });
  return rejections;
}
