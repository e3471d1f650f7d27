/**
 * Session events between processes through `<prefix>events`: one document per event,
 * `{ _id: <sequence number>, event: <core's wire JSON>, at: <Date> }`.
 *
 * Publishing reads the highest sequence number and inserts the next ones; a duplicate
 * `_id` means another publisher took it, so it tries the next (a duplicate in another
 * unique index, one an operator added, fails the publish: numberTaken). An insert is
 * atomic on every MongoDB-wire server (FerretDB 1.x, whose `$inc` is not, included), so the
 * numbers are unique and gap-free, and a number is only taken once every lower one is
 * stored. One bus inserts one batch at a time, in the order `publish` was called: the
 * publishes made while an insert is in flight go together in the next, one ordered
 * insert (a subject publishes the events of destroyAllSessions and expireSessions
 * together). Its events get increasing numbers, so every subscriber hears them in that
 * order.
 *
 * Subscribers follow the log in one of two ways:
 * - a change stream on the collection where the server has them (replica sets,
 *   sharded clusters): pushed, no polling;
 * - otherwise (standalone MongoDB, FerretDB 1.x) a poller per bus instance reading
 *   the events after the last one it delivered every `pollInterval` ms: latency is
 *   one poll interval plus one query.
 * `mode: 'auto'` (the default) tries a change stream and falls back to polling when
 * the server refuses it. The log is pruned by publishers to the newest `maxEvents`
 * events no older than `maxAge` seconds (the newest event is always kept: it carries
 * the sequence; so are those of the last PRUNE_GUARD_MS, whose numbers a publisher may
 * still be about to take). Delivery to other processes is at-most-once, as the contract says:
 * a subscriber that falls behind by more than the retention misses events.
 *
 * Subscribers hear `lost` when a poll or the change stream fails, or has not answered
 * within the stall bound (STALL_MS: a server that holds the connection open and says
 * nothing), when the poller skips a hole in the sequence, finds the log emptied or
 * replaced below its position, or reads a publisher's `lost` mark (append: its events
 * may have gone below every reader), and `live` after the next poll or stream read that
 * succeeds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoBulkWriteError, type ChangeStream, type ChangeStreamInsertDocument, type Collection } from 'mongodb';
import {
  assertSessionEvent,
  BusSubscriptions,
  decodeSessionEvent,
  describeValue,
  encodeSessionEvent,
  int64FromStorage,
  InvalidArgumentError,
  Once,
  StorageClosedError,
  StorageUnavailableError,
  toStorageError,
  type SessionEvent,
  type SessionEventBus,
  type SessionEventSubscribeOptions,
  assertSubscribeOptions,
  assertTimerMs,
  assertOptional,
  optionNames,
  withKnownOptions,
} from '@mtstore/core';
import { openConnection, type Connection, type MongoConnectionOptions } from './connection.js';
import { collectionNames, prepare } from './schema.js';

export interface MongoSessionEventBusOptions extends MongoConnectionOptions {
  /** `auto` (default): a change stream where the server supports one, else polling. */
  mode?: 'auto' | 'changeStream' | 'poll' | undefined;
  /** Polling: ms between reads of the events collection. Default 100; 1 to 2^31 - 1. */
  pollInterval?: number | undefined;
  /** Retention: keep at most this many events (those of the last 30 s all). Default 1,000. */
  maxEvents?: number | undefined;
  /** Retention: drop events older than this many seconds (30 at least). Default 60. */
  maxAge?: number | undefined;
  /** Told when polling or the change stream fails; it keeps retrying. Default: console.error. */
  onError?: ((error: unknown) => void) | undefined;
}

export interface EventDocument {
  _id: bigint;
  /** The event (core's wire JSON); absent on a `lost` mark. */
  event?: string;
  at: Date;
  /**
   * A mark, no event: a publisher stalled between its read of the head and its insert
   * may have stored its events under numbers every reader had passed (append). Readers
   * say `lost` and `live` (an older reader reports it undecodable and skips it).
   */
  lost?: true;
}

/** A subscription's position in the log (BusSubscriptions data). */
interface Position {
  /** Events up to this sequence number happened before it subscribed. */
  after: bigint;
}

