/**
 * Fresh copies of short byte strings that are not secret (a peer's TL bytes), cut out
 * of shared pools the way Node's `Buffer.allocUnsafe` cuts small Buffers out of its
 * pool.
 *
 * Why: V8 keeps a typed array of at most 64 bytes inside its heap, where allocating it
 * is a pointer bump; a longer one gets a backing store outside the heap (malloc,
 * registration with the collector, external-memory accounting that brings collections
 * forward). A peer's TL bytes as clients store them (a serialized `user`) are ~100–300
 * bytes, so a lookup that copied them with `slice()` spent more on that one
 * allocation (~0.35–1.1 µs on this project's 2-core box) than on everything else it
 * did. A view into a pool costs one small object and the copy (~70 ns at 120 bytes).
 *
 * What a caller sees: each copy is its own bytes (changing it changes nothing else),
 * a plain `Uint8Array`, but its `byteOffset` may be non-zero and its `buffer` is the
 * pool, which holds other copies' bytes too (as a pooled Node Buffer's does) and stays
 * alive while any copy cut from it does. So only bytes every holder of a copy may see
 * go here: peers' TL bytes, never auth keys or other secrets (those are copied into
 * buffers of their own, or of their own session: copy.ts `KeyCopier`).
 */

import { bytesLength } from './validate.js';

/** Bytes per pool (Node's Buffer.poolSize). */
const POOL_SIZE = 8192;
/** Longer copies get their own buffer: a pool holds at least two (Node's rule too). */
const MAX_POOLED = POOL_SIZE >>> 1;
/** V8's `typed_array_max_size_in_heap`: a copy this short costs least as a `slice()` inside the heap. */
const MAX_IN_HEAP = 64;

let pool: ArrayBuffer | undefined;
/** Views of the whole pool, made once per pool: a copy into it then creates no view but its own. */
let poolBytes = new Uint8Array(0);
let used = 0;

/**
 * A fresh plain `Uint8Array` holding `source[start, end)`: `slice()` when short (in
 * V8's heap) or long, a view into a shared pool in between (see above). `source` may
 * be any Uint8Array, a Buffer too (Buffer's own `slice` would share its memory).
 */
export function copyOutBytes(source: Uint8Array, start = 0, end = source.length): Uint8Array {
  const length = end - start;
  if (length <= MAX_IN_HEAP || length > MAX_POOLED) {
    // Uint8Array.prototype.slice makes an object of the source's species: a plain
    // source gives a plain copy; any other (a Buffer) is copied by the constructor.
    return source.constructor === Uint8Array ? source.slice(start, end) : new Uint8Array(source.subarray(start, end));
  }
  const at = take(length);
  poolBytes.set(start === 0 && end === source.length ? source : source.subarray(start, end), at);
  return new Uint8Array(pool as ArrayBuffer, at, length);
}

/**
 * copyOutBytes for bytes a caller passed in (a peer's `complete`): the length is read
 * from the typed array's internals (bytesLength) and the bytes are copied by the
 * intrinsics (`new Uint8Array(source)`, `%TypedArray%.prototype.set`), so a subclass's
 * overridden `length`, `constructor` or `subarray` plays no part. `source` must be a
 * real Uint8Array (bytesLength >= 0: validated); anything else is returned as is.
 */
export function copyInBytes(source: Uint8Array): Uint8Array {
  const length = bytesLength(source);
  if (length < 0) return source;
  if (length <= MAX_IN_HEAP || length > MAX_POOLED) return new Uint8Array(source);
  const at = take(length);
  poolBytes.set(source, at);
  return new Uint8Array(pool as ArrayBuffer, at, length);
}

/**
 * copyOutBytes of bytes `[start, end)` of an ArrayBuffer: for a caller that keeps its
 * bytes' ArrayBuffer at hand. The pooled copy reads them through a view made with
 * `new Uint8Array(buffer, start, length)`, not a `subarray()` of a Uint8Array, which
 * looks up the source's species and then makes the same view (callgrind, a memory
 * lookup by id: ~156 instructions of TypedArrayPrototypeSubArray a lookup).
 */
export function copyOutOf(buffer: ArrayBuffer, start: number, end: number): Uint8Array {
  const length = end - start;
  if (length <= MAX_IN_HEAP || length > MAX_POOLED) return new Uint8Array(buffer, start, length).slice();
  const at = take(length);
  poolBytes.set(new Uint8Array(buffer, start, length), at);
  return new Uint8Array(pool as ArrayBuffer, at, length);
}

/** Reserves `length` bytes of the pool (a new pool when they do not fit): returns where they start. */
function take(length: number): number {
  if (pool === undefined || used + length > POOL_SIZE) {
    pool = new ArrayBuffer(POOL_SIZE);
    poolBytes = new Uint8Array(pool);
    used = 0;
  }
  const at = used;
  // Each copy starts 8-aligned (as Node's pool does): a reader may view it as wider integers.
  used = (used + length + 7) & ~7;
  return at;
}
