/**
 * What the fault tests record about calls: how and when each settled, and any promise
 * rejection nobody handled. Shared by the adapters' tests (imported by path, as proxy.ts is).
 */
import { fullSession } from '@mtstore/conformance';
import type { SessionStorageProtocol, Storage } from '@mtstore/core';
import { afterEach, beforeEach, expect } from 'vitest';
import { within } from './proxy.js';

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

/**
 * After a link came back: calls `call` one after another, as a single worker makes
 * them, each given `perCallMs`, until one resolves; every failure before it must be
 * StorageUnavailableError. Throws when none has resolved after 30 s. Returns how many
 * failed and how long recovery took (ms).
 */
export async function untilOneSucceeds(label: string, call: () => Promise<unknown>, perCallMs: number): Promise<{ failures: number; recoveredMs: number }> {
  const back = performance.now();
  let failures = 0;
  for (;;) {
    const result = await settle(within(perCallMs, label, call()));
    if (result.ok) return { failures, recoveredMs: performance.now() - back };
    expect(result.error.code, result.error.message).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    failures++;
    if (performance.now() - back > 30_000) throw new Error(`${label}: no recovery after ${failures} failed calls`);
  }
}

/** And none fails later: 20 calls one after another (each within `eachMs`), then 10 at once (within `tenMs`). */
export async function keepsWorking(label: string, call: () => Promise<unknown>, eachMs: number, tenMs: number): Promise<void> {
  for (let i = 0; i < 20; i++) await within(eachMs, `${label} ${i}`, call());
  await within(tenMs, `${label} x10`, Promise.all(Array.from({ length: 10 }, call)));
}
