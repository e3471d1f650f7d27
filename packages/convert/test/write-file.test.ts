/**
 * writeSessionFile: one entry for the four file writers (what `mtstore export --out`
 * calls). Each format reads back as itself; options of other formats are ignored, unknown
 * ones and unknown formats refused before anything is created.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { authKeyBytes, type Peer, type Session } from '@mtstore/core';
import { existingSessionPath, FILE_FORMATS, openSession, parseSession, STRING_FORMATS, writeSessionFile } from '../src/index.js';
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

describe('what each format cannot hold', () => {
  // A session with everything mtstore records, and peers with every field: each writer's
  // warnings, in order, as `mtstore export` prints them. One list per format, written out,
  // so that the writers' shared loss helpers keep every line of every format.
  const full: Session = {
    version: 1,
    homeDcId: 2,
    dcs: [
      { id: 2, ipv4: '149.154.167.51', port: 443, authKey: authKeyBytes(seededKey(7)), tempAuthKeys: [{ index: 0, key: authKeyBytes(seededKey(8)), expiresAt: 1_900_000_000 }] },
      { id: 4, ipv4: '149.154.167.91', port: 443, authKey: authKeyBytes(seededKey(9)) },
    ],
    apiId: 12345,
    user: { id: 777000111n, dcId: 2, bot: true, usernames: ['me'], premium: true },
    state: { pts: 1, qts: 2, date: 1_700_000_000, seq: 3 },
    channels: [
      { id: 10n, pts: 5 },
      { id: 11n, pts: 6 },
    ],
    takeoutId: 99n,
  };
  const everyField: Peer[] = [
    { type: 'user', id: 1n, accessHash: 2n, usernames: ['One', 'Uno'], displayName: 'One', updatedAt: 10 },
    { type: 'user', id: 3n, accessHash: 4n, usernames: [], min: true, updatedAt: 11 },
    { type: 'channel', id: 5n, accessHash: 6n, usernames: ['five'], displayName: 'Five', complete: new Uint8Array([1, 2, 3]), updatedAt: 12 },
  ];
  const expected: Record<(typeof FILE_FORMATS)[number], string[]> = {
    'telethon-sqlite': [
      "auth keys of DC 4 not written (Telethon's file keeps the home DC's only)",
      'temporary auth keys not written (Telethon keeps none)',
      'the bot flag not written (Telethon does not record it: read the file back with { bot: true })',
      "self user's usernames and premium flag not written (Telethon keeps its id only)",
      'api id not written (Telethon keeps none: the client passes its own)',
      '1 peer: usernames after the first not written (Telethon keeps one)',
      '1 peer: min peer not written (its access hash does not work for requests, and Telethon would use it)',
      '1 peer: complete TL object not written (Telethon keeps none)',
    ],
    'pyrogram-sqlite': [
      "auth keys of DC 4 not written (Pyrogram's file keeps the home DC's only)",
      'temporary auth keys not written (Pyrogram keeps none)',
      'update state not written (Pyrogram 2 keeps none: the client fetches a fresh one)',
      'pts of 2 channels not written (Pyrogram 2 keeps none)',
      'takeout id not written (Pyrogram keeps none)',
      '1 peer: usernames after the first not written (Pyrogram 2 keeps one)',
      '2 peers: display name not written (Pyrogram keeps none)',
      '1 peer: min peer not written (its access hash does not work for requests, and Pyrogram would use it)',
      '1 peer: complete TL object not written (Pyrogram keeps none)',
    ],
    'mtcute-sqlite': [
      'takeout id not written (mtcute keeps none)',
      'api id not written (mtcute keeps none: the client passes its own)',
      "1 peer: display name not written (mtcute keeps a name only inside the peer's complete TL object, which these peers lack)",
    ],
    'gramjs-store': [
      "auth keys of DC 4 not written (GramJS's StoreSession keeps the home DC's only)",
      'temporary auth keys not written (GramJS keeps none)',
      "self user not written (GramJS's StoreSession keeps none: the client asks for it)",
      "update state not written (GramJS's StoreSession keeps none: the client fetches a fresh one)",
      "pts of 2 channels not written (GramJS's StoreSession keeps none)",
      'takeout id not written (GramJS keeps none)',
      'api id not written (GramJS keeps none: the client passes its own)',
      '1 peer: usernames after the first not written (GramJS keeps one)',
      '1 peer: min peer not written (its access hash does not work for requests, and GramJS would use it)',
      '1 peer: complete TL object not written (GramJS keeps none)',
    ],
  };
  for (const format of FILE_FORMATS) {
    it(`${format}: every kind it has no place for, one line each, in order`, async () => {
      const written = await writeSessionFile(full, everyField, join(dir, `full-${format}`), format);
      expect(written.warnings).toEqual(expected[format]);
      expect(written.peers).toBe(format === 'mtcute-sqlite' ? 3 : 2);
    });
  }
});

describe('existingSessionPath', () => {
  it("names what the format's writer refuses (the path: file, folder, dangling link; an SQLite file's -journal/-wal/-shm beside it), and the writer refuses exactly those", async () => {
    const base = mkdtempSync(join(dir, 'taken-'));
    const file = join(base, 'file.session');
    writeFileSync(file, "someone's session");
    const folder = join(base, 'folder');
    mkdirSync(folder);
    const link = join(base, 'dangling');
    symlinkSync(join(base, 'nowhere'), link);
    const journaled = join(base, 'journaled.session');
    writeFileSync(`${journaled}-wal`, 'x');
    const free = join(base, 'free.session');
    for (const format of [...FILE_FORMATS, ...STRING_FORMATS]) {
      const sqlite = format.endsWith('-sqlite');
      expect(existingSessionPath(file, format), format).toBe(file);
      expect(existingSessionPath(folder, format), format).toBe(folder);
      expect(existingSessionPath(link, format), format).toBe(link);
      expect(existingSessionPath(journaled, format), format).toBe(sqlite ? `${journaled}-wal` : undefined);
      expect(existingSessionPath(free, format), format).toBeUndefined();
    }
    for (const format of FILE_FORMATS) {
      for (const path of [file, folder, link, journaled]) {
        const taken = existingSessionPath(path, format);
        const write = writeSessionFile(session, peers, path, format, { apiId: 1 });
        if (taken === undefined) {
          await expect(write, `${format} ${path}`).resolves.toMatchObject({ path });
          rmSync(path, { recursive: true });
        } else {
          await expect(write, `${format} ${path}`).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_IO', message: expect.stringContaining(`"${taken}" already exists`) });
        }
      }
    }
  });

  it('an empty path or an unknown format is a typed error before the file system is asked', () => {
    expect(() => existingSessionPath('', 'telethon')).toThrow(expect.objectContaining({ code: 'MTSTORE_CONVERT_INVALID' }));
    expect(() => existingSessionPath(dir, 'telethon-file' as never)).toThrow(expect.objectContaining({ code: 'MTSTORE_CONVERT_UNKNOWN_FORMAT' }));
  });
});
