import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { assertSession, AuthKeyBytes, authKeyBytes, checkStoredSession, CorruptDataError, describeValue, InvalidArgumentError, SessionSubject, toStorageError, type Session } from '../src/index.js';
import { Sealer } from '../src/seal.js';

const key = Uint8Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff);
const hex = Buffer.from(key.subarray(0, 8)).toString('hex');
const decimals = Array.from(key.subarray(0, 6)).join(', ');

describe('auth key bytes never reach text', () => {
  it('AuthKeyBytes prints a placeholder in inspect, console.log, JSON and string conversion', () => {
    const secret = authKeyBytes(key);
    for (const text of [inspect(secret), inspect({ nested: { secret } }, { depth: 5 }), JSON.stringify({ secret }), String(secret), `${secret}`]) {
      expect(text).not.toContain(hex);
      expect(text).not.toContain(decimals);
      expect(text).toContain('redacted');
    }
    // Derived arrays stay redacted; the bytes themselves are all there.
    expect(inspect(secret.subarray(0, 8))).toContain('redacted');
    expect(Buffer.from(secret).equals(Buffer.from(key))).toBe(true);
    expect(secret).toBeInstanceOf(Uint8Array);
  });

  it('authKeyBytes copies: the driver buffer can be reused without changing the key', () => {
    const driverBuffer = Buffer.from(key);
    const secret = authKeyBytes(driverBuffer);
    driverBuffer.fill(0);
    expect(secret[0]).toBe(key[0]);
    expect(secret).toBeInstanceOf(AuthKeyBytes);
  });

  it('checkStoredSession wraps every key, and a truncated key is CorruptDataError naming the session', () => {
    const session: Session = {
      version: 1,
      homeDcId: 1,
      dcs: [{ id: 1, port: 443, authKey: Buffer.from(key), tempAuthKeys: [{ index: 0, key: Buffer.from(key), expiresAt: 1 }] }],
      channels: [],
    };
    const checked = checkStoredSession(session, 'session "bot"');
    expect(checked.dcs[0]?.authKey).toBeInstanceOf(AuthKeyBytes);
    expect(checked.dcs[0]?.tempAuthKeys?.[0]?.key).toBeInstanceOf(AuthKeyBytes);
    expect(inspect(checked, { depth: 10 })).not.toContain(decimals);

    const truncated: Session = { ...session, dcs: [{ id: 1, port: 443, authKey: key.subarray(0, 200) }] };
    expect(() => checkStoredSession(truncated, 'session "bot"')).toThrow(CorruptDataError);
    expect(() => checkStoredSession(truncated, 'session "bot"')).toThrow('session "bot": stored auth key for DC 1 is 200 bytes, expected 256 bytes');
  });

  it('checkStoredSession copies every key, unless keepFresh and the key already is an AuthKeyBytes', () => {
    const fresh = new AuthKeyBytes(key);
    const read = (): Session => ({ version: 1, homeDcId: 1, dcs: [{ id: 1, authKey: fresh, tempAuthKeys: [{ index: 0, key: Buffer.from(key), expiresAt: 1 }] }], channels: [] });
    // Default: a key the adapter may still hold (an object it keeps, a driver buffer) is copied, AuthKeyBytes or not.
    const copied = checkStoredSession(read(), 'session "bot"');
    expect(copied.dcs[0]?.authKey).not.toBe(fresh);
    expect(copied.dcs[0]?.authKey).toEqual(fresh);
    // keepFresh: the adapter made the AuthKeyBytes for this read, so it is kept; other keys are still copied into AuthKeyBytes.
    const kept = checkStoredSession(read(), 'session "bot"', true);
    expect(kept.dcs[0]?.authKey).toBe(fresh);
    const temp = kept.dcs[0]?.tempAuthKeys?.[0]?.key;
    expect(temp).toBeInstanceOf(AuthKeyBytes);
    expect(Buffer.isBuffer(temp)).toBe(false);
    expect(temp).toEqual(new AuthKeyBytes(key));
    // Still checked: a short AuthKeyBytes is corrupt data either way.
    const short = (): Session => ({ version: 1, homeDcId: 1, dcs: [{ id: 1, authKey: new AuthKeyBytes(key.subarray(0, 200)) }], channels: [] });
    expect(() => checkStoredSession(short(), 'session "bot"', true)).toThrow('session "bot": stored auth key for DC 1 is 200 bytes, expected 256 bytes');
  });

  it('a SessionSubject inspects as its id and counts, nothing from the storage', () => {
    const subject = new SessionSubject(
      {
        createSession: async () => true,
        hasSession: async () => true,
        destroySession: async () => true,
        listSessions: async () => [],
        destroyAllSessions: async () => [],
        close: async () => {},
      },
      { id: 'node-1' },
    );
    expect(inspect(subject)).toBe('SessionSubject { id: "node-1", observers: 0, bus: none, closed: false }');
  });
});

