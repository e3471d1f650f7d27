/**
 * mtcute's update-state kv entries: `updates_pts`, `updates_qts`, `updates_date`,
 * `updates_seq` (int32, little endian) and `updates_channel:<channel id>` (uint32,
 * little endian), as its UpdatesStateService writes them.
 */
export const KV_PTS = 'updates_pts';
export const KV_QTS = 'updates_qts';
export const KV_DATE = 'updates_date';
export const KV_SEQ = 'updates_seq';
export const KV_CHANNEL_PREFIX = 'updates_channel:';
export const STATE_KEYS = [KV_PTS, KV_QTS, KV_DATE, KV_SEQ] as const;

export function writeInt32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return bytes;
}

export function writeUint32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

/** null when the entry is shorter than 4 bytes (not something mtcute wrote). */
export function readInt32(bytes: Uint8Array): number | null {
  return bytes.length < 4 ? null : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(0, true);
}

export function readUint32(bytes: Uint8Array): number | null {
  return bytes.length < 4 ? null : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
}

/** The channel id of an `updates_channel:<id>` key, or null for any other key. */
export function channelIdOfKey(key: string): bigint | null {
  if (!key.startsWith(KV_CHANNEL_PREFIX)) return null;
  const digits = key.slice(KV_CHANNEL_PREFIX.length);
  return /^[1-9][0-9]{0,18}$/.test(digits) ? BigInt(digits) : null;
}
