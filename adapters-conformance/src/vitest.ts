/**
 * The kit bound to vitest:
 *
 *   import { describeStorage } from '@mtstore/conformance/vitest';
 *   describeStorage('my-adapter', { open: (namespace, name) => new MyStorage(...) });
 */
import { describe, expect, it } from 'vitest';
import type { SessionEventBusSuiteOptions, SessionStorageSuiteOptions, StorageSuiteOptions, TestApi, Expect } from './api.js';
import * as kit from './suites.js';

export const vitestApi: TestApi = {
  describe: (name, body) => describe(name, body),
  it: (name, body, timeout) => it(name, body, timeout),
  skip: (name, reason) => it.skip(`${name} [skipped: ${reason}]`, () => {}),
  expect: expect as unknown as Expect,
};

export function describeStorage(name: string, options: StorageSuiteOptions): void {
  kit.describeStorage(vitestApi, name, options);
}

export function describeSessionStorage(name: string, options: SessionStorageSuiteOptions): void {
  kit.describeSessionStorage(vitestApi, name, options);
}

export function describeSessionEventBus(name: string, options: SessionEventBusSuiteOptions): void {
  kit.describeSessionEventBus(vitestApi, name, options);
}

export type {
  SessionEventBusCapabilities,
  SessionEventBusSuiteOptions,
  SessionStorageCapabilities,
  EncryptionSuiteOption,
  SessionStorageSuiteOptions,
  StorageCapabilities,
  StorageSuiteOptions,
  Damage,
  TamperOption,
} from './api.js';
export { DAMAGES } from './api.js';
export { kitPart, type KitPart } from './parts.js';
export { ONE_FIELD_LEFT, SESSION_DAMAGES, tamperSessionObject, type OneFieldLeft, type SessionObject } from './tamper-session.js';
export { checkServer, isCI, redactUrl, type ServerCheck } from './servers.js';
export { authKey, fullSession, ID_EXTREMES, minimalSession, peer } from './fixtures.js';
export { plainBytes, randomNamespace, sleep, waitFor } from './harness.js';
