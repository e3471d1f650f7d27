// One process of sqlite-processes.test.ts: opens the adapter on the shared SQLite file,
// holds its own session's lease (so every write is fenced: the lease row read first, in
// the write's transaction), writes an auth key and `rounds` batches of 20 peers, and
// prints one JSON line with its errors. The CommonJS build, as open.mjs explains.
import { createRequire } from 'node:module';

const { TypeormStorage } = createRequire(import.meta.url)('@mtstore/typeorm');
const [file, name, rounds] = process.argv.slice(2);

const storage = new TypeormStorage({ options: { type: 'better-sqlite3', database: file, enableWAL: true }, name });
const errors = [];
try {
  await storage.lease.acquire({ owner: { label: name }, ttlSeconds: 60 });
  await storage.authKeys.set(2, new Uint8Array(256).fill(7));
  for (let round = 1; round <= Number(rounds); round++) {
    const peers = Array.from({ length: 20 }, (_, k) => ({ type: 'user', id: BigInt(k + 1), accessHash: BigInt(round * 1000 + k), usernames: [`${name}_${k}`], updatedAt: round }));
    try {
      await storage.peers.upsert(peers);
    } catch (error) {
      errors.push(String(error?.message ?? error));
    }
  }
} catch (error) {
  errors.push(String(error?.message ?? error));
} finally {
  await storage.close();
}
console.log(JSON.stringify({ name, errors: errors.slice(0, 3), failed: errors.length }));
