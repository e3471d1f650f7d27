/** `mtstore inspect <source>`: a redacted summary. Keys are reported as present or absent, never printed. */
import { existsSync } from 'node:fs';
import { describeHolder, isStorageError, type DataCenter, type LeaseHolder, type Peer, type PeerCache, type PeerType, type Session, type Storage } from '@mtstore/core';
import type { SessionFormat, SessionStream } from '@mtstore/convert';
import { CliError, EXIT } from './exit.js';
import type { Io } from './io.js';
import { openExisting, openForeign, shown, STDIN, storedNames, urlSession, noUser } from './source.js';
import { counted } from './words.js';

export interface InspectOptions {
  name?: string | undefined;
  /** Read a foreign source (an ambiguous string) as this format. */
  from?: SessionFormat | undefined;
}

function dcLine(dc: DataCenter): string {
  const address = dc.ipv4 ?? (dc.ipv6 !== undefined ? `[${dc.ipv6}]` : dc.host) ?? '(no address)';
  const flags = [dc.mediaOnly ? 'media' : '', dc.testMode ? 'test' : ''].filter(Boolean).join(', ');
  const keys = `${dc.authKey ? 'auth key: yes' : 'auth key: no'}${dc.tempAuthKeys?.length ? `, ${counted(dc.tempAuthKeys.length, 'temp key')}` : ''}`;
  return `  DC ${dc.id}${flags ? ` (${flags})` : ''}: ${address}${dc.port !== undefined ? `:${dc.port}` : ''} — ${keys}`;
}

export function describeSession(session: Session | null): string[] {
  if (session === null) return ['  no snapshot (peers or keys only)'];
  const lines = [`  home DC: ${session.homeDcId}${session.apiId ? `, api id ${session.apiId}` : ''}`];
  for (const dc of session.dcs) lines.push(dcLine(dc));
  const u = session.user;
  lines.push(
    u
      ? `  user: ${u.id}${u.bot ? ' (bot)' : ''}${u.premium ? ' (premium)' : ''}${u.usernames?.length ? ` @${u.usernames.join(', @')}` : ''}`
      : `  user: ${noUser(session)}`,
  );
  const s = session.state;
  lines.push(s ? `  update state: pts ${s.pts}, qts ${s.qts}, seq ${s.seq}, date ${new Date(s.date * 1000).toISOString()}` : '  update state: none');
  lines.push(`  channels with pts: ${session.channels.length}`);
  if (session.takeoutId !== undefined) lines.push('  takeout: active');
  return lines;
}

function peerLine(counts: Record<PeerType, number>, min: number): string {
  const total = counts.user + counts.chat + counts.channel;
  return `  peers: ${total} (${counted(counts.user, 'user')}, ${counted(counts.chat, 'chat')}, ${counted(counts.channel, 'channel')}${min ? `, ${min} min` : ''})`;
}

function tally(peers: readonly Peer[], counts: Record<PeerType, number>): number {
  let min = 0;
  for (const p of peers) {
    counts[p.type] += 1;
    if (p.min) min += 1;
  }
  return min;
}

async function countAll(cache: PeerCache): Promise<string> {
  const counts: Record<PeerType, number> = { user: 0, chat: 0, channel: 0 };
  let min = 0;
  let cursor: string | null = null;
  do {
    const page = await cache.list({ cursor, limit: 10_000 });
    min += tally(page.peers, counts);
    cursor = page.cursor;
  } while (cursor !== null);
  return peerLine(counts, min);
}

