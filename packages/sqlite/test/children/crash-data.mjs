// What crash-writer.mjs writes, shared with the test that checks it.
import { fullSession, peer } from '@mtstore/conformance';

export const stateAt = (i) => ({ pts: i, qts: i % 1000, date: 1_700_000_000 + i, seq: i % 777 });

export function sessionAt(i) {
  const session = fullSession(1 + (i % 5));
  session.apiId = 1 + i;
  session.state = stateAt(i);
  session.channels = [{ id: 7n, pts: i }, ...session.channels];
  return session;
}

export const BATCH = 100;

export const batchAt = (i) => Array.from({ length: BATCH }, (_, k) => peer('user', i * 1000 + k, { usernames: [`crash_${i}_${k}`] }));
