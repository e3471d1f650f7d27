// A bot that goes idle in a database outage, through the built @mtstore/gramjs: it loads
// a session and stores DC 2's key, prints `ready`, and on `go` (sent once the test took
// the database away) sets a new key, awaits save() — the write fails, to onError — and
// prints `reported <n>` (onError calls so far). Then it does nothing more and leaves its
// storage open: the session's background retry, refused for as long as the outage lasts,
// must not keep the process alive, so it exits by itself. At exit: `exit <n>`.
// Usage: node idle-outage.mjs postgres <url through the proxy> <schema>.
import { writeSync } from 'node:fs';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { StorageSession } from '@mtstore/gramjs';
import { openFromArgs, untilStdinLine } from '@mtstore/test-adapters/child';

const { storage } = openFromArgs(process.argv.slice(2), 'idle');
const say = (line) => writeSync(1, `${line}\n`);
let reported = 0;
const session = new StorageSession(storage, {
  lease: false,
  onError: (error, operation) => {
    reported++;
    say(`error ${operation} ${error.code}`);
  },
});
process.on('exit', () => say(`exit ${reported}`));

const key = async (fill) => {
  const authKey = new AuthKey();
  await authKey.setKey(Buffer.alloc(256, fill));
  return authKey;
};
await session.load();
session.setDC(2, '149.154.167.51', 443);
session.setAuthKey(await key(1));
await session.save();
say('ready');
// Nothing more is read after it: stdin must not be what keeps the process alive either.
await untilStdinLine('go');
session.setAuthKey(await key(2));
await session.save();
say(`reported ${reported}`);
