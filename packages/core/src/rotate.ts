/**
 * Re-sealing a whole backend: every named session's keys and kv values sealed again
 * with the first configured key (key rotation, or sealing a plaintext store at once
 * instead of key by key on the next writes). Batched, resumable, with progress.
 */
import { BaseStorage, type ResealReport } from './base.js';
import { InvalidArgumentError, toStorageError } from './errors.js';
import type { Storage } from './model.js';
import { assertKnownOptions, assertOptional, describeValue, optionNames } from './validate.js';

export interface RotateEncryptionOptions {
  /**
   * Opens session `name` of the backend with the new `encryption` configured: the new
   * key first, every key still in use after it. Each storage is closed when its
   * session is done.
   */
  open(name: string): Storage | Promise<Storage>;
  /** The sessions to re-seal. Default: `listNames()` of the backend. */
  names?: readonly string[] | undefined;
  /**
   * Resume: skip every name up to and including this one (in `listNames` order).
   * Pass the `resumeAfter` of the last progress report of an interrupted run.
   */
  after?: string | undefined;
  /** Sessions re-sealed concurrently, one batch at a time. Default 8, at most 256. */
  batchSize?: number | undefined;
  /** Called after each batch. */
  onProgress?: ((progress: RotateProgress) => void) | undefined;
}

/** Every option of rotateEncryption: any other name is refused (a misspelt `batchsize` was ignored). */
const ROTATE_OPTIONS = optionNames<RotateEncryptionOptions>()(['open', 'names', 'after', 'batchSize', 'onProgress']);

export interface RotateProgress {
  /** Sessions done so far in this run, and in total for this run. */
  done: number;
  total: number;
  /** Every name up to and including this one is done: pass it as `after` to resume. */
  resumeAfter: string;
  /** Keys and kv values re-sealed so far, and values already current. */
  keys: number;
  kvEntries: number;
  current: number;
  /** Sessions without a snapshot so far (their keys were listed with authKeys.entries(); see ResealReport.snapshot). */
  withoutSnapshot: string[];
}

export type RotateReport = Omit<RotateProgress, 'resumeAfter'> & { resumeAfter: string | null };

async function withStorage<T>(open: RotateEncryptionOptions['open'], name: string, work: (storage: Storage) => Promise<T>): Promise<T> {
  const storage = await open(name);
  try {
    return await work(storage);
  } finally {
    await storage.close();
  }
}

function resealOf(storage: Storage): () => Promise<ResealReport> {
  if (!(storage instanceof BaseStorage) && typeof (storage as { reseal?: unknown }).reseal !== 'function') {
    throw new InvalidArgumentError(`rotateEncryption: open() returned a storage that cannot re-seal (${storage.constructor.name} is not built on BaseStorage)`);
  }
  return () => (storage as unknown as { reseal(): Promise<ResealReport> }).reseal();
}

/**
 * Re-seals every session of a backend. Sessions are taken in name order, `batchSize`
 * at a time; a failure stops the run with the error (the last progress report says
 * where to resume, and running it again from the start is safe too: values already
 * sealed with the write key are skipped).
 */
export async function rotateEncryption(options: RotateEncryptionOptions): Promise<RotateReport> {
  const where = 'rotateEncryption';
  if (typeof options !== 'object' || options === null || typeof options.open !== 'function') {
    throw new InvalidArgumentError(`${where}: options must be an object with open(name), got ${describeValue(options)}`);
  }
  // Also refuses null for any option (docs/contract.md §8): `batchSize: null` ran batches of 8.
  assertKnownOptions(options, ROTATE_OPTIONS, where);
  // Checked before the first session is opened: one that is not a function threw after the first batch was re-sealed.
  assertOptional(options.onProgress, 'function', `${where}: onProgress`);
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 256) throw new InvalidArgumentError(`${where}: batchSize must be an integer from 1 to 256, got ${describeValue(batchSize)}`);
  if (options.after !== undefined && typeof options.after !== 'string') throw new InvalidArgumentError(`${where}: after must be a session name, got ${describeValue(options.after)}`);
  if (options.names !== undefined && (!Array.isArray(options.names) || options.names.some((n) => typeof n !== 'string'))) {
    throw new InvalidArgumentError(`${where}: names must be an array of session names`);
  }
  let names = options.names !== undefined ? [...options.names].sort() : await withStorage(options.open, 'default', (s) => s.listNames());
  const after = options.after;
  if (after !== undefined) names = names.filter((name) => name > after);
  const progress: RotateProgress = { done: 0, total: names.length, resumeAfter: after ?? '', keys: 0, kvEntries: 0, current: 0, withoutSnapshot: [] };
  for (let start = 0; start < names.length; start += batchSize) {
    const batch = names.slice(start, start + batchSize);
    const reports = await Promise.all(
      batch.map((name) =>
        withStorage(options.open, name, (storage) => resealOf(storage)()).catch((error: unknown) => {
          throw toStorageError(error, `${where}(${JSON.stringify(name)})`);
        }),
      ),
    );
    for (const report of reports) {
      progress.keys += report.keys;
      progress.kvEntries += report.kvEntries;
      progress.current += report.current;
      if (!report.snapshot) progress.withoutSnapshot.push(report.name);
    }
    progress.done += batch.length;
    progress.resumeAfter = batch[batch.length - 1] as string;
    options.onProgress?.({ ...progress, withoutSnapshot: [...progress.withoutSnapshot] });
  }
  return { ...progress, resumeAfter: names.length === 0 ? (after ?? null) : progress.resumeAfter };
}
