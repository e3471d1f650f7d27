import { fromMarkedId } from '@mtstore/core';
import { convertFromPyrogramSession, convertToPyrogramSession } from '@mtcute/convert';
import { describe, expect, it } from 'vitest';
import { parseSession, parseSessionString, toPyrogramString } from '../src/index.js';
import { big, fixtureText, fixtures, hex, truth } from './helpers.js';

interface UserTruth {
  length: number;
  dc_id: number;
  test_mode: boolean;
  api_id: number;
  auth_key_hex: string;
  user_id: number;
  is_bot: boolean;
}

/**
 * Pyrogram's older layouts, packed here the way Python's struct module packs them
 * (big-endian, `?` as one byte) from the ground-truth values, independently of the
 * writer under test.
 */
function packOld(t: UserTruth, userIdBytes: 4 | 8): string {
  const out = Buffer.alloc(1 + 1 + 256 + userIdBytes + 1);
  out.writeUInt8(t.dc_id, 0);
  out.writeUInt8(t.test_mode ? 1 : 0, 1);
  Buffer.from(t.auth_key_hex, 'hex').copy(out, 2);
  if (userIdBytes === 4) out.writeUInt32BE(t.user_id, 258);
  else out.writeBigUInt64BE(BigInt(t.user_id), 258);
  out.writeUInt8(t.is_bot ? 1 : 0, 258 + userIdBytes);
  return out.toString('base64url');
}

describe('Pyrogram session string', () => {
  it('reads the string Pyrogram 2 exported', () => {
    const t = truth<UserTruth>('pyrogram/user.json');
    const text = fixtureText('pyrogram/user.string');
    expect(text).toHaveLength(t.length);
    const parsed = parseSessionString(text);
    expect(parsed.format).toBe('pyrogram');
    expect(parsed.session.homeDcId).toBe(t.dc_id);
    expect(parsed.session.apiId).toBe(t.api_id);
    expect(parsed.session.dcs).toHaveLength(1);
    expect(parsed.session.dcs[0]!.testMode ?? false).toBe(t.test_mode);
    expect(parsed.session.dcs[0]!.ipv4).toBeUndefined();
    expect(hex(parsed.session.dcs[0]!.authKey)).toBe(t.auth_key_hex);
    expect(parsed.session.user).toEqual({ id: big(t.user_id), dcId: t.dc_id, bot: t.is_bot });
  });

  it('writes it back byte for byte', () => {
    const text = fixtureText('pyrogram/user.string');
    expect(toPyrogramString(parseSessionString(text).session)).toBe(text);
  });

  for (const [layout, bytes, chars] of [
    ['old-32', 4, 351],
    ['old-64', 8, 356],
  ] as const) {
    it(`reads and writes the old ${chars}-character layout`, () => {
      const t = truth<UserTruth>('pyrogram/user.json');
      const old = packOld(t, bytes);
      expect(old).toHaveLength(chars);
      const parsed = parseSessionString(old);
      expect(parsed.format).toBe('pyrogram');
      expect(parsed.layout).toContain(String(chars));
      expect(parsed.session.apiId).toBeUndefined();
      expect(parsed.session.user).toEqual({ id: big(t.user_id), dcId: t.dc_id, bot: t.is_bot });
      expect(hex(parsed.session.dcs[0]!.authKey)).toBe(t.auth_key_hex);
      expect(toPyrogramString(parsed.session, { layout })).toBe(old);
      // The current layout needs an api_id the old ones never had.
      expect(() => toPyrogramString(parsed.session)).toThrow(expect.objectContaining({ code: 'MTSTORE_CONVERT_UNSUPPORTED' }));
      expect(toPyrogramString(parsed.session, { apiId: t.api_id })).toBe(fixtureText('pyrogram/user.string'));
    });
  }

  it('apiId fills a missing api_id only, and must be a positive int32', () => {
    const t = truth<UserTruth>('pyrogram/user.json');
    const parsed = parseSessionString(fixtureText('pyrogram/user.string'));
    // The session records its own api_id: the option does not replace it.
    expect(parseSessionString(toPyrogramString(parsed.session, { apiId: 999 })).session.apiId).toBe(t.api_id);
    const { apiId: _, ...without } = parsed.session;
    expect(parseSessionString(toPyrogramString(without, { apiId: 999 })).session.apiId).toBe(999);
    expect(parseSessionString(toPyrogramString(without, { apiId: 2 ** 31 - 1 })).session.apiId).toBe(2 ** 31 - 1);
    // 2^32 + 1 would be written as 1, 0 reads back as "none", 2^31 is no int32.
    for (const apiId of [0, -1, 1.5, 2 ** 31, 2 ** 32 + 1, Number.NaN]) {
      expect(() => toPyrogramString(without, { apiId }), String(apiId)).toThrow(expect.objectContaining({ code: 'MTSTORE_CONVERT_INVALID' }));
    }
  });

  it('test mode and bot flags survive a round trip through mtcute’s Pyrogram converter', () => {
    const t = truth<UserTruth>('pyrogram/user.json');
    const session = parseSessionString(fixtureText('pyrogram/user.string')).session;
    const flipped = { ...session, dcs: [{ ...session.dcs[0]!, testMode: true }], user: { ...session.user!, bot: true } };
    const ours = toPyrogramString(flipped);
    const mt = convertFromPyrogramSession(ours);
    expect(mt.primaryDcs.main.testMode).toBe(true);
    expect(mt.self?.isBot).toBe(true);
    expect(mt.self?.userId).toBe(t.user_id);
    expect(hex(mt.authKey)).toBe(t.auth_key_hex);
    const back = parseSessionString(convertToPyrogramSession(mt, { apiId: t.api_id }));
    expect(back.session.dcs[0]!.testMode).toBe(true);
    expect(back.session.user?.bot).toBe(true);
    expect(toPyrogramString(back.session)).toBe(ours);
  });
});

