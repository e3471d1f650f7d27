/**
 * What the fault tests record about calls: how and when each settled, and any promise
 * rejection nobody handled. Shared by the adapters' tests (imported by path, as proxy.ts is).
 */
import { fullSession } from '@mtstore/conformance';
import type { SessionStorageProtocol, Storage } from '@mtstore/core';
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

/** How a call ended: the error it rejected with, or code 'resolved'. */
export function failure(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return promise.then(
    () => ({ code: 'resolved', message: '' }),
    (error: { code?: string; message: string }) => error,
  );
}

/**
 * The calls of a client and a server storage opened with `create: false` that must each be
 * NotFoundError on a store that is not there (and create nothing): what a reader makes,
 * and a write of each side. The adapters' create tests add their URL and bus forms.
 */
export function storeCalls(client: Storage, server: SessionStorageProtocol): [string, () => Promise<unknown>][] {
  return [
    ['load', () => client.load()],
    ['listNames', () => client.listNames()],
    ['kv.entries', () => client.kv.entries()],
    ['lease.holder', () => client.lease.holder()],
    ['save', () => client.save(fullSession(1))],
    ['hasSession', () => server.hasSession(1n, 2n)],
    ['createSession', () => server.createSession(1n, 2n)],
  ];
}
