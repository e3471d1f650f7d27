import { LogManager } from '@mtcute/core/utils.js';
import { NodePlatform } from '@mtcute/node';
import type { Storage } from '@mtstore/core';
import type { AdapterCase, Backend } from '@mtstore/test-adapters';
import { afterEach, beforeEach, expect } from 'vitest';
import type { MtcuteStorage } from '../src/index.js';

export const platform = new NodePlatform();

/** A logger that prints nothing (mtcute's level OFF). */
export function quietLog(): LogManager {
  const log = new LogManager(undefined, platform);
  log.level = LogManager.OFF;
  return log;
}

/**
 * A fresh backend of `adapter` for each test of the enclosing describe, and the function
 * that opens session `name` (default `defaultName`) on it. What it opened is closed after
 * each test, before the backend is disposed.
 */
export function backendPerTest(adapter: AdapterCase, defaultName: string): (name?: string) => Storage {
  let backend: Backend;
  const opened: Storage[] = [];
  beforeEach(async () => {
    backend = await adapter.backend();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await backend.dispose();
  });
  return (name = defaultName) => {
    const storage = backend.open(name);
    opened.push(storage);
    return storage;
  };
}

/** mtcute's storages are used this way by its client: setup, then load. */
export async function loadProvider(provider: MtcuteStorage): Promise<void> {
  provider.driver.setup?.(quietLog(), platform);
  await provider.driver.load?.();
}

/**
 * An object whose properties are read from `get()` at call time: mtcute's suites
 * take their repository when the tests are collected, the backend exists only once
 * `beforeAll` ran. Methods are the target's own, bound to it.
 */
export function late<T extends object>(get: () => T): T {
  return new Proxy({} as T, {
    get(_target, prop) {
      const target = get() as Record<string | symbol, unknown>;
      const value = target[prop];
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

type Tester = Parameters<typeof expect.addEqualityTesters>[0][number];

interface PeerInfoLike {
  id: number;
  accessHash: string;
  isMin: boolean;
  usernames: string[];
  updated: number;
  complete: Uint8Array;
}

function isPeerInfo(value: unknown): value is PeerInfoLike {
  return typeof value === 'object' && value !== null && 'accessHash' in value && 'isMin' in value && 'updated' in value && 'complete' in value;
}

/**
 * mtcute's PeerInfo.updated is milliseconds (`Date.now()`); mtstore stores epoch
 * seconds, so the bridge returns it rounded down to the second. mtcute's peers suite
 * compares `updated: 666` exactly: this tester compares `updated` at the precision
 * mtstore keeps (whole seconds) and every other field exactly.
 */
export function compareUpdatedInSeconds(): void {
  const peerInfoEquals: Tester = function (a, b, testers) {
    if (!isPeerInfo(a) || !isPeerInfo(b)) return undefined;
    const { updated: ua, ...ra } = a;
    const { updated: ub, ...rb } = b;
    return Math.floor(ua / 1000) === Math.floor(ub / 1000) && this.equals(ra, rb, testers);
  };
  expect.addEqualityTesters([peerInfoEquals]);
}
