/**
 * Stored data the adapter's own code never writes (docs/contract.md §8, §10), planted
 * by the factory's optional `tamper` hook: a hand-edited row or field, a store from a
 * newer release, another library's session file. Reading it must answer with a typed
 * error — CorruptDataError naming the session for damaged values, MigrationError for a
 * store the adapter must not use — never a wrong value, a TypeError or a silently
 * "repaired" store; and the damage stays where it is: other sessions, the damaged
 * session's other data and other backends keep working.
 */
import { DAMAGES, type Damage, type TamperOption } from '../api.js';
import { fullSession, peer } from '../fixtures.js';
import { SESSION_DAMAGES } from '../tamper-session.js';
import { expectRejects, keyBytesInError } from '../harness.js';
import type { StorageRegistrar, StorageScope } from './context.js';

const CORRUPT = 'MTSTORE_CORRUPT_DATA';
const MIGRATION = 'MTSTORE_MIGRATION';

const PEER_DAMAGES: readonly Damage[] = ['peer-type-unknown', 'peer-usernames-not-list', 'peer-usernames-not-text', 'peer-complete-not-bytes', 'peer-access-hash-not-integer'];
const REF_DAMAGES: readonly Damage[] = ['ref-chat-id-not-integer', 'ref-peer-id-not-integer'];
const VERSION_DAMAGES: readonly Damage[] = ['version-newer', 'version-zero', 'version-absent', 'marker-absent'];
const FOREIGN_DAMAGES: readonly Damage[] = ['foreign-telethon', 'foreign-pyrogram', 'foreign-mtcute'];

/** The peer the peer damages hit: user 1 with a username, a phone and TL bytes. */
const damaged = () => peer('user', 1, { complete: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]) });

/** Registers `name` for `damage`, or skips it with the reason when the hook cannot plant it. */
function forDamage(
  { test, skip }: StorageRegistrar,
  tamper: TamperOption | undefined,
  damage: Damage,
  name: string,
  body: (s: StorageScope, apply: () => Promise<void>) => Promise<void>,
): void {
  const full = `${damage}: ${name}`;
  if (tamper === undefined) skip(full, 'no tamper hook given (the kit cannot plant data the adapter never writes)');
  else if (!tamper.kinds.includes(damage)) skip(full, `the tamper hook does not plant ${damage} (${DAMAGES[damage]})`);
  else test(full, (s) => body(s, async () => tamper.apply(s.namespace, 'main', damage)));
}

/**
 * A secret kv value stored beside the damage (kv values are secrets, docs/contract.md §4),
 * long enough for the leak search (12 bytes or more in a row).
 */
const SECRET_KV = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
/** The keys (permanent and temporary) of fullSession(1), which every trait here saves. */
const KEYS = fullSession(1).dcs.flatMap((dc) => [dc.authKey, ...(dc.tempAuthKeys ?? []).map((t) => t.key)]).filter((k): k is Uint8Array => k !== undefined);

/**
 * The error about damaged data shows neither the session's keys nor a kv value (§8: no
 * error shows key bytes; §4: nor kv values): an adapter that describes the damaged row or
 * document by quoting it (one JSON document per session holds the keys beside the user)
 * passed every check above. Searched as the faults traits search: message, stack,
 * cause chain, util.inspect; hex, base64, decimal lists, raw bytes.
 */
function showsNoSecret(r: StorageRegistrar, error: unknown, what: string): void {
  r.expect(keyBytesInError(error, KEYS), `${what}: the error about damaged data shows key bytes`).toBe(undefined);
  r.expect(keyBytesInError(error, [SECRET_KV]), `${what}: the error about damaged data shows the bytes of a kv value`).toBe(undefined);
}

/** The message must name the session: a CorruptDataError says which session / row. */
function namesSession(r: StorageRegistrar, error: Error, what: string): void {
  r.expect(/\bmain\b/.test(error.message), `${what}: the message names the session "main": ${error.message}`).toBe(true);
}

