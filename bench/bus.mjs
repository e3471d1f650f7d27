#!/usr/bin/env node
// node bench/bus.mjs [--quick] [--adapter postgres,redis,mongo] [--rounds N] [--out file.json]
// (also run by `npm run bench` after the adapter rows; `--no-bus` there leaves it out)
//
// Session events across processes: the publisher is this process, the subscriber a
// child process (child_process.fork of this file with --subscriber), so each event
// crosses the server the way it does between two MTProto server nodes.
//
// For postgres (LISTEN/NOTIFY) and redis (pub/sub), mtstore's bus beside the raw driver
// doing the same work with the same payload (core's wire JSON, ~80 bytes):
//   - throughput: a burst of N events (20,000; --quick 5,000) published as SessionSubject
//     publishes a destroyAllSessions: 1,000 events started together, awaited, then the
//     next 1,000 (core EMIT_CHUNK); events/s = N / (last delivery in the subscriber −
//     first publish). Raw side: pg runs the statement the bus runs (`SELECT pg_notify($1,
//     payload) FROM unnest($2::text[])`, one per 1,000 payloads) on one pg.Client that
//     LISTENs; ioredis PUBLISHes each payload on its connection, a second one SUBSCRIBEd.
//     Both sides build each payload inside the timed loop (JSON.stringify), and the raw
//     subscriber JSON.parses each payload (to know which event arrived).
//   - latency: 1,000 events/s for 3 s (--quick 1 s), p50 / p99 from the publish call to
//     the subscriber's listener.
//   - ratio: mtstore events/s ÷ raw events/s, and raw p50 ÷ mtstore p50 (both ≥ 1 is mtstore
//     as fast; the project's target is ≥ 0.9×).
// mongo (FerretDB here: the bus polls its events collection every 100 ms) gets a short
// row of mtstore's bus only: its latency is the poll interval, not the driver's.
//
// Clocks: publisher and subscriber run on one machine, so each one's
// `performance.timeOrigin + performance.now()` reads the same clock (to well under a
// millisecond: timeOrigin is taken from the wall clock at process start) and the
// difference is the delivery time. Rounds alternate which side goes first; rows show
// medians over rounds (3 with --quick, else 5), the ratio the median per-round ratio.
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const SELF = fileURLToPath(import.meta.url);
/** Events SessionSubject publishes before it awaits them (core subject.ts EMIT_CHUNK). */
const CHUNK = 1_000;
const ORIGIN = '3f1c2a90-5b7e-4d21-9a3c-8e6f0b4d2c17';
/** The raw pg statement: the one the bus sends (packages/postgres/src/bus.ts NOTIFY). */
const PG_NOTIFY = 'SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload';

const now = () => performance.timeOrigin + performance.now();

/** The event of index `i` of run `run`: a destroyed event as SessionSubject makes it. */
const eventOf = (run, i) => Object.freeze({ type: 'destroyed', authKeyId: BigInt(run), sessionId: BigInt(i), origin: ORIGIN, reason: 'explicit' });
/** The raw side's payload: the same JSON the bus sends (core encodeSessionEvent). */
const payloadOf = (run, i) => JSON.stringify({ t: 'd', a: String(run), s: String(i), o: ORIGIN, r: 'e' });

function names(adapter, tag) {
  return { schema: `mt_bench_bus_${tag}`, prefix: `mtstore-bench-bus:${tag}:`, rawChannel: `mt_bench_bus_raw_${tag}`, database: `mt_bench_bus_${tag}` };
}

// ---------------------------------------------------------------- subscriber (child)