/** Who holds the session's lease (issue: one owner per session), or that it is free. */
async function leaseLine(storage: Storage): Promise<string> {
  let holder: LeaseHolder | null;
  try {
    holder = await storage.lease.holder();
  } catch (error) {
    // An adapter without leases, or a read-only file: inspect still shows the rest.
    return `  lease: unknown (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
  }
  if (holder === null) return '  lease: free';
  const seconds = Math.max(0, Math.ceil((holder.expiresAt.getTime() - Date.now()) / 1000));
  return `  lease: held by ${describeHolder(holder)}, token ${holder.token}, runs out at ${holder.expiresAt.toISOString()} (in ${seconds} s) unless renewed`;
}

/**
 * What a read that needs a key it was not given says instead of its data: inspect
 * takes no keys, and the rest of the session (peers, lease) is still worth showing.
 * Any other error is the command's failure.
 */
function sealed(error: unknown): string | null {
  if (!isStorageError(error) || error.code !== 'MTSTORE_ENCRYPTION') return null;
  const keyId = (error as { keyId?: unknown }).keyId;
  return typeof keyId === 'string' ? `encryption key "${keyId}"` : 'an encryption key';
}

async function snapshotLines(storage: Storage): Promise<string[]> {
  try {
    return describeSession(await storage.load());
  } catch (error) {
    const key = sealed(error);
    if (key === null) throw error;
    return [`  snapshot: sealed with ${key} (inspect takes no keys: DCs, user and update state not shown)`];
  }
}

async function kvLine(storage: Storage): Promise<string | null> {
  try {
    const entries = await storage.kv.entries();
    return entries.length ? `  kv entries: ${entries.length} (${entries.map((e) => e.key).join(', ')})` : null;
  } catch (error) {
    const key = sealed(error);
    if (key === null) throw error;
    return `  kv entries: some sealed with ${key} (not listed)`;
  }
}

/** A foreign session's lines; its peers counted batch by batch, as import reads them. */
async function describeForeign(source: string, foreign: SessionStream, out: (line: string) => void): Promise<void> {
  // A string is a login: name it by format and length only.
  const what = source === STDIN ? 'standard input' : existsSync(source) || existsSync(`${source}.session`) ? shown(source) : `the ${source.length}-character string`;
  out(`${what}: a ${foreign.format} session (${foreign.layout})`);
  for (const line of describeSession(foreign.session)) out(line);
  const counts: Record<PeerType, number> = { user: 0, chat: 0, channel: 0 };
  let min = 0;
  for await (const batch of foreign.peers()) min += tally(batch, counts);
  out(peerLine(counts, min));
  if (foreign.kv.length) out(`  kv entries: ${foreign.kv.length} (${foreign.kv.map((e) => e.key).join(', ')})`);
  let refs = 0;
  for await (const batch of foreign.refMessages()) refs += batch.length;
  if (refs) out(`  reference messages: ${refs}`);
  // What an import would leave out, so it is seen before importing.
  if (foreign.warnings.length) {
    out(`  left out on import: ${counted(foreign.warnings.length, 'row or field', 'rows or fields')}`);
    for (const line of foreign.warnings.slice(0, 10)) out(`    ${line}`);
    if (foreign.warnings.length > 10) out(`    … and ${foreign.warnings.length - 10} more`);
  }
}

export async function inspect(source: string, options: InspectOptions, io: Io): Promise<void> {
  // Printed only once everything was read: a failure half-way prints its one line, not
  // half a summary.
  const lines: string[] = [];
  const out = (line: string) => lines.push(line);
  const foreign = await openForeign(source, { format: options.from, name: options.name }, io);
  if (foreign !== null) {
    try {
      await describeForeign(source, foreign, out);
    } finally {
      foreign.close();
    }
    io.stdout.write(`${lines.join('\n')}\n`);
    return;
  }
  const wanted = options.name ?? urlSession(source);
  let names = await storedNames(source, wanted);
  if (wanted !== undefined) {
    // listNames lists every name with anything stored: one missing there has nothing.
    if (!names.includes(wanted)) {
      throw new CliError(EXIT.NOT_FOUND, `No session named "${wanted}" in ${shown(source)}: ${names.length === 0 ? 'it holds no sessions' : `it holds: ${names.join(', ')}`}.`);
    }
    names = [wanted];
  }
  out(`${shown(source)}: ${counted(names.length, 'session')}`);
  for (const name of names) {
    const storage = await openExisting(source, name);
    try {
      out(`session "${name}":`);
      for (const line of await snapshotLines(storage)) out(line);
      out(await countAll(storage.peers));
      const kv = await kvLine(storage);
      if (kv !== null) out(kv);
      out(await leaseLine(storage));
    } finally {
      await storage.close();
    }
  }
  io.stdout.write(`${lines.join('\n')}\n`);
}
