/**
 * bytesFromBase64 on what PostgreSQL's encode(…, 'base64') really returns: every length
 * around the 76-character line breaks and the padding cases, exactly the bytes, in an
 * array of exactly that length; and malformed text decodes short (then caught by the
 * length checks as corrupt data), never long.
 */
import { createHash } from 'node:crypto';
import { checkServer } from '@mtstore/conformance/vitest';
import { describe, expect, it } from 'vitest';
import { bytesFromBase64 } from '../src/types.js';
import { admin, probe, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

describe.runIf(server.available)('bytesFromBase64', () => {
  it('decodes encode(bytes, base64) for lengths 0..600 exactly, line breaks and padding included', async () => {
    const lengths = Array.from({ length: 601 }, (_, n) => n);
    const { rows } = await admin().query<{ n: number; text: string }>(
      `SELECT n, encode(decode(substr(repeat(md5(n::text), 40), 1, n * 2), 'hex'), 'base64') AS text FROM unnest($1::int[]) AS n ORDER BY n`,
      [lengths],
    );
    expect(rows.some((row) => row.text.includes('\n')), 'long values come in several lines').toBe(true);
    for (const { n, text } of rows) {
      const expected = Buffer.from(expectedHex(n), 'hex');
      const bytes = bytesFromBase64(text);
      expect(bytes.length, `length ${n}`).toBe(n);
      expect(bytes.buffer.byteLength, `length ${n}: an array of its own, exactly as long`).toBe(n);
      expect(Buffer.from(bytes).equals(expected), `bytes of length ${n}`).toBe(true);
    }
  });

  it('malformed text decodes short, never into more bytes than it announces', () => {
    expect(bytesFromBase64('AQID').length).toBe(3);
    expect(bytesFromBase64('AQ!D').length).toBeLessThan(3);
    expect(bytesFromBase64('').length).toBe(0);
  });
});

/** The hex text the query builds for length n: md5(n) repeated, cut to 2n characters. */
function expectedHex(n: number): string {
  return createHash('md5').update(String(n)).digest('hex').repeat(40).slice(0, n * 2);
}
