import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** The locking thread: takes the file's write lock, says so, lets go `ms` later, and ends. */
const LOCKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.exec('BEGIN EXCLUSIVE');
parentPort.postMessage('locked');
setTimeout(() => {
  db.exec('COMMIT');
  db.close();
}, workerData.ms);
`;

/**
 * Holds the write lock of the SQLite file at `path` for `ms` from another thread, as
 * another process would: the `interrupt` hook of the kit on SQLite (@mtstore/sqlite,
 * @mtstore/typeorm's better-sqlite3). Resolves once the lock is held.
 *
 * Not from the test's own thread: better-sqlite3 waits for a lock synchronously, so a
 * timer there that lets the lock go cannot fire while a write waits, and every write
 * waited out its whole busy timeout (5 s; 10 s per interrupt trait).
 *
 * Imported by path (the adapters' tests cannot depend on this package); better-sqlite3
 * is found where those packages install it.
 */
export function holdWriteLock(path: string, ms: number): Promise<void> {
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(LOCKER, { eval: true, workerData: { module, path, ms } });
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the locking thread ended (${code}) before it held the lock of ${path}`)));
  });
}
