/**
 * Telegram's well-known DC addresses (core's table, as Pyrogram keeps them). Pyrogram
 * sessions carry no address (the client maps the DC id through that table); writing
 * such a session into a format that must hold one (Telethon, GramJS, mtcute) uses it.
 */
import { isWellKnownTestAddress, wellKnownDcAddress, type DataCenter } from '@mtstore/core';

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
  // core's table; its ports are Pyrogram's: 80 on the test servers, 443 in production.
  const known = wellKnownDcAddress(dc.id, dc.testMode === true);
  if (known === undefined) return null;
  return { ipv4: known.ipv4, ipv6: known.ipv6, port: dc.port ?? known.port, wellKnown: true };
}

/**
 * Whether an address (canonical text) is one of Telegram's test servers. Telethon and
 * GramJS sessions do not record test mode; their address says it, and mtcute's own
 * converter (`isTestDc`) reads it the same way. Without it a test account's session,
 * written as a Pyrogram or mtcute string, would claim production.
 */
export function isTestAddress(address: string | undefined): boolean {
  return isWellKnownTestAddress(address);
}