/** A publish waiting for its insert. */
interface WaitingPublish {
  text: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Publishes inserted in one command at most. */
const PUBLISH_BATCH = 500;
/** Prune on every this-many-th sequence number. */
const PRUNE_EVERY = 64n;
/** Events per poll query; a full batch is followed by another query at once. */
const POLL_BATCH = 500;
/**
 * Events younger than this (by their `at`) are never pruned. A publisher numbers its
 * events from the head it read, and an insert succeeds wherever the number is free: had
 * the events above that head been published and pruned meanwhile (more than maxEvents of
 * them, or older than maxAge), their numbers were free again, and its events were stored
 * below every reader's position, heard by nobody and no `lost` said. Pruning only what
 * was published over PRUNE_GUARD_MS ago, a number can come free again only for a
 * publisher whose head read and insert were that far apart: longer than a client mtstore
 * makes waits for a server (5 s) and a pooled connection (10 s), and than a stall of
 * the process short of an outage.
 */
const PRUNE_GUARD_MS = 30_000;
/**
 * Internal, for this package's tests only (not exported by the package): the guard
 * pruning and append use, PRUNE_GUARD_MS unless a test shortens it to reach, in a
 * second, what takes a publisher stalled over 30 s.
 */
export const busInternals = { pruneGuardMs: PRUNE_GUARD_MS };
/**
 * A read of the log (a poll, a change stream's next) that has not answered within
 * this long, or within the poll interval if longer, says `lost` until one answers: a
 * server that keeps the connection open and answers nothing (paused, a proxy holding
 * the traffic) fails nothing for as long as socketTimeoutMS (60 s) and the driver's
 * retry, or for ever where the driver's monitor still gets answers. A healthy read takes
 * milliseconds; 5 s is as long as a client mtstore makes waits for a server
 * (serverSelectionTimeoutMS, connectTimeoutMS), so a slow server under load is not
 * taken as gone.
 */
const STALL_MS = 5_000;
/** How long a hole in the sequence is waited for before it is skipped (pruned, or not yet visible). */
const GAP_GRACE_MS = 1_000;
/** Error codes of servers without change streams: standalone, FerretDB (NotImplemented), unknown stage, unsupported. */
const NO_CHANGE_STREAMS = new Set([40573, 238, 40324, 115, 303]);

function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  // Number.isInteger converts nothing: it refuses every non-number (a typeof check before it refused nothing more).
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new InvalidArgumentError(`MongoSessionEventBus: ${name} must be a positive integer, got ${describeValue(value)}`);
  }
  return value as number;
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<MongoSessionEventBusOptions>()(['url', 'client', 'db', 'database', 'collectionPrefix', 'clientOptions', 'create', 'mode', 'pollInterval', 'maxEvents', 'maxAge', 'onError']);

/** A running reader of the log: stopped by `stop()`, delivers through `deliver`. */
interface Feed {
  stop(): Promise<void>;
}

