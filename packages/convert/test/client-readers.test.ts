/**
 * Strings mtstore writes, read by the real clients (telegram 2.26, @mtcute/core 0.29.7):
 * what a client would read differently from the session is refused, never written.
 * Found by differential fuzzing of the writers against these readers.
 */
import { createRequire } from 'node:module';
import { readStringSession } from '@mtcute/core/utils.js';
import type { Session } from '@mtstore/core';
import { describe, expect, it } from 'vitest';
import { isConvertError, parseSessionString, toGramjsString, toMtcuteString, toTelethonString } from '../src/index.js';
import { hex, seededKey } from './helpers.js';

const require = createRequire(import.meta.url);
const { StringSession } = require('telegram/sessions') as typeof import('telegram/sessions/index.js');

const key = seededKey(47);

function session(dc: Partial<Session['dcs'][number]>, extra: Partial<Session> = {}): Session {
  return { version: 1, homeDcId: 2, dcs: [{ id: 2, ...dc, authKey: key }], channels: [], ...extra };
}

/** What GramJS reads from a string: its fields, or the error its constructor throws. */
async function gramjsReads(text: string): Promise<{ dcId: number; address: string; port: number; key: string }> {
  const s = new StringSession(text);
  await s.load();
  return { dcId: s.dcId, address: s.serverAddress!, port: s.port!, key: hex(s.authKey!.getKey()!) };
}

function refusal(write: () => string): string {
  try {
    return `wrote ${write().length} characters`;
  } catch (e) {
    if (!isConvertError(e)) throw e;
    expect(e.message).not.toContain(hex(key).slice(0, 16));
    return e.code;
  }
}

describe('GramJS strings GramJS would misread', () => {
  it('a port above 32767 (GramJS reads the port as a signed int16) is refused; 32767 is written and read back', async () => {
    for (const port of [32768, 44300, 65535]) {
      expect(refusal(() => toGramjsString(session({ ipv4: '149.154.167.51', port })))).toBe('MTSTORE_CONVERT_UNSUPPORTED');
    }
    const ok = toGramjsString(session({ ipv4: '149.154.167.51', port: 32767 }));
    expect(await gramjsReads(ok)).toEqual({ dcId: 2, address: '149.154.167.51', port: 32767, key: hex(key) });
  });

  it('an address of 2 or 3 characters (the string then has a Telethon IPv4 string\'s length) or over 100 (read as IPv6 bytes) is refused', async () => {
    for (const host of ['a.b', `${'a'.repeat(50)}.${'b'.repeat(46)}.org`]) {
      expect(refusal(() => toGramjsString(session({ host, port: 443 })))).toBe('MTSTORE_CONVERT_UNSUPPORTED');
    }
    for (const host of ['a.bc', `${'a'.repeat(50)}.${'b'.repeat(45)}.org`]) {
      const text = toGramjsString(session({ host, port: 443 }));
      expect(await gramjsReads(text)).toEqual({ dcId: 2, address: host, port: 443, key: hex(key) });
      expect(parseSessionString(text, { format: 'gramjs' }).session.dcs[0]!.host).toBe(host);
    }
  });

  it('a Telethon string keeps any port (Telethon packs it unsigned)', () => {
    const text = toTelethonString(session({ ipv4: '149.154.167.51', port: 44300 }));
    expect(parseSessionString(text).session.dcs[0]!.port).toBe(44300);
  });
});

describe('mtcute strings mtcute would misread or refuse', () => {
  it('a user id above 2^53-1 (mtcute keeps it as a JavaScript number) is refused; 2^53-1 round-trips', () => {
    const user = (id: bigint): Partial<Session> => ({ user: { id, dcId: 2, bot: false } });
    expect(refusal(() => toMtcuteString(session({ ipv4: '149.154.167.51', port: 443 }, user(2n ** 53n))))).toBe('MTSTORE_CONVERT_UNSUPPORTED');
    const text = toMtcuteString(session({ ipv4: '149.154.167.51', port: 443 }, user(2n ** 53n - 1n)));
    expect(readStringSession(text).self?.userId).toBe(2 ** 53 - 1);
  });

  it('a media DC entry whose test flag differs from the main DC\'s is left out, as mtcute refuses such a string', () => {
    const s: Session = {
      version: 1,
      homeDcId: 2,
      dcs: [
        { id: 2, ipv4: '149.154.167.40', port: 443, testMode: true, authKey: key },
        { id: 2, ipv4: '149.154.167.222', port: 443, mediaOnly: true },
      ],
      channels: [],
    };
    const read = readStringSession(toMtcuteString(s));
    expect(read.primaryDcs.main).toMatchObject({ id: 2, ipAddress: '149.154.167.40', port: 443, testMode: true });
    expect(read.primaryDcs.media).toBe(read.primaryDcs.main);
    expect(hex(read.authKey)).toBe(hex(key));
    // The same test flag on both: the media DC is written.
    s.dcs[1]!.testMode = true;
    const both = readStringSession(toMtcuteString(s));
    expect(both.primaryDcs.media).toMatchObject({ ipAddress: '149.154.167.222', mediaOnly: true, testMode: true });
  });
});