interface FileTruth {
  dc_id: number;
  api_id: number;
  test_mode: boolean;
  auth_key_hex: string;
  user_id: number;
  is_bot: boolean;
  peers: { id: number | string; access_hash: number | string; type: string; username: string | null; phone_number: string | null }[];
  export_session_string: string;
}

describe('Pyrogram .session file', () => {
  it('reads the session and every peer Pyrogram wrote', async () => {
    const t = truth<FileTruth>('pyrogram/pyrogram.json');
    const parsed = await parseSession(`${fixtures}pyrogram/pyrogram.session`);
    expect(parsed.format).toBe('pyrogram-sqlite');
    const { session, peers } = parsed;
    expect(session.homeDcId).toBe(t.dc_id);
    expect(session.apiId).toBe(t.api_id);
    expect(session.dcs[0]!.testMode ?? false).toBe(t.test_mode);
    expect(hex(session.dcs[0]!.authKey)).toBe(t.auth_key_hex);
    expect(session.user).toEqual({ id: big(t.user_id), dcId: t.dc_id, bot: t.is_bot });
    expect(peers).toHaveLength(t.peers.length);
    for (const p of t.peers) {
      const { type, id } = fromMarkedId(big(p.id));
      const peer = peers.find((x) => x.type === type && x.id === id);
      expect(peer, `peer ${p.id}`).toBeDefined();
      expect(peer!.accessHash).toBe(big(p.access_hash));
      expect(peer!.usernames).toEqual(p.username === null ? [] : [p.username]);
      expect(peer!.phone).toBe(p.phone_number ?? undefined);
      expect(peer!.updatedAt).toBeGreaterThan(0);
    }
  });

  it('exports the same string Pyrogram exported from that file', async () => {
    const t = truth<FileTruth>('pyrogram/pyrogram.json');
    const parsed = await parseSession(`${fixtures}pyrogram/pyrogram.session`);
    expect(toPyrogramString(parsed.session)).toBe(t.export_session_string);
  });
});
