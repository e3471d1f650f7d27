/**
 * The events collection behind MongoSessionEventBus on the test server (FerretDB
 * 1.x: no change streams, so the polling transport): transport choice, unique
 * sequence numbers under racing publishers, retention, holes in the sequence.
 */
import { MongoClient, type Collection, type MongoBulkWriteError } from 'mongodb';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { SessionEvent } from '@mtstore/core';
import { randomNamespace, waitFor } from '@mtstore/conformance/vitest';
import { MongoSessionEventBus, type MongoSessionEventBusOptions } from '../src/index.js';
import { append, busInternals, idIndexSaid, type EventDocument } from '../src/bus.js';
import { adminClient, closeAdmin, dropDatabase, MONGODB_URL, server, urlFor } from './server.js';
import { openProxy } from './proxy.js';

const event = (n: number, origin = 'test'): SessionEvent => ({ type: 'created', authKeyId: BigInt(n), sessionId: BigInt(n), origin });
const wire = (n: number) => JSON.stringify({ t: 'c', a: String(n), s: String(n), o: 'direct' });

/** append's `unmarked` for tests whose lost mark must not fail: a failure fails the append, and so the test. */
const markMustSucceed = (error: unknown): never => {
  throw error;
};

/**
 * The real collection, whose first insertMany reaches the server only after `meanwhile`
 * (a publisher stalled between its head read and its insert), with the documents
 * `spoil` returns; `then` runs once the server answered it, whatever the answer.
 */