export class MongoSessionEventBus implements SessionEventBus {
  readonly database: string;
  readonly collectionPrefix: string;
  readonly #connection: Connection;
  readonly #mode: 'auto' | 'changeStream' | 'poll';
  readonly #pollInterval: number;
  /** A read of the log unanswered this long says `lost` (STALL_MS). */
  readonly #stallMs: number;
  readonly #maxEvents: number;
  readonly #maxAgeMs: number;
  readonly #onError: (error: unknown) => void;
  /** Lost (isLost) from when a read of the log fails until one succeeds. */
  readonly #subscriptions = new BusSubscriptions<Position>('MongoSessionEventBus');
  /** The events collection once prepared; a failed attempt is retried by the next call. */
  readonly #events = new Once(() =>
    prepare(this.#connection, 'MongoSessionEventBus.connect').then(() =>
      this.#connection.db.collection<EventDocument>(collectionNames(this.#connection.prefix).events),
    ),
  );
  #feed: Promise<Feed> | undefined;
  /** Set once `auto` learned the server has no change streams. */
  #polling = false;
  #transport: 'changeStream' | 'poll' | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: MongoSessionEventBusOptions) {
    // Only undefined takes an option's default (as core's checks: heartbeatInterval,
    // onError): null is refused like any other value the bus cannot use.
    const given = withKnownOptions(options, OPTIONS, 'MongoSessionEventBus');
    const mode: unknown = given?.mode === undefined ? 'auto' : given.mode;
    if (mode !== 'auto' && mode !== 'changeStream' && mode !== 'poll') {
      throw new InvalidArgumentError(`MongoSessionEventBus: mode must be 'auto', 'changeStream' or 'poll', got ${describeValue(mode)}`);
    }
    this.#mode = mode;
    const pollInterval: unknown = options?.pollInterval === undefined ? 100 : options.pollInterval;
    assertTimerMs(pollInterval, 'MongoSessionEventBus: pollInterval');
    this.#pollInterval = pollInterval;
    this.#stallMs = Math.max(STALL_MS, pollInterval);
    this.#maxEvents = positiveInteger(options?.maxEvents, 'maxEvents', 1_000);
    this.#maxAgeMs = positiveInteger(options?.maxAge, 'maxAge', 60) * 1000;
    assertOptional(options?.onError, 'function', 'MongoSessionEventBus: onError');
    this.#onError = options?.onError ?? ((error) => console.error('MongoSessionEventBus: reading session events failed; retrying', error));
    this.#connection = openConnection(options, 'MongoSessionEventBus');
    this.database = this.#connection.db.databaseName;
    this.collectionPrefix = this.#connection.prefix;
  }

  /** How subscribers are fed: known once the first subscription is live. */
  get transport(): 'changeStream' | 'poll' | undefined {
    return this.#transport;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `MongoSessionEventBus { database: ${JSON.stringify(this.database)}, collectionPrefix: ${JSON.stringify(this.collectionPrefix)}, closed: ${this.#closing !== undefined} }`;
  }

  #collection(): Promise<Collection<EventDocument>> {
    return this.#events.run();
  }

  async publish(event: SessionEvent): Promise<void> {
    if (this.#closing) throw new StorageClosedError('MongoSessionEventBus.publish: the bus is closed');
    try {
      assertSessionEvent(event);
    } catch (error) {
      throw new InvalidArgumentError(`MongoSessionEventBus.publish: ${(error as Error).message}`);
    }
    const text = encodeSessionEvent(event);
    try {
      // Counted while in flight: close() lets it finish (Closing.track).
      await this.#connection.closing.track(
        new Promise<void>((resolve, reject) => {
          this.#waiting.push({ text, resolve, reject });
          if (!this.#pumping) void this.#pump();
        }),
      );
    } catch (error) {
      throw toStorageError(error, 'MongoSessionEventBus.publish');
    }
  }

  /** Publishes waiting for their insert, in call order. */
  #waiting: WaitingPublish[] = [];
  /** #pump is inserting: a publish made meanwhile waits for its next batch. */
  #pumping = false;

  /**
   * Inserts the waiting publishes, in call order, in batches of up to PUBLISH_BATCH in
   * one command each: the first publish goes at once, and those made while an insert is
   * in flight go together in the next (a subject publishes the events of
   * destroyAllSessions and expireSessions together: an insert per event cost a round
   * trip each, ~25 ms on FerretDB). One batch at a time: concurrent inserts would race
   * for sequence numbers, and a later publish could take the lower number, so a
   * subscriber would hear this bus's events out of order. A failed insert rejects the
   * publishes of its batch that were not stored; the next batch goes on.
   */
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, PUBLISH_BATCH);
        let stored = 0;
        try {
          const events = await this.#collection();
          const { first, last } = await append(
            events,
            batch.map((publish) => publish.text),
            () => (batch[stored++] as WaitingPublish).resolve(),
            // A slow insert's lost mark could not be stored: subscribers elsewhere may miss its events unwarned.
            (error) => {
              if (!this.#closing) this.#onError(error);
            },
          );
          // Retention is housekeeping: it never delays nor fails a publish. Pruned when the
          // batch's numbers reach a multiple of PRUNE_EVERY.
          if ((first - 1n) / PRUNE_EVERY !== last / PRUNE_EVERY) {
            this.#prune(events, last).catch((error: unknown) => {
              if (!this.#closing) this.#onError(error);
            });
          }
        } catch (error) {
          for (const publish of batch.slice(stored)) publish.reject(error);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Drops events beyond the retention, never `seq` itself (the newest carries the sequence on) nor one younger than PRUNE_GUARD_MS. */
  async #prune(events: Collection<EventDocument>, seq: bigint): Promise<void> {
    const floor = seq - BigInt(this.#maxEvents);
    const now = Date.now();
    await events.deleteMany({
      _id: { $lt: seq },
      at: { $lt: new Date(now - busInternals.pruneGuardMs) },
      $or: [{ _id: { $lte: floor } }, { at: { $lt: new Date(now - this.#maxAgeMs) } }],
    });
  }

  async subscribe(listener: (event: SessionEvent) => void, options?: SessionEventSubscribeOptions): Promise<() => Promise<void>> {
    if (this.#closing) throw new StorageClosedError('MongoSessionEventBus.subscribe: the bus is closed');
    if (typeof listener !== 'function') throw new InvalidArgumentError('MongoSessionEventBus.subscribe: listener must be a function');
    assertSubscribeOptions(options, 'MongoSessionEventBus');
    let remove: (() => boolean) | undefined;
    try {
      // Counted while in flight: close() lets it finish, then it ends below as closed while subscribing.
      await this.#connection.closing.track(
        (async () => {
          const events = await this.#collection();
          const position: Position = { after: await head(events) };
          remove = this.#join(events, listener, options, position);
          await this.#feed;
        })(),
      );
    } catch (error) {
      remove?.();
      throw toStorageError(error, 'MongoSessionEventBus.subscribe');
    }
    if (this.#closing) {
      // Closed while subscribing: leave no feed running behind the closed bus.
      remove?.();
      await this.#stop();
      throw new StorageClosedError('MongoSessionEventBus.subscribe: the bus was closed while subscribing');
    }
    const unsubscribe = remove as () => boolean;
    return async () => {
      if (!unsubscribe()) return;
      if (this.#subscriptions.size === 0) await this.#stop();
    };
  }

  /**
   * Adds the subscription and starts the feed (if not running), in one step, so that no
   * state is told between the two: a subscription joining a running feed that is lost
   * hears `lost` now (BusSubscriptions.add: it is as deaf as the others and hears `live`
   * with them); a new feed starts at the subscription's position, nothing missed, so a
   * lost state left by the feed stopped before is dropped (else the first read told
   * `live` to a subscriber that never heard `lost`).
   */
  #join(events: Collection<EventDocument>, listener: (event: SessionEvent) => void, options: SessionEventSubscribeOptions | undefined, position: Position): () => boolean {
    if (this.#closing) throw new StorageClosedError('MongoSessionEventBus.subscribe: the bus was closed while subscribing');
    const starting = this.#feed === undefined;
    if (starting) this.#subscriptions.forgetLost();
    const remove = this.#subscriptions.add(listener, options, position);
    if (starting) {
      const feed = this.#openFeed(events, position.after);
      feed.catch(() => {
        if (this.#feed === feed) this.#feed = undefined;
      });
      this.#feed = feed;
    }
    return remove;
  }

  async #openFeed(events: Collection<EventDocument>, from: bigint): Promise<Feed> {
    if (this.#mode === 'poll' || this.#polling) return this.#poll(events, from);
    try {
      const feed = await this.#watch(events, from);
      // Stryker disable next-line StringLiteral: untested, not equivalent: a change stream opened (FerretDB 1.x, the tests' server, has none)
      this.#transport = 'changeStream';
      return feed;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code !== 'number' || !NO_CHANGE_STREAMS.has(code)) throw error;
      if (this.#mode === 'changeStream') {
        throw new StorageUnavailableError(`MongoSessionEventBus: the server does not support change streams (mode 'changeStream'); use mode 'auto' or 'poll'`, { cause: error });
      }
      this.#polling = true;
      return this.#poll(events, from);
    }
  }

  async #stop(): Promise<void> {
    const feed = this.#feed;
    this.#feed = undefined;
    if (feed) await (await feed.catch(() => undefined))?.stop();
  }

  /** Hands one stored event to every subscriber that was there before it happened. */
  #deliver(seq: bigint, text: unknown): void {
    let event: SessionEvent;
    try {
      event = decodeSessionEvent(String(text));
    } catch (error) {
      this.#onError(error);
      return;
    }
    // One object for every subscriber: decodeSessionEvent's event is frozen, so no listener
    // can change what the next one hears (contract §7).
    this.#subscriptions.deliver(event, (position) => seq > position.after);
  }

  /** A read of the log failed: from now on events may be missed. */
  #deafen(): void {
    if (!this.#closing) this.#subscriptions.lost();
  }

  /** A read of the log succeeded: live again if it was lost. */
  #heard(): void {
    if (!this.#closing) this.#subscriptions.live();
  }

  /** Events were skipped: subscribers hear lost and live at once. */
  #missed(): void {
    if (this.#closing) return;
    this.#deafen();
    this.#heard();
  }

  /**
   * The log's numbers went back to `to` (emptied, dropped or restored from outside):
   * every subscriber hears what is numbered above it from now on, whatever position it
   * had in the log before.
   */
  #rewind(to: bigint): void {
    this.#subscriptions.forEach((position) => {
      if (position.after > to) position.after = to;
    });
  }

  /**
   * `read`, telling subscribers `lost` if it has not answered within #stallMs (and
   * onError why); the read itself goes on, and its answer says `live` as any read's
   * does. Judged after the I/O already waiting (setImmediate runs after the loop read
   * its sockets): an application that blocked the event loop past the bound must not
   * make an answer waiting unread look like a silent server.
   */
  async #unstalled<T>(read: Promise<T>, running: () => boolean): Promise<T> {
    let answered = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (answered || !running() || this.#closing) return;
        this.#deafen();
        this.#onError(new StorageUnavailableError(`MongoSessionEventBus: a read of the events collection has not answered for ${this.#stallMs} ms; events may be missed until one answers`));
      });
    }, this.#stallMs);
    try {
      return await read;
    } finally {
      answered = true;
      clearTimeout(timer);
    }
  }

  /**
   * Polls the log after `cursor`: in order, each event once, holes waited for
   * GAP_GRACE_MS. Each poll asks from the cursor's own event on: the newest event is
   * never pruned, so a log with nothing at or above the cursor was emptied, dropped or
   * replaced from outside, and its new numbers start below the cursor; without this the
   * poller heard nothing until they passed it.
   */
  #poll(events: Collection<EventDocument>, from: bigint): Feed {
    this.#transport = 'poll';
    let cursor = from;
    let running = true;
    let gapSince: number | undefined;
    const wake = new AbortController();
    const loop = (async () => {
      // A closed bus never polls, whatever raced its close.
      while (running && !this.#closing) {
        let full = false;
        try {
          const docs = await this.#unstalled(
            events.find({ _id: { $gte: cursor } }, { sort: { _id: 1 }, limit: POLL_BATCH, useBigInt64: true }).toArray(),
            () => running,
          );
          if (running) this.#heard();
          full = docs.length === POLL_BATCH;
          if (docs.length === 0 && cursor > 0n && running) {
            // Reset from outside: go on from its head now. What it held below that (new
            // events, or old ones restored) is skipped, and subscribers hear so.
            const to = await this.#unstalled(head(events), () => running);
            if (!running) continue;
            this.#rewind(to);
            cursor = to;
            gapSince = undefined;
            this.#missed();
            continue;
          }
          for (const doc of docs) {
            if (!running) break;
            const seq = int64FromStorage(doc._id, 'session event _id');
            if (seq === cursor) continue; // delivered before; read as proof the log still reaches it
            if (seq !== cursor + 1n) {
              gapSince ??= Date.now();
              if (Date.now() - gapSince < GAP_GRACE_MS) {
                full = false;
                break;
              }
              // Skipping the hole: whatever it held is missed.
              if (running) this.#missed();
            }
            gapSince = undefined;
            cursor = seq;
            if (doc.lost === true) {
              if (running) this.#missed();
            } else this.#deliver(seq, doc.event);
          }
        } catch (error) {
          if (running) {
            this.#deafen();
            this.#onError(error);
          }
        }
        if (running && !full) await sleep(this.#pollInterval, undefined, { signal: wake.signal }).catch(() => undefined);
      }
    })();
    return {
      stop: async () => {
        running = false;
        wake.abort();
        await loop;
      },
    };
  }

  /**
   * Opens a change stream on inserts and resolves once the server has accepted it.
   * (Untested here: FerretDB 1.x has no change streams.) A number at or below the last
   * one seen means the log was reset from outside (or a stalled publisher took a freed
   * number): subscribers hear `lost`, and from then on every event above it.
   */
  // Stryker disable all: untested, not equivalent: FerretDB 1.x, the only MongoDB-wire server the tests have, has no change streams, so none of these mutants can run
  async #watch(events: Collection<EventDocument>, from: bigint): Promise<Feed> {
    let running = true;
    let last = from;
    let stream: ChangeStream<EventDocument, ChangeStreamInsertDocument<EventDocument>> = events.watch([{ $match: { operationType: 'insert' } }]);
    const next = async () => {
      const change = await this.#unstalled(stream.tryNext(), () => running);
      if (running) this.#heard();
      if (!change || !running) return;
      const seq = int64FromStorage(change.fullDocument._id, 'session event _id');
      if (seq <= last) {
        this.#rewind(seq - 1n);
        this.#missed();
      }
      last = seq;
      if (change.fullDocument.lost === true) this.#missed();
      else this.#deliver(seq, change.fullDocument.event);
    };
    try {
      await next(); // the first call opens the cursor: live from here on
    } catch (error) {
      await stream.close().catch(() => undefined);
      throw error;
    }
    const loop = (async () => {
      while (running && !this.#closing) {
        try {
          await next();
        } catch (error) {
          if (!running) break;
          this.#deafen();
          this.#onError(error);
          // The driver already resumed what was resumable; reopen after the last event seen.
          const token = stream.resumeToken;
          await stream.close().catch(() => undefined);
          await sleep(1_000);
          stream = events.watch([{ $match: { operationType: 'insert' } }], token ? { startAfter: token } : {});
        }
      }
    })();
    return {
      stop: async () => {
        running = false;
        await stream.close().catch(() => undefined);
        await loop;
      },
    };
  }
  // Stryker restore all

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#subscriptions.clear();
      this.#connection.closing.begin();
      try {
        // Publishes and subscribes in flight finish first: closing the client would interrupt them.
        await this.#connection.closing.settled();
        // The feed's read in flight ends first (cut short on a server silent for CLOSE_GRACE_MS: connection.ts, Closing).
        await this.#stop();
      } finally {
        await this.#connection.closing.end();
      }
    })().catch((error: unknown) => {
      throw toStorageError(error, 'MongoSessionEventBus.close');
    });
    return this.#closing;
  }
}

