import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  CorruptDataError,
  InvalidArgumentError,
  isStorageError,
  MigrationError,
  NotFoundError,
  StorageClosedError,
  StorageUnavailableError,
  toStorageError,
  type StorageErrorCode,
} from '../src/index.js';

describe('errors', () => {
  it('every error has a stable code and its class name', () => {
    const all = [
      [new InvalidArgumentError('x'), 'MTSTORE_INVALID_ARGUMENT'],
      [new StorageClosedError('x'), 'MTSTORE_STORAGE_CLOSED'],
      [new CorruptDataError('x'), 'MTSTORE_CORRUPT_DATA'],
      [new NotFoundError('x'), 'MTSTORE_NOT_FOUND'],
      [new StorageUnavailableError('x'), 'MTSTORE_STORAGE_UNAVAILABLE'],
      [new MigrationError('x'), 'MTSTORE_MIGRATION'],
    ] as const;
    for (const [error, code] of all) {
      expect(error.code).toBe(code);
      expect(error.name).toBe(error.constructor.name);
      expect(isStorageError(error)).toBe(true);
    }
  });

  it('isStorageError recognizes an error from another copy of core by its code', () => {
    const foreign = Object.assign(new Error('x'), { code: 'MTSTORE_NOT_FOUND' });
    expect(isStorageError(foreign)).toBe(true);
    expect(isStorageError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(false);
  });

  it('every code of another copy is a StorageError; names an object has by inheritance are not codes', () => {
    const codes = [
      'MTSTORE_INVALID_ARGUMENT',
      'MTSTORE_STORAGE_CLOSED',
      'MTSTORE_CORRUPT_DATA',
      'MTSTORE_NOT_FOUND',
      'MTSTORE_STORAGE_UNAVAILABLE',
      'MTSTORE_MIGRATION',
      'MTSTORE_ADAPTER_UNAVAILABLE',
      'MTSTORE_ENCRYPTION',
      'MTSTORE_LEASE_HELD',
      'MTSTORE_LEASE_LOST',
    ] satisfies StorageErrorCode[];
    for (const code of codes) expect(isStorageError(Object.assign(new Error('x'), { code }))).toBe(true);
    for (const code of ['toString', 'constructor', 'hasOwnProperty', '__proto__', 'mtstore_not_found']) {
      expect(isStorageError(Object.assign(new Error('x'), { code }))).toBe(false);
    }
  });

  it('a driver error becomes StorageUnavailableError naming the operation, keeping a sanitized cause', () => {
    const key = Buffer.alloc(256, 0xcd);
    const driverError = Object.assign(new Error('Connection terminated unexpectedly'), {
      code: 'ECONNRESET',
      parameters: [key],
      sql: `insert into t values (x'${key.toString('hex')}')`,
      detail: `Key (k)=(\\x${key.toString('hex')}) already exists.`,
    });
    const error = toStorageError(driverError, 'PostgresStorage.save("bot")');
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect(error.message).toBe('PostgresStorage.save("bot") failed: Connection terminated unexpectedly');
    const cause = error.cause as Error & { code?: string };
    expect(cause.message).toBe('Connection terminated unexpectedly');
    expect(cause.code).toBe('ECONNRESET');
    const printed = inspect(error, { depth: 10 });
    expect(printed).not.toContain('cdcdcdcd');
    expect(printed).not.toContain('205, 205');
  });

  it('mtstore errors pass through toStorageError unchanged', () => {
    const original = new NotFoundError('gone');
    expect(toStorageError(original, 'x')).toBe(original);
  });
});