export function tamperedData(r: StorageRegistrar): void {
  const { group, expect, options } = r;
  const tamper = options.tamper;
  group('tampered data', () => {
    for (const damage of SESSION_DAMAGES) {
      forDamage(r, tamper, damage, 'load rejects CorruptDataError naming the session; its peers, keys API and kv, and other names keep working; delete and save recover', async (s, apply) => {
        const storage = await s.open();
        const other = await s.open('other');
        await storage.save(fullSession(1));
        await storage.peers.upsert([peer('user', 1)]);
        await storage.kv.set('k', Uint8Array.from([1, 2, 3]));
        await storage.kv.set('salts:2', SECRET_KV, { secret: true });
        await other.save(fullSession(2));
        await apply();
        const error = await expectRejects(expect, `load of a snapshot with ${damage}`, CORRUPT, () => storage.load());
        namesSession(r, error, 'load');
        showsNoSecret(r, error, 'load');
        const fresh = await expectRejects(expect, `load of a snapshot with ${damage} on a fresh instance`, CORRUPT, async () => (await s.open()).load());
        showsNoSecret(r, fresh, 'load on a fresh instance');
        expect(await other.load(), 'another name in the same backend').toEqual(fullSession(2));
        expect(await storage.peers.getByUsername('user_1'), 'the damaged session’s peers').toEqual(peer('user', 1));
        expect(await storage.kv.get('k'), 'the damaged session’s kv').toEqual(Uint8Array.from([1, 2, 3]));
        await storage.delete();
        expect(await storage.load(), 'load after delete').toBeNull();
        await storage.save(fullSession(3));
        expect(await storage.load(), 'save after the damage').toEqual(fullSession(3));
      });
    }

    for (const damage of PEER_DAMAGES) {
      forDamage(r, tamper, damage, 'every read that would return the peer rejects CorruptDataError naming the session (or finds nothing); other peers, the snapshot and other names keep working', async (s, apply) => {
        const storage = await s.open();
        const other = await s.open('other');
        await storage.save(fullSession(1));
        await storage.peers.upsert([damaged(), peer('user', 2), peer('channel', 3)]);
        await storage.kv.set('salts:2', SECRET_KV, { secret: true });
        await other.save(fullSession(2));
        await other.peers.upsert([damaged()]);
        await apply();
        // A peer whose type moved is no longer user 1: by id it may find nothing. Whatever
        // answers, never a peer that is not what was stored.
        const reads: [string, () => Promise<unknown>][] = [
          ['peers.getById', () => storage.peers.getById('user', 1n)],
          ['peers.getByUsername', () => storage.peers.getByUsername('USER_1')],
          ['peers.getByPhone', () => storage.peers.getByPhone(damaged().phone as string)],
        ];
        for (const [what, read] of reads) {
          let outcome: unknown;
          try {
            outcome = await read();
          } catch (error) {
            outcome = error;
          }
          if (outcome === null && damage === 'peer-type-unknown') continue;
          const code = (outcome as { code?: unknown } | null)?.code;
          expect(code, `${what} of a peer with ${damage} must reject with ${CORRUPT}, got ${outcome instanceof Error ? outcome.message : JSON.stringify(outcome, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`).toBe(CORRUPT);
          namesSession(r, outcome as Error, what);
          showsNoSecret(r, outcome, what);
        }
        const listed = await expectRejects(expect, `peers.list over a peer with ${damage}`, CORRUPT, () => storage.peers.list());
        namesSession(r, listed, 'peers.list');
        showsNoSecret(r, listed, 'peers.list');
        expect(await storage.peers.getById('user', 2n), 'another peer').toEqual(peer('user', 2));
        expect(await storage.peers.getByUsername('channel_3'), 'another peer by username').toEqual(peer('channel', 3));
        expect(await storage.load(), 'the snapshot of the damaged session').toEqual(fullSession(1));
        expect(await other.peers.getById('user', 1n), 'the same peer of another name').toEqual(damaged());
        // Storing the peer again replaces the damaged record, or is refused as damaged
        // data (never StorageUnavailableError, which a caller retries); peers.clear() recovers.
        try {
          await storage.peers.upsert([damaged()]);
          expect(await storage.peers.getByUsername('user_1'), 'the peer stored again').toEqual(damaged());
        } catch (error) {
          expect((error as { code?: unknown }).code, `peers.upsert over a peer with ${damage} resolves or rejects ${CORRUPT}: ${(error as Error).message}`).toBe(CORRUPT);
          namesSession(r, error as Error, 'peers.upsert');
          showsNoSecret(r, error, 'peers.upsert');
        }
        await storage.peers.clear();
        await storage.peers.upsert([damaged()]);
        expect(await storage.peers.getByUsername('user_1'), 'the peer stored after peers.clear()').toEqual(damaged());
      });
    }

    forDamage(r, tamper, 'peer-usernames-respelled', 'valid data in a spelling the adapter never writes reads back as stored, by id, by every username and in the listing', async (s, apply) => {
      const storage = await s.open();
      await storage.save(fullSession(1));
      // Three names: a split on the writer's `","` leaves one clean piece and one with quotes.
      const one = peer('user', 1, { usernames: ['user_1', 'User1_alt', 'user_1_c'] });
      const two = peer('user', 2);
      const three = peer('user', 3, { usernames: ['user_3', 'User3_alt'] });
      await storage.peers.upsert([one, two, three]);
      await apply();
      for (const p of [one, two, three]) {
        expect(await storage.peers.getById('user', p.id), `peer ${p.id} by id`).toEqual(p);
        for (const username of p.usernames) expect(await storage.peers.getByUsername(username), `peer ${p.id} by ${username}`).toEqual(p);
      }
      const { peers: listed } = await storage.peers.list();
      expect(listed, 'the listing').toHaveLength(3);
      for (const p of [one, two, three]) expect(listed, 'the listing').toContainEqual(p);
    });

    forDamage(r, tamper, 'kv-value-not-bytes', 'kv.get and kv.entries reject CorruptDataError naming the session; other entries, the snapshot and other names keep working', async (s, apply) => {
      const storage = await s.open();
      const other = await s.open('other');
      await storage.save(fullSession(1));
      await storage.kv.set('k', Uint8Array.from([1, 2, 3]));
      await storage.kv.set('j', Uint8Array.from([4]));
      await storage.kv.set('salts:2', SECRET_KV, { secret: true });
      await other.save(fullSession(2));
      await other.kv.set('k', Uint8Array.from([5]));
      await apply();
      const got = await expectRejects(expect, 'kv.get of a value that is not bytes', CORRUPT, () => storage.kv.get('k'));
      namesSession(r, got, 'kv.get');
      showsNoSecret(r, got, 'kv.get');
      const listed = await expectRejects(expect, 'kv.entries over a value that is not bytes', CORRUPT, () => storage.kv.entries());
      namesSession(r, listed, 'kv.entries');
      // The other entries' values are what a listing's error is most likely to quote.
      showsNoSecret(r, listed, 'kv.entries');
      expect(await storage.kv.get('j'), 'another entry').toEqual(Uint8Array.from([4]));
      expect(await other.kv.get('k'), 'the same key of another name').toEqual(Uint8Array.from([5]));
      expect(await storage.load(), 'the snapshot').toEqual(fullSession(1));
      await storage.kv.set('k', Uint8Array.from([6]));
      expect(await storage.kv.get('k'), 'the entry written again').toEqual(Uint8Array.from([6]));
    });

    for (const damage of REF_DAMAGES) {
      forDamage(r, tamper, damage, 'refMessages.list rejects CorruptDataError naming the session, and getByPeer of that peer too (or finds nothing); other references, the snapshot and other names keep working; clear recovers', async (s, apply) => {
        const storage = await s.open();
        const other = await s.open('other');
        await storage.save(fullSession(1));
        await storage.refMessages.store(7n, -100n, 5);
        await storage.refMessages.store(8n, -200n, 6);
        await storage.kv.set('salts:2', SECRET_KV, { secret: true });
        await other.refMessages.store(7n, -100n, 5);
        await apply();
        // A reference whose peer id is damaged is no longer peer 7's: by peer it may find nothing.
        let outcome: unknown;
        try {
          outcome = await storage.refMessages.getByPeer(7n);
        } catch (error) {
          outcome = error;
        }
        if (outcome !== null || damage !== 'ref-peer-id-not-integer') {
          const code = (outcome as { code?: unknown } | null)?.code;
          expect(code, `refMessages.getByPeer of a reference with ${damage} must reject with ${CORRUPT}, got ${outcome instanceof Error ? outcome.message : JSON.stringify(outcome, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`).toBe(CORRUPT);
          namesSession(r, outcome as Error, 'refMessages.getByPeer');
          showsNoSecret(r, outcome, 'refMessages.getByPeer');
        }
        const listed = await expectRejects(expect, `refMessages.list over a reference with ${damage}`, CORRUPT, () => storage.refMessages.list());
        namesSession(r, listed, 'refMessages.list');
        showsNoSecret(r, listed, 'refMessages.list');
        expect(await storage.refMessages.getByPeer(8n), 'another reference').toEqual({ chatId: -200n, messageId: 6 });
        expect(await other.refMessages.getByPeer(7n), 'the same reference of another name').toEqual({ chatId: -100n, messageId: 5 });
        expect(await storage.load(), 'the snapshot').toEqual(fullSession(1));
        await storage.refMessages.clear();
        await storage.refMessages.store(7n, -100n, 5);
        expect(await storage.refMessages.list(), 'the reference stored again after clear').toEqual({ refs: [{ peerId: 7n, chatId: -100n, messageId: 5 }], cursor: null });
      });
    }

    for (const damage of VERSION_DAMAGES) {
      forDamage(r, tamper, damage, 'a new instance rejects MigrationError on first use, the store is not repaired by it, other namespaces keep working', async (s, apply) => {
        const storage = await s.open();
        await storage.save(fullSession(1));
        await storage.close();
        await apply();
        const first = await s.open();
        await expectRejects(expect, `load of a store with ${damage}`, MIGRATION, () => first.load());
        await expectRejects(expect, `save into a store with ${damage}`, MIGRATION, () => first.save(fullSession(2)));
        // Refusing is all it does: a later instance is refused the same way (no "repair" by the first).
        await expectRejects(expect, `load of a store with ${damage}, a second instance`, MIGRATION, async () => (await s.open('other')).load());
        await usableElsewhere(r, s);
      });
    }

    for (const damage of FOREIGN_DAMAGES) {
      const library = damage.slice('foreign-'.length);
      forDamage(r, tamper, damage, `an instance on it rejects MigrationError with foreignLibrary '${library}' on first use and does not take it over; other namespaces keep working`, async (s, apply) => {
        await apply();
        const first = await s.open();
        const error = await expectRejects(expect, `load of ${damage}`, MIGRATION, () => first.load());
        // What lets a caller say "this is a Telethon file: convert it" instead of a schema problem.
        expect((error as { foreignLibrary?: unknown }).foreignLibrary, `load of ${damage}: MigrationError.foreignLibrary`).toBe(library);
        expect(error.message.toLowerCase(), `load of ${damage}: the message names the library`).toContain(library);
        await expectRejects(expect, `save into ${damage}`, MIGRATION, () => first.save(fullSession(1)));
        await expectRejects(expect, `load of ${damage}, a second instance`, MIGRATION, async () => (await s.open('other')).load());
        await usableElsewhere(r, s);
      });
    }

    forDamage(r, tamper, 'foreign-lookalike', 'names shared with a library do not make it that library’s store: an instance uses it or refuses it without foreignLibrary', async (s, apply) => {
      await apply();
      const storage = await s.open();
      // Using the namespace beside the other program's data and refusing it are both
      // allowed (docs/contract.md §8 leaves stores of unknown programs to the adapter);
      // telling the user to convert it from a library it does not come from is not.
      try {
        expect(await storage.load(), 'load of a namespace the adapter takes as new').toBeNull();
      } catch (error) {
        notForeign(r, error, 'load');
        return;
      }
      await storage.save(fullSession(1));
      expect(await storage.load(), 'the session saved beside the other program’s data').toEqual(fullSession(1));
    });
  });
}

/** What a refusal of the lookalike may not be: a claim that the store is a known library's. */
function notForeign({ expect }: StorageRegistrar, error: unknown, what: string): void {
  const { code, foreignLibrary } = (error ?? {}) as { code?: unknown; foreignLibrary?: unknown };
  expect(code, `${what}: resolves, or rejects ${MIGRATION}: ${(error as Error).message}`).toBe(MIGRATION);
  expect(foreignLibrary, `${what}: another program's store taken for ${String(foreignLibrary)}'s`).toBeUndefined();
}

/** A damaged namespace is that namespace's problem: a fresh one of the same backend works. */
async function usableElsewhere({ expect }: StorageRegistrar, s: StorageScope): Promise<void> {
  const elsewhere = await s.openIn(s.scope.another());
  await elsewhere.save(fullSession(4));
  expect(await elsewhere.load(), 'a session in another namespace').toEqual(fullSession(4));
}
