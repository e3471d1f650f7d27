/** `mtstore inspect <source>`: a redacted summary. Keys are reported as present or absent, never printed. */
import { existsSync } from 'node:fs';
import { describeHolder, type DataCenter, type LeaseHolder, type Peer, type PeerCache, type PeerType, type Session, type Storage } from '@mtstore/core';
import type { Io } from './io.js';
import { openExisting, readForeign, shown } from './source.js';

export interface InspectOptions {
  name?: string;
}

function dcLine(dc: DataCenter): string {
  const address = dc.ipv4 ?? (dc.ipv6 !== undefined ? `[${dc.ipv6}]` : dc.host) ?? '(no address)';
  const flags = [dc.mediaOnly ? 'media' : '', dc.testMode ? 'test' : ''].filter(Boolean).join(', ');
  const keys = `${dc.authKey ? 'auth key: yes' : 'auth key: no'}${dc.tempAuthKeys?.length ? `, ${dc.tempAuthKeys.length} temp keys` : ''}`;
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
      : '  user: not logged in',
  );
  const s = session.state;
  lines.push(s ? `  update state: pts ${s.pts}, qts ${s.qts}, seq ${s.seq}, date ${new Date(s.date * 1000).toISOString()}` : '  update state: none');
  lines.push(`  channels with pts: ${session.channels.length}`);
  if (session.takeoutId !== undefined) lines.push('  takeout: active');
  return lines;
}

function peerLine(counts: Record<PeerType, number>, min: number): string {
  const total = counts.user + counts.chat + counts.channel;
  return `  peers: ${total} (${counts.user} users, ${counts.chat} chats, ${counts.channel} channels${min ? `, ${min} min` : ''})`;
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

export async function inspect(source: string, options: InspectOptions, io: Io): Promise<void> {
  const out = (line: string) => io.stdout.write(`${line}\n`);
  const foreign = await readForeign(source);
  if (foreign !== null) {
    // A string is a login: name it by format and length only.
    const what = existsSync(source) || existsSync(`${source}.session`) ? shown(source) : `the ${source.length}-character string`;
    out(`${what}: a ${foreign.format} session (${foreign.layout})`);
    for (const line of describeSession(foreign.session)) out(line);
    const counts: Record<PeerType, number> = { user: 0, chat: 0, channel: 0 };
    out(peerLine(counts, tally(foreign.peers, counts)));
    if (foreign.kv.length) out(`  kv entries: ${foreign.kv.length} (${foreign.kv.map((e) => e.key).join(', ')})`);
    if (foreign.refMessages.length) out(`  reference messages: ${foreign.refMessages.length}`);
    return;
  }
  const probe = await openExisting(source, options.name);
  let names: string[];
  try {
    names = options.name !== undefined ? [options.name] : await probe.listNames();
  } finally {
    await probe.close();
  }
  out(`${shown(source)}: ${names.length} session${names.length === 1 ? '' : 's'}`);
  for (const name of names) {
    const storage = await openExisting(source, name);
    try {
      out(`session "${name}":`);
      for (const line of describeSession(await storage.load())) out(line);
      out(await countAll(storage.peers));
      const entries = await storage.kv.entries();
      if (entries.length) out(`  kv entries: ${entries.length} (${entries.map((e) => e.key).join(', ')})`);
      out(await leaseLine(storage));
    } finally {
      await storage.close();
    }
  }
}
