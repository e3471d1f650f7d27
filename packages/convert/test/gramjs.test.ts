import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readStringSession } from '@mtcute/core/utils.js';
import { parseSession, parseSessionString, toGramjsString, toMtcuteString, toTelethonString } from '../src/index.js';
import { fixtureText, hex, seededKey } from './helpers.js';

const require = createRequire(import.meta.url);
const { StringSession } = require('telegram/sessions') as typeof import('telegram/sessions/index.js');
const { AuthKey } = require('telegram/crypto/AuthKey') as typeof import('telegram/crypto/AuthKey.js');

async function gramjsString(dcId: number, address: string, port: number, key: Uint8Array): Promise<string> {
  const session = new StringSession('');
  session.setDC(dcId, address, port);
  const authKey = new AuthKey();
  await authKey.setKey(Buffer.from(key));
  session.authKey = authKey;
  return session.save();
}

const cases = [
  { name: 'IPv4', address: '149.154.167.51', field: 'ipv4', expected: '149.154.167.51' },
  { name: 'IPv6', address: '2001:67c:4e8:f002::a', field: 'ipv6', expected: '2001:67c:4e8:f002::a' },
  { name: 'host name', address: 'vesta.web.telegram.org', field: 'host', expected: 'vesta.web.telegram.org' },
] as const;

describe('GramJS StringSession', () => {
  for (const c of cases) {
    it(`reads what GramJS writes for an ${c.name} address, and GramJS reads ours back`, async () => {
      const key = seededKey(21);
      const theirs = await gramjsString(4, c.address, 443, key);
      const parsed = parseSessionString(theirs);
      expect(parsed.format).toBe('gramjs');
      const dc = parsed.session.dcs[0]!;
      expect(dc[c.field]).toBe(c.expected);
      expect(dc.port).toBe(443);
      expect(parsed.session.homeDcId).toBe(4);
      expect(hex(dc.authKey)).toBe(hex(key));

      const ours = toGramjsString(parsed.session);
      expect(ours).toBe(theirs);
      const back = new StringSession(ours);
      await back.load();
      expect(back.dcId).toBe(4);
      expect(back.serverAddress).toBe(c.address);
      expect(back.port).toBe(443);
      expect(hex(back.authKey!.getKey()!)).toBe(hex(key));
    });
  }

  it('tells a GramJS IPv4 string from a Telethon IPv6 string of the same length by content', async () => {
    const gram = await gramjsString(2, '149.154.167.51', 443, seededKey(3));
    const telethon = fixtureText('telethon/ipv6.string');
    expect(gram).toHaveLength(369);
    expect(telethon).toHaveLength(369);
    expect(parseSessionString(gram).format).toBe('gramjs');
    expect(parseSessionString(telethon).format).toBe('telethon');
  });

  it('reads a GramJS string that also decodes as Telethon IPv6 (in ::/8, no server has it) as GramJS', () => {
    // A Telethon IPv6 string whose address bytes are 00 0e + "149.154.167.51" is byte for
    // byte the GramJS string for 149.154.167.51.
    const parsed = parseSessionString(fixtureText('telethon/ipv6.string'));
    const address = Buffer.concat([Buffer.from([0x00, 0x0e]), Buffer.from('149.154.167.51')]);
    const ipv6 = address.toString('hex').match(/.{4}/g)!.join(':');
    const tricky = toTelethonString({ ...parsed.session, dcs: [{ ...parsed.session.dcs[0]!, ipv6 }] });
    expect(parseSessionString(tricky).format).toBe('gramjs');
    expect(parseSessionString(tricky).session.dcs[0]!.ipv4).toBe('149.154.167.51');
    expect(parseSessionString(tricky, { format: 'telethon' }).session.dcs[0]!.ipv6).toBe('e:3134:392e:3135:342e:3136:372e:3531');
  });

  it('refuses a truly ambiguous string, naming the candidates and the option, and reads it when told', async () => {
    // GramJS with the 2-character host "ab" has the size of a Telethon IPv4 string
    // (0.2.97.98): neither reading is an address a server has.
    const text = await gramjsString(2, 'ab', 443, seededKey(5));
    let caught: unknown;
    try {
      parseSessionString(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ name: 'ConvertError', code: 'MTSTORE_CONVERT_AMBIGUOUS', candidates: ['telethon', 'gramjs'] });
    expect((caught as Error).message).toContain("format: 'telethon'");
    expect((caught as Error).message).not.toContain(text.slice(1, 30));
    expect(parseSessionString(text, { format: 'gramjs' }).session.dcs[0]!.host).toBe('ab');
    expect(parseSessionString(text, { format: 'telethon' }).session.dcs[0]!.ipv4).toBe('0.2.97.98');
  });
});