/** The highest sequence number in the log, 0 when empty. */
async function head(events: Collection<EventDocument>): Promise<bigint> {
  const [last] = await events
    .find(
      {},
      {
        sort: { _id: -1 },
        limit: 1,
        // Stryker disable next-line ObjectLiteral,BooleanLiteral: equivalent: only `_id` is read (the projection saves bytes), and int64FromStorage takes the driver's number or Long as well as a bigint
        projection: { _id: 1 }, useBigInt64: true,
      },
    )
    .toArray();
  return last === undefined ? 0n : int64FromStorage(last._id, 'session event _id');
}

/** The lowest and highest sequence numbers one append stored its texts under. */
interface Appended {
  first: bigint;
  last: bigint;
}

/**
 * Stores `texts` (at least one) under the next free sequence numbers, in order, with one
 * ordered insert while no other publisher takes a number among them, and calls `stored()`
 * once per text stored, in order. A number another publisher took stops the ordered
 * insert there (the texts before it are stored): the rest go on from the next number, or
 * (after a few misses) from the current head. Any other failure throws, after the texts
 * stored before it were reported: a duplicate key in another unique index too, which no
 * number would get past (numberTaken).
 *
 * Numbers come free again when pruned, so an insert made long after the head it numbers
 * from was read (the process stalled, the insert held on the way) may store its events
 * below every reader's position, heard by nobody. Pruning spares what is younger than
 * the guard, so that needs an insert acknowledged over the guard after its head read;
 * one acknowledged over a third of it (margin for the `at` of another publisher's
 * event, set by its clock before its own insert) is checked: its numbers were fresh if
 * it met no other publisher's number and the head is still its last one (the newest
 * event is never pruned, so anything numbered above its first before its insert would
 * still be there). Otherwise a `lost` mark is appended at the head, above every reader,
 * and they say `lost` (its events may be missed, or heard: at-most-once either way).
 * Also when a failure stops the append after some texts were stored (an ordered insert
 * stored those before the document that failed): the mark, then the failure.
 *
 * The mark is best effort: if the check or the mark fails, `unmarked` is told why and
 * the append ends as it would have (resolves, or throws its own failure). The caller's
 * publishes are settled by what happened to their events: those stored resolve, those
 * not stored reject with the error that stopped them; a failed mark concerns what other
 * processes hear, not whether this publish was stored, so it goes to `unmarked`.
 */
