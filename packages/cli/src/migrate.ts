/**
 * `mtstore migrate <from> <to>`: every named session, with its snapshot (auth keys
 * included), peers, kv entries and reference messages, from one backend to another.
 *
 * Idempotent: every write is a replace or an upsert keyed like the source, so a run
 * that was interrupted is finished by running it again. A signal (Ctrl-C) stops it at
 * the next page (exit 130), both storages closed, with the command that finishes it.
 * Reference messages are copied in the order `refMessages.list` returns them (the order
 * they were stored), one at a time, so the target's most recent reference of every peer
 * is the source's.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isStorageError, mapBounded, MAX_PEER_PAGE, toMarkedId, type AuthKeyEntry, type AuthKeyStore, type EncryptionOptions, type KeyValueEntry, type Peer, type PeerCache, type RefMessageStore, type Session, type Storage } from '@mtstore/core';
import { CliError, EXIT } from './exit.js';
import { commandLine, Interrupts } from './interrupts.js';
import { say, type Io } from './io.js';
import { progress } from './progress.js';
import { encryptionFromFlags } from './rotate.js';
import { checkNamesHeld, checkTarget, isUrl, missingKeyError, openExisting, openTarget, shown, sqlitePath, namesWanted, storedNames, urlSession } from './source.js';
import { counted } from './words.js';

export type RefMode = 'all' | 'min' | 'none';

export interface MigrateOptions {
  /** Only these sessions (default: the source URL's `?session=`, else every name in the source). */
  names?: string[] | undefined;
  /** Peers and references per page, peers per upsert, 1-10000. Default 10000. */
  batch?: number | undefined;
  /** Which reference messages to copy: every one (default), those of min peers only, or none. */
  refs?: RefMode | undefined;
  /**
   * `id=ENV_VAR` flags (rotate-keys'): both stores open with these keys, so sealed
   * snapshots and kv values read, and the target seals with the first one.
   */
  keys?: string[] | undefined;
  /** kv key prefixes the target seals (rotate-keys' --secret-kv); only with keys. */
  secretKv?: string[] | undefined;
}

export interface MigratedSession {
  name: string;
  /** The name it was written under in the target, when not `name` (the target URL's `?session=`). */
  as?: string | undefined;
  snapshot: boolean;
  peers: number;
  kv: number;
  refMessages: number;
}

export interface MigrateReport {
  sessions: MigratedSession[];
  seconds: number;
}

/** Peers in `peers`; `interrupts`: a signal stops the count between pages. */
async function countPeers(peers: PeerCache, limit: number, interrupts?: Interrupts): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    await interrupts?.between();
    const page = await peers.list({ cursor, limit });
    count += page.peers.length;
    cursor = page.cursor;
  } while (cursor !== null);
  return count;
}

/**
 * The keys of a session without a snapshot, exactly: the target's keys are cleared,
 * then every listed key is written. `authKeys` writes address main entries only; keys
 * of a media-only entry exist only with a snapshot (`save` writes them), so one listed
 * here is reported and left out.
 */
async function copyKeysWithoutSnapshot(entries: readonly AuthKeyEntry[], to: AuthKeyStore): Promise<{ keys: number; skipped: number }> {
  await to.clear();
  let keys = 0;
  let skipped = 0;
  for (const entry of entries) {
    const count = (entry.authKey === undefined ? 0 : 1) + entry.tempAuthKeys.length;
    if (entry.mediaOnly) {
      skipped += count;
      continue;
    }
    if (entry.authKey !== undefined) await to.set(entry.dcId, entry.authKey);
    for (const temp of entry.tempAuthKeys) await to.setTemp(entry.dcId, temp);
    keys += count;
  }
  return { keys, skipped };
}

/**
 * For a source session without a snapshot: a snapshot the target holds under the name
 * (another login's: its user, DCs and update state) would answer load() around the keys
 * copied. There is no call removing only a snapshot; delete() removes the name's data
 * whole, which also drops that login's peers (their access hashes are its own). True when
 * there was one (also one sealed with a key not given: it is there all the same).
 */
