/**
 * Per-test isolation and the few assertions every trait shares. Each test gets a
 * fresh random namespace, closes what it opened and calls the adapter's cleanup,
 * so tests never depend on order or on each other.
 */
import { CorruptDataError, EncryptionError, InvalidArgumentError, NotFoundError, StorageClosedError, StorageError, StorageUnavailableError } from '@mtstore/core';
import type { Expect } from './api.js';

interface Closable {
  close(): Promise<void>;
}

/** `mt_` and 10 random hex digits: valid as a schema name, table prefix, key prefix or session name. */
export function randomNamespace(): string {
  const bytes = new Uint8Array(5);
  globalThis.crypto.getRandomValues(bytes);
  return `mt_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export class Scope {
  readonly namespace = randomNamespace();
  /** Every namespace this test used: its own, and any `another()` gave out. */
  readonly namespaces: string[] = [this.namespace];
  readonly #opened: Closable[] = [];

  /** One more fresh namespace, cleaned up with the test's own. */
  another(): string {
    const namespace = randomNamespace();
    this.namespaces.push(namespace);
    return namespace;
  }

  /** Remembers an instance so it is closed when the test ends. */
  track<T extends Closable>(instance: T): T {
    this.#opened.push(instance);
    return instance;
  }

  async dispose(): Promise<void> {
    // Subjects before buses and storages: a subject detaches from what it was given.
    for (const instance of this.#opened.reverse()) {
      try {
        await instance.close();
      } catch {
        // A trait may have left an instance broken on purpose; cleanup still runs.
      }
    }
  }
}

/** Wraps a test body with a scope: instances closed, then `cleanup(namespace)`; the first failure wins. */
export function scoped(
  cleanup: ((namespace: string) => unknown) | undefined,
  body: (scope: Scope) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const scope = new Scope();
    let failure: unknown;
    let failed = false;
    try {
      await body(scope);
    } catch (error) {
      failure = error;
      failed = true;
    }
    await scope.dispose();
    for (const namespace of scope.namespaces) {
      try {
        await cleanup?.(namespace);
      } catch (error) {
        if (!failed) {
          failure = error;
          failed = true;
        }
      }
    }
    if (failed) throw failure;
  };
}

/**
 * A deep copy in which every Uint8Array (Buffer, AuthKeyBytes…) is a plain
 * Uint8Array, so jest/vitest `toEqual` compares bytes, not classes. The kit applies
 * it to both sides of every matcher; adapter tests can use it the same way.
 */
export function plainBytes<T>(value: T): T {
  if (value instanceof Uint8Array) return Uint8Array.from(value) as T;
  if (Array.isArray(value)) return value.map(plainBytes) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainBytes(v)])) as T;
  }
  return value;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `condition` holds; throws naming `what` after `timeout` ms. */
export async function waitFor(condition: () => boolean, timeout: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(5);
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : `no code (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)})`;
}

/**
 * Asserts that `call()` returns a promise that rejects with an mtstore error of
 * `code`: a synchronous throw or a resolution fails, naming `what`. Returns the error.
 */
export async function expectRejects(expect: Expect, what: string, code: string, call: () => Promise<unknown>): Promise<Error> {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (error) {
    expect(`threw synchronously: ${errorCode(error)}`, `${what} must return a rejected promise, not throw`).toBe(code);
    throw error;
  }
  let outcome: { error: unknown } | undefined;
  try {
    await promise;
  } catch (error) {
    outcome = { error };
  }
  expect(outcome ? errorCode(outcome.error) : 'resolved', `${what} must reject with ${code}`).toBe(code);
  // The code alone is not enough: callers branch with instanceof, so the error must be
  // an instance of core's class (the adapter and the kit share one @mtstore/core).
  const expected = CLASSES[code];
  const error = (outcome as { error: Error }).error;
  if (expected !== undefined) {
    expect(error instanceof expected, `${what} must reject with an instance of @mtstore/core's ${expected.name}, got ${error?.constructor?.name}`).toBe(true);
  }
  return error;
}

const CLASSES: Record<string, abstract new (...args: never[]) => StorageError> = {
  MTSTORE_INVALID_ARGUMENT: InvalidArgumentError,
  MTSTORE_STORAGE_CLOSED: StorageClosedError,
  MTSTORE_NOT_FOUND: NotFoundError,
  MTSTORE_STORAGE_UNAVAILABLE: StorageUnavailableError,
  MTSTORE_CORRUPT_DATA: CorruptDataError,
  MTSTORE_ENCRYPTION: EncryptionError,
};

export const CODES = {
  invalid: 'MTSTORE_INVALID_ARGUMENT',
  closed: 'MTSTORE_STORAGE_CLOSED',
  notFound: 'MTSTORE_NOT_FOUND',
  unavailable: 'MTSTORE_STORAGE_UNAVAILABLE',
  encryption: 'MTSTORE_ENCRYPTION',
} as const;