describe('a key given in the wrong place never reaches the error', () => {
  const hexKey = Buffer.from(key).toString('hex');
  const base64Key = Buffer.from(key).toString('base64');
  const sealingHex = Buffer.from(key.subarray(0, 32)).toString('hex');
  const shows = (text: string, secret: string): boolean => {
    for (let i = 0; i + 12 <= secret.length; i += 4) if (text.includes(secret.slice(i, i + 12))) return true;
    return false;
  };

  it('describeValue shows a string only when it is short and cannot be encoded bytes', () => {
    expect(describeValue('user')).toBe('string "user"');
    expect(describeValue('bad host!')).toBe('string "bad host!"');
    for (const text of [hexKey, base64Key, `key:${hexKey}`, hexKey.slice(0, 32), 'x'.repeat(41)]) {
      expect(describeValue(text)).toBe(`a string of ${text.length} chars (not shown)`);
    }
  });

  it('validators describing another field (a temp key entry, a record) do not quote a key string', () => {
    const session = { version: 1, homeDcId: 2, dcs: [{ id: 2, port: 443, tempAuthKeys: [hexKey] }], channels: [] };
    const messages: string[] = [];
    for (const bad of [session, { ...session, dcs: [{ id: 2, port: 443, tempAuthKeys: base64Key }] }, { ...session, user: hexKey }]) {
      try {
        assertSession(bad, 'session');
      } catch (error) {
        messages.push((error as Error).message);
      }
    }
    expect(messages).toHaveLength(3);
    for (const message of messages) {
      expect(shows(message, hexKey), message).toBe(false);
      expect(shows(message, base64Key), message).toBe(false);
    }
  });

  it('encryption options: a key as the options, an entry, an id or an environment variable name is not echoed', () => {
    const attempts: unknown[] = [sealingHex, { keys: [sealingHex] }, { keys: [{ id: sealingHex, key: sealingHex }] }, { keys: [{ id: 'k1', env: `a${sealingHex.slice(1)}` }] }];
    for (const encryption of attempts) {
      const error = (() => {
        try {
          new Sealer(encryption as never, 'bot', 'Test');
        } catch (e) {
          return e as Error;
        }
        return null;
      })();
      expect(error, JSON.stringify(encryption)).toBeInstanceOf(InvalidArgumentError);
      expect(shows(error!.message, sealingHex.slice(1)), error!.message).toBe(false);
    }
  });

  it("a driver message quoting the bytes it refused (MySQL's Incorrect string value) keeps its reason, not the bytes", () => {
    const driver = new Error("Incorrect string value: '\\xAB\\xCD\\xEF\\x13W\\x9B...' for column `test`.`auth_key`.`auth_key` at row 1");
    const error = toStorageError(driver, 'authKeys.set');
    expect(error.message).toBe("authKeys.set failed: Incorrect string value: '…' for column `test`.`auth_key`.`auth_key` at row 1");
    expect(inspect(error)).not.toContain('xAB');
  });

  it('a driver or adapter message quoting bytes as a hex run, 0x / \\x hex or a printed Buffer keeps its reason, not the bytes (message, cause, stack)', () => {
    const key = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff));
    const hex = key.toString('hex');
    const messages = [
      `ECONNRESET while reading rows 1:main=${hex} 2:main=${hex.toUpperCase()}`,
      `value 0x${hex.slice(0, 64)} refused`,
      `bytea \\x${hex.slice(0, 40)} refused`,
      `got ${inspect(key)} back`,
      `got ${Array.from(key.subarray(0, 20), (b) => b.toString(16).padStart(2, '0')).join(':')} back`,
    ];
    for (const text of messages) {
      const driver = new Error(text);
      const error = toStorageError(driver, 'load');
      const all = `${error.message}\n${error.stack}\n${inspect(error, { depth: 8 })}`;
      for (const start of [0, 16, 40]) expect(all.toLowerCase(), text.slice(0, 40)).not.toContain(hex.slice(start * 2, start * 2 + 24));
      expect(error.message.startsWith(`load failed: ${text.split(' ')[0]}`), error.message).toBe(true);
    }
    // Ordinary diagnostics stay whole.
    const plain = 'connect ECONNREFUSED 127.0.0.1:5432 (pid 4242, session 0123456789abcdef, at 12:34:56)';
    expect(toStorageError(new Error(plain), 'load').message).toBe(`load failed: ${plain}`);
  });
});
