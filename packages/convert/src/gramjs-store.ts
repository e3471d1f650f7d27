/**
 * GramJS's StoreSession on Node: a folder (node-localstorage) with one file per key,
 * the file name being the URI-encoded key `<name>:<field>` and the content JSON
 * (store2). Fields: dcId, port, serverAddress, authKey (a JSON Buffer
 * `{"type":"Buffer","data":[...]}`), and one entity per marked id:
 * `[id, hash, username, phone, name, dateMs]` with ids and hashes as decimal strings.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type Peer, type Session } from '@mtstore/core';
import { keyFrom } from './bytes.js';
import { cleanDisplayName, cleanEpoch, cleanPhone, cleanUsernames, finish, oldestFirst, peerIdentity } from './common.js';
import { ConvertError, invalid, shownPath } from './errors.js';
import { isTestAddress } from './dcs.js';
import { addressFields } from './gramjs.js';
import type { ConvertedSession } from './types.js';

const FORMAT = 'GramJS StoreSession';

/** The session names a folder holds (prefixes of `<name>:authKey` files). */
export async function gramjsStoreNames(folder: string): Promise<string[]> {
  const files = await readdir(folder);
  return files
    .map((f) => safeDecode(f))
    .filter((k): k is string => k !== null && k.endsWith(':authKey'))
    .map((k) => k.slice(0, -':authKey'.length))
    .sort();
}

function safeDecode(name: string): string | null {
  try {
    return decodeURIComponent(name);
  } catch {
    return null;
  }
}

function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // No cause: V8's SyntaxError quotes the text around the fault, which for authKey is key bytes.
    throw invalid(FORMAT, `${field} is not JSON`);
  }
}

function bigintOf(value: unknown): bigint | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  return null;
}

/**
 * A folder without any `<name>:authKey` file. One holding no GramJS entry at all (a
 * Telethon or Pyrogram workdir, any other folder) is not a GramJS folder: it read as a
 * damaged one ("copy the session again"). One holding `<name>:…` entries without a key is
 * GramJS's, never logged in or damaged.
 */
function noSessionFolder(folder: string, files: readonly string[]): ConvertError {
  const gramjsEntry = files.some((file) => /:(dcId|port|serverAddress|authKey)$/.test(safeDecode(file) ?? ''));
  if (gramjsEntry) return invalid(FORMAT, 'the folder has no <name>:authKey file');
  const sessionFiles = files.filter((file) => file.endsWith('.session'));
  return new ConvertError(
    'MTSTORE_CONVERT_UNKNOWN_FORMAT',
    `${shownPath(folder)} is a folder but not a GramJS StoreSession folder (no <name>:authKey file)` +
      (sessionFiles.length > 0 ? `; a Telethon, Pyrogram or mtcute session is a file: give the file (it holds ${sessionFiles.slice(0, 3).join(', ')}${sessionFiles.length > 3 ? ', …' : ''}).` : '.'),
  );
}

export async function readGramjsStore(folder: string, name?: string): Promise<ConvertedSession> {
  let files: string[];
  try {
    files = await readdir(folder);
  } catch (error) {
    throw new ConvertError('MTSTORE_CONVERT_IO', `Cannot read the folder "${folder}": ${(error as Error).message}.`, { cause: error });
  }
  let session = name;
  if (session === undefined) {
    const names = await gramjsStoreNames(folder);
    if (names.length === 1) session = names[0]!;
    else if (names.includes(basename(folder))) session = basename(folder);
    else if (names.length === 0) throw noSessionFolder(folder, files);
    else throw new ConvertError('MTSTORE_CONVERT_AMBIGUOUS', `The folder holds ${names.length} GramJS sessions: pass name (one of ${names.join(', ')}).`, { candidates: names });
  }
  const prefix = `${session}:`;
  const values = new Map<string, unknown>();
  for (const file of files) {
    const key = safeDecode(file);
    if (key === null || !key.startsWith(prefix)) continue;
    values.set(key.slice(prefix.length), parseJson(await readFile(join(folder, file), 'utf8'), key.slice(prefix.length)));
  }
  const rawKey = values.get('authKey') as { type?: unknown; data?: unknown } | undefined;
  if (rawKey === undefined) {
    // A name the folder does not hold (a misspelt one, or the name to import under given
    // to a command that reads the folder only) is no damage: say which names it holds.
    const names = await gramjsStoreNames(folder);
    if (values.size === 0 && names.length > 0) throw invalid(FORMAT, `the folder holds no session named "${session}" (it holds: ${names.join(', ')}); pass one of those names`);
    throw invalid(FORMAT, `there is no authKey for the name "${session}"`);
  }
  if (rawKey.type !== 'Buffer' || !Array.isArray(rawKey.data) || !rawKey.data.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) {
    throw invalid(FORMAT, 'authKey is not a serialized Buffer');
  }
  const authKey = keyFrom(Uint8Array.from(rawKey.data as number[]), FORMAT, 'authKey');
  const dcId = values.get('dcId');
  if (typeof dcId !== 'number' || !Number.isInteger(dcId)) throw invalid(FORMAT, 'dcId is missing');
  const dc: Session['dcs'][number] = { id: dcId, authKey };
  const address = values.get('serverAddress');
  const port = values.get('port');
  if (typeof address === 'string' && typeof port === 'number') Object.assign(dc, addressFields(address, FORMAT), { port });
  if (isTestAddress(dc.ipv4 ?? dc.ipv6)) dc.testMode = true;
  const result: Session = { version: 1, homeDcId: dcId, dcs: [dc], channels: [] };

  const peers: Peer[] = [];
  const warnings: string[] = [];
  for (const [field, value] of values) {
    if (!/^-?\d+$/.test(field)) continue;
    if (!Array.isArray(value)) {
      warnings.push(`entity ${field}: skipped, not an array`);
      continue;
    }
    const [id, hash, username, phone, display, date] = value as unknown[];
    const identity = peerIdentity(bigintOf(id), bigintOf(hash), 'entity', warnings);
    if (identity === null) continue;
    const where = `entity ${field}`;
    const ms = bigintOf(date);
    const peer: Peer = { ...identity, usernames: cleanUsernames([username], where, warnings), updatedAt: ms === null ? 0 : cleanEpoch(Number(ms / 1000n)) };
    const cleanedPhone = cleanPhone(phone, where, warnings);
    if (cleanedPhone !== undefined) peer.phone = cleanedPhone;
    const name = cleanDisplayName(display);
    if (name !== undefined) peer.displayName = name;
    peers.push(peer);
  }
  return finish('gramjs-store', `folder, name "${session}"`, result, oldestFirst(peers), [], [], warnings);
}
