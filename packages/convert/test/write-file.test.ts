/**
 * writeSessionFile: one entry for the four file writers (what `mtstore export --out`
 * calls). Each format reads back as itself; options of other formats are ignored, unknown
 * ones and unknown formats refused before anything is created.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { authKeyBytes, type Peer, type Session } from '@mtstore/core';
import { FILE_FORMATS, openSession, parseSession, writeSessionFile } from '../src/index.js';
import { seededKey } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-write-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const session: Session = {
  version: 1,
  homeDcId: 2,
  dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443, authKey: authKeyBytes(seededKey(7)) }],
  apiId: 12345,
  user: { id: 777000111n, dcId: 2, bot: false },
  channels: [],
};
const peers: Peer[] = [{ type: 'user', id: 777000222n, accessHash: -5n, usernames: ['alice'], phone: '15550001111', updatedAt: 1_700_000_000 }];

describe('writeSessionFile', () => {
  for (const format of FILE_FORMATS) {
    it(`${format}: written, it reads back as ${format} with the session's key, user id and peers`, async () => {
      const path = join(dir, `${format}.session`);
      const written = await writeSessionFile(session, peers, path, format, { name: `${format}.session`, apiId: 1 });
      expect(written).toMatchObject({ format, path, peers: 1 });
      const back = await parseSession(path);
      expect(back.format).toBe(format);
      expect(back.session.dcs.find((d) => d.id === 2)?.authKey).toEqual(session.dcs[0]!.authKey);
      expect(back.peers).toEqual(peers);
      if (format !== 'gramjs-store') expect(back.session.user?.id).toBe(777000111n);
    });
  }

  it('a session stream\'s batches go straight into another format: 25,000 peers from a file, read and written a batch at a time', async () => {
    const many: Peer[] = Array.from({ length: 25_000 }, (_, i) => ({ type: 'user', id: BigInt(1_000_000 + i), accessHash: BigInt(i), usernames: [`user_${i}`], updatedAt: 1_700_000_000 + i }));
    const source = join(dir, 'many.session');
    await writeSessionFile(session, many, source, 'telethon-sqlite');
    const stream = await openSession(source);
    const target = join(dir, 'many-mtcute.session');
    try {
      const written = await writeSessionFile(stream.session, stream.peers(1000), target, 'mtcute-sqlite');
      expect(written.peers).toBe(25_000);
    } finally {
      stream.close();
    }
    const back = await parseSession(target);
    expect(back.peers).toEqual(many);
  });

  it('an unknown option or format is refused before anything is created', async () => {
    const path = join(dir, 'never.session');
    await expect(writeSessionFile(session, peers, path, 'telethon-sqlite', { apiID: 1 } as never)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_INVALID', message: expect.stringMatching(/apiId/) });
    await expect(writeSessionFile(session, peers, path, 'telethon' as never)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_UNKNOWN_FORMAT' });
    expect(existsSync(path)).toBe(false);
  });
});