export async function append(events: Collection<EventDocument>, texts: readonly string[], stored: () => void, unmarked: (error: unknown) => void): Promise<Appended> {
  let next = 0;
  /** When what this attempt's numbers are based on (a head read, a duplicate) came from the server. */
  let since = Date.now();
  let seq = (await head(events)) + 1n;
  let first: bigint | undefined;
  /** Another publisher's number met: this append cannot tell its numbers were fresh. */
  let raced = false;
  /** An insert acknowledged long after its numbers were chosen: check them. */
  let slow = false;
  for (let attempt = 1; ; attempt++) {
    const at = new Date();
    const documents = texts.slice(next).map((event, i): EventDocument => ({ _id: seq + BigInt(i), event, at }));
    let taken = documents.length;
    /** The insert's failure, and its write error if it was a duplicate key. */
    let refused: { error: unknown; duplicate: WriteFailure | undefined } | undefined;
    try {
      // Stryker disable next-line ObjectLiteral: equivalent: the driver's insertMany is ordered unless told otherwise (said here because append relies on it)
      await events.insertMany(documents, { ordered: true });
    } catch (error) {
      // An ordered insert stops at its first failure: the documents before it are stored.
      // A failure naming no document (a lost connection): none of this insert is known stored.
      const failed = firstWriteError(error);
      taken = failed?.index ?? 0;
      refused = { error, duplicate: failed?.code === DUPLICATE_KEY ? failed : undefined };
    }
    if (
      taken > 0 &&
      // Stryker disable next-line EqualityOperator: equivalent where `>=` becomes `>`: a stall of a third of the guard to the millisecond is told apart by no test and no outage (its `<` goes with it: the stalled-publisher tests kill it)
      Date.now() - since >= busInternals.pruneGuardMs / 3
    )
      slow = true;
    for (let i = 0; i < taken; i++) stored();
    if (taken > 0) first ??= seq;
    next += taken;
    // The last number this append stored, if this insert stored any (else an earlier one did, which met a duplicate: raced).
    const last = seq + BigInt(taken) - 1n;
    // Set when the insert failed for another reason than a number taken (any other failure,
    // a duplicate in another unique index, or the check of which it was failing): the append
    // ends with it. Only a number taken is retried: any other refusal would come back on
    // every number, and the publish would never settle.
    let failure: { error: unknown } | undefined;
    if (refused !== undefined) {
      const { error, duplicate } = refused;
      failure = await numberTaken(events, duplicate, last + 1n).then(
        (numberWasTaken) => (numberWasTaken ? undefined : { error }),
        (checkError: unknown) => ({ error: checkError }),
      );
      if (failure === undefined) raced = true;
    }
    if (failure !== undefined) {
      if (slow) await markIfStale(events, raced, last, unmarked);
      throw failure.error;
    }
    if (next === texts.length) {
      if (slow) await markIfStale(events, raced, last, unmarked);
      return { first: first as bigint, last };
    }
    // Another publisher took the number at `taken`: the next one, or the current head.
    since = Date.now();
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: the head read again on every retry (a read more each; every number above the head is one to try); its `false` goes with it (the four-numbers-taken test kills it)
    seq = attempt % 4 === 0 ? (await head(events)) + 1n : seq + BigInt(taken) + 1n;
  }
}

