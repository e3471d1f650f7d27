/**
 * Every byte a MemoryStore holds, for the kit's encryption traits: walks the store's
 * maps, arrays and objects and concatenates every byte array and string it reaches.
 */
import type { MemoryStore } from '../src/index.js';

export function dumpStore(store: MemoryStore): Uint8Array {
  const parts: Uint8Array[] = [];
  const seen = new Set<unknown>();
  const walk = (value: unknown): void => {
    if (value instanceof Uint8Array) parts.push(Uint8Array.from(value));
    else if (typeof value === 'string') parts.push(Buffer.from(value));
    else if (typeof value !== 'object' || value === null || seen.has(value)) return;
    else {
      seen.add(value);
      if (value instanceof Map) for (const [k, v] of value) (walk(k), walk(v));
      else if (value instanceof Set || Array.isArray(value)) for (const v of value) walk(v);
      else for (const v of Object.values(value)) walk(v);
    }
  };
  walk(store);
  return Buffer.concat(parts);
}
