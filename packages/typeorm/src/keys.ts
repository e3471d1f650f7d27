/**
 * Auth keys as bound parameters. TypeORM's query logging (`logging: true`, or
 * `['query']`, `['error']`) prints every statement's parameters: through
 * JSON.stringify, or — when that fails on a bigint, as it does for ours — through
 * String(). A key passed as a plain Buffer would end up in the application's logs.
 *
 * So a key is bound as a Buffer view (no copy) whose JSON, inspect and default
 * String() forms are a placeholder. Drivers still read the bytes: pg and better-sqlite3
 * take any Buffer/Uint8Array as binary, mysql2 calls `toString('hex')`, which is kept.
 */
import { inspect } from 'node:util';

const REDACTED = '[redacted auth key]';

const redactedBuffer: object = Object.create(Buffer.prototype, {
  toJSON: { value: () => REDACTED },
  toString: {
    value(this: Buffer, ...args: Parameters<Buffer['toString']>): string {
      return args[0] === undefined ? REDACTED : Buffer.prototype.toString.apply(this, args);
    },
  },
  toLocaleString: { value: () => REDACTED },
  [inspect.custom]: { value: () => REDACTED },
});

/** The key's bytes for a statement, safe to log. */
export function keyParam(key: Uint8Array): Buffer {
  const buffer = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  Object.setPrototypeOf(buffer, redactedBuffer);
  return buffer;
}
