import { describe, expect, it } from 'vitest';
import {
  assertIdentifier,
  assertInt64,
  assertIpv6,
  assertKeyPrefix,
  assertSession,
  assertSessionName,
  describeValue,
  InvalidArgumentError,
  type Session,
} from '../src/index.js';

const session = (): Session => ({ version: 1, homeDcId: 2, dcs: [{ id: 2, port: 443, authKey: new Uint8Array(256).fill(7) }], channels: [] });

describe('validation', () => {
  it('int64 accepts the whole signed range and nothing else', () => {
    for (const ok of [-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n]) expect(() => assertInt64(ok, 'id')).not.toThrow();
    for (const bad of [2n ** 63n, -(2n ** 63n) - 1n, 1, '1', Number.NaN, null, undefined]) {
      expect(() => assertInt64(bad, 'id'), describeValue(bad)).toThrow(InvalidArgumentError);
    }
  });

  it('messages name the argument path and what it got', () => {
    const bad = session();
    (bad.dcs[0] as { port: unknown }).port = '443';
    expect(() => assertSession(bad)).toThrow('session.dcs[0].port must be an integer from 1 to 65535, got string "443"');
    expect(() => assertInt64(2n ** 63n, 'user.id')).toThrow('user.id must be within the signed 64-bit range, got 9223372036854775808n');
  });

  it('a wrong-sized key is described by its length, never its bytes', () => {
    const bad = session();
    bad.dcs[0]!.authKey = new Uint8Array(255).fill(0xab);
    let message = '';
    try {
      assertSession(bad);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe('session.dcs[0].authKey must be a Uint8Array of 256 bytes, got Uint8Array(255 bytes)');
    expect(message).not.toMatch(/ab|171/);
  });

  it('IPv6 addresses in every RFC 4291 text form, and nothing else', () => {
    for (const ok of ['::', '::1', '1::', '2001:67c:4e8:f002::a', '2001:db8:0:0:0:0:2:1', 'fe80::1:2:3:4:5:6', '::ffff:192.0.2.1', '64:ff9b::192.0.2.33', '1:2:3:4:5:6:1.2.3.4', 'ABCD:ef01::9']) {
      expect(() => assertIpv6(ok, 'ipv6'), ok).not.toThrow();
    }
    for (const bad of ['', ':', '1', ':1', '1:', '1:::2', '1::2::3', '[::1]', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4', '::1%eth0']) {
      expect(() => assertIpv6(bad, 'ipv6'), bad).toThrow(InvalidArgumentError);
    }
  });

  it('session names, SQL identifiers and key prefixes refuse anything that could escape their namespace', () => {
    for (const ok of ['default', 'bot:1', 'user@example.com', 'a-b_c.d+e=f']) expect(() => assertSessionName(ok)).not.toThrow();
    for (const bad of ['', 'a b', 'a/b', '{tag}', 'x'.repeat(129), "a'; drop table x;--", 5]) {
      expect(() => assertSessionName(bad), String(bad)).toThrow(InvalidArgumentError);
    }
    for (const ok of ['mtstore', '_x1', 'A_b']) expect(() => assertIdentifier(ok, 'schema')).not.toThrow();
    for (const bad of ['', '1abc', 'a-b', 'a"b', 'public.x', 'x'.repeat(49)]) expect(() => assertIdentifier(bad, 'schema'), bad).toThrow(InvalidArgumentError);
    expect(() => assertIdentifier('', 'prefix', { allowEmpty: true })).not.toThrow();
    for (const ok of ['', 'mtstore:', 'app.prod-1:']) expect(() => assertKeyPrefix(ok, 'prefix')).not.toThrow();
    for (const bad of ['{x}', 'a b', '*', 'x'.repeat(65)]) expect(() => assertKeyPrefix(bad, 'prefix'), bad).toThrow(InvalidArgumentError);
  });
});