async function subscriber(adapter, tag) {
  const n = names(adapter, tag);
  /** What the parent armed: which side and run to record, into arrivals[index]. */
  let armed = { side: '', run: -1, count: 0, arrivals: new Float64Array(0), want: 0, first: 0, last: 0, full: false };
  const record = (side, run, index) => {
    const t = now();
    if (side !== armed.side || run !== armed.run) return;
    if (index >= armed.arrivals.length || armed.arrivals[index] !== 0) return;
    armed.arrivals[index] = t;
    if (armed.count === 0) armed.first = t;
    armed.last = t;
    if (++armed.count === armed.want) report();
  };
  const report = () => {
    process.send({ kind: 'done', side: armed.side, run: armed.run, count: armed.count, first: armed.first, last: armed.last, arrivals: armed.full ? Array.from(armed.arrivals) : undefined });
    armed = { ...armed, side: '', run: -1 };
  };
  const closers = [];
  // mtstore's bus: the listener reads what SessionSubject's #onRemote reads.
  const bus = await openBus(adapter, n);
  closers.push(() => bus.close());
  await bus.subscribe((event) => record('mtstore', Number(event.authKeyId), Number(event.sessionId)));
  if (adapter === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    client.on('notification', (message) => {
      const wire = JSON.parse(message.payload);
      record('raw', Number(wire.a), Number(wire.s));
    });
    await client.query(`LISTEN "${n.rawChannel}"`);
    closers.push(() => client.end());
  } else if (adapter === 'redis') {
    const { Redis } = await import('ioredis');
    const client = new Redis(REDIS_URL);
    client.on('message', (channel, message) => {
      const wire = JSON.parse(message);
      record('raw', Number(wire.a), Number(wire.s));
    });
    await client.subscribe(n.rawChannel);
    closers.push(async () => client.disconnect());
  }
  process.on('message', async (message) => {
    if (message.kind === 'arm') {
      armed = { side: message.side, run: message.run, count: 0, arrivals: new Float64Array(message.want), want: message.want, first: 0, last: 0, full: message.full };
      process.send({ kind: 'armed' });
    } else if (message.kind === 'stop') {
      // The parent gave up waiting: tell what arrived.
      if (armed.side !== '') report();
    } else if (message.kind === 'close') {
      for (const close of closers) await close();
      process.send({ kind: 'closed' });
      process.disconnect();
    }
  });
  process.send({ kind: 'ready' });
}

async function openBus(adapter, n) {
  switch (adapter) {
    case 'postgres': {
      const { PostgresSessionEventBus } = await import('@mtstore/postgres');
      return new PostgresSessionEventBus({ connectionString: POSTGRES_URL, schema: n.schema });
    }
    case 'redis': {
      const { RedisSessionEventBus } = await import('@mtstore/redis');
      return new RedisSessionEventBus({ url: REDIS_URL, prefix: n.prefix });
    }
    case 'mongo': {
      const { MongoSessionEventBus } = await import('@mtstore/mongo');
      return new MongoSessionEventBus({ url: MONGODB_URL, database: n.database });
    }
  }
  throw new Error(`bench/bus: no bus for ${adapter}`);
}

// ---------------------------------------------------------------- publisher (parent)

/** The child, with a way to wait for its next message of a kind. */
async function spawnSubscriber(adapter, tag) {
  const child = fork(SELF, ['--subscriber', adapter, tag], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map();
  child.on('message', (message) => {
    const resolve = waiting.get(message.kind);
    waiting.delete(message.kind);
    resolve?.(message);
  });
  const exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`bench/bus: the ${adapter} subscriber exited (${code})`))));
  exited.catch(() => {});
  const next = (kind, ms = 60_000) =>
    Promise.race([
      new Promise((resolve) => waiting.set(kind, resolve)),
      exited,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`bench/bus: no '${kind}' from the ${adapter} subscriber in ${ms} ms`)), ms).unref()),
    ]);
  await next('ready');
  return { child, next };
}

