/**
 * Pyrogram's session string: URL-safe base64 without padding of a Python struct. Three
 * layouts, told apart by length exactly as Pyrogram itself does:
 *
 *   351 chars  `>B?256sI?`   dc_id, test_mode, auth_key, user_id (32-bit), is_bot   (Pyrogram < 1.0)
 *   356 chars  `>B?256sQ?`   the same with a 64-bit user_id                        (1.x)
 *   362 chars  `>BI?256sQ?`  dc_id, api_id, test_mode, auth_key, user_id, is_bot   (2.x, current)
 *
 * No address is stored: Pyrogram maps the DC id (and test mode) through its table.
 */
import type { Session } from '@mtstore/core';
import { decodeBase64, encodeBase64, keyFrom } from './bytes.js';
import { finish, homeWithKey } from './common.js';
import { assertText, checkOptions, ConvertError, invalid, unsupported } from './errors.js';
import type { ConvertedSession } from './types.js';

const FORMAT = 'Pyrogram string';

export type PyrogramLayout = 'current' | 'old-64' | 'old-32';

const LAYOUTS: Record<PyrogramLayout, { chars: number; bytes: number; apiId: boolean; userIdBytes: 4 | 8 }> = {
  'old-32': { chars: 351, bytes: 263, apiId: false, userIdBytes: 4 },
  'old-64': { chars: 356, bytes: 267, apiId: false, userIdBytes: 8 },
  current: { chars: 362, bytes: 271, apiId: true, userIdBytes: 8 },
};

function bool(byte: number | undefined, field: string): boolean {
  if (byte !== 0 && byte !== 1) throw invalid(FORMAT, `${field} is not a boolean byte`);
  return byte === 1;
}

export function parsePyrogramString(text: string): ConvertedSession {
  assertText(text, FORMAT);
  const entry = (Object.entries(LAYOUTS) as [PyrogramLayout, (typeof LAYOUTS)[PyrogramLayout]][]).find(([, l]) => l.chars === text.length);
  if (entry === undefined) throw invalid(FORMAT, `it is ${text.length} characters, not 351, 356 or 362`);
  const [layout, shape] = entry;
  if (text.includes('=') || /[+/]/.test(text)) throw invalid(FORMAT, 'it is not unpadded URL-safe base64');
  const bytes = decodeBase64(text);
  if (bytes === null || bytes.length !== shape.bytes) throw invalid(FORMAT, 'it is not base64 of the expected size');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const dcId = bytes[at++]!;
  if (dcId === 0) throw invalid(FORMAT, 'DC id 0');
  let apiId: number | undefined;
  if (shape.apiId) {
    apiId = view.getUint32(at);
    at += 4;
  }
  const testMode = bool(bytes[at++], 'test_mode');
  const authKey = keyFrom(bytes.slice(at, at + 256), FORMAT, 'the auth key');
  at += 256;
  const userId = shape.userIdBytes === 4 ? BigInt(view.getUint32(at)) : view.getBigUint64(at);
  at += shape.userIdBytes;
  const bot = bool(bytes[at], 'is_bot');
  const session: Session = {
    version: 1,
    homeDcId: dcId,
    dcs: [{ id: dcId, ...(testMode ? { testMode } : {}), authKey }],
    channels: [],
    ...(apiId ? { apiId } : {}),
    // user_id 0: exported before login; Pyrogram then has no user.
    ...(userId > 0n ? { user: { id: userId, dcId, bot } } : {}),
  };
  return finish('pyrogram', `${layout} (${shape.chars} chars)`, session);
}

/** Telegram's api_id is a positive int32. */
const API_ID_MAX = 2 ** 31 - 1;

export interface PyrogramWriteOptions {
  /** Which layout to write; default `current` (Pyrogram 2.x). */
  layout?: PyrogramLayout | undefined;
  /** api_id for the current layout when the session has none (1 to 2^31-1; a session's own api_id is kept). */
  apiId?: number | undefined;
}

/** The names of PyrogramWriteOptions (toSessionString's options too). */
export const WRITE_OPTIONS = ['layout', 'apiId'] as const satisfies readonly (keyof PyrogramWriteOptions)[];

export function toPyrogramString(session: Session, options: PyrogramWriteOptions = {}): string {
  checkOptions(options, WRITE_OPTIONS, 'PyrogramWriteOptions');
  const shape = LAYOUTS[options.layout ?? 'current'];
  if (shape === undefined) throw unsupported(FORMAT, `unknown layout ${String(options.layout)}`);
  const dc = homeWithKey(session, FORMAT);
  if (dc.id > 255) throw unsupported(FORMAT, `DC id ${dc.id} does not fit in one byte`);
  const user = session.user;
  if (user === undefined) throw unsupported(FORMAT, 'the session has no logged-in user (Pyrogram strings always hold one)');
  if (options.apiId !== undefined && !(Number.isInteger(options.apiId) && options.apiId >= 1 && options.apiId <= API_ID_MAX)) {
    // Written as uint32 it would wrap; 0 reads back as "no api id".
    throw new ConvertError('MTSTORE_CONVERT_INVALID', `apiId must be an integer from 1 to ${API_ID_MAX}, got ${typeof options.apiId === 'number' ? options.apiId : typeof options.apiId}.`);
  }
  // Fills a missing api_id only: a session that records its own (the app it logged in with) keeps it.
  const apiId = session.apiId ?? options.apiId;
  if (shape.apiId && apiId === undefined) throw unsupported(FORMAT, 'the session has no apiId: pass apiId');
  if (shape.userIdBytes === 4 && user.id > 0xffffffffn) throw unsupported(FORMAT, `user id ${user.id} does not fit the old 32-bit layout`);
  const out = new Uint8Array(shape.bytes);
  const view = new DataView(out.buffer);
  let at = 0;
  out[at++] = dc.id;
  if (shape.apiId) {
    view.setUint32(at, apiId!);
    at += 4;
  }
  out[at++] = dc.testMode ? 1 : 0;
  out.set(dc.authKey, at);
  at += 256;
  if (shape.userIdBytes === 4) view.setUint32(at, Number(user.id));
  else view.setBigUint64(at, user.id);
  at += shape.userIdBytes;
  out[at] = user.bot ? 1 : 0;
  return encodeBase64(out, 'url-unpadded');
}
