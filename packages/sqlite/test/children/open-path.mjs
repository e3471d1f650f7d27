// Opens `new SqliteStorage(<path>)` in this process's working directory, saves a
// session and prints the resolved path. Usage: node open-path.mjs <path>
import { minimalSession } from '@mtstore/conformance';
import { SqliteStorage } from '@mtstore/sqlite';

const storage = new SqliteStorage(process.argv[2]);
await storage.save(minimalSession());
console.log(JSON.stringify({ path: storage.path }));
await storage.close();
