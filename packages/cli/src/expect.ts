/**
 * The jest-style matchers the conformance kit asks for (its `Expect`), so `mtstore
 * check` runs the kit without a test runner. Equality follows vitest's `toEqual`:
 * recursive, properties holding undefined count as absent.
 */
import { inspect } from 'node:util';
import type { Assertion, Expect } from '@mtstore/conformance';

export class AssertionFailure extends Error {
  override name = 'AssertionFailure';
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((v, i) => deepEqual(v, (b as unknown[])[i]));
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Map || a instanceof Set) return deepEqual([...(a as Map<unknown, unknown>)], [...(b as Map<unknown, unknown>)]);
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const key of keys) if (!deepEqual(ra[key], rb[key])) return false;
  return true;
}

const show = (value: unknown) => inspect(value, { depth: 4, maxArrayLength: 8, maxStringLength: 80, breakLength: Infinity });

function assertion(actual: unknown, message: string | undefined, negated: boolean): Assertion {
  const check = (pass: boolean, what: string) => {
    if (pass === negated) throw new AssertionFailure(`${message ? `${message}: ` : ''}expected ${show(actual)} ${negated ? 'not ' : ''}${what}`);
  };
  return {
    toBe: (expected) => check(Object.is(actual, expected), `to be ${show(expected)}`),
    toEqual: (expected) => check(deepEqual(actual, expected), `to equal ${show(expected)}`),
    toBeNull: () => check(actual === null, 'to be null'),
    toBeUndefined: () => check(actual === undefined, 'to be undefined'),
    toHaveLength: (length) => check((actual as { length?: unknown } | null)?.length === length, `to have length ${length}`),
    toContain: (item) =>
      check(typeof actual === 'string' ? actual.includes(String(item)) : Array.isArray(actual) && actual.includes(item), `to contain ${show(item)}`),
    toContainEqual: (item) => check(Array.isArray(actual) && actual.some((v) => deepEqual(v, item)), `to contain an item equal to ${show(item)}`),
    toBeGreaterThan: (value) => check(typeof actual === 'number' && actual > value, `to be greater than ${value}`),
    get not() {
      return assertion(actual, message, !negated);
    },
  };
}

export const expectImpl: Expect = (actual, message) => assertion(actual, message, false);
