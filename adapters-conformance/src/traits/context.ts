/**
 * How traits register tests: each test body receives a scope that opens instances
 * on the test's own namespace and closes them afterwards.
 */
import type { SessionEventBus, SessionStorageProtocol, Storage } from '@mtstore/core';
import type {
  Assertion,
  Expect,
  SessionEventBusSuiteOptions,
  SessionStorageSuiteOptions,
  StorageSuiteOptions,
  TestApi,
} from '../api.js';
import { plainBytes, Scope, scoped } from '../harness.js';

const DEFAULT_TIMEOUT = 30_000;

export class StorageScope {
  constructor(
    readonly scope: Scope,
    private readonly options: StorageSuiteOptions,
  ) {}

  get namespace(): string {
    return this.scope.namespace;
  }

  /** A new instance (connection) on this test's backend, for session `name`. */
  async open(name = 'main'): Promise<Storage> {
    return this.scope.track(await this.options.open(this.scope.namespace, name));
  }

  /** A new instance on another namespace of the backend (one from `scope.another()`). */
  async openIn(namespace: string, name = 'main'): Promise<Storage> {
    return this.scope.track(await this.options.open(namespace, name));
  }

  /** A new instance opened with the adapter's `create: false` (the `openExisting` hook) on this test's backend. */
  async openExisting(name = 'main'): Promise<Storage> {
    const open = this.options.openExisting;
    if (open === undefined) throw new Error('openExisting: the adapter gave no openExisting hook');
    return this.scope.track(await open(this.scope.namespace, name));
  }
}

type OpenServer = (namespace: string) => SessionStorageProtocol | Promise<SessionStorageProtocol>;

export class ServerScope {
  constructor(
    readonly scope: Scope,
    private readonly open_: OpenServer,
    private readonly openExisting_?: OpenServer,
  ) {}

  get namespace(): string {
    return this.scope.namespace;
  }

  /** A new instance (connection) on this test's backend. */
  async open(): Promise<SessionStorageProtocol> {
    return this.scope.track(await this.open_(this.scope.namespace));
  }

  /** A new instance on another namespace of the backend (one from `scope.another()`). */
  async openIn(namespace: string): Promise<SessionStorageProtocol> {
    return this.scope.track(await this.open_(namespace));
  }

  /** A new instance opened with the adapter's `create: false` (the `openExisting` hook) on this test's backend. */
  async openExisting(): Promise<SessionStorageProtocol> {
    const open = this.openExisting_;
    if (open === undefined) throw new Error('openExisting: the adapter gave no openExisting hook');
    return this.scope.track(await open(this.scope.namespace));
  }

  /** Closed with the test, before the storages and buses it was given. */
  track<T extends { close(): Promise<void> }>(instance: T): T {
    return this.scope.track(instance);
  }
}

export class BusScope extends ServerScope {
  constructor(
    scope: Scope,
    private readonly options: SessionEventBusSuiteOptions,
  ) {
    super(scope, options.openStorage);
  }

  /** A new bus instance on this test's channel; `namespace` picks another channel. */
  async openBus(namespace = this.scope.namespace): Promise<SessionEventBus> {
    return this.scope.track(await this.options.open(namespace));
  }
}

export interface Registrar<S> {
  readonly expect: Expect;
  /** Registers a test whose body runs in a fresh scope. */
  test(name: string, body: (scope: S) => Promise<void>): void;
  /** Registers a test skipped by a declared capability. */
  skip(name: string, reason: string): void;
  group(name: string, body: () => void): void;
}

/**
 * Adapters may return keys as Buffer or another Uint8Array subclass (core returns
 * AuthKeyBytes); the contract is about bytes. Matchers see every Uint8Array as a
 * plain one, on both sides.
 */
function comparingBytes(assertion: Assertion): Assertion {
  return new Proxy(assertion, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (property === 'not') return comparingBytes(value as Assertion);
      if (typeof value === 'function') return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args.map(plainBytes));
      return value;
    },
  });
}

export function registrar<S>(
  t: TestApi,
  cleanup: ((namespace: string) => unknown) | undefined,
  timeout: number | undefined,
  makeScope: (scope: Scope) => S,
): Registrar<S> {
  return {
    expect: (actual, message) => comparingBytes(t.expect(plainBytes(actual), message)),
    test: (name, body) => t.it(name, scoped(cleanup, (scope) => body(makeScope(scope))), timeout ?? DEFAULT_TIMEOUT),
    skip: (name, reason) => t.skip(name, reason),
    group: (name, body) => t.describe(name, body),
  };
}

export type StorageRegistrar = Registrar<StorageScope> & { options: StorageSuiteOptions };
export type ServerRegistrar = Registrar<ServerScope> & { options: SessionStorageSuiteOptions };
export type BusRegistrar = Registrar<BusScope> & { options: SessionEventBusSuiteOptions };
