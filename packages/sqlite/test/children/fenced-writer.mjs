// Takes the lease of session "raced" and writes kv entry "k" = i (i = 1, 2, …, as four
// bytes) as fast as it can, acknowledging each write on stdout only after its promise
// resolved, until a write is refused; then prints "refused <code> <i>" and exits.
// Usage: node fenced-writer.mjs <path>
import { writeSync } from 'node:fs';
import { SqliteStorage } from '@mtstore/sqlite';

const [path] = process.argv.slice(2);
const storage = new SqliteStorage({ path, name: 'raced' });
const lease = await storage.lease.acquire({ ttlSeconds: 600, heartbeat: false });
writeSync(1, `held ${lease.token}\n`);
for (let i = 1; ; i++) {
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, i);
  try {
    await storage.kv.set('k', value);
  } catch (error) {
    writeSync(1, `refused ${error.code} ${i}\n`);
    break;
  }
  writeSync(1, `ack ${i}\n`);
}
await storage.close();
