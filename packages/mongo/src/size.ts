/**
 * MongoDB's document limit, checked before anything is sent. A session's snapshot and
 * keys are one document (codec.ts), and its channels' pts are fields of it: a bot in a
 * few hundred thousand channels reaches the limit (≈ 50 bytes of BSON per channel in the
 * document, ≈ 100 per channel in a `saveUpdateState` command, whose dotted paths repeat
 * the channel's field name three times). Without this check such a write failed with
 * whatever the driver or server said (a RangeError of the driver's 17 MiB serialisation
 * buffer, or MongoDB's BSONObjectTooLarge), reported as StorageUnavailableError as if a
 * retry could help. kv entries, peers and reference messages have a document each, far
 * below the limit (core caps kv values and a peer's `complete` at 64 KiB).
 */
import { BSON } from 'mongodb';
import { InvalidArgumentError } from '@mtstore/core';

/**
 * MongoDB's `maxBsonObjectSize`. FerretDB 1.x reports the same in `hello` but does not
 * enforce it; it is enforced here on every server, so a session stored on FerretDB can
 * be moved to MongoDB and never reaches the driver's 17 MiB serialisation buffer.
 */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/**
 * Below this many channels a `saveUpdateState` command cannot reach the limit (at most
 * 3 × 46 bytes a channel: a 36-character dotted path with a 20-digit id, type, NUL and
 * an 8-byte value), so the hot path skips sizing it.
 */
export const UNSIZED_CHANNELS = 10_000;

/**
 * Throws InvalidArgumentError naming the limit and the size when `document` (a stored
 * document or an update command's operators) is larger than MongoDB accepts. Sizing
 * walks the document without serialising it (a 400,000-channel snapshot: ≈ 60 ms).
 */
export function assertDocumentSize(document: object, what: string, channels: number, where: string): void {
  const size = BSON.calculateObjectSize(document as BSON.Document);
  if (size <= MAX_DOCUMENT_BYTES) return;
  throw new InvalidArgumentError(
    `${where}: ${what} would be ${size} bytes of BSON (${channels} channels), over MongoDB's document limit of ${MAX_DOCUMENT_BYTES} bytes (16 MiB); nothing was written`,
  );
}