describe('a GramJS session on a web host name (browser, WebSocket)', () => {
  it('is written as Telethon and mtcute strings with its DC\'s IP address, which GramJS and mtcute load; a DC outside the table is refused', async () => {
    const key = seededKey(44);
    const parsed = parseSessionString(await gramjsString(2, 'vesta.web.telegram.org', 80, key));
    expect(parsed.session.dcs[0]!.host).toBe('vesta.web.telegram.org');

    const telethon = new StringSession(toTelethonString(parsed.session));
    await telethon.load();
    expect([telethon.dcId, telethon.serverAddress, telethon.port]).toEqual([2, '149.154.167.51', 443]);
    expect(hex(telethon.authKey!.getKey()!)).toBe(hex(key));
    const mtcute = readStringSession(toMtcuteString(parsed.session));
    expect([mtcute.primaryDcs?.main.id, mtcute.primaryDcs?.main.ipAddress, mtcute.primaryDcs?.main.port]).toEqual([2, '149.154.167.51', 443]);
    expect(hex(mtcute.authKey)).toBe(hex(key));

    const unknown = parseSessionString(await gramjsString(9, 'example.web.telegram.org', 443, key));
    expect(() => toTelethonString(unknown.session)).toThrow(expect.objectContaining({ code: 'MTSTORE_CONVERT_UNSUPPORTED' }));
    expect(() => toMtcuteString(unknown.session)).toThrow(expect.objectContaining({ code: 'MTSTORE_CONVERT_UNSUPPORTED' }));
  });
});

describe('GramJS StoreSession folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-gramjs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the folder GramJS writes: DC, key and entities', async () => {
    // GramJS writes the folder relative to the working directory: run it in a child.
    const script = `
      const { StoreSession } = require('telegram/sessions');
      const { AuthKey } = require('telegram/crypto/AuthKey');
      const { Api } = require('telegram');
      const bigInt = require('big-integer');
      (async () => {
        const s = new StoreSession('acct');
        s.setDC(2, '149.154.167.51', 443);
        const k = new AuthKey(); await k.setKey(Buffer.from(${JSON.stringify(Array.from(seededKey(9)))})); s.authKey = k;
        s.processEntities({
          users: [new Api.User({ id: bigInt(777000222), accessHash: bigInt('-5764607523034234880'), username: 'Alice_Interop', phone: '15550001111', firstName: 'Alice', lastName: 'Example' })],
          chats: [
            new Api.Channel({ id: bigInt(1183945448), accessHash: bigInt('-1234567890123456789'), title: 'Interop Channel', username: 'interopchannel', photo: new Api.ChatPhotoEmpty(), date: 1 }),
            new Api.Chat({ id: bigInt(4242), title: 'Basic Chat', photo: new Api.ChatPhotoEmpty(), participantsCount: 1, date: 1, version: 1 }),
          ],
        });
      })();`;
    execFileSync(process.execPath, ['-e', script], { cwd: dir, env: { ...process.env, NODE_PATH: join(process.cwd(), 'node_modules') + ':' + join(process.cwd(), '../../node_modules') } });
    const before = Date.now();
    const parsed = await parseSession(join(dir, 'acct'));
    expect(parsed.format).toBe('gramjs-store');
    expect(parsed.session.homeDcId).toBe(2);
    expect(parsed.session.dcs[0]).toMatchObject({ id: 2, ipv4: '149.154.167.51', port: 443 });
    expect(hex(parsed.session.dcs[0]!.authKey)).toBe(hex(seededKey(9)));
    const byId = new Map(parsed.peers.map((p) => [`${p.type}:${p.id}`, p]));
    expect(parsed.peers).toHaveLength(3);
    expect(byId.get('user:777000222')).toMatchObject({ accessHash: -5764607523034234880n, usernames: ['alice_interop'], phone: '15550001111', displayName: 'Alice Example' });
    expect(byId.get('channel:1183945448')).toMatchObject({ accessHash: -1234567890123456789n, usernames: ['interopchannel'], displayName: 'Interop Channel' });
    expect(byId.get('chat:4242')).toMatchObject({ accessHash: 0n, usernames: [], displayName: 'Basic Chat' });
    for (const p of parsed.peers) expect(p.updatedAt).toBeLessThanOrEqual(Math.ceil(before / 1000));
  });
});
