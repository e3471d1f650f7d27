/**
 * mtcute's string session, every version it has written (URL-safe base64, unpadded):
 *
 *   byte 0   version 1, 2 or 3
 *   int32    flags: 1 = self user present, 2 = test mode (v1/v2), 4 = separate media DC (v2+)
 *   v1/v2    the primary DC (and media DC) as TL `dcOption` objects
 *   v3       the primary DC (and media DC) as TL bytes of a "basic DC option":
 *            [version 1|2, dc id, flags (1 ipv6, 2 media only, 4 test mode)], TL string ip, int32 port
 *   int53 + Bool   self user id and is-bot, when flag 1
 *   TL bytes the auth key of the primary DC
 *
 * mtcute 0.29 reads and writes version 3 only; versions 1 and 2 are read here so old
 * strings still import.
 */
import type { DataCenter, Session } from '@mtstore/core';
import { decodeBase64, encodeBase64, isIpv4, keyFrom, normalizeIpv6 } from './bytes.js';
import { finish, homeWithKey } from './common.js';
import { ipAddressOf } from './dcs.js';
import { assertText, invalid, unsupported } from './errors.js';
import { TlReader, TlWriter } from './tl.js';
import type { ConvertedSession } from './types.js';

const FORMAT = 'mtcute string';
const DC_OPTION_CTOR = 0x18b7a10d;

export interface BasicDcOption {
  id: number;
  ipAddress: string;
  port: number;
  ipv6: boolean;
  mediaOnly: boolean;
  testMode: boolean;
}

/** mtcute's serialized basic DC option (v3 strings and the `dc_main` / `dc_media` kv entries). */
export function parseBasicDcOption(data: Uint8Array, format: string): BasicDcOption {
  const reader = new TlReader(data);
  const version = reader.uint8();
  const id = reader.uint8();
  const flags = reader.uint8();
  if (version !== 1 && version !== 2) throw invalid(format, `DC option version ${version} is unknown`);
  const ipAddress = reader.string();
  const port = reader.int32();
  return { id, ipAddress, port, ipv6: (flags & 1) !== 0, mediaOnly: (flags & 2) !== 0, testMode: version === 2 && (flags & 4) !== 0 };
}

export function serializeBasicDcOption(dc: BasicDcOption): Uint8Array {
  const flags = (dc.ipv6 ? 1 : 0) | (dc.mediaOnly ? 2 : 0) | (dc.testMode ? 4 : 0);
  return new TlWriter().raw([2, dc.id, flags]).string(dc.ipAddress).int32(dc.port).result();
}

function readTlDcOption(reader: TlReader): BasicDcOption {
  if (reader.uint32() !== DC_OPTION_CTOR) throw invalid(FORMAT, 'the DC option has the wrong constructor');
  const flags = reader.uint32();
  const id = reader.int32();
  const ipAddress = reader.string();
  const port = reader.int32();
  if (flags & 1024) reader.tlBytes(); // MTProxy secret: not a session field
  return { id, ipAddress, port, ipv6: (flags & 1) !== 0, mediaOnly: (flags & 2) !== 0, testMode: false };
}

/** An mtcute DC option as a DataCenter entry (address normalized; an unparsable one is invalid). */
export function dcFromOption(option: BasicDcOption, mediaOnly: boolean, format: string): DataCenter {
  const dc: DataCenter = { id: option.id, port: option.port };
  if (option.ipv6) {
    const v6 = normalizeIpv6(option.ipAddress);
    if (v6 === null) throw invalid(format, `DC ${option.id} has an invalid IPv6 address`);
    dc.ipv6 = v6;
  } else if (isIpv4(option.ipAddress)) dc.ipv4 = option.ipAddress;
  else throw invalid(format, `DC ${option.id} has an invalid IPv4 address`);
  if (option.testMode) dc.testMode = true;
  if (mediaOnly) dc.mediaOnly = true;
  return dc;
}

