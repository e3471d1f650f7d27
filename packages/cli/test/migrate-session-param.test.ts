/**
 * migrate and `?session=` in its URLs. It was ignored on both sides: a source URL naming
 * one session copied every session of the store, and a target URL naming one wrote each
 * session under its own name. Now, as for export and inspect, the source's `?session=`
 * picks the session to copy (`--name` wins over it), and the target's is the name that
 * session is written under; a target naming one session while several would be copied
 * is exit 2, before anything is opened.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, makePeers } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-migrate-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const unique = (what: string) => `shared://${what}-${Math.random().toString(36).slice(2)}`;

/** A store holding alice (3 peers, kv a=1) and bob (5 peers, kv b=2). */
async function twoSessions(): Promise<string> {
  const url = unique('src');
  for (const [name, peers, key, value] of [['alice', 3, 'a', 1], ['bob', 5, 'b', 2]] as const) {
    const s = await openStorage(url, { name });
    await s.peers.upsert(makePeers(peers));
    await s.kv.set(key, Uint8Array.of(value));
    await s.close();
  }
  return url;
}

async function contents(url: string, name: string): Promise<{ peers: number; kv: string[] }> {
  const s = await openStorage(url, { name });
  try {
    return { peers: (await s.peers.list({ limit: 100 })).peers.length, kv: (await s.kv.entries()).map((e) => e.key) };
  } finally {
    await s.close();
  }
}

async function names(url: string): Promise<string[]> {
  const s = await openStorage(url, { name: 'default' });
  try {
    return (await s.listNames()).sort();
  } finally {
    await s.close();
  }
}

describe('migrate with ?session= in the source', () => {
  it('copies that session only; --name wins over it', async () => {
    const from = await twoSessions();
    const to = unique('dst');
    const io = captureIo();
    expect(await run(['migrate', `${from}?session=alice`, to], io), io.err()).toBe(EXIT.OK);
    expect(await names(to)).toEqual(['alice']);
    expect(await contents(to, 'alice')).toEqual({ peers: 3, kv: ['a'] });
    const other = unique('dst');
    const named = captureIo();
    expect(await run(['migrate', `${from}?session=alice`, other, '--name', 'bob'], named), named.err()).toBe(EXIT.OK);
    expect(await names(other)).toEqual(['bob']);
  });

  it('a session the source does not hold is exit 6 naming those there, and nothing is written', async () => {
    const from = await twoSessions();
    const to = unique('dst');
    const io = captureIo();
    expect(await run(['migrate', `${from}?session=carol`, to], io), io.err()).toBe(EXIT.NOT_FOUND);
    expect(io.err()).toContain('No session named "carol"');
    expect(io.err()).toContain('alice, bob');
    expect(await names(to)).toEqual([]);
  });
});

describe('migrate with ?session= in the target', () => {
  it('writes the one session copied under that name', async () => {
    const from = await twoSessions();
    const to = unique('dst');
    const io = captureIo();
    expect(await run(['migrate', `${from}?session=bob`, `${to}?session=robert`], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toMatch(/bob \(as robert\): .*5 peers, 1 kv entry,/);
    expect(await names(to)).toEqual(['robert']);
    expect(await contents(to, 'robert')).toEqual({ peers: 5, kv: ['b'] });
    // The same with --name picking the session.
    const other = unique('dst');
    const named = captureIo();
    expect(await run(['migrate', from, `${other}?session=al`, '--name', 'alice'], named), named.err()).toBe(EXIT.OK);
    expect(await names(other)).toEqual(['al']);
    expect(await contents(other, 'al')).toEqual({ peers: 3, kv: ['a'] });
  });

  it('with every session or several to copy: exit 2 saying why, before anything is opened', async () => {
    const missing = join(dir, 'missing.session');
    const target = join(dir, 'target.session');
    const every = captureIo();
    expect(await run(['migrate', missing, `file://${target}?session=x`], every), every.err()).toBe(EXIT.USAGE);
    expect(every.err()).toContain("The target's ?session=x names the one session to write, but migrate would copy every session of the source");
    const several = captureIo();
    expect(await run(['migrate', missing, `file://${target}?session=x`, '--name', 'a', '--name', 'b'], several), several.err()).toBe(EXIT.USAGE);
    expect(several.err()).toContain('would copy 2 sessions');
    expect(existsSync(target)).toBe(false);
  });
});
