// Writes forever, acknowledging each write on stdout only after its promise
// resolved, until the test kills it with SIGKILL. Usage: node crash-writer.mjs <path> <start>
// Write i (start is a multiple of 3, so every run begins with a save):
//   i % 3 == 0: save(sessionAt(i))             state.pts = i, channel 7 at i
//   i % 3 == 1: saveUpdateState(pts i, [7 → i])
//   i % 3 == 2: peers.upsert(batchAt(i))       100 peers, ids i*1000 .. i*1000+99
import { writeSync } from 'node:fs';
import { SqliteStorage } from '@mtstore/sqlite';
import { batchAt, sessionAt, stateAt } from './crash-data.mjs';

const [path, start] = process.argv.slice(2);
const storage = new SqliteStorage({ path, name: 'crash' });
for (let i = Number(start); ; i++) {
  if (i % 3 === 0) await storage.save(sessionAt(i));
  else if (i % 3 === 1) await storage.saveUpdateState(stateAt(i), [{ id: 7n, pts: i }]);
  else await storage.peers.upsert(batchAt(i));
  writeSync(1, `ack ${i}\n`);
}