async function removeTargetSnapshot(target: Storage): Promise<boolean> {
  try {
    if ((await target.load()) === null) return false;
  } catch (error) {
    if (!isStorageError(error) || error.code !== 'MTSTORE_ENCRYPTION') throw error;
  }
  await target.delete();
  return true;
}

/**
 * Every reference in store order, stored into the target in that order (the next page
 * read meanwhile). At most as many as the source held when the copy began: when the
 * target is the source itself (however it was named), each store moves a reference to
 * the end of the list, where the cursor would find it again, forever.
 */
async function copyRefs(from: RefMessageStore, to: RefMessageStore, limit: number, wanted: (peerId: bigint) => boolean, interrupts: Interrupts, onCopied: (n: number) => void): Promise<number> {
  let left = await countRefs(from, limit, interrupts);
  let copied = 0;
  let pending = from.list({ limit });
  for (;;) {
    const page = await pending;
    // Before the next page is asked for: none is left in flight when a signal stops it.
    await interrupts.between();
    if (page.cursor !== null) pending = from.list({ cursor: page.cursor, limit });
    // One at a time: the order of the stores is what makes each peer's most recent reference.
    for (const ref of page.refs) {
      if (left === 0) break;
      left -= 1;
      if (!wanted(ref.peerId)) continue;
      await to.store(ref.peerId, ref.chatId, ref.messageId);
      copied += 1;
    }
    onCopied(copied);
    if (page.cursor === null || left === 0) {
      // The page read ahead is not needed; its failure must not go unhandled.
      pending.catch(() => {});
      return copied;
    }
  }
}

async function countRefs(refs: RefMessageStore, limit: number, interrupts?: Interrupts): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    await interrupts?.between();
    const page = await refs.list({ cursor, limit });
    count += page.refs.length;
    cursor = page.cursor;
  } while (cursor !== null);
  return count;
}

function markedIdOf(peer: Peer): bigint | null {
  try {
    return toMarkedId(peer.type, peer.id);
  } catch {
    return null;
  }
}

/**
 * What of a session may be sealed (the snapshot, the keys of a session without one, kv
 * values), read before anything is written: a key the flags do not give is a refusal
 * naming it that leaves the target without any of the session, not a failure after its
 * peers and references were copied.
 */
async function readSealedParts(source: Storage, name: string, from: string): Promise<{ session: Session | null; keyEntries: AuthKeyEntry[] | undefined; entries: KeyValueEntry[] }> {
  try {
    const session = await source.load();
    const keyEntries = session === null ? await source.authKeys.entries() : undefined;
    return { session, keyEntries, entries: await source.kv.entries() };
  } catch (error) {
    throw missingKeyError(error, name, from, ' (and --secret-kv as for rotate-keys, so sealed kv values are sealed in the target too)');
  }
}

interface MigrateOneOptions {
  /** The name in the target. */
  as: string;
  batch: number;
  refs: RefMode;
  encryption: EncryptionOptions | undefined;
  interrupts: Interrupts;
  /** Where the copy of this session is, for the line a signal stops it with. */
  stage: SessionStage;
}

/** How far the copy of one session got, in the order migrateOne writes. */
interface SessionStage {
  label: string;
  step: 'reading' | 'peers' | 'refs' | 'verifying';
  /** A snapshot was written (else the keys of a session without one). */
  snapshot: boolean;
  peers: number;
  totalPeers: number;
  refs: number;
}

/** What the target holds of a session a signal stopped (migrateOne's order: snapshot or keys, peers, references, kv entries, then the verification). */
function stageLine(stage: SessionStage): string {
  const login = stage.snapshot ? 'its snapshot (it loads)' : 'its auth keys';
  switch (stage.step) {
    case 'reading':
      return `"${stage.label}" not begun`;
    case 'peers':
      return `"${stage.label}" has ${login} and ${stage.peers} of ${counted(stage.totalPeers, 'peer')} there, no reference messages or kv entries yet`;
    case 'refs':
      return `"${stage.label}" has ${login}, its ${counted(stage.peers, 'peer')} and ${counted(stage.refs, 'reference message')} there, no kv entries yet`;
    case 'verifying':
      return `"${stage.label}" was copied but not verified`;
  }
}