/**
 * After a slow insert (append): a `lost` mark unless its numbers were fresh (no other
 * publisher's number met, and `last`, its last stored, is still the head). Best effort:
 * a failure goes to `unmarked`, so the append ends as its inserts did.
 */
async function markIfStale(events: Collection<EventDocument>, raced: boolean, last: bigint, unmarked: (error: unknown) => void): Promise<void> {
  try {
    if (raced || (await head(events)) !== last) await markLost(events);
  } catch (error) {
    unmarked(error);
  }
}

/**
 * Appends a `lost` mark (EventDocument.lost) at the head of the log, above every reader's
 * position; a number another publisher took meanwhile, the next head. Any other failure,
 * a duplicate in another unique index included (on MongoDB one on `event` refuses a
 * second mark: both have none, indexed as null), is thrown. Each retry follows a number
 * found stored, above the head read before it: it ends unless other publishers keep
 * storing events.
 */
async function markLost(events: Collection<EventDocument>): Promise<void> {
  for (;;) {
    const seq = (await head(events)) + 1n;
    try {
      await events.insertOne({ _id: seq, at: new Date(), lost: true });
      return;
    } catch (error) {
      // Stryker disable next-line ConditionalExpression,OptionalChaining: equivalent where every failure counts as a duplicate (`true`): numberTaken() still asks the log whether the number is stored, and a number taken means the mark must go higher whatever the error; `?.` (the driver never rejects with null); its `false` goes with them (the mark-meets-a-taken-number test kills it)
      const duplicate = (error as { code?: unknown } | null)?.code === DUPLICATE_KEY ? (error as WriteFailure) : undefined;
      if (!(await numberTaken(events, duplicate, seq))) throw error;
    }
  }
}

