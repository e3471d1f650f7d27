/**
 * `mtstore migrate <from> <to>`: every named session, with its snapshot (auth keys
 * included), peers, kv entries and reference messages, from one backend to another.
 *
 * Idempotent: every write is a replace or an upsert keyed like the source, so a run
 * that was interrupted is finished by running it again. Reference messages have no
 * list operation in the contract; what is reachable is the latest reference of each
 * peer (`getByPeer`), which is what a client reads, so that is what is copied.
 */
import { MAX_PEER_PAGE, toMarkedId, type AuthKeyStore, type Peer, type PeerCache, type Storage } from '@mtstore/core';
import { inParallel } from './batch.js';
import { CliError, EXIT } from './exit.js';
import { say, type Io } from './io.js';
import { progress } from './progress.js';
import { openExisting, openTarget, shown } from './source.js';

export type RefMode = 'all' | 'min' | 'none';

export interface MigrateOptions {
  /** Only these sessions (default: every name in the source). */
  names?: string[];
  /** Peers per page and per upsert, 1-10000. Default 10000. */
  batch?: number;
  /** Whose reference messages to look up: every peer (default), min peers only, or none. */
  refs?: RefMode;
}

export interface MigratedSession {
  name: string;
  snapshot: boolean;
  peers: number;
  kv: number;
  refMessages: number;
}

export interface MigrateReport {
  sessions: MigratedSession[];
  seconds: number;
}

/** DC ids probed for keys stored without a snapshot (the contract has no key listing). */
const PROBED_DCS = [1, 2, 3, 4, 5];

async function countPeers(peers: PeerCache, limit: number): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const page = await peers.list({ cursor, limit });
    count += page.peers.length;
    cursor = page.cursor;
  } while (cursor !== null);
  return count;
}

async function copyKeysWithoutSnapshot(from: AuthKeyStore, to: AuthKeyStore): Promise<void> {
  for (const dc of PROBED_DCS) {
    const key = await from.get(dc);
    if (key !== null) await to.set(dc, key);
  }
}

function markedIdOf(peer: Peer): bigint | null {
  try {
    return toMarkedId(peer.type, peer.id);
  } catch {
    return null;
  }
}

async function migrateOne(from: string, to: string, name: string, options: Required<Omit<MigrateOptions, 'names'>>, io: Io): Promise<MigratedSession> {
  const source = await openExisting(from, name);
  let target: Storage | undefined;
  try {
    target = await openTarget(to, name);
    const dst = target;
    const total = await countPeers(source.peers, options.batch);

    const session = await source.load();
    if (session !== null) await dst.save(session);
    else await copyKeysWithoutSnapshot(source.authKeys, dst.authKeys);

    const bar = progress(io, name, total, 'peers');
    let copied = 0;
    let refs = 0;
    let cursor: string | null = null;
    // Read the next page while the current one is written.
    let pending = source.peers.list({ limit: options.batch });
    for (;;) {
      const page = await pending;
      if (page.cursor !== null) pending = source.peers.list({ cursor: page.cursor, limit: options.batch });
      if (page.peers.length > 0) await dst.peers.upsert(page.peers);
      if (options.refs !== 'none') {
        const wanted = options.refs === 'all' ? page.peers : page.peers.filter((p) => p.min === true);
        await inParallel(wanted, 32, async (peer) => {
          const marked = markedIdOf(peer);
          if (marked === null) return;
          const ref = await source.refMessages.getByPeer(marked);
          if (ref === null) return;
          await dst.refMessages.store(marked, ref.chatId, ref.messageId);
          refs += 1;
        });
      }
      copied += page.peers.length;
      bar.advance(page.peers.length);
      cursor = page.cursor;
      if (cursor === null) break;
    }
    bar.finish();

    const entries = await source.kv.entries();
    await inParallel(entries, 16, (entry) => dst.kv.set(entry.key, entry.value));

    // Verify what landed: snapshot, peer count, every kv key.
    const problems: string[] = [];
    if (session !== null) {
      const stored = await dst.load();
      if (stored === null || stored.homeDcId !== session.homeDcId || stored.dcs.length !== session.dcs.length) problems.push('the snapshot differs');
    }
    const landed = await countPeers(dst.peers, options.batch);
    if (landed < copied) problems.push(`${landed} peers in the target, ${copied} in the source`);
    const targetKeys = new Set((await dst.kv.entries()).map((e) => e.key));
    const missing = entries.filter((e) => !targetKeys.has(e.key)).length;
    if (missing > 0) problems.push(`${missing} kv entries missing`);
    if (problems.length > 0) throw new CliError(EXIT.VERIFY, `Verification of "${name}" failed: ${problems.join('; ')}. Run the same migrate again to finish it.`);
    const extra = landed > copied ? ` (the target has ${landed - copied} more peers it already held)` : '';
    say(io, `${name}: ${session !== null ? 'snapshot, ' : ''}${copied} peers, ${entries.length} kv entries, ${refs} reference messages — verified${extra}.`);
    return { name, snapshot: session !== null, peers: copied, kv: entries.length, refMessages: refs };
  } finally {
    await source.close();
    await target?.close();
  }
}

export async function migrate(from: string, to: string, options: MigrateOptions, io: Io): Promise<MigrateReport> {
  const batch = options.batch ?? MAX_PEER_PAGE;
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_PEER_PAGE) throw new CliError(EXIT.USAGE, `--batch must be an integer from 1 to ${MAX_PEER_PAGE}.`);
  const refs = options.refs ?? 'all';
  if (!['all', 'min', 'none'].includes(refs)) throw new CliError(EXIT.USAGE, `--refs must be all, min or none, got "${refs}".`);
  const started = Date.now();
  const probe = await openExisting(from, undefined);
  let names: string[];
  try {
    names = await probe.listNames();
  } finally {
    await probe.close();
  }
  if (options.names && options.names.length > 0) {
    const unknown = options.names.filter((n) => !names.includes(n));
    if (unknown.length > 0) throw new CliError(EXIT.NOT_FOUND, `No session named ${unknown.map((n) => `"${n}"`).join(', ')} in ${shown(from)}; it holds: ${names.join(', ') || 'none'}.`);
    names = options.names;
  }
  if (names.length === 0) {
    say(io, `Nothing to migrate: ${shown(from)} holds no sessions.`);
    return { sessions: [], seconds: 0 };
  }
  say(io, `Migrating ${names.length} session${names.length === 1 ? '' : 's'} from ${shown(from)} to ${shown(to)}.`);
  const sessions: MigratedSession[] = [];
  for (const name of names) sessions.push(await migrateOne(from, to, name, { batch, refs }, io));
  const seconds = (Date.now() - started) / 1000;
  const peers = sessions.reduce((n, s) => n + s.peers, 0);
  say(io, `Done: ${sessions.length} sessions, ${peers} peers in ${seconds.toFixed(1)} s (${Math.round(peers / Math.max(seconds, 0.001))} peers/s), counts verified.`);
  return { sessions, seconds };
}
