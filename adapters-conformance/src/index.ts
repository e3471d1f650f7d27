/**
 * @mtstore/conformance — the runner-agnostic kit. Bind it to your runner by passing
 * `{ describe, it, skip, expect }`, or import the ready binding from
 * `@mtstore/conformance/vitest`.
 */
export type {
  Assertion,
  Expect,
  SessionEventBusCapabilities,
  SessionEventBusSuiteOptions,
  SessionStorageCapabilities,
  EncryptionSuiteOption,
  SessionStorageSuiteOptions,
  StorageCapabilities,
  ProcessesOption,
  StorageSuiteOptions,
  TestApi,
  Damage,
  TamperOption,
} from './api.js';
export { DAMAGES } from './api.js';
export { ONE_FIELD_LEFT, SESSION_DAMAGES, tamperSessionObject, type OneFieldLeft, type SessionObject } from './tamper-session.js';
export { describeSessionEventBus, describeSessionStorage, describeStorage } from './suites.js';
export { kitPart, type KitPart } from './parts.js';
export { authKey, fullSession, ID_EXTREMES, minimalSession, peer, roundPeer } from './fixtures.js';
export { plainBytes, randomNamespace, sleep, waitFor } from './harness.js';
export { checkServer, isCI, redactUrl, type ServerCheck } from './servers.js';