async function migrateOne(from: string, to: string, name: string, options: MigrateOneOptions, io: Io): Promise<MigratedSession> {
  const { interrupts, stage } = options;
  await interrupts.between();
  const source = await openExisting(from, name, options.encryption);
  let target: Storage | undefined;
  try {
    target = await openTarget(to, options.as, options.encryption);
    const dst = target;
    const total = await countPeers(source.peers, options.batch, interrupts);
    stage.totalPeers = total;

    const { session, keyEntries, entries } = await readSealedParts(source, name, from);
    // The last point at which nothing of the session is in the target.
    await interrupts.between();
    stage.step = 'peers';
    stage.snapshot = session !== null;
    let keysOnly: { keys: number; skipped: number } | undefined;
    let removedSnapshot = false;
    if (session !== null) await dst.save(session);
    else {
      removedSnapshot = await removeTargetSnapshot(dst);
      keysOnly = await copyKeysWithoutSnapshot(keyEntries ?? [], dst.authKeys);
    }

    const bar = progress(io, name, total, 'peer');
    let copied = 0;
    let cursor: string | null = null;
    // Marked ids of the source's min peers, for --refs min.
    const minPeers = new Set<bigint>();
    // Read the next page while the current one is written.
    let pending = source.peers.list({ limit: options.batch });
    for (;;) {
      const page = await pending;
      // Before the next page is asked for: none is left in flight when a signal stops it.
      await interrupts.between();
      if (page.cursor !== null) pending = source.peers.list({ cursor: page.cursor, limit: options.batch });
      if (page.peers.length > 0) await dst.peers.upsert(page.peers);
      if (options.refs === 'min') {
        for (const peer of page.peers) {
          const marked = peer.min === true ? markedIdOf(peer) : null;
          if (marked !== null) minPeers.add(marked);
        }
      }
      copied += page.peers.length;
      stage.peers = copied;
      bar.advance(page.peers.length);
      cursor = page.cursor;
      if (cursor === null) break;
    }
    bar.finish();

    stage.step = 'refs';
    const refs =
      options.refs === 'none'
        ? 0
        : await copyRefs(
            source.refMessages,
            dst.refMessages,
            options.batch,
            (peerId) => options.refs === 'all' || minPeers.has(peerId),
            interrupts,
            (n) => (stage.refs = n),
          );
    await interrupts.between();

    // A value the source stores sealed is written sealed (kv.entries() marks it, read
    // once above): also one sealed by kv.set(…, { secret: true }), as the mtcute bridge
    // writes its salts, which no --secret-kv prefix names and which would otherwise land
    // in plaintext. Without --key the source has no encryption and marks nothing.
    await mapBounded(entries, 16, (entry) => dst.kv.set(entry.key, entry.value, { secret: entry.secret }));

    // Verify what landed: snapshot, peer count, every kv key.
    stage.step = 'verifying';
    const problems: string[] = [];
    if (session !== null) {
      const stored = await dst.load();
      if (stored === null || stored.homeDcId !== session.homeDcId || stored.dcs.length !== session.dcs.length) problems.push('the snapshot differs');
    }
    const landed = await countPeers(dst.peers, options.batch, interrupts);
    if (landed < copied) problems.push(`${counted(landed, 'peer')} in the target, ${copied} in the source`);
    const targetKeys = new Set((await dst.kv.entries()).map((e) => e.key));
    const missing = entries.filter((e) => !targetKeys.has(e.key)).length;
    if (missing > 0) problems.push(`${counted(missing, 'kv entry', 'kv entries')} missing`);
    if (refs > 0) {
      const landedRefs = await countRefs(dst.refMessages, options.batch, interrupts);
      if (landedRefs < refs) problems.push(`${counted(landedRefs, 'reference message')} in the target, ${refs} copied`);
    }
    if (keysOnly !== undefined) {
      const landedKeys = (await dst.authKeys.entries()).reduce((n, e) => n + (e.authKey === undefined ? 0 : 1) + e.tempAuthKeys.length, 0);
      if (landedKeys !== keysOnly.keys) problems.push(`${counted(landedKeys, 'auth key')} in the target, ${keysOnly.keys} in the source`);
    }
    const label = options.as === name ? name : `${name} (as ${options.as})`;
    if (problems.length > 0) throw new CliError(EXIT.VERIFY, `Verification of "${label}" failed: ${problems.join('; ')}. Run the same migrate again to finish it.`);
    const extra = landed > copied ? ` (the target has ${counted(landed - copied, 'more peer', 'more peers')} it already held)` : '';
    const keys = keysOnly === undefined ? '' : `${counted(keysOnly.keys, 'auth key')} (no snapshot), `;
    say(io, `${label}: ${session !== null ? 'snapshot, ' : ''}${keys}${counted(copied, 'peer')}, ${counted(entries.length, 'kv entry', 'kv entries')}, ${counted(refs, 'reference message')} — verified${extra}.`);
    if (removedSnapshot) {
      say(io, `${label}: the target's snapshot under that name was removed (delete(): with its keys, peers, kv entries and reference messages), as the source's session has none: another login's snapshot must not answer for the keys copied.`);
    }
    if (keysOnly !== undefined && keysOnly.skipped > 0) {
      say(io, `${label}: ${counted(keysOnly.skipped, 'key')} of media-only DC entries ${keysOnly.skipped === 1 ? 'was' : 'were'} not copied: without a snapshot they cannot be written (authKeys writes main entries; save() writes media-only ones).`);
    }
    return { name, ...(options.as === name ? {} : { as: options.as }), snapshot: session !== null, peers: copied, kv: entries.length, refMessages: refs };
  } finally {
    await source.close();
    await target?.close();
  }
}