/** The publishing side: publish(run, i) starts one event; burst(run, from, to) as SessionSubject does. */
async function openPublishers(adapter, n) {
  const bus = await openBus(adapter, n);
  // The publishing node's SessionSubject is subscribed on its bus too, and hears its own
  // events back (dropped by origin, SessionSubject #onRemote): so is this one.
  let heardOwn = 0;
  await bus.subscribe((event) => {
    if (event.origin === ORIGIN) heardOwn++;
  });
  const mtstore = { publish: (run, i) => bus.publish(eventOf(run, i)), close: () => bus.close() };
  let raw;
  if (adapter === 'postgres') {
    const pg = (await import('pg')).default;
    // The bus's connection LISTENs on its channel and hears its own events: so does this one.
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    let queue = Promise.resolve();
    client.on('notification', (message) => {
      if (JSON.parse(message.payload).o === ORIGIN) heardOwn++;
    });
    await client.query(`LISTEN "${n.rawChannel}"`);
    raw = {
      // One statement per event, one at a time: pg 8 queues concurrent queries itself but warns that pg 9 will not.
      publish: (run, i) => {
        const payload = payloadOf(run, i);
        const sent = queue.then(() => client.query({ text: PG_NOTIFY, values: [n.rawChannel, [payload]] }));
        queue = sent.catch(() => undefined);
        return sent;
      },
      // The bus sends 1,000 publishes made together in one statement: so does the raw side.
      burst: (run, from, to) => {
        const payloads = [];
        for (let i = from; i < to; i++) payloads.push(payloadOf(run, i));
        return client.query({ text: PG_NOTIFY, values: [n.rawChannel, payloads] });
      },
      close: () => client.end(),
    };
  } else if (adapter === 'redis') {
    const { Redis } = await import('ioredis');
    const client = new Redis(REDIS_URL);
    await client.ping();
    // The bus's own subscriber connection hears the publisher's events: so does this one.
    const own = new Redis(REDIS_URL);
    own.on('message', (channel, message) => {
      if (JSON.parse(message).o === ORIGIN) heardOwn++;
    });
    await own.subscribe(n.rawChannel);
    raw = {
      publish: (run, i) => client.publish(n.rawChannel, payloadOf(run, i)),
      close: async () => {
        client.disconnect();
        own.disconnect();
      },
    };
  }
  const burstOf = (side) => side.burst ?? ((run, from, to) => {
    const wave = [];
    for (let i = from; i < to; i++) wave.push(side.publish(run, i));
    return Promise.all(wave);
  });
  mtstore.burst = burstOf(mtstore);
  if (raw) raw.burst = burstOf(raw);
  return raw ? { mtstore, raw } : { mtstore };
}

let runCounter = 1;

/** One burst of `count` events in chunks of `chunk`: events/s end to end. */
async function throughput(sub, side, publisher, count, chunk) {
  const run = runCounter++;
  sub.child.send({ kind: 'arm', side, run, want: count, full: false });
  await sub.next('armed');
  const done = sub.next('done', 120_000);
  const start = now();
  for (let i = 0; i < count; i += chunk) await publisher.burst(run, i, Math.min(count, i + chunk));
  const published = now();
  const timer = setTimeout(() => sub.child.send({ kind: 'stop' }), 10_000 + (published - start) * 2);
  const result = await done;
  clearTimeout(timer);
  return { eventsPerSecond: (result.count * 1000) / (result.last - start), delivered: result.count, publishMs: published - start };
}

/** `rate` events/s for `seconds`: delivery time of each, p50 / p99. */
async function latency(sub, side, publisher, rate, seconds) {
  const run = runCounter++;
  const count = Math.round(rate * seconds);
  sub.child.send({ kind: 'arm', side, run, want: count, full: true });
  await sub.next('armed');
  const done = sub.next('done', 120_000);
  const sent = new Float64Array(count);
  const pending = [];
  const start = now();
  let i = 0;
  // Each turn publishes the events due by now (a timer fires every ~1 ms at best).
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(count, Math.floor(((now() - start) * rate) / 1000) + 1);
      for (; i < due; i++) {
        sent[i] = now();
        pending.push(publisher.publish(run, i));
      }
      if (i < count) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(pending);
  const timer = setTimeout(() => sub.child.send({ kind: 'stop' }), 10_000);
  const result = await done;
  clearTimeout(timer);
  const delays = [];
  for (let k = 0; k < count; k++) if (result.arrivals[k] !== 0) delays.push(result.arrivals[k] - sent[k]);
  delays.sort((a, b) => a - b);
  return { p50Ms: quantile(delays, 0.5), p99Ms: quantile(delays, 0.99), delivered: delays.length, count };
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');

async function reachable(adapter) {
  try {
    if (adapter === 'postgres') {
      const pg = (await import('pg')).default;
      const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 });
      await client.connect();
      await client.end();
    } else if (adapter === 'redis') {
      const { Redis } = await import('ioredis');
      const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => {});
      await client.connect();
      await client.ping();
      client.disconnect();
    } else if (adapter === 'mongo') {
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 2_000 });
      await client.db('admin').command({ ping: 1 });
      await client.close();
    }
    return undefined;
  } catch (error) {
    return error.message;
  }
}