/** MongoDB's duplicate key error code. */
const DUPLICATE_KEY = 11000;

/** What a write error says of itself: where an ordered insert stopped, why, and (MongoDB) which unique index refused it. */
interface WriteFailure {
  index?: number;
  code?: unknown;
  /** MongoDB, on a single insert's error (MongoServerError): the refusing index's key, `{ _id: 1 }` for a number taken. */
  keyPattern?: unknown;
  /** An insertMany's write error: the server's text. */
  errmsg?: unknown;
  /** A single insert's error: the server's text. */
  message?: unknown;
}

/**
 * Whether a failed insert's `duplicate` key error (undefined: it was none) is sequence
 * number `seq` taken, by another publisher: that is, a duplicate in the `_id` index, and
 * not in another unique index an operator added to the collection (on `event` or `at`),
 * which would refuse the document under every number.
 *
 * MongoDB names the index: `keyPattern` on a single insert's error, and its message
 * (`E11000 duplicate key error collection: <db>.<coll> index: <name> dup key: { … }`; the
 * driver keeps only the message of an insertMany's write errors), where the `_id`
 * index is always `_id_`. FerretDB 1.24 does neither (`E11000 duplicate key error
 * collection: <db>.<coll>`, no keyPattern, no keyValue, whichever index refused). Then
 * the log is asked whether `seq` is stored: a number taken by another publisher holds its
 * document, one refused by another index holds none. Its holder cannot have gone
 * meanwhile: `seq` was above the head read before this insert, so its holder was stored
 * since, and the newest event and those younger than the prune guard are never pruned;
 * only a reset of the log from outside, or an insert held past the guard, could empty
 * it, and then the publish fails with the server's error instead of being stored: never
 * retried for ever on a refusal that is not a number taken.
 */
