/**
 * Schema v1 → v2 for one session document, without loss. v1 kept the keys inside
 * the DC entries (`dcs[i].authKey`, `dcs[i].tempAuthKeys: [{ index, key, expiresAt }]`),
 * one `user.username` and `version: 1`; v2 keeps the DC entries address-only, the keys
 * in `keys.dc<id>.<main|media>` and `user.usernames`. Everything else is kept as
 * stored (unknown fields included), bytes are moved as the BSON binary they are.
 */
import type { Document } from 'mongodb';
import { tempSlot } from './codec.js';

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function upgradeV1SessionDocument(v1: Document): Document {
  const { version: _version, dcs, user, ...rest } = v1;
  const doc: Document = { ...rest };
  if (Array.isArray(dcs)) {
    const keys: Record<string, Record<string, Document>> = {};
    doc.dcs = dcs.map((dc: unknown) => {
      if (!isRecord(dc)) return dc; // left for the decoder to report
      const { authKey, tempAuthKeys, ...address } = dc;
      const entry: Document = {};
      if (authKey !== undefined) entry.authKey = authKey;
      if (Array.isArray(tempAuthKeys) && tempAuthKeys.length > 0) {
        entry.temp = {};
        for (const t of tempAuthKeys) {
          if (isRecord(t)) entry.temp[tempSlot(Number(t.index))] = { key: t.key, expiresAt: t.expiresAt };
        }
      }
      if (Object.keys(entry).length > 0) {
        const field = `dc${String(address.id)}`;
        keys[field] ??= {};
        (keys[field] as Document)[address.mediaOnly === true ? 'media' : 'main'] = entry;
      }
      return address;
    });
    if (Object.keys(keys).length > 0) doc.keys = keys;
  } else if (dcs !== undefined) {
    doc.dcs = dcs;
  }
  if (isRecord(user)) {
    const { username, ...kept } = user;
    doc.user = username === undefined ? kept : { ...kept, usernames: [username] };
  } else if (user !== undefined) {
    doc.user = user;
  }
  return doc;
}