/** Drops what a run left: the mongo bus's database (postgres and redis buses store nothing). */
async function cleanup(adapter, n) {
  if (adapter !== 'mongo') return;
  const { MongoClient } = await import('mongodb');
  const admin = new MongoClient(MONGODB_URL);
  await admin.db(n.database).dropDatabase();
  await admin.close();
}

export async function benchBus({ quick = false, only, rounds } = {}) {
  const roundCount = rounds ?? (quick ? 3 : 5);
  const burst = quick ? 5_000 : 20_000;
  const rate = 1_000;
  const seconds = quick ? 1 : 3;
  const rows = [];
  for (const adapter of ['postgres', 'redis', 'mongo'].filter((a) => !only || only.includes(a))) {
    const reason = await reachable(adapter);
    if (reason) {
      console.log(`bus       ${adapter}: skipped (${reason})`);
      continue;
    }
    const tag = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const n = names(adapter, tag);
    const sub = await spawnSubscriber(adapter, tag);
    const publishers = await openPublishers(adapter, n);
    try {
      if (adapter === 'mongo') {
        // Polled: a short row of mtstore's bus alone. Small, sequential chunks: FerretDB
        // deadlocks under many concurrent writes, and the bus keeps 1,000 events by default.
        const tp = [];
        const lat = [];
        for (let r = 0; r < Math.min(roundCount, 3); r++) {
          tp.push(await throughput(sub, 'mtstore', publishers.mtstore, 1_000, 50));
          lat.push(await latency(sub, 'mtstore', publishers.mtstore, 100, quick ? 1 : 2));
        }
        const row = { adapter, kind: 'polled', burst: 1_000, rate: 100, mtstoreEventsPerSecond: median(tp.map((t) => t.eventsPerSecond)), mtstoreP50Ms: median(lat.map((l) => l.p50Ms)), mtstoreP99Ms: median(lat.map((l) => l.p99Ms)), lost: tp.some((t) => t.delivered < 1_000) || lat.some((l) => l.delivered < l.count), rounds: tp.length };
        rows.push(row);
        console.log(`bus       mongo (polled)  burst 1,000: ${fmt(row.mtstoreEventsPerSecond)} events/s; 100/s: p50 ${row.mtstoreP50Ms.toFixed(1)} ms, p99 ${row.mtstoreP99Ms.toFixed(1)} ms (mtstore only)${row.lost ? '  (events lost!)' : ''}`);
        continue;
      }
      // Warm-up: connections made, statements planned, JIT warm, on both sides; a whole
      // burst each, so the heap has grown to a burst's size too (with 2,000 events, the
      // first measured burst, mtstore's in round 0, paid for the heap's growth: ~2.5× the CPU
      // of the next ones, its round's ratio 0.4-0.8).
      for (const side of ['mtstore', 'raw']) await throughput(sub, side, publishers[side], burst, CHUNK);
      const tp = { mtstore: [], raw: [], ratio: [] };
      const lat = { mtstore: [], raw: [], ratio: [] };
      for (let r = 0; r < roundCount; r++) {
        const order = r % 2 === 0 ? ['mtstore', 'raw'] : ['raw', 'mtstore'];
        const t = {};
        for (const side of order) t[side] = await throughput(sub, side, publishers[side], burst, CHUNK);
        tp.mtstore.push(t.mtstore);
        tp.raw.push(t.raw);
        tp.ratio.push(t.mtstore.eventsPerSecond / t.raw.eventsPerSecond);
        const l = {};
        for (const side of order) l[side] = await latency(sub, side, publishers[side], rate, seconds);
        lat.mtstore.push(l.mtstore);
        lat.raw.push(l.raw);
        lat.ratio.push(l.raw.p50Ms / l.mtstore.p50Ms);
      }
      const lost = [...tp.mtstore, ...tp.raw].some((t) => t.delivered < burst) || [...lat.mtstore, ...lat.raw].some((l) => l.delivered < l.count);
      const row = {
        adapter,
        burst,
        rate,
        seconds,
        mtstoreEventsPerSecond: median(tp.mtstore.map((t) => t.eventsPerSecond)),
        rawEventsPerSecond: median(tp.raw.map((t) => t.eventsPerSecond)),
        throughputRatio: median(tp.ratio),
        mtstoreP50Ms: median(lat.mtstore.map((l) => l.p50Ms)),
        mtstoreP99Ms: median(lat.mtstore.map((l) => l.p99Ms)),
        rawP50Ms: median(lat.raw.map((l) => l.p50Ms)),
        rawP99Ms: median(lat.raw.map((l) => l.p99Ms)),
        latencyRatio: median(lat.ratio),
        lost,
        rounds: roundCount,
      };
      rows.push(row);
      console.log(
        `bus       ${adapter.padEnd(9)} burst ${fmt(burst)}: mtstore ${fmt(row.mtstoreEventsPerSecond)} events/s  raw ${fmt(row.rawEventsPerSecond)} events/s  ratio ${row.throughputRatio.toFixed(2)}` +
          `  | ${fmt(rate)}/s: mtstore p50 ${row.mtstoreP50Ms.toFixed(2)} ms p99 ${row.mtstoreP99Ms.toFixed(2)} ms  raw p50 ${row.rawP50Ms.toFixed(2)} ms p99 ${row.rawP99Ms.toFixed(2)} ms  ratio (raw/mtstore p50) ${row.latencyRatio.toFixed(2)}${lost ? '  (events lost!)' : ''}`,
      );
    } finally {
      for (const side of Object.values(publishers)) await side.close();
      sub.child.send({ kind: 'close' });
      await sub.next('closed', 10_000).catch(() => sub.child.kill());
      await cleanup(adapter, n);
    }
  }
  const below = rows.filter((r) => r.kind !== 'polled' && (r.throughputRatio < 0.9 || r.latencyRatio < 0.9));
  if (below.length) console.log(`bus rows below 0.9×: ${below.map((r) => r.adapter).join(', ')}`);
  return rows;
}

// ---------------------------------------------------------------- entry

if (process.argv[1] === SELF) {
  const args = process.argv.slice(2);
  if (args[0] === '--subscriber') {
    await subscriber(args[1], args[2]);
  } else {
    const option = (name) => {
      const i = args.indexOf(`--${name}`);
      return i === -1 ? undefined : args[i + 1];
    };
    const quick = args.includes('--quick');
    const rounds = option('rounds') === undefined ? undefined : Number(option('rounds'));
    if (rounds !== undefined && (!Number.isInteger(rounds) || rounds < 1)) throw new Error(`bench/bus: --rounds must be a positive integer, got ${JSON.stringify(option('rounds'))}`);
    const load = loadavg();
    const rows = await benchBus({ quick, only: option('adapter')?.split(','), rounds });
    const out = option('out');
    if (out) {
      const machine = { cpus: `${cpus().length}× ${cpus()[0]?.model ?? 'unknown'}`, node: process.version, loadBefore: load.map((l) => l.toFixed(2)).join(' ') };
      writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), machine, quick, rows }, null, 2)}\n`);
      console.log(`wrote ${out}`);
    }
  }
}
