/**
 * A session written as GramJS's StoreSession folder (`telegram` 2.26, Node): one file
 * per key, named as node-localstorage names it (the URI-encoded `<name>:<field>`), each
 * holding store2's JSON. What StoreSession keeps: the home DC's id, address and port, its
 * auth key, and one row per entity `[marked id, hash, username, phone, name, date ms]`
 * (ids, hashes and dates as decimal strings). See gramjs-store.ts for the reader.
 */
import { mkdirSync, mkdtempSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { toMarkedId, type Peer, type Session } from '@mtstore/core';
import { homeWithKey } from './common.js';
import { addressOf } from './dcs.js';
import { ConvertError, unsupported } from './errors.js';
import { checkWriteInput, eachPeer, ioError, isIoFailure, PeerLosses, refuseExisting, sessionLosses, type PeerInput, type WrittenFile } from './write-file.js';

const FORMAT = 'GramJS StoreSession';

export interface GramjsStoreOptions {
  /**
   * The name the application gives `new StoreSession(name)`: GramJS opens the folder
   * `./<name>` (relative to its working directory) and prefixes every key with `<name>:`.
   * Default: the folder's own name (`basename(path)`), for an application started in the
   * folder's parent.
   */
  name?: string | undefined;
}

const OPTIONS = ['name'] as const satisfies readonly (keyof GramjsStoreOptions)[];

/**
 * node-localstorage's quota (5 MiB, what StoreSession creates it with) counts every
 * file of the folder: past it, every later write of GramJS's (a new entity, a new DC)
 * throws QUOTA_EXCEEDED_ERR. Peers stop at 4 MiB, leaving GramJS 1 MiB to grow.
 */
const QUOTA = 5 * 1024 * 1024;
const PEER_BUDGET = 4 * 1024 * 1024;

/** The file name node-localstorage gives a key (LocalStorage.setItem's encoding). */
function fileName(key: string): string {
  return encodeURIComponent(key)
    .replace(/[!'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/\*/g, '%2A');
}

/**
 * Writes `session` and `peers` as a new GramJS StoreSession folder at `path` (refused if
 * anything exists there). The folder is created 0700 with files 0600, filled beside it and
 * renamed into place in one step, so GramJS never sees half a folder; a failure removes
 * it. GramJS keeps only the home DC (the other DCs' keys, the self user, update state,
 * channel pts and takeout id are counted in `warnings`: the client fetches them again),
 * no api id (counted too: the client passes its own to `TelegramClient`),
 * one username per peer (the first, lower-cased, as GramJS writes it) and no min flag (min
 * peers are left out: their access hash does not work for requests).
 */
export async function writeGramjsStore(session: Session, peers: PeerInput, path: string, options: GramjsStoreOptions = {}): Promise<WrittenFile> {
  checkWriteInput('gramjs-store', session, peers, path, options, OPTIONS, 'writeGramjsStore');
  const name = options.name ?? basename(path);
  if (typeof name !== 'string' || name === '' || name === 'session') {
    // GramJS's StoreSession refuses the name "session" itself.
    throw new ConvertError('MTSTORE_CONVERT_INVALID', `writeGramjsStore: name must be a non-empty string other than "session" (GramJS refuses that name), got ${JSON.stringify(name)}.`);
  }
  const home = homeWithKey(session, FORMAT);
  const address = addressOf(home);
  const text = address?.ipv4 ?? address?.ipv6 ?? address?.host;
  if (address === null || text === undefined) throw unsupported(FORMAT, `DC ${home.id} has no address and is not one of Telegram's well-known DCs`);

  const warnings = sessionLosses(session, {
    otherKeys: "GramJS's StoreSession keeps the home DC's only",
    tempKeys: 'GramJS keeps none',
    user: "GramJS's StoreSession keeps none: the client asks for it",
    state: "GramJS's StoreSession keeps none: the client fetches a fresh one",
    channels: "GramJS's StoreSession keeps none",
    takeoutId: 'GramJS keeps none',
    // TelegramClient(session, apiId, apiHash): StoreSession stores no api id, as Telethon's file does not.
    apiId: 'GramJS keeps none: the client passes its own',
  });

  refuseExisting(path, []);
  // The path is claimed first (mkdir fails on anything there), the content written into a
  // private folder beside it, then renamed over the claimed (empty) folder in one step.
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EEXIST') refuseExisting(path, []);
    throw ioError('the GramJS session folder', path, error);
  }
  let scratch: string | undefined;
  try {
    scratch = mkdtempSync(join(dirname(path), `.${basename(path)}.mtstore-`));
    let bytes = 0;
    const put = (field: string, value: unknown): number => {
      const content = JSON.stringify(value);
      writeFileSync(join(scratch!, fileName(`${name}:${field}`)), content, { flag: 'wx', mode: 0o600 });
      return Buffer.byteLength(content);
    };
    bytes += put('dcId', home.id);
    bytes += put('port', address.port);
    bytes += put('serverAddress', text);
    // GramJS's AuthKey.getKey() is a Buffer: store2 writes it as Buffer.toJSON().
    bytes += put('authKey', { type: 'Buffer', data: Array.from(home.authKey) });

    const lost = new PeerLosses({ minPeersFor: 'GramJS', extraUsernames: 'GramJS keeps one', complete: 'GramJS keeps none' });
    let written = 0;
    let overQuota = 0;
    for await (const peer of eachPeer('gramjs-store', peers)) {
      if (lost.leftOut(peer)) continue;
      const row = entityRow(peer);
      const size = Buffer.byteLength(JSON.stringify(row)) + fileName(`${name}:${row[0]}`).length;
      if (bytes + size > PEER_BUDGET) {
        overQuota++;
        continue;
      }
      bytes += put(row[0], row);
      written++;
      lost.written(peer);
    }
    warnings.push(...lost.lines());
    if (overQuota > 0) warnings.push(`${overQuota} peer${overQuota === 1 ? '' : 's'} not written: the folder holds ${PEER_BUDGET / 1024 / 1024} MiB of GramJS's ${QUOTA / 1024 / 1024} MiB quota (node-localstorage refuses every write past it), the rest is left for the client`);
    renameSync(scratch, path);
    return { format: 'gramjs-store', path, peers: written, warnings };
  } catch (error) {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
    try {
      // Only while empty: never a folder someone else filled meanwhile.
      rmdirSync(path);
    } catch {
      // Not ours to remove any more.
    }
    throw isIoFailure(error) ? ioError('the GramJS session folder', path, error) : error;
  }
}

/** GramJS's entity row: what MemorySession._entityToRow gives and StoreSession appends the time to. */
function entityRow(peer: Peer): [string, string, string | null, string | null, string | null, string] {
  return [
    toMarkedId(peer.type, peer.id).toString(),
    (peer.type === 'chat' ? 0n : peer.accessHash).toString(),
    peer.usernames[0]?.toLowerCase() ?? null,
    peer.phone ?? null,
    peer.displayName ?? null,
    String(peer.updatedAt * 1000),
  ];
}
