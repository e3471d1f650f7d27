import type { Session } from '@mtstore/core';
import { checkOptions, ConvertError } from './errors.js';
import { toGramjsString } from './gramjs.js';
import { toMtcuteString } from './mtcute.js';
import { toPyrogramString, WRITE_OPTIONS, type PyrogramWriteOptions } from './pyrogram.js';
import { toTelethonString } from './telethon.js';
import { STRING_FORMATS, type StringSessionFormat } from './types.js';

export interface ToStringOptions extends PyrogramWriteOptions {}

/** The session as a string of `format` (what `mtstore export --format` prints). */
export function toSessionString(session: Session, format: StringSessionFormat, options: ToStringOptions = {}): string {
  // Checked for every format (a misspelt { apiID } is an error whichever format is written).
  checkOptions(options, WRITE_OPTIONS, 'ToStringOptions');
  switch (format) {
    case 'telethon':
      return toTelethonString(session);
    case 'gramjs':
      return toGramjsString(session);
    case 'pyrogram':
      return toPyrogramString(session, options);
    case 'mtcute':
      return toMtcuteString(session);
    default:
      throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `Unknown string format: use one of ${STRING_FORMATS.join(', ')}.`);
  }
}