export function parseMtcuteString(text: string): ConvertedSession {
  assertText(text, FORMAT);
  if (/[+/=]/.test(text)) throw invalid(FORMAT, 'it is not unpadded URL-safe base64');
  const bytes = decodeBase64(text);
  if (bytes === null || bytes.length < 8) throw invalid(FORMAT, 'it is not base64');
  const version = bytes[0]!;
  if (version !== 1 && version !== 2 && version !== 3) throw invalid(FORMAT, `version byte ${version} is not 1, 2 or 3`);
  const reader = new TlReader(bytes, 1);
  const flags = reader.int32();
  if ((flags & ~7) !== 0) throw invalid(FORMAT, 'unknown flags are set');
  const hasMedia = version >= 2 && (flags & 4) !== 0;
  const testModeOld = (flags & 2) !== 0;
  let main: BasicDcOption;
  let media: BasicDcOption;
  if (version <= 2) {
    main = readTlDcOption(reader);
    media = hasMedia ? readTlDcOption(reader) : main;
  } else {
    main = parseBasicDcOption(reader.tlBytes(), FORMAT);
    media = hasMedia ? parseBasicDcOption(reader.tlBytes(), FORMAT) : main;
  }
  if (testModeOld) {
    main.testMode = true;
    media.testMode = true;
  }
  let user: Session['user'];
  if (flags & 1) {
    const id = reader.int53();
    user = { id, dcId: main.id, bot: reader.boolean() };
  }
  const authKey = keyFrom(reader.tlBytes(), FORMAT, 'the auth key');
  if (!reader.done) throw invalid(FORMAT, 'there are bytes after the auth key');
  const dcs: DataCenter[] = [{ ...dcFromOption(main, false, FORMAT), authKey }];
  if (media !== main) dcs.push(dcFromOption(media, true, FORMAT));
  const session: Session = { version: 1, homeDcId: main.id, dcs, channels: [], ...(user ? { user } : {}) };
  return finish('mtcute', `v${version}`, session);
}

function optionOf(dc: DataCenter, mediaOnly: boolean): BasicDcOption {
  const address = ipAddressOf(dc);
  const ip = address?.ipv4 ?? address?.ipv6;
  if (address === null || ip === undefined) throw unsupported(FORMAT, `DC ${dc.id} has no IP address`);
  return { id: dc.id, ipAddress: ip, port: address.port, ipv6: address.ipv4 === undefined, mediaOnly, testMode: dc.testMode === true };
}

/** Version 3, as mtcute 0.29 writes it: main DC, the media DC when the session has one, self user, key. */
export function toMtcuteString(session: Session): string {
  const main = homeWithKey(session, FORMAT);
  // mtcute refuses a string whose media DC's test flag differs from the main DC's; test mode
  // belongs to the account, so such an entry is stale: left out, mtcute uses the main DC for media.
  const mediaDc = session.dcs.find((d) => d.id === session.homeDcId && d.mediaOnly === true && (d.testMode === true) === (main.testMode === true));
  if (main.id > 255) throw unsupported(FORMAT, `DC id ${main.id} does not fit in one byte`);
  const writer = new TlWriter().raw([3]);
  const user = session.user;
  // mtcute reads the id as a JavaScript number (int53): beyond 2^53-1 it would be another id.
  if (user !== undefined && (user.id > BigInt(Number.MAX_SAFE_INTEGER) || user.id < 0n)) throw unsupported(FORMAT, `user id ${user.id} is beyond what mtcute can hold (2^53-1)`);
  writer.int32((user ? 1 : 0) | (mediaDc ? 4 : 0));
  writer.tlBytes(serializeBasicDcOption(optionOf(main, false)));
  if (mediaDc) writer.tlBytes(serializeBasicDcOption(optionOf(mediaDc, true)));
  if (user) writer.int53(user.id).boolean(user.bot);
  writer.tlBytes(main.authKey);
  return encodeBase64(writer.result(), 'url-unpadded');
}
