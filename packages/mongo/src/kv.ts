/**
 * kv entries of one session: one document per entry in `<prefix>kv`,
 * `{ _id: '<session>/<key>', session, key, value: Binary }`. Not a field map in the
 * session document because values go up to 64 KiB: a few hundred entries would reach
 * MongoDB's 16 MB document limit, every `load()` would read them all, and on FerretDB
 * 1.x (non-atomic update operators) each `kv.set` would need the session's lease. A
 * document per entry makes `get` an `_id` lookup and `set` one replace-upsert, atomic
 * everywhere; writers of different keys touch different documents. Session names
 * contain no `/`, so `<session>/` prefixes cannot collide.
 */
import type { KeyValueEntry, KeyValueRepository } from '@mtstore/core';
import { binary, bytes, READ } from './codec.js';
import { fenced, upsertRetry, type Scope } from './context.js';
import { isDuplicateKey } from './lock.js';

export const kvDocumentId = (session: string, key: string): string => `${session}/${key}`;

export class MongoKeyValues implements KeyValueRepository {
  constructor(private readonly scope: Scope) {}

  get(key: string): Promise<Uint8Array | null> {
    return this.scope.run(async (c) => {
      const doc = await c.kv.findOne({ _id: kvDocumentId(this.scope.name, key) }, READ);
      return doc === null ? null : (bytes(doc.value) ?? null);
    });
  }

  set(key: string, value: Uint8Array | null): Promise<void> {
    return this.scope.run(async (c) => {
      const _id = kvDocumentId(this.scope.name, key);
      const write: () => Promise<unknown> =
        value === null
          ? () => c.kv.deleteOne({ _id })
          : () => upsertRetry(() => c.kv.replaceOne({ _id }, { session: this.scope.name, key, value: binary(value) }, { upsert: true }), isDuplicateKey);
      await fenced(c, this.scope, value === null ? 'kv.delete' : 'kv.set', write);
    });
  }

  entries(): Promise<KeyValueEntry[]> {
    return this.scope.run(async (c) => {
      const docs = await c.kv.find({ session: this.scope.name }, READ).toArray();
      // Sorted here: JS string order (UTF-16 units) is the contract's; keys are ASCII anyway.
      return docs
        .map((doc) => ({ key: doc.key as string, value: bytes(doc.value) as Uint8Array }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    });
  }

  clear(): Promise<void> {
    return this.scope.run(async (c) => {
      await fenced(c, this.scope, 'kv.clear', () => c.kv.deleteMany({ session: this.scope.name }));
    });
  }
}
