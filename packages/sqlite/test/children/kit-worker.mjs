// The kit's worker processes open the adapter here (processes.module in
// conformance.test.ts): the same files as the test's `open`, in the directory the
// test process passes down in MTSTORE_SQLITE_KIT_DIR.
import { join } from 'node:path';
import { SqliteSessionStorage, SqliteStorage } from '@mtstore/sqlite';

const fileOf = (namespace) => join(process.env.MTSTORE_SQLITE_KIT_DIR, `${namespace}.sqlite`);

export const openStorage = (namespace, name) => new SqliteStorage({ path: fileOf(namespace), name });
export const openSessionStorage = (namespace) => new SqliteSessionStorage(fileOf(namespace));
