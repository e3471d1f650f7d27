/**
 * Telegram's well-known DC addresses, as Pyrogram keeps them. Pyrogram sessions carry
 * no address (the client maps the DC id through this table); writing such a session
 * into a format that must hold one (Telethon, GramJS, mtcute) uses the same table.
 */
import type { DataCenter } from '@mtstore/core';

const PROD_V4: Record<number, string> = { 1: '149.154.175.53', 2: '149.154.167.51', 3: '149.154.175.100', 4: '149.154.167.91', 5: '91.108.56.130' };
const TEST_V4: Record<number, string> = { 1: '149.154.175.10', 2: '149.154.167.40', 3: '149.154.175.117' };
const PROD_V6: Record<number, string> = {
  1: '2001:b28:f23d:f001::a',
  2: '2001:67c:4e8:f002::a',
  3: '2001:b28:f23d:f003::a',
  4: '2001:67c:4e8:f004::a',
  5: '2001:b28:f23f:f005::a',
};
const TEST_V6: Record<number, string> = { 1: '2001:b28:f23d:f001::e', 2: '2001:67c:4e8:f002::e', 3: '2001:b28:f23d:f003::e' };

export interface DcAddress {
  ipv4?: string;
  ipv6?: string;
  host?: string;
  port: number;
  /** True when it came from the well-known table, not from the session. */
  wellKnown: boolean;
}

/** The address a writer puts in a string: the DC's own, else Telegram's well-known one, else null. */
export function addressOf(dc: DataCenter): DcAddress | null {
  if ((dc.ipv4 !== undefined || dc.ipv6 !== undefined || dc.host !== undefined) && dc.port !== undefined) {
    return { ipv4: dc.ipv4, ipv6: dc.ipv6, host: dc.host, port: dc.port, wellKnown: false };
  }
  return wellKnownAddress(dc);
}

/**
 * An IP address for a format that holds no host name (Telethon, mtcute): the DC's own,
 * else the well-known one of its id. A GramJS session from a browser names its DC by a
 * web host (`vesta.web.telegram.org`, port 443 or 80 over WebSocket); the auth key
 * belongs to the DC, not to the transport, so the DC's IP address serves it as well.
 */
export function ipAddressOf(dc: DataCenter): DcAddress | null {
  if ((dc.ipv4 !== undefined || dc.ipv6 !== undefined) && dc.port !== undefined) {
    return { ipv4: dc.ipv4, ipv6: dc.ipv6, port: dc.port, wellKnown: false };
  }
  return wellKnownAddress({ ...dc, port: dc.host !== undefined ? undefined : dc.port });
}

function wellKnownAddress(dc: DataCenter): DcAddress | null {
  const v4 = (dc.testMode ? TEST_V4 : PROD_V4)[dc.id];
  const v6 = (dc.testMode ? TEST_V6 : PROD_V6)[dc.id];
  if (v4 === undefined) return null;
  // Pyrogram's ports: 80 on the test servers, 443 in production.
  return { ipv4: v4, ipv6: v6, port: dc.port ?? (dc.testMode ? 80 : 443), wellKnown: true };
}

const TEST_ADDRESSES: ReadonlySet<string> = new Set([...Object.values(TEST_V4), ...Object.values(TEST_V6)]);

/**
 * Whether an address (canonical text) is one of Telegram's test servers. Telethon and
 * GramJS sessions do not record test mode; their address says it, and mtcute's own
 * converter (`isTestDc`) reads it the same way. Without it a test account's session,
 * written as a Pyrogram or mtcute string, would claim production.
 */
export function isTestAddress(address: string | undefined): boolean {
  return address !== undefined && TEST_ADDRESSES.has(address);
}
