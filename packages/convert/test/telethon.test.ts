import { createRequire } from 'node:module';
import { fromMarkedId } from '@mtstore/core';
import { convertFromTelethonSession, convertToTelethonSession } from '@mtcute/convert';
import { describe, expect, it } from 'vitest';
import { parseSession, parseSessionString, parseTelethonString, toTelethonString } from '../src/index.js';
import { big, fixtureText, fixtures, hex, truth } from './helpers.js';

const require = createRequire(import.meta.url);
const { StringSession } = require('telegram/sessions') as typeof import('telegram/sessions/index.js');

interface StringTruth {
  dc_id: number;
  ip: string;
  port: number;
  ipv6: boolean;
  auth_key_hex: string;
  length: number;
}

describe('Telethon StringSession', () => {
  for (const name of ['ipv4', 'ipv6'] as const) {
    it(`reads the ${name} string Telethon wrote`, () => {
      const t = truth<StringTruth>(`telethon/${name}.json`);
      const text = fixtureText(`telethon/${name}.string`);
      expect(text).toHaveLength(t.length);
      const parsed = parseSessionString(text);
      expect(parsed.format).toBe('telethon');
      const [dc] = parsed.session.dcs;
      expect(parsed.session.homeDcId).toBe(t.dc_id);
      expect(dc!.id).toBe(t.dc_id);
      expect(t.ipv6 ? dc!.ipv6 : dc!.ipv4).toBe(t.ip);
      expect(t.ipv6 ? dc!.ipv4 : dc!.ipv6).toBeUndefined();
      expect(dc!.port).toBe(t.port);
      expect(hex(dc!.authKey)).toBe(t.auth_key_hex);
      expect(parsed.session.user).toBeUndefined();
    });

    it(`writes the ${name} string back byte for byte`, () => {
      const text = fixtureText(`telethon/${name}.string`);
      expect(toTelethonString(parseTelethonString(text).session)).toBe(text);
    });

    it(`${name}: what we write, GramJS and mtcute's converter read back exactly`, async () => {
      const t = truth<StringTruth>(`telethon/${name}.json`);
      const ours = toTelethonString(parseTelethonString(fixtureText(`telethon/${name}.string`)).session);
      const gram = new StringSession(ours);
      await gram.load();
      expect(gram.dcId).toBe(t.dc_id);
      expect(gram.port).toBe(t.port);
      if (!t.ipv6) expect(gram.serverAddress).toBe(t.ip);
      expect(hex(gram.authKey!.getKey()!)).toBe(t.auth_key_hex);
      const mt = convertFromTelethonSession(ours);
      expect(mt.primaryDcs.main.id).toBe(t.dc_id);
      expect(mt.primaryDcs.main.port).toBe(t.port);
      expect(mt.primaryDcs.main.ipv6 ?? false).toBe(t.ipv6);
      expect(hex(mt.authKey)).toBe(t.auth_key_hex);
    });
  }

  it("reads what mtcute's converter writes as Telethon", () => {
    const t = truth<StringTruth>('telethon/ipv4.json');
    const mtString = convertToTelethonString(t);
    const parsed = parseSessionString(mtString);
    expect(parsed.format).toBe('telethon');
    expect(parsed.session.dcs[0]!.ipv4).toBe(t.ip);
    expect(hex(parsed.session.dcs[0]!.authKey)).toBe(t.auth_key_hex);
  });
});

function convertToTelethonString(t: StringTruth): string {
  return convertToTelethonSession({
    version: 3,
    primaryDcs: {
      main: { id: t.dc_id, ipAddress: t.ip, port: t.port },
      media: { id: t.dc_id, ipAddress: t.ip, port: t.port },
    },
    self: null,
    authKey: new Uint8Array(Buffer.from(t.auth_key_hex, 'hex')),
  });
}

interface FileTruth {
  dc_id: number;
  ip: string;
  port: number;
  auth_key_hex: string;
  takeout_id: number | null;
  user_id: number;
  entities: { id: number | string; hash: number | string; username: string | null; phone: number | null; name: string | null; date: number }[];
  update_state: { pts: number; qts: number; date: number; seq: number };
  channel_pts: { channel_id: number; pts: number }[];
}

describe('Telethon .session file', () => {
  it('reads DC, key, self user, entities and update state as Telethon wrote them', async () => {
    const t = truth<FileTruth>('telethon/telethon.json');
    const parsed = await parseSession(`${fixtures}telethon/telethon.session`);
    expect(parsed.format).toBe('telethon-sqlite');
    const { session, peers } = parsed;
    expect(session.homeDcId).toBe(t.dc_id);
    expect(session.dcs).toHaveLength(1);
    expect(session.dcs[0]!.ipv4).toBe(t.ip);
    expect(session.dcs[0]!.port).toBe(t.port);
    expect(hex(session.dcs[0]!.authKey)).toBe(t.auth_key_hex);
    expect(session.takeoutId).toBe(t.takeout_id === null ? undefined : big(t.takeout_id));
    expect(session.user).toEqual({ id: big(t.user_id), dcId: t.dc_id, bot: false });
    expect(session.state).toEqual(t.update_state);
    expect(session.channels).toEqual(t.channel_pts.map((c) => ({ id: big(c.channel_id), pts: c.pts })));

    const expected = t.entities
      .filter((e) => big(e.id) !== 0n)
      .map((e) => {
        const { type, id } = fromMarkedId(big(e.id));
        return {
          type,
          id,
          accessHash: big(e.hash),
          usernames: e.username === null ? [] : [e.username],
          ...(e.phone === null ? {} : { phone: String(e.phone) }),
          ...(e.name === null ? {} : { displayName: e.name }),
          updatedAt: e.date,
        };
      });
    expect(peers).toEqual(expect.arrayContaining(expected));
    expect(peers).toHaveLength(expected.length);
  });

  it('takes the bot flag from the caller, since Telethon does not record it', async () => {
    const parsed = await parseSession(`${fixtures}telethon/telethon.session`, { bot: true });
    expect(parsed.session.user?.bot).toBe(true);
  });

  it('finds name.session from name, as Telethon does', async () => {
    const parsed = await parseSession(`${fixtures}telethon/telethon`);
    expect(parsed.format).toBe('telethon-sqlite');
  });
});
