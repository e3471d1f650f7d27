/**
 * Removals of one server session racing each other on FerretDB 1.x, whose filtered
 * delete reads the match and then deletes by `_id` whatever is there by then. In each
 * round one caller destroys the session and, once it has, creates it again, while a
 * third caller, whose clock is two minutes ahead, removes it too (destroySession,
 * destroyAllSessions or expireSessions). The new session is not one the third caller
 * may remove: for its destroys it expired a minute before its clock's now, and for its
 * sweep it never expires. So the third caller may only have removed the first session,
 * which the first caller already reported.
 */
import { describe, expect, it } from 'vitest';
import { MongoSessionStorage } from '../src/index.js';
import { adminClient, scratch, server, urlFor } from './server.js';

const AHEAD_MS = 120_000;
/** Rounds of PARALLEL races each, on as many sessions: FerretDB takes ~50 ms a race on a quiet machine, seconds on a loaded one. */
const ROUNDS = 15;
const PARALLEL = 10;

const ferretdb1 = server.available && /^v?1\./.test(String((await adminClient().db('admin').command({ buildInfo: 1 })).ferretdbVersion ?? ''));

describe.runIf(ferretdb1)('server sessions on FerretDB 1.x: removals of one session never take a newer one', () => {
  const { fresh, track } = scratch();

  it(`destroySession / destroyAllSessions / expireSessions by a node ahead, racing a destroy and a re-create: ${ROUNDS * PARALLEL} races`, async () => {
    const database = fresh();
    const open = (options: { ttlSeconds?: number; clock?: () => number } = {}) => track(new MongoSessionStorage({ url: urlFor(database), ...options }));
    const ahead = open({ clock: () => Date.now() + AHEAD_MS });
    const never = open(); // sessions without expiry
    const minute = open({ ttlSeconds: 60 }); // expired by ahead's clock
    // Each race on its own auth key; `remove` is the third caller's, for all the round's races at once.
    type Race = { authKeyId: bigint; sessionId: bigint };
    const kinds = [
      { name: 'destroySession', first: never, again: minute, remove: (races: Race[]) => Promise.all(races.map((r) => ahead.destroySession(r.authKeyId, r.sessionId))) },
      {
        name: 'destroyAllSessions',
        first: never,
        again: minute,
        remove: (races: Race[]) => Promise.all(races.map(async (r) => (await ahead.destroyAllSessions(r.authKeyId)).includes(r.sessionId))),
      },
      {
        name: 'expireSessions',
        first: minute,
        again: never,
        remove: async (races: Race[]) => {
          const swept = await ahead.expireSessions(races.length);
          return races.map((r) => swept.some((x) => x.authKeyId === r.authKeyId && x.sessionId === r.sessionId));
        },
      },
    ];
    const wrong: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const kind = kinds[round % kinds.length] as (typeof kinds)[number];
      const races = Array.from({ length: PARALLEL }, (_, i) => ({ authKeyId: BigInt(i + 1), sessionId: BigInt(round) }));
      await Promise.all(races.map((r) => kind.first.createSession(r.authKeyId, r.sessionId)));
      const recreated = races.map(() => false);
      const [third, first] = await Promise.all([
        kind.remove(races),
        Promise.all(
          races.map(async (r, i) => {
            const destroyed = await never.destroySession(r.authKeyId, r.sessionId);
            // Only now can a new session exist: whatever the third caller removed before, it was the first one.
            if (destroyed) recreated[i] = await kind.again.createSession(r.authKeyId, r.sessionId);
            return destroyed;
          }),
        ),
      ]);
      const present = await Promise.all(races.map((r) => never.hasSession(r.authKeyId, r.sessionId)));
      races.forEach((r, i) => {
        const at = `${kind.name} ${r.authKeyId}:${r.sessionId}`;
        if (first[i] && third[i]) wrong.push(`${at}: both removed the one session they could see`);
        if (recreated[i] && !present[i]) wrong.push(`${at}: the session created again vanished`);
      });
      await Promise.all(races.map((r) => never.destroySession(r.authKeyId, r.sessionId)));
    }
    expect(wrong).toEqual([]);
  }, 60_000);
});
