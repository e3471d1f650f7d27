/**
 * GramJS's StringSession: "1" + standard base64 (padded) of DC id (1 byte), address
 * length (int16 big-endian), the address as text (IPv4, IPv6 or a host name such as
 * `vesta.web.telegram.org`), port (int16 big-endian) and the auth key.
 *
 * GramJS also reads Telethon strings; those are parsed as `telethon` here. A GramJS
 * string for an IPv4 DC has the length of a Telethon IPv6 string (369 characters):
 * the reader tells them apart by content (a length, then that many printable
 * address characters), never by length.
 */
import type { DataCenter, Session } from '@mtstore/core';
import { decodeBase64, encodeBase64, isHostName, isIpv4, keyFrom, normalizeIpv6 } from './bytes.js';
import { finish, homeWithKey } from './common.js';
import { addressOf, isTestAddress } from './dcs.js';
import { assertText, invalid, unsupported } from './errors.js';
import type { ConvertedSession } from './types.js';

const FORMAT = 'GramJS string';

/** DataCenter address fields from an address as GramJS keeps it (text). */
export function addressFields(text: string, format: string): Partial<Pick<DataCenter, 'ipv4' | 'ipv6' | 'host'>> {
  if (isIpv4(text)) return { ipv4: text };
  const v6 = normalizeIpv6(text.replace(/^\[|\]$/g, ''));
  if (v6 !== null) return { ipv6: v6 };
  if (isHostName(text)) return { host: text.toLowerCase() };
  throw invalid(format, 'the server address is not an IPv4 or IPv6 address or a host name');
}

export function parseGramjsString(text: string): ConvertedSession {
  assertText(text, FORMAT);
  if (text[0] !== '1') throw invalid(FORMAT, 'it does not start with the version "1"');
  const bytes = decodeBase64(text.slice(1));
  if (bytes === null) throw invalid(FORMAT, 'it is not base64');
  if (bytes.length < 1 + 2 + 1 + 2 + 256) throw invalid(FORMAT, `it holds only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dcId = bytes[0]!;
  const length = view.getUint16(1);
  if (bytes.length !== 1 + 2 + length + 2 + 256) throw invalid(FORMAT, 'the address length does not match the size');
  const raw = bytes.subarray(3, 3 + length);
  if (!raw.every((b) => b > 0x20 && b < 0x7f)) throw invalid(FORMAT, 'the address is not printable text');
  const address = addressFields(Buffer.from(raw).toString('latin1'), FORMAT);
  const port = view.getUint16(3 + length);
  if (dcId === 0 || port === 0) throw invalid(FORMAT, 'DC id or port is 0');
  const authKey = keyFrom(bytes.subarray(5 + length), FORMAT, 'the auth key');
  const testMode = isTestAddress(address.ipv4 ?? address.ipv6);
  const session: Session = { version: 1, homeDcId: dcId, dcs: [{ id: dcId, ...address, port, ...(testMode ? { testMode } : {}), authKey }], channels: [] };
  return finish('gramjs', address.ipv4 ? 'IPv4' : address.ipv6 ? 'IPv6' : 'host', session);
}

export function toGramjsString(session: Session): string {
  const dc = homeWithKey(session, FORMAT);
  const address = addressOf(dc);
  const text = address?.ipv4 ?? address?.ipv6 ?? address?.host;
  if (address === null || text === undefined) throw unsupported(FORMAT, `DC ${dc.id} has no address`);
  if (dc.id > 255) throw unsupported(FORMAT, `DC id ${dc.id} does not fit in one byte`);
  // GramJS reads what it cannot write back (its save() writes the port with writeInt16BE):
  // a port above 32767 as a negative number, a 2-3 character address as a Telethon IPv4
  // string (it tells them apart by the string's length, 352), one over 100 characters as
  // 16 IPv6 bytes. Such a string would log GramJS into the wrong server: refused.
  if (address.port > 0x7fff) throw unsupported(FORMAT, `port ${address.port} is above 32767, which GramJS reads as a negative number`);
  if (text.length < 4 || text.length > 100) throw unsupported(FORMAT, `an address of ${text.length} characters is misread by GramJS (it needs 4 to 100)`);
  const ascii = Buffer.from(text, 'latin1');
  const out = new Uint8Array(1 + 2 + ascii.length + 2 + 256);
  const view = new DataView(out.buffer);
  out[0] = dc.id;
  view.setUint16(1, ascii.length);
  out.set(ascii, 3);
  view.setUint16(3 + ascii.length, address.port);
  out.set(dc.authKey, 5 + ascii.length);
  return `1${encodeBase64(out, 'standard')}`;
}
