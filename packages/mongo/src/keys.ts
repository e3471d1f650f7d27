/**
 * Auth keys of one session, as fields of its per-name document:
 * `keys.dc<id>.main.authKey`, `keys.dc<id>.main.temp.s<index>: { key, expiresAt }`
 * (`media` for the media-only entry, written only by `save`). Each write is one
 * `updateOne` with a `$set` or `$unset` of one dotted path, upserting the document so
 * keys need no snapshot; it touches no other key, so writers of different keys never
 * lose each other's writes (on FerretDB 1.x, whose update operators are a
 * read-modify-write, under the session's lease).
 */
import type { AuthKeyEntry, AuthKeyRepository, TempAuthKey } from '@mtstore/core';
import { binary, bytes, dcKeysPath, decodeKeyEntries, decodeTemp, entryKeysPath, isRecord, READ, tempSlot } from './codec.js';
import { guarded, upsertRetry, type Scope } from './context.js';
import { isDuplicateKey } from './lock.js';

/** The value at a dotted path of a document read with that path projected. */
function at(doc: unknown, path: string): unknown {
  let value = doc;
  for (const part of path.split('.')) value = isRecord(value) ? value[part] : undefined;
  return value;
}

export class MongoAuthKeys implements AuthKeyRepository {
  constructor(private readonly scope: Scope) {}

  /** The value at `path` of the session document, as `decode` makes it: one call (scope.run). */
  #read<T>(path: string, decode: (value: unknown) => T): Promise<T> {
    return this.scope.run(async (c) => {
      const doc = await c.sessions.findOne({ _id: this.scope.name }, { ...READ, projection: { [path]: 1 } });
      return decode(at(doc, path));
    });
  }

  /** One call (scope.run). */
  #write(operation: string, update: Record<string, Record<string, unknown>>, upsert: boolean): Promise<void> {
    return this.scope.run(async (c) => {
      await guarded(c, this.scope, operation, () => upsertRetry(() => c.sessions.updateOne({ _id: this.scope.name }, update, { upsert }), isDuplicateKey));
    });
  }

  get(dcId: number): Promise<Uint8Array | null> {
    return this.#read(`${entryKeysPath(dcId, false)}.authKey`, (value) => bytes(value) ?? null);
  }

  set(dcId: number, key: Uint8Array | null): Promise<void> {
    const path = `${entryKeysPath(dcId, false)}.authKey`;
    if (key === null) return this.#write('authKeys.delete', { $unset: { [path]: '' } }, false);
    return this.#write('authKeys.set', { $set: { [path]: binary(key) } }, true);
  }

  getTemp(dcId: number, index: number): Promise<TempAuthKey | null> {
    const path = `${entryKeysPath(dcId, false)}.temp.${tempSlot(index)}`;
    return this.#read(path, (value) => (value === undefined ? null : decodeTemp(value, index, `${this.scope.label}: ${path}`)));
  }

  setTemp(dcId: number, index: number, temp: TempAuthKey | null): Promise<void> {
    const path = `${entryKeysPath(dcId, false)}.temp.${tempSlot(index)}`;
    if (temp === null) return this.#write('authKeys.deleteTemp', { $unset: { [path]: '' } }, false);
    return this.#write('authKeys.setTemp', { $set: { [path]: { key: binary(temp.key), expiresAt: temp.expiresAt } } }, true);
  }

  deleteByDc(dcId: number): Promise<void> {
    return this.#write('authKeys.deleteByDc', { $unset: { [dcKeysPath(dcId)]: '' } }, false);
  }

  /** One `findOne` of the `keys` field. */
  entries(): Promise<AuthKeyEntry[]> {
    return this.#read('keys', (value) => decodeKeyEntries(value, this.scope.label));
  }

  /** One `updateOne` that `$unset`s `keys`: the snapshot, if any, stays. */
  clear(): Promise<void> {
    return this.#write('authKeys.clear', { $unset: { keys: '' } }, false);
  }
}
