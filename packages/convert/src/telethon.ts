/**
 * Telethon's StringSession: "1" + URL-safe base64 (padded) of
 * `>B{4|16}sH256s` — DC id, packed IPv4 or IPv6 address, big-endian port, auth key.
 * Nothing else (no user, no takeout id, no test flag) is stored.
 */
import type { Session } from '@mtstore/core';
import { decodeBase64, encodeBase64, formatIpv6, isIpv4, keyFrom, parseIpv6 } from './bytes.js';
import { finish, homeWithKey } from './common.js';
import { ipAddressOf, isTestAddress } from './dcs.js';
import { assertText, invalid, unsupported } from './errors.js';
import type { ConvertedSession } from './types.js';

const FORMAT = 'Telethon string';

export function parseTelethonString(text: string): ConvertedSession {
  assertText(text, FORMAT);
  if (text[0] !== '1') throw invalid(FORMAT, 'it does not start with the version "1"');
  const bytes = decodeBase64(text.slice(1));
  if (bytes === null) throw invalid(FORMAT, 'it is not base64');
  const ipLength = bytes.length === 263 ? 4 : bytes.length === 275 ? 16 : 0;
  if (ipLength === 0) throw invalid(FORMAT, `it holds ${bytes.length} bytes, not 263 (IPv4) or 275 (IPv6)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dcId = bytes[0]!;
  if (dcId === 0) throw invalid(FORMAT, 'DC id 0');
  const ip = bytes.subarray(1, 1 + ipLength);
  const port = view.getUint16(1 + ipLength);
  if (port === 0) throw invalid(FORMAT, 'port 0');
  const authKey = keyFrom(bytes.subarray(3 + ipLength), FORMAT, 'the auth key');
  const address = ipLength === 4 ? { ipv4: Array.from(ip).join('.') } : { ipv6: formatIpv6(ip) };
  const testMode = isTestAddress(address.ipv4 ?? address.ipv6);
  const session: Session = { version: 1, homeDcId: dcId, dcs: [{ id: dcId, ...address, port, ...(testMode ? { testMode } : {}), authKey }], channels: [] };
  return finish('telethon', ipLength === 4 ? 'IPv4' : 'IPv6', session);
}

/** The home DC as a Telethon string (IPv4 when the DC has one, else IPv6). */
export function toTelethonString(session: Session): string {
  const dc = homeWithKey(session, FORMAT);
  const address = ipAddressOf(dc);
  if (address === null || (address.ipv4 === undefined && address.ipv6 === undefined)) {
    throw unsupported(FORMAT, `DC ${dc.id} has no IP address and is not one of Telegram's well-known DCs (Telethon strings cannot hold a host name)`);
  }
  let ip: Uint8Array;
  if (address.ipv4 !== undefined && isIpv4(address.ipv4)) ip = new Uint8Array(address.ipv4.split('.').map(Number));
  else {
    const v6 = parseIpv6(address.ipv6 ?? '');
    if (v6 === null) throw unsupported(FORMAT, `DC ${dc.id} has no valid IP address`);
    ip = v6;
  }
  const out = new Uint8Array(1 + ip.length + 2 + 256);
  out[0] = dc.id;
  out.set(ip, 1);
  new DataView(out.buffer).setUint16(1 + ip.length, address.port);
  out.set(dc.authKey, 3 + ip.length);
  if (dc.id > 255) throw unsupported(FORMAT, `DC id ${dc.id} does not fit in one byte`);
  return `1${encodeBase64(out, 'url')}`;
}