/** @mtstore/sqlite's table prefix when the URL gives none. */
const SQLITE_DEFAULT_PREFIX = 'mtstore_';

/**
 * Where a storage argument points, for telling source and target apart: an SQLite store
 * as its absolute file path (Telethon's `.session` rule applied) and its table prefix —
 * a plain path, a `file:` URL or a `sqlite:` URL (relative to the working folder) —,
 * another URL without the parameters that do not pick the store (`session` picks a
 * session in it; `create`). Two table prefixes in one file are two stores: ignoring
 * `?tablePrefix=` refused migrating from one to the other as "the same store". Best effort
 * — two spellings of one server (a host name and its address) are not recognised — so
 * copyRefs also ends on its own.
 */
export function storeIdentity(input: string): string {
  const sqliteStore = (path: string, prefix: string | null): string => `file:${resolve(sqlitePath(path))}#${prefix ?? SQLITE_DEFAULT_PREFIX}`;
  if (!isUrl(input)) return sqliteStore(input, null);
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return input;
  }
  if (url.protocol === 'file:' || (url.protocol === 'sqlite:' && url.host === '' && url.pathname !== ':memory:')) {
    try {
      const path = url.protocol === 'file:' ? fileURLToPath(`file://${url.host}${url.pathname}`) : decodeURIComponent(url.pathname);
      return sqliteStore(path, url.searchParams.get('tablePrefix'));
    } catch {
      return input;
    }
  }
  const params = [...url.searchParams].filter(([key]) => key !== 'session' && key !== 'create').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  url.search = new URLSearchParams(params).toString();
  url.hash = '';
  return url.href;
}

