/**
 * A session read as it is written: the session (everything but its peers) at once, then
 * its peers in batches. A bot's file can hold millions of peers (~485 B each once read);
 * a caller writing batch by batch holds one batch, not the file. The whole-file API
 * (`parseSession`) collects the same stream.
 */
import type { KeyValueEntry, Peer, Session } from '@mtstore/core';
import { checkPeer } from './common.js';
import { ConvertError } from './errors.js';
import type { ConvertedRefMessage, ConvertedSession, SessionFormat } from './types.js';

/** Peers (and reference messages) per batch unless asked otherwise: the contract's batch size every adapter upserts in one statement. */
export const DEFAULT_BATCH_SIZE = 10_000;

/** What a format's reader has read before its peers, and how to read the rest (internal). */
export interface SessionSource {
  format: SessionFormat;
  layout: string;
  session: Session;
  kv: KeyValueEntry[];
  /** Rows that may become peers (each skipped row is one fewer). */
  peerRows: number;
  /** Grows as the rows are read. */
  warnings: string[];
  /** Peers oldest first (by the time the library last saw them, equal times in file order), one at a time. */
  peers(): Iterable<Peer>;
  refMessages(): Iterable<ConvertedRefMessage>;
}

/** A session being read. Read `peers()` and `refMessages()` once each, then `close()`. */
export interface SessionStream {
  readonly format: SessionFormat;
  readonly layout: string;
  /** Everything but the peers, kv entries and reference messages: checked, complete from the start. */
  readonly session: Session;
  /** Entries with no typed field in mtstore (mtcute's future salts, ...), for `Storage.kv`. */
  readonly kv: readonly KeyValueEntry[];
  /**
   * How many peers the input may hold: its peer rows, for a progress bar's total. Rows
   * skipped with a warning make the peers read fewer.
   */
  readonly peerRows: number;
  /** What was left out (as ConvertedSession.warnings): those of the session at once, those of peer rows as they are read. */
  readonly warnings: readonly string[];
  /**
   * The peers in batches of at most `batchSize` (default 10,000), oldest first, as
   * `parseSession` lists them: stored in this order, a stale row's username or phone goes
   * to the peer that took it since. Once per stream. A file stays open (and read-locked)
   * until `close()`.
   */
  peers(batchSize?: number): AsyncIterableIterator<Peer[]>;
  /** Reference messages (mtcute's message_refs) in source order, in batches. Once per stream. */
  refMessages(batchSize?: number): AsyncIterableIterator<ConvertedRefMessage[]>;
  /** Releases the file. Idempotent; the iterators end with it. */
  close(): void;
}

function checkBatchSize(size: number): void {
  // A ConvertError as every failure of this package (README, Errors): a RangeError here and a
  // plain Error for a second read were the two that isConvertError() said no to.
  if (!Number.isSafeInteger(size) || size < 1) throw new ConvertError('MTSTORE_CONVERT_INVALID', `batchSize must be a positive integer, got ${String(size)}.`);
}

/**
 * The stream of a format's reader. `wrap` turns what a read throws part-way (the driver's
 * "malformed" on a damaged page, ...) into the ConvertError the whole-file API throws;
 * `release` closes what the reader reads from.
 */
export function toStream(source: SessionSource, wrap: (error: unknown) => unknown, release: () => void): SessionStream {
  const taken = new Set<'peers' | 'refs'>();
  // Rows being read: a connection does not close under a statement still stepping.
  const reading = new Set<Iterator<unknown>>();
  let closed = false;
  const once = (what: 'peers' | 'refs'): void => {
    if (taken.has(what)) throw new ConvertError('MTSTORE_CONVERT_INVALID', `The ${what === 'peers' ? 'peers' : 'reference messages'} of a session stream are read once.`);
    taken.add(what);
  };
  async function* batches<T>(rows: () => Iterable<T>, size: number, check: (row: T, index: number) => void): AsyncIterableIterator<T[]> {
    let batch: T[] = [];
    let index = 0;
    let iterator: Iterator<T> | undefined;
    try {
      for (;;) {
        let next: IteratorResult<T>;
        try {
          if (closed) return;
          if (iterator === undefined) {
            iterator = rows()[Symbol.iterator]();
            reading.add(iterator);
          }
          next = iterator.next();
          if (!next.done) check(next.value, index++);
        } catch (error) {
          throw wrap(error);
        }
        if (next.done) break;
        batch.push(next.value);
        if (batch.length === size) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    } finally {
      // A consumer that stops early (a failed write) ends the statement under way.
      if (iterator !== undefined && reading.delete(iterator)) iterator.return?.();
    }
  }
  return {
    format: source.format,
    layout: source.layout,
    session: source.session,
    kv: source.kv,
    peerRows: source.peerRows,
    warnings: source.warnings,
    peers(batchSize = DEFAULT_BATCH_SIZE) {
      checkBatchSize(batchSize);
      once('peers');
      return batches(() => source.peers(), batchSize, (peer, index) => checkPeer(source.format, peer, index));
    },
    refMessages(batchSize = DEFAULT_BATCH_SIZE) {
      checkBatchSize(batchSize);
      once('refs');
      return batches(() => source.refMessages(), batchSize, () => {});
    },
    close() {
      if (closed) return;
      closed = true;
      for (const iterator of reading) iterator.return?.();
      reading.clear();
      release();
    },
  };
}

/** A session already read whole (a string, a GramJS folder) as a stream. */
export function streamConverted(converted: ConvertedSession): SessionStream {
  return toStream(
    {
      ...converted,
      warnings: [...converted.warnings],
      peerRows: converted.peers.length,
      peers: () => converted.peers,
      refMessages: () => converted.refMessages,
    },
    (error) => error,
    () => {},
  );
}

/** Everything a stream holds, read to the end, as `parseSession` returns it. Closes the stream. */
export async function readStream(stream: SessionStream): Promise<ConvertedSession> {
  try {
    const peers: Peer[] = [];
    for await (const batch of stream.peers()) for (const peer of batch) peers.push(peer);
    const refMessages: ConvertedRefMessage[] = [];
    for await (const batch of stream.refMessages()) for (const ref of batch) refMessages.push(ref);
    return { format: stream.format, layout: stream.layout, session: stream.session, peers, kv: [...stream.kv], refMessages, warnings: [...stream.warnings] };
  } finally {
    stream.close();
  }
}