async function numberTaken(events: Collection<EventDocument>, duplicate: WriteFailure | undefined, seq: bigint): Promise<boolean> {
  if (duplicate === undefined) return false;
  const said = idIndexSaid(duplicate, events.namespace);
  // Stryker disable next-line ConditionalExpression: equivalent where MongoDB's word is ignored (`false`): the log lookup below answers the same (a number taken holds its document; one another index refused is free), a read more; its `true` goes with it (the racing tests kill it)
  if (said !== undefined) return said;
  // Stryker disable next-line ObjectLiteral: equivalent: `_id` is unique, so the count is 0 or 1 with or without the limit
  return (await events.countDocuments({ _id: seq }, { limit: 1 })) > 0;
}

/** Whether MongoDB said the duplicate was in the `_id` index; undefined when the error does not say (FerretDB 1.x). */
export function idIndexSaid(duplicate: WriteFailure, namespace: string): boolean | undefined {
  const { keyPattern } = duplicate;
  if (keyPattern !== null && typeof keyPattern === 'object') {
    const keys = Object.keys(keyPattern);
    return keys.length === 1 && keys[0] === '_id';
  }
  const text = typeof duplicate.errmsg === 'string' ? duplicate.errmsg : duplicate.message;
  // Found after this collection's own name, which may hold ` index: ` itself.
  const named = `collection: ${namespace} index: `;
  const at = typeof text === 'string' ? text.indexOf(named) : -1;
  if (at === -1) return undefined;
  return (text as string).startsWith('_id_ dup key', at + named.length);
}

/**
 * The first write error of a failed ordered insertMany (where it stopped, and why);
 * undefined when the error names none (a lost connection: nothing is known stored).
 */
function firstWriteError(error: unknown): (WriteFailure & { index: number }) | undefined {
  // By name too: an application's own client may come from another copy of the driver.
  // Stryker disable next-line OptionalChaining: equivalent: the driver never rejects with null or undefined
  if (!(error instanceof MongoBulkWriteError) && (error as { name?: unknown } | null)?.name !== 'MongoBulkWriteError') return undefined;
  const errors = (error as MongoBulkWriteError).writeErrors;
  const first = Array.isArray(errors) ? errors[0] : errors;
  return first === undefined || typeof first.index !== 'number' ? undefined : { index: first.index, code: first.code, errmsg: first.errmsg };
}