export async function migrate(from: string, to: string, options: MigrateOptions, io: Io): Promise<MigrateReport> {
  const batch = options.batch ?? MAX_PEER_PAGE;
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_PEER_PAGE) throw new CliError(EXIT.USAGE, `--batch must be an integer from 1 to ${MAX_PEER_PAGE}.`);
  const refs = options.refs ?? 'all';
  if (!['all', 'min', 'none'].includes(refs)) throw new CliError(EXIT.USAGE, `--refs must be all, min or none, got "${refs}".`);
  checkTarget(to);
  if (options.keys === undefined && options.secretKv !== undefined && options.secretKv.length > 0) throw new CliError(EXIT.USAGE, '--secret-kv needs --key: the key that seals those values.');
  const encryption = options.keys === undefined ? undefined : encryptionFromFlags(options.keys, options.secretKv);
  if (storeIdentity(from) === storeIdentity(to)) {
    throw new CliError(EXIT.USAGE, `The source and the target are the same store (${shown(from)}): every session would be copied onto itself. Give another target.`);
  }
  // `?session=` picks a session as it does for the other commands: in the source, the one
  // to copy (as --name, which wins); in the target, the name it is written under, which
  // only one session can have. It was ignored: every session was copied, each to its own name.
  const wanted = namesWanted(options.names, from);
  const as = urlSession(to);
  if (as !== undefined && wanted?.length !== 1) {
    throw new CliError(
      EXIT.USAGE,
      `The target's ?session=${as} names the one session to write, but migrate would copy ${wanted === undefined ? 'every session of the source' : counted(wanted.length, 'session')}, each under its own name. Give the one session to copy (--name, or ?session= in the source), or remove ?session= from the target.`,
    );
  }
  const started = Date.now();
  let names = await storedNames(from, undefined);
  if (wanted !== undefined) {
    checkNamesHeld(wanted, names, from);
    names = wanted;
  }
  if (names.length === 0) {
    say(io, `Nothing to migrate: ${shown(from)} holds no sessions.`);
    return { sessions: [], seconds: 0 };
  }
  say(io, `Migrating ${counted(names.length, 'session')} from ${shown(from)} to ${shown(to)}.`);
  const sessions: MigratedSession[] = [];
  const stage: SessionStage = { label: '', step: 'reading', snapshot: false, peers: 0, totalPeers: 0, refs: 0 };
  // Killed by a signal, migrate said nothing of what it left: a session in the target
  // whose snapshot loads (it is written first) with part of its peers. Taken instead, a
  // signal stops it at the next page, both storages are closed (migrateOne's finally),
  // and the line says what is there and the command that finishes it.
  const interrupts = new Interrupts(
    (signal) =>
      `Interrupted (${signal}) while migrating from ${shown(from)} to ${shown(to)}: ${sessions.length} of ${counted(names.length, 'session')} copied and verified; ${stageLine(stage)}. ` +
      `Run the same migrate again to finish (every write is a replace or an upsert): ${commandLine(migrateArgs(from, to, options))}`,
  );
  try {
    for (const name of names) {
      const label = as === undefined || as === name ? name : `${name} (as ${as})`;
      Object.assign(stage, { label, step: 'reading', snapshot: false, peers: 0, totalPeers: 0, refs: 0 });
      sessions.push(await migrateOne(from, to, name, { as: as ?? name, batch, refs, encryption, interrupts, stage }, io));
    }
  } finally {
    interrupts.dispose();
  }
  const seconds = (Date.now() - started) / 1000;
  const peers = sessions.reduce((n, s) => n + s.peers, 0);
  say(io, `Done: ${counted(sessions.length, 'session')}, ${counted(peers, 'peer')} in ${seconds.toFixed(1)} s (${Math.round(peers / Math.max(seconds, 0.001))} peers/s), counts verified.`);
  return { sessions, seconds };
}

/** The migrate arguments given (the storages as shown), for the line that says how to finish. */
function migrateArgs(from: string, to: string, options: MigrateOptions): string[] {
  return [
    'migrate',
    shown(from),
    shown(to),
    ...(options.names ?? []).flatMap((name) => ['--name', name]),
    ...(options.batch === undefined ? [] : ['--batch', String(options.batch)]),
    ...(options.refs === undefined || options.refs === 'all' ? [] : ['--refs', options.refs]),
    ...(options.keys ?? []).flatMap((key) => ['--key', key]),
    ...(options.secretKv ?? []).flatMap((prefix) => ['--secret-kv', prefix]),
  ];
}
