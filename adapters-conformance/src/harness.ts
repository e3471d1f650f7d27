/**
 * Per-test isolation and the few assertions every trait shares. Each test gets a
 * fresh random namespace, closes what it opened and calls the adapter's cleanup,
 * so tests never depend on order or on each other.
 */
import { CorruptDataError, EncryptionError, InvalidArgumentError, NotFoundError, StorageClosedError, StorageError, StorageUnavailableError } from '@mtstore/core';
import { inspect } from 'node:util';
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

/** How many consecutive key bytes count as a leak: 12 (a random match is about 2^-96). */
const LEAK_WINDOW = 12;

/**
 * Every text an error carries: message, stack, name, string fields, and the same of
 * its `cause` chain and `errors` (AggregateError), plus `util.inspect` of it (which
 * prints the fields a driver error keeps, the cause included).
 */
export function errorTexts(error: unknown, depth = 0): string[] {
  if (depth > 5 || error === null || error === undefined) return [];
  if (typeof error !== 'object') return [String(error)];
  const texts: string[] = [];
  const record = error as Record<string, unknown>;
  for (const field of ['message', 'stack', 'name', 'detail', 'hint', 'sql', 'query']) {
    const value = record[field];
    if (typeof value === 'string') texts.push(value);
  }
  for (const value of Object.values(record)) if (typeof value === 'string') texts.push(value);
  try {
    texts.push(String(error));
  } catch {
    // an object whose toString throws shows nothing that way
  }
  if (depth === 0) {
    try {
      texts.push(inspect(error, { depth: 8 }));
    } catch {
      // inspect never throws on errors; an odd object is checked through its fields
    }
  }
  texts.push(...errorTexts(record.cause, depth + 1));
  if (Array.isArray(record.errors)) for (const inner of record.errors) texts.push(...errorTexts(inner, depth + 1));
  return texts;
}

/**
 * Where `text` shows LEAK_WINDOW or more consecutive bytes of one of `keys`: written as
 * hex (any case, `\x`/`0x` prefixes, spaces, colons or commas between bytes), base64
 * (standard or URL-safe, at any alignment), decimal lists (`1,2,3` as join and inspect
 * print them) or raw (the bytes as Latin-1 or UTF-8 characters). Undefined when none.
 */
export function keyBytesIn(text: string, keys: readonly Uint8Array[]): string | undefined {
  const windows = new Set<string>();
  for (const key of keys) {
    const hex = Buffer.from(key).toString('hex');
    for (let i = 0; i + LEAK_WINDOW <= key.length; i++) windows.add(hex.slice(i * 2, (i + LEAK_WINDOW) * 2));
  }
  const holds = (bytes: Uint8Array): boolean => {
    const hex = Buffer.from(bytes).toString('hex');
    for (let i = 0; i + LEAK_WINDOW <= bytes.length; i++) if (windows.has(hex.slice(i * 2, (i + LEAK_WINDOW) * 2))) return true;
    return false;
  };
  const unprefixed = text.replace(/\\x|0x/gi, ' ');
  for (const run of unprefixed.match(/(?:[0-9a-f]{2}[\s:,.-]?){12,}/gi) ?? []) {
    const digits = run.replace(/[^0-9a-f]/gi, '').toLowerCase();
    for (const start of [0, 1]) if (holds(Buffer.from(digits.slice(start, start + ((digits.length - start) & ~1)), 'hex'))) return `hex (${run.slice(0, 16)}…)`;
  }
  for (const run of text.match(/[A-Za-z0-9+/_-]{16,}/g) ?? []) {
    for (let start = 0; start < 4; start++) if (holds(Buffer.from(run.slice(start), 'base64'))) return `base64 (${run.slice(0, 16)}…)`;
  }
  for (const run of text.match(/\d{1,3}(?:\s*,\s*\d{1,3}){11,}/g) ?? []) {
    const values = run.split(',').map((n) => Number(n.trim()));
    if (values.every((n) => n <= 255) && holds(Uint8Array.from(values))) return `a decimal list (${run.slice(0, 16)}…)`;
  }
  if (holds(Buffer.from(text, 'latin1'))) return 'raw bytes (Latin-1)';
  if (holds(Buffer.from(text, 'utf8'))) return 'raw bytes (UTF-8)';
  return undefined;
}

/** keyBytesIn over every text of `error` (errorTexts): where the first leak is, or undefined. */
export function keyBytesInError(error: unknown, keys: readonly Uint8Array[]): string | undefined {
  for (const text of errorTexts(error)) {
    const found = keyBytesIn(text, keys);
    if (found !== undefined) return `${found} in ${JSON.stringify(text.slice(0, 120))}`;
  }
  return undefined;
}
