// Writes forever to session "w<tag>" and the server sessions of auth key <tag>,
// acknowledging each write on stdout only after its promise resolved, until the test
// kills it with SIGKILL. Prints "ready" once the storages are constructed (the file is
// opened by the first write). Usage: node crash-mixed.mjs <path> <tag> <start>
// Write i, by i % 6:
//   0 save: apiId i + 1, state pts i, two DC rows, channel 7 at i
//   1 saveUpdateState pts i, channel 7 → i
//   2 peers.upsert of 50 users, ids i*100 .. i*100+49, each with a username
//   3 kv.set k<i>
//   4 createSession(<tag>, i) on the server storage
//   5 authKeys.setTemp(2, slot i % 4)
import { writeSync } from 'node:fs';
import { SqliteSessionStorage, SqliteStorage } from '@mtstore/sqlite';

const [path, tagArg, startArg] = process.argv.slice(2);
const tag = Number(tagArg);
const client = new SqliteStorage({ path, name: `w${tag}` });
const server = new SqliteSessionStorage(path);
const key = (i) => new Uint8Array(256).fill(i & 255);
const session = (i) => ({
  version: 1,
  homeDcId: 2,
  apiId: i + 1,
  dcs: [
    { id: 2, ipv4: '149.154.167.51', port: 443, authKey: key(i) },
    { id: 4, ipv4: '149.154.167.91', port: 443 },
  ],
  channels: [{ id: 7n, pts: i }],
  state: { pts: i, qts: 1, date: 1_700_000_000, seq: 1 },
});
const peer = (id, username) => ({ type: 'user', id: BigInt(id), accessHash: BigInt(id) * 3n, usernames: [username], updatedAt: 1_700_000_000 });

writeSync(1, 'ready\n');
for (let i = Number(startArg); ; i++) {
  const kind = i % 6;
  if (kind === 0) await client.save(session(i));
  else if (kind === 1) await client.saveUpdateState({ pts: i, qts: 1, date: 1_700_000_000, seq: 1 }, [{ id: 7n, pts: i }]);
  else if (kind === 2) await client.peers.upsert(Array.from({ length: 50 }, (_, j) => peer(i * 100 + j, `u${tag}_${i}_${j}`)));
  else if (kind === 3) await client.kv.set(`k${i}`, Uint8Array.of(i & 255, tag));
  else if (kind === 4) await server.createSession(BigInt(tag), BigInt(i));
  else await client.authKeys.setTemp(2, { index: i % 4, key: key(i), expiresAt: 1_900_000_000 + i });
  writeSync(1, `ack ${i}\n`);
}