function firstInsertAfter<T extends { insertMany: (documents: EventDocument[], ...rest: never[]) => unknown }>(
  collection: T,
  meanwhile: () => Promise<void>,
  { spoil = (documents) => documents, then = () => {} }: { spoil?: (documents: EventDocument[]) => EventDocument[]; then?: () => void } = {},
): T {
  let stalled = false;
  return new Proxy(collection, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (key === 'insertMany' && !stalled) {
        return async (documents: EventDocument[], ...rest: never[]) => {
          stalled = true;
          await meanwhile();
          try {
            return await target.insertMany(spoil(documents), ...rest);
          } finally {
            then();
          }
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * The documents with the one at `index` given a field name the server refuses (`$`
 * first): an ordered insert of them stores those before it and fails there, with the
 * server's own per-document error (BadValue, code 2). FerretDB 1.24 has no rule that
 * refuses a document of the bus's shape ({ _id, event, at }) other than a duplicate key:
 * it does not implement validators (code 238), enforces neither a capped collection's
 * size nor its max per document, has no index key size limit, and the driver refuses a
 * document over 16 MiB itself, before any I/O.
 */
function refusedAt(index: number): (documents: EventDocument[]) => EventDocument[] {
  return (documents) => documents.map((document, i) => (i === index ? { ...document, $refused: true } : document));
}

if (server.available) {
  let database = '';
  const buses: MongoSessionEventBus[] = [];
  const open = (options: Partial<MongoSessionEventBusOptions> = {}) => {
    const bus = new MongoSessionEventBus({ url: urlFor(database), ...options });
    buses.push(bus);
    return bus;
  };
  const events = () => adminClient().db(database).collection<EventDocument>('mtstore_events');
  const sequence = async () => (await events().find({}, { sort: { _id: 1 }, useBigInt64: true }).toArray()).map((d) => d._id);
  /** The sequence once it has `length` entries (pruning runs beside publish), or as it is after 5 s. */
  const sequenceOf = async (length: number) => {
    const deadline = Date.now() + 5_000;
    let seen = await sequence();
    while (seen.length !== length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      seen = await sequence();
    }
    return seen;
  };

  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
    await dropDatabase(database);
  });
  afterAll(closeAdmin);

  describe('transport', () => {
    it('auto falls back to polling where the server has no change streams; changeStream then refuses', async () => {
      database = randomNamespace();
      const auto = open();
      expect(auto.transport).toBeUndefined();
      const heard: SessionEvent[] = [];
      await auto.subscribe((e) => heard.push(e));
      expect(auto.transport).toBe('poll');
      await auto.publish(event(1));
      await waitFor(() => heard.length === 1, 5_000, 'the event over polling');

      const forced = open({ mode: 'changeStream' });
      const error = (await forced.subscribe(() => {}).catch((e: unknown) => e)) as Error & { code?: string };
      expect(error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(error.message).toMatch(/does not support change streams/);
    });
  });

  describe('refusals', () => {
    it('each names the call: an invalid event or listener is InvalidArgumentError, publish and subscribe on a closed bus StorageClosedError', async () => {
      database = randomNamespace();
      const bus = open({ mode: 'poll' });
      const refusal = (call: Promise<unknown>) => call.then(() => 'resolved', (error: unknown) => error);
      expect(await refusal(bus.publish({ ...event(1), type: 'nonsense' } as never))).toMatchObject({
        code: 'MTSTORE_INVALID_ARGUMENT',
        message: expect.stringMatching(/^MongoSessionEventBus\.publish: ./),
      });
      expect(await refusal(bus.subscribe('listener' as never))).toMatchObject({
        code: 'MTSTORE_INVALID_ARGUMENT',
        message: 'MongoSessionEventBus.subscribe: listener must be a function',
      });
      await bus.close();
      expect(await refusal(bus.publish(event(1)))).toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED', message: 'MongoSessionEventBus.publish: the bus is closed' });
      expect(await refusal(bus.subscribe(() => {}))).toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED', message: 'MongoSessionEventBus.subscribe: the bus is closed' });
    });

    it('a bus closed while a subscribe is under way: the subscribe is StorageClosedError saying so, and no feed is left polling', async () => {
      database = randomNamespace();
      const bus = open({ mode: 'poll', pollInterval: 20 });
      const subscribing = bus.subscribe(() => {}).then(() => 'resolved', (error: unknown) => error);
      await bus.close();
      expect(await subscribing).toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED', message: 'MongoSessionEventBus.subscribe: the bus was closed while subscribing' });
    });

    it('a bus closed while its feed opens (mode auto: the change stream asked for): the subscribe is StorageClosedError saying so', async () => {
      database = randomNamespace();
      // Its own client, whose commands are seen: close() comes once the change stream is asked for.
      const client = new MongoClient(MONGODB_URL, { monitorCommands: true, serverSelectionTimeoutMS: 5_000 });
      try {
        const bus = new MongoSessionEventBus({ client, database });
        await bus.publish(event(1));
        let closing: Promise<void> | undefined;
        client.on('commandStarted', (command) => {
          if (command.commandName === 'aggregate') closing ??= bus.close();
        });
        const subscribing = bus.subscribe(() => {}).then(() => 'resolved', (error: unknown) => error);
        expect(await subscribing).toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED', message: 'MongoSessionEventBus.subscribe: the bus was closed while subscribing' });
        expect(closing).toBeDefined();
        await closing;
      } finally {
        await client.close();
      }
    });
  });

  describe('sequence', () => {
    it('racing publishers on two connections get unique, gap-free numbers; a subscriber hears each event once', async () => {
      database = randomNamespace();
      const [a, b, listener] = [open({ mode: 'poll' }), open({ mode: 'poll' }), open({ mode: 'poll' })];
      const heard: SessionEvent[] = [];
      await listener.subscribe((e) => heard.push(e));
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).publish(event(i))));
      expect(await sequence()).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i + 1)));
      await waitFor(() => heard.length >= 40, 5_000, '40 events');
      expect(heard.map((e) => Number(e.authKeyId)).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    });

    it('one bus\'s publishes made at once (a subject publishes a batch\'s events together) are numbered, and heard elsewhere, in publish order', async () => {
      database = randomNamespace();
      const [publisher, listener] = [open({ mode: 'poll' }), open({ mode: 'poll' })];
      const heard: number[] = [];
      await listener.subscribe((e) => heard.push(Number(e.authKeyId)));
      const order = Array.from({ length: 30 }, (_, i) => i);
      await Promise.all(order.map((i) => publisher.publish(event(i))));
      const stored = await events().find({}, { sort: { _id: 1 } }).toArray();
      expect(stored.map((d) => Number(JSON.parse(String(d.event)).a))).toEqual(order);
      await waitFor(() => heard.length >= order.length, 5_000, '30 events');
      expect(heard).toEqual(order);
    });

    it('publishes made at once go in a few inserts (those made while one is in flight together), numbered and heard elsewhere in publish order', async () => {
      database = randomNamespace();
      // Its own client, whose commands are counted: an insert per publish before (2,000 here).
      const client = new MongoClient(MONGODB_URL, { monitorCommands: true, serverSelectionTimeoutMS: 5_000 });
      let inserts = 0;
      client.on('commandStarted', (command) => {
        if (command.commandName === 'insert') inserts++;
      });
      try {
        const publisher = new MongoSessionEventBus({ client, database, mode: 'poll', maxEvents: 5_000 });
        buses.push(publisher);
        const listener = open({ mode: 'poll' });
        const heard: number[] = [];
        await listener.subscribe((e) => heard.push(Number(e.authKeyId)));
        const order = Array.from({ length: 2_000 }, (_, i) => i);
        await Promise.all(order.map((i) => publisher.publish(event(i))));
        // The first alone, then batches of at most 500 (and the collection's creation, if it counts).
        expect(inserts).toBeLessThanOrEqual(7);
        const stored = await events().find({}, { sort: { _id: 1 }, useBigInt64: true }).toArray();
        expect(stored.map((d) => d._id)).toEqual(order.map((i) => BigInt(i + 1)));
        expect(stored.map((d) => Number(JSON.parse(String(d.event)).a))).toEqual(order);
        await waitFor(() => heard.length >= order.length, 10_000, '2,000 events');
        expect(heard).toEqual(order);
      } finally {
        for (const bus of buses.splice(0)) await bus.close();
        await client.close();
      }
    });

    it('a number another publisher took in the middle of a batch: the events before it keep theirs, the rest go on after it, in order', async () => {
      database = randomNamespace();
      const collection = events();
      await collection.insertOne({ _id: 1n, event: wire(1), at: new Date() });
      // Another publisher takes number 5 after this append read the head (1) and before
      // its insert (of 2..11) reaches the server: the real collection, that insert delayed by one.
      const racing = firstInsertAfter(collection, async () => {
        await collection.insertOne({ _id: 5n, event: wire(99), at: new Date() });
      });
      const texts = Array.from({ length: 10 }, (_, i) => wire(i + 10));
      let stored = 0;
      const appended = await append(racing, texts, () => stored++, markMustSucceed);
      expect(stored).toBe(10);
      expect(appended).toEqual({ first: 2n, last: 12n });
      const sequence = await collection.find({}, { sort: { _id: 1 }, useBigInt64: true }).toArray();
      expect(sequence.map((d) => [d._id, Number(JSON.parse(String(d.event)).a)])).toEqual([
        [1n, 1],
        [2n, 10],
        [3n, 11],
        [4n, 12],
        [5n, 99],
        ...Array.from({ length: 7 }, (_, i) => [BigInt(6 + i), 13 + i]),
      ]);
    });

    it("a duplicate number met through an application's client from another copy of the driver (its MongoBulkWriteError not this copy's class) is told apart the same way", async () => {
      database = randomNamespace();
      const collection = events();
      await collection.insertOne({ _id: 1n, event: wire(1), at: new Date() });
      // The real collection; its first insertMany meets number 3 taken, and its error comes
      // back as another copy of the driver would make it: the same fields, another class.
      let raced = false;
      const otherDriver = new Proxy(collection, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown;
          if (key === 'insertMany' && !raced) {
            return async (...args: Parameters<typeof collection.insertMany>) => {
              raced = true;
              await target.insertOne({ _id: 3n, event: wire(99), at: new Date() });
              try {
                return await target.insertMany(...args);
              } catch (error) {
                const { name, message, writeErrors } = error as MongoBulkWriteError;
                throw Object.assign(new Error(message), { name, writeErrors });
              }
            };
          }
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      let stored = 0;
      const appended = await append(otherDriver, [wire(10), wire(11), wire(12)], () => stored++, markMustSucceed);
      expect(stored).toBe(3);
      expect(appended).toEqual({ first: 2n, last: 5n });
      expect(await sequence()).toEqual([1n, 2n, 3n, 4n, 5n]);
    });

    it('a duplicate whose check fails (FerretDB does not say which index: the number is looked up): the append fails with the check\'s error', async () => {
      database = randomNamespace();
      const collection = events();
      await collection.insertOne({ _id: 1n, event: wire(1), at: new Date() });
      const checkFailed = new Error('the check of the number failed');
      let raced = false;
      const failingCheck = new Proxy(collection, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown;
          if (key === 'insertMany' && !raced) {
            return async (...args: Parameters<typeof collection.insertMany>) => {
              raced = true;
              await target.insertOne({ _id: 2n, event: wire(99), at: new Date() });
              return target.insertMany(...args);
            };
          }
          if (key === 'countDocuments') return () => Promise.reject(checkFailed);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      let stored = 0;
      const failure = await append(failingCheck, [wire(10)], () => stored++, markMustSucceed).then(
        () => 'resolved',
        (error: unknown) => error,
      );
      expect(failure).toBe(checkFailed);
      expect(stored).toBe(0);
    });

    it('the first number taken by another publisher: the append stores from the next and says so (first, last)', async () => {
      database = randomNamespace();
      const collection = events();
      await collection.insertOne({ _id: 1n, event: wire(1), at: new Date() });
      const racing = firstInsertAfter(collection, async () => {
        await collection.insertOne({ _id: 2n, event: wire(99), at: new Date() });
      });
      let stored = 0;
      expect(await append(racing, [wire(10), wire(11)], () => stored++, markMustSucceed)).toEqual({ first: 3n, last: 4n });
      expect(stored).toBe(2);
      expect(await sequence()).toEqual([1n, 2n, 3n, 4n]);
    });

    it('four numbers in a row taken by other publishers, the head gone far on meanwhile: the append goes on from the current head, not below it', async () => {
      database = randomNamespace();
      const collection = events();
      await collection.insertOne({ _id: 1n, event: wire(1), at: new Date() });
      // Before each of its first four inserts another publisher takes the number it tries;
      // before the fourth the head also goes to 20 (as if 6..19 were published and pruned).
      let calls = 0;
      const racing = new Proxy(collection, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown;
          if (key === 'insertMany') {
            return async (documents: EventDocument[], ...rest: never[]) => {
              calls++;
              if (calls <= 4) await target.insertOne({ _id: (documents[0] as EventDocument)._id, event: wire(90 + calls), at: new Date() });
              if (calls === 4) await target.insertOne({ _id: 20n, event: wire(95), at: new Date() });
              return target.insertMany(documents, ...rest);
            };
          }
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      expect(await append(racing, [wire(10)], () => {}, markMustSucceed)).toEqual({ first: 21n, last: 21n });
      expect(await sequence()).toEqual([1n, 2n, 3n, 4n, 5n, 20n, 21n]);
    });

    it('an insert answered at once that fails after storing part of its batch: no lost mark, whatever was published since', async () => {
      database = randomNamespace();
      const collection = events();
      await collection.insertOne({ _id: 1n, event: wire(1), at: new Date() });
      // Its second document refused; once it has failed, another publisher's event (10) is there before any later read.
      let inserted = false;
      const refusing = new Proxy(collection, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown;
          if (key === 'insertMany') {
            return async (documents: EventDocument[], ...rest: never[]) => {
              try {
                return await target.insertMany(refusedAt(1)(documents), ...rest);
              } finally {
                inserted = true;
              }
            };
          }
          if (key === 'find') {
            return (...args: Parameters<typeof collection.find>) => {
              if (!inserted) return target.find(...args);
              const cursor = target.find(...args);
              return { toArray: async () => {
                await target.insertOne({ _id: 10n, event: wire(97), at: new Date() });
                return cursor.toArray();
              } };
            };
          }
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const failure = await append(refusing, [wire(10), wire(11)], () => {}, markMustSucceed).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ name: 'MongoBulkWriteError', code: 2 });
      // Answered at once: its numbers were fresh; only an insert slow enough for a prune to free them is checked.
      expect(await events().countDocuments({ lost: true })).toBe(0);
    });

    it('an insert that fails naming no document (a lost connection): the append fails with its error, nothing counted stored', async () => {
      database = randomNamespace();
      const collection = events();
      const lost = new Error('connection lost');
      const failing = new Proxy(collection, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown;
          if (key === 'insertMany') return () => Promise.reject(lost);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      let stored = 0;
      const failure = await append(failing, [wire(10), wire(11)], () => stored++, markMustSucceed).then(
        () => 'resolved',
        (error: unknown) => error,
      );
      expect(failure).toBe(lost);
      expect(stored).toBe(0);
    });

    it('a log whose highest _id is not a number (written by hand): publish is CorruptDataError naming the event _id', async () => {
      database = randomNamespace();
      const bus = open({ mode: 'poll' });
      await bus.publish(event(1));
      // Strings sort above numbers: the head read finds this one.
      await events().insertOne({ _id: 'x' as never, event: wire(2), at: new Date() });
      expect(await bus.publish(event(2)).catch((error: unknown) => error)).toMatchObject({
        code: 'MTSTORE_CORRUPT_DATA',
        message: expect.stringContaining('session event _id'),
      });
    });

    it('a hole in the sequence (events pruned before a slow poller read them) is skipped, not waited for forever', async () => {
      database = randomNamespace();
      const bus = open({ mode: 'poll' });
      const heard: SessionEvent[] = [];
      await bus.subscribe((e) => heard.push(e));
      // Sequence 1 never appears (as if pruned): 2 and 3 arrive after the grace period, in order.
      await events().insertMany([
        { _id: 2n, event: wire(2), at: new Date() },
        { _id: 3n, event: wire(3), at: new Date() },
      ]);
      await waitFor(() => heard.length >= 2, 5_000, 'the events after the hole');
      expect(heard.map((e) => e.authKeyId)).toEqual([2n, 3n]);
      await bus.publish(event(4));
      await waitFor(() => heard.length >= 3, 5_000, 'the next published event');
      expect((await sequence()).at(-1)).toBe(4n);
    });

    it('an undecodable event is reported and skipped; the ones after it arrive', async () => {
      database = randomNamespace();
      const errors: unknown[] = [];
      const bus = open({ mode: 'poll', onError: (e) => errors.push(e) });
      const heard: SessionEvent[] = [];
      await bus.subscribe((e) => heard.push(e));
      await events().insertOne({ _id: 1n, event: '{"t":"x"}', at: new Date() });
      await bus.publish(event(2));
      await waitFor(() => heard.length >= 1, 5_000, 'the event after the bad one');
      expect(heard).toEqual([event(2)]);
      expect((errors[0] as { code?: string }).code).toBe('MTSTORE_CORRUPT_DATA');
    });
  });

  /**
   * A unique index an operator added to the events collection refuses a document under
   * every number: only a duplicate `_id` is a number another publisher took. FerretDB 1.24
   * does not say which index refused (no keyPattern, no index in its message), so these
   * run the check of the number itself; on the code before it, every attempt met the
   * same refusal and the publish never settled (nor close(), which waits for it): the
   * tests' timeouts stop them.
   */
  it('without onError, what it would be told goes to console.error', async () => {
    database = randomNamespace();
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const bus = open({ mode: 'poll', pollInterval: 20 });
      const heard: SessionEvent[] = [];
      await bus.subscribe((e) => heard.push(e));
      await events().insertOne({ _id: 1n, event: '{"t":"x"}', at: new Date() });
      await bus.publish(event(2));
      await waitFor(() => heard.length >= 1, 5_000, 'the event after the bad one');
      expect(printed).toHaveBeenCalledWith('MongoSessionEventBus: reading session events failed; retrying', expect.objectContaining({ code: 'MTSTORE_CORRUPT_DATA' }));
    } finally {
      printed.mockRestore();
    }
  });

  describe('a duplicate key in another unique index', () => {
    it('fails the publishes of its batch with the server\'s error, after those stored before it; the bus goes on', { timeout: 30_000 }, async () => {
      database = randomNamespace();
      const [publisher, listener] = [open({ mode: 'poll' }), open({ mode: 'poll', pollInterval: 20 })];
      const heard: bigint[] = [];
      await listener.subscribe((e) => heard.push(e.authKeyId));
      await publisher.publish(event(1));
      await events().createIndex({ event: 1 }, { unique: true, name: 'operator_event' });
      // One alone (its insert starts at once), then three together in the next insert: the
      // second of those repeats event 1's text, refused by the operator's index.
      const outcomes = await Promise.allSettled([publisher.publish(event(2)), publisher.publish(event(3)), publisher.publish(event(1)), publisher.publish(event(4))]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
      for (const outcome of outcomes.slice(2)) {
        expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringMatching(/E11000 duplicate key/) });
      }
      // Nothing stored for the refused ones: no number skipped, nothing retried past them.
      expect(await sequence()).toEqual([1n, 2n, 3n]);
      await publisher.publish(event(5));
      expect(await sequence()).toEqual([1n, 2n, 3n, 4n]);
      await waitFor(() => heard.length === 4, 5_000, 'the stored events');
      expect(heard).toEqual([1n, 2n, 3n, 5n]);
    });

    it('MongoDB\'s errors say which index (keyPattern on a single insert, the message of an insertMany\'s write error); FerretDB 1.24\'s do not', () => {
      const namespace = 'mt_db.mtstore_events';
      expect(idIndexSaid({ keyPattern: { _id: 1 } }, namespace)).toBe(true);
      expect(idIndexSaid({ keyPattern: { event: 1 } }, namespace)).toBe(false);
      expect(idIndexSaid({ keyPattern: { _id: 1, at: 1 } }, namespace)).toBe(false);
      expect(idIndexSaid({ errmsg: 'E11000 duplicate key error collection: mt_db.mtstore_events index: _id_ dup key: { _id: 5 }' }, namespace)).toBe(true);
      expect(idIndexSaid({ errmsg: 'E11000 duplicate key error collection: mt_db.mtstore_events index: operator_event dup key: { event: "x" }' }, namespace)).toBe(false);
      expect(idIndexSaid({ message: 'E11000 duplicate key error collection: mt_db.mtstore_events index: _id_1 dup key: { _id: 5 }' }, namespace)).toBe(false);
      // A collection whose own name reads like an index: only what follows this collection's name counts.
      expect(idIndexSaid({ errmsg: 'E11000 duplicate key error collection: mt_db.x index: _id_ dup key events index: at_1 dup key: { at: 1 }' }, 'mt_db.x index: _id_ dup key events')).toBe(false);
      expect(idIndexSaid({ errmsg: 'E11000 duplicate key error collection: mt_db.mtstore_events' }, namespace)).toBeUndefined();
      expect(idIndexSaid({}, namespace)).toBeUndefined();
      // A keyPattern of null says nothing: the message decides.
      expect(idIndexSaid({ keyPattern: null, errmsg: 'E11000 duplicate key error collection: mt_db.mtstore_events index: _id_ dup key: { _id: 5 }' }, namespace)).toBe(true);
    });
  });

  describe('a log emptied or dropped from outside', () => {
    for (const how of ['drop', 'deleteMany'] as const) {
      it(`(${how}) pollers say lost and live, and hear the events published after it, whatever their position was`, async () => {
        database = randomNamespace();
        const [publisher, listener] = [open({ mode: 'poll' }), open({ mode: 'poll', pollInterval: 20 })];
        // Published before the subscription: the subscriber's position is 3, not 0.
        for (let i = 1; i <= 3; i++) await publisher.publish(event(i));
        const heard: number[] = [];
        const states: string[] = [];
        await listener.subscribe((e) => heard.push(Number(e.authKeyId)), { onState: (state) => states.push(state) });
        for (let i = 4; i <= 6; i++) await publisher.publish(event(i));
        await waitFor(() => heard.length === 3, 5_000, 'events 4 to 6');
        // An operator's db.mtstore_events.drop() / deleteMany({}): the poller's position (6) is above every new number.
        if (how === 'drop') await events().drop();
        else await events().deleteMany({});
        await waitFor(() => states.length >= 2, 5_000, 'lost and live after the reset');
        expect(states).toEqual(['lost', 'live']);
        for (let i = 7; i <= 8; i++) await publisher.publish(event(i));
        expect(await sequence()).toEqual([1n, 2n]);
        await waitFor(() => heard.length === 5, 5_000, 'the events published after the reset');
        expect(heard).toEqual([4, 5, 6, 7, 8]);
        expect(states).toEqual(['lost', 'live']);
      });
    }
  });

  describe('retention', () => {
    it('keeps the newest maxEvents events; the newest always survives and numbering continues', async () => {
      database = randomNamespace();
      // Published long ago: events of the last PRUNE_GUARD_MS are never pruned (see the next test).
      const old = new Date(Date.now() - 3_600_000);
      await events().insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: BigInt(i + 1), event: wire(i + 1), at: old })));
      const bus = open({ mode: 'poll', maxEvents: 10 });
      for (let i = 51; i <= 66; i++) await bus.publish(event(i)); // the 64th prunes
      // Kept: above 64 - 10 those old, that is 55..64, and the fresh 51..54, and 65, 66 published after the pruning.
      expect(await sequenceOf(16)).toEqual(Array.from({ length: 16 }, (_, i) => BigInt(51 + i)));
    });

    it('a publisher that read the head before a burst of more than maxEvents events does not take a pruned number below every reader', async () => {
      database = randomNamespace();
      const busy = open({ mode: 'poll', maxEvents: 10 });
      const listener = open({ mode: 'poll', pollInterval: 20 });
      const heard: bigint[] = [];
      await listener.subscribe((e) => heard.push(e.authKeyId));
      await busy.publish(event(1));
      // The stalled publisher read the head (1); before its insert reaches the server (its
      // process stalled, its insert queued for a pooled connection) another publishes 70
      // events, pruning at the 64th: the real collection, that insert delayed.
      const stalling = firstInsertAfter(events(), async () => {
        for (let i = 2; i <= 71; i++) await busy.publish(event(i));
        await waitFor(() => heard.length === 71, 5_000, 'the burst');
      });
      // Pruned numbers were free again: it stored its event under 2, below every reader's position, and nobody heard it.
      await append(stalling, [wire(999)], () => {}, markMustSucceed);
      await waitFor(() => heard.includes(999n), 5_000, 'the stalled publisher\'s event');
      expect(heard.filter((id) => id === 999n)).toHaveLength(1);
    });

    /**
     * A listener at the head of a log whose guard is shortened through the internal seam
     * (busInternals: 30 s of stall in a third of a second), a busy publisher with
     * maxEvents 10 that published event 1, and `burst`: what happens while a stalled
     * publisher's insert is held after its head read (1): 70 events published, those
     * older than the guard pruned at the 64th (2..54 free again), all heard.
     */
    async function pastTheGuard(): Promise<{ busy: MongoSessionEventBus; heard: bigint[]; states: string[]; burst: () => Promise<void> }> {
      busInternals.pruneGuardMs = 300;
      const busy = open({ mode: 'poll', maxEvents: 10 });
      const listener = open({ mode: 'poll', pollInterval: 20 });
      const heard: bigint[] = [];
      const states: string[] = [];
      await listener.subscribe((e) => heard.push(e.authKeyId), { onState: (state) => states.push(state) });
      await busy.publish(event(1));
      const burst = async () => {
        for (let i = 2; i <= 63; i++) await busy.publish(event(i));
        await new Promise((resolve) => setTimeout(resolve, 500));
        for (let i = 64; i <= 71; i++) await busy.publish(event(i));
        expect((await sequenceOf(17))[0]).toBe(55n); // pruned: 2..54
        await waitFor(() => heard.length === 71, 5_000, 'the burst');
      };
      return { busy, heard, states, burst };
    }

    describe('a publisher stalled past the prune guard (guard shortened)', () => {
      const guard = busInternals.pruneGuardMs;
      afterEach(() => {
        busInternals.pruneGuardMs = guard;
      });

      /**
       * A fresh log holding event 1, the guard 300 ms, and the events collection of a
       * publisher whose first insert, after its head read (1), waits for `meanwhile` and
       * then a third of the guard more: stalled past it.
       */
      async function stalledAfterEvent1(meanwhile: () => Promise<unknown> = async () => {}, options?: Parameters<typeof firstInsertAfter>[2]): Promise<Collection<EventDocument>> {
        database = randomNamespace();
        busInternals.pruneGuardMs = 300;
        await events().insertOne({ _id: 1n, event: wire(1), at: new Date() });
        const stalled = async () => {
          await meanwhile();
          await new Promise((resolve) => setTimeout(resolve, 150));
        };
        return firstInsertAfter(events(), stalled, options);
      }

      /** Another publisher takes number 3. */
      const takesThree = () => events().insertOne({ _id: 3n, event: wire(98), at: new Date() });

      it('that takes a pruned number below every reader makes them hear lost', async () => {
        database = randomNamespace();
        const { busy, heard, states, burst } = await pastTheGuard();
        const appended = await append(firstInsertAfter(events(), burst), [wire(999)], () => {}, markMustSucceed);
        // Its event went under 2, below the listener's position (71): unheard, and so said.
        expect(appended).toEqual({ first: 2n, last: 2n });
        await waitFor(() => states.length >= 2, 5_000, 'lost and live');
        expect(states).toEqual(['lost', 'live']);
        expect(heard).not.toContain(999n);
        // The log goes on: the next event is heard as usual.
        await busy.publish(event(1000));
        await waitFor(() => heard.includes(1000n), 5_000, 'the next event');
        expect(states).toEqual(['lost', 'live']);
      });

      it('whose insert fails after storing part of its batch: the lost mark goes after the events it stored, then its failure is thrown', async () => {
        database = randomNamespace();
        const { heard, states, burst } = await pastTheGuard();
        // The server refuses the third of three documents: the first two are stored, under pruned numbers.
        const stalling = firstInsertAfter(events(), burst, { spoil: refusedAt(2) });
        let stored = 0;
        const failure = await append(stalling, [wire(997), wire(998), wire(999)], () => stored++, markMustSucceed).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(failure).toMatchObject({ name: 'MongoBulkWriteError', code: 2, message: expect.stringMatching(/\$refused/) });
        expect(stored).toBe(2);
        const log = await events().find({ $or: [{ _id: { $lte: 3n } }, { _id: { $gte: 71n } }] }, { sort: { _id: 1 }, useBigInt64: true }).toArray();
        // 1 was pruned with 2..54 (older than the guard, not the newest then).
        expect(log.map((d) => [d._id, d.lost ?? JSON.parse(String(d.event)).a])).toEqual([
          [2n, '997'],
          [3n, '998'],
          [71n, '71'],
          [72n, true],
        ]);
        // Below the listener's position (71): unheard, and so said.
        await waitFor(() => states.length >= 2, 5_000, 'lost and live');
        expect(states).toEqual(['lost', 'live']);
        expect(heard.filter((id) => id >= 997n)).toEqual([]);
      });

      it('whose lost mark fails too: the caller gets the insert\'s own failure, and the mark\'s goes to unmarked', async () => {
        database = randomNamespace();
        const { burst } = await pastTheGuard();
        // This publisher reaches the server through a proxy taken down once its insert is
        // answered: the head read that checks its numbers fails (server selection, 2 s: the
        // same bound covers this client's first connect, before its insert, which 500 ms
        // could miss on a loaded machine).
        const proxy = await openProxy();
        const client = new MongoClient(proxy.url(database), { serverSelectionTimeoutMS: 2_000, connectTimeoutMS: 2_000, heartbeatFrequencyMS: 500 });
        try {
          const stalling = firstInsertAfter(client.db(database).collection<EventDocument>('mtstore_events'), burst, { spoil: refusedAt(1), then: () => proxy.down() });
          let stored = 0;
          const unmarked: unknown[] = [];
          const failure = await append(stalling, [wire(998), wire(999)], () => stored++, (error) => unmarked.push(error)).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(failure).toMatchObject({ name: 'MongoBulkWriteError', code: 2 });
          expect(stored).toBe(1);
          expect(unmarked).toHaveLength(1);
          // The connection's failure (reset, or no server to select), not the insert's.
          expect(String(unmarked[0])).toMatch(/ECONNRESET|ECONNREFUSED|Server selection/);
          expect(await events().countDocuments({ lost: true })).toBe(0);
        } finally {
          await client.close();
          await proxy.close();
        }
      });

      /**
       * On MongoDB a unique index on `event` refuses a second mark (a missing field is
       * indexed as null); FerretDB 1.24 indexes no missing field, so here a unique index
       * on `lost` stands for it: every mark after the first is refused.
       */
      it('whose insert stored nothing (refused at its first document): no lost mark, only its failure', async () => {
        database = randomNamespace();
        busInternals.pruneGuardMs = 300;
        const busy = open({ mode: 'poll' });
        await busy.publish(event(1));
        // Stalled past a third of the guard after its head read (1), while another publisher moved the head on.
        const stalling = firstInsertAfter(
          events(),
          async () => {
            await busy.publish(event(2));
            await new Promise((resolve) => setTimeout(resolve, 150));
          },
          { spoil: refusedAt(0) },
        );
        const failure = await append(stalling, [wire(999)], () => {}, markMustSucceed).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(failure).toMatchObject({ name: 'MongoBulkWriteError', code: 2 });
        // Nothing of it was stored, so nothing of it can be missed: a mark would only make every reader say lost.
        expect(await events().countDocuments({ lost: true })).toBe(0);
      });

      it('that met another publisher\'s number while stalled: a lost mark, though its last number is the head (its numbers cannot be shown fresh)', async () => {
        // Its head read was 1; while it stalls, another publisher takes 3 (its second number).
        const stalling = await stalledAfterEvent1(takesThree);
        expect(await append(stalling, [wire(10), wire(11)], () => {}, markMustSucceed)).toEqual({ first: 2n, last: 4n });
        expect(await events().countDocuments({ lost: true })).toBe(1);
      });

      it('whose lost mark meets a number another publisher took: the mark goes at the next one', async () => {
        const stalling = await stalledAfterEvent1(takesThree);
        // The mark's first insert (at 5, above the head 4) meets 5 taken meanwhile.
        let marks = 0;
        const racingMark = new Proxy(stalling, {
          get(target, key) {
            const value = Reflect.get(target, key, target) as unknown;
            if (key === 'insertOne') {
              return async (document: EventDocument) => {
                if (document.lost === true && marks++ === 0) await events().insertOne({ _id: document._id, event: wire(97), at: new Date() });
                return target.insertOne(document);
              };
            }
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        });
        const unmarked: unknown[] = [];
        expect(await append(racingMark, [wire(10), wire(11)], () => {}, (error) => unmarked.push(error))).toEqual({ first: 2n, last: 4n });
        expect(unmarked).toEqual([]);
        expect(marks).toBe(2);
        expect((await events().find({ lost: true }, { useBigInt64: true }).toArray()).map((d) => d._id)).toEqual([6n]);
      });

      it('that stored part of its batch and met no other publisher, the head still its own: no lost mark, only its failure', async () => {
        const stalling = await stalledAfterEvent1(undefined, { spoil: refusedAt(1) });
        const failure = await append(stalling, [wire(10), wire(11)], () => {}, markMustSucceed).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(failure).toMatchObject({ name: 'MongoBulkWriteError', code: 2 });
        expect(await sequence()).toEqual([1n, 2n]);
        expect(await events().countDocuments({ lost: true })).toBe(0);
      });

      it('whose lost mark a unique index refuses (a mark is there already): the append ends, the refusal goes to unmarked', { timeout: 30_000 }, async () => {
        database = randomNamespace();
        const { burst } = await pastTheGuard();
        await events().createIndex({ lost: 1 }, { unique: true, name: 'operator_lost' });
        // An earlier mark, below every reader (never read again).
        const stalling = firstInsertAfter(events(), async () => {
          await burst();
          await events().insertOne({ _id: 0n, at: new Date(), lost: true });
        });
        const unmarked: unknown[] = [];
        const appended = await append(stalling, [wire(999)], () => {}, (error) => unmarked.push(error));
        expect(appended).toEqual({ first: 2n, last: 2n });
        expect(unmarked).toHaveLength(1);
        expect(unmarked[0]).toMatchObject({ code: 11000 });
        expect(await events().countDocuments({ _id: { $gt: 71n } })).toBe(0);
      });
    });

    it('drops events older than maxAge seconds', async () => {
      database = randomNamespace();
      const old = new Date(Date.now() - 3_600_000);
      await events().insertMany(Array.from({ length: 63 }, (_, i) => ({ _id: BigInt(i + 1), event: wire(i + 1), at: old })));
      const bus = open({ mode: 'poll', maxAge: 60 });
      await bus.publish(event(64)); // sequence 64 prunes
      expect(await sequenceOf(1)).toEqual([64n]);
    });
  });
}
