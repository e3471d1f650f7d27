// Child process of server-race.test.ts: one MongoSessionStorage (the adapter's source,
// bundled) answering the parent's IPC messages. argv: bundle, url, ttlSeconds, and
// optionally the removal lease's times as JSON (set through the bundle's
// serverInternals before the storage's first call). Each command waits until `at`
// (epoch ms) so the processes start together.
const [modulePath, url, ttl, lease] = process.argv.slice(2);
const { MongoSessionStorage, serverInternals } = await import(modulePath);
if (lease !== undefined) serverInternals.removalLease = JSON.parse(lease);
// A longer wait for a pool connection than mtstore's default: 100-300 creates at once queue
// for the pool, and FerretDB shared with the rest of a CI run (the kit's file beside this
// one) answered slowly enough that the default failed creates with a checkout timeout.
const storage = new MongoSessionStorage({ url, ttlSeconds: Number(ttl), clientOptions: { waitQueueTimeoutMS: 60_000 } });
const until = (at) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
const B = (x) => BigInt(x);

const commands = {
  // `n` concurrent createSession of one session.
  race: async ({ a, s, n, at }) => {
    await until(at);
    return Promise.all(Array.from({ length: n }, () => storage.createSession(B(a), B(s))));
  },
  // One createSession per id, all concurrent.
  createMany: async ({ a, ids, at }) => {
    await until(at);
    return Promise.all(ids.map((s) => storage.createSession(B(a), B(s))));
  },
  // expireSessions in a loop for `ms` (small batches: many sweeps interleave with the creates).
  sweep: async ({ at, ms, limit }) => {
    await until(at);
    const removed = [];
    for (const end = Date.now() + ms; Date.now() < end; ) {
      const batch = await storage.expireSessions(limit);
      removed.push(...batch.map((x) => `${x.authKeyId}:${x.sessionId}`));
      if (batch.length === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return removed;
  },
  exit: async () => {
    await storage.close();
    return 'bye';
  },
};

process.on('message', async ({ id, op, ...args }) => {
  try {
    process.send({ id, result: await commands[op](args) });
  } catch (error) {
    process.send({ id, error: String(error?.stack ?? error) });
  }
  if (op === 'exit') process.disconnect();
});
await storage.hasSession(1n, 1n); // connects and prepares the collection before the first race
process.send({ ready: true });
