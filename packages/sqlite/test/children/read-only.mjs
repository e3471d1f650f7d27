// Opens `new SqliteStorage({ path, name: 'a' })` and prints one JSON line per call:
// load, kv.get('x'), kv.set('x'). Run by open.test.ts as a user that cannot write the
// file or its directory. Usage: node read-only.mjs <path>
import { SqliteStorage } from '@mtstore/sqlite';

const storage = new SqliteStorage({ path: process.argv[2], name: 'a' });
const calls = {
  load: async () => (await storage.load())?.homeDcId ?? null,
  get: async () => [...((await storage.kv.get('x')) ?? [])],
  set: () => storage.kv.set('x', Uint8Array.of(2)),
};
for (const [name, call] of Object.entries(calls)) {
  try {
    console.log(JSON.stringify({ name, value: (await call()) ?? null }));
  } catch (error) {
    console.log(JSON.stringify({ name, code: error.code, message: error.message }));
  }
}
await storage.close();
