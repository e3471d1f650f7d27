/**
 * A session written as mtcute's SQLite storage (@mtcute/node `SqliteStorage`, 0.29):
 * the tables exactly as mtcute's migrations create them (auth_keys 1, kv 1, ref_messages
 * 1, peers 2, in mtcute's order, and its `mtcute_migrations` rows), so mtcute opens the
 * file without migrating it, and the file in WAL mode as mtcute leaves it. See
 * mtcute-sqlite.ts for what each table holds.
 */
import { toMarkedId, type KeyValueEntry, type Peer, type Session } from '@mtstore/core';
import { homeWithKey } from './common.js';
import { ipAddressOf } from './dcs.js';
import { ConvertError, unsupported } from './errors.js';
import { longToFastString } from './mtcute-sqlite.js';
import { serializeBasicDcOption } from './mtcute.js';
import { TlWriter } from './tl.js';
import type { ConvertedRefMessage } from './types.js';
import { checkWriteInput, eachPeer, PeerLosses, sessionLosses, writeSqliteFile, type PeerInput, type WrittenFile } from './write-file.js';

const FORMAT = 'mtcute session file';

export interface MtcuteFileOptions {
  /** Entries with no typed field (what the reader returns as `kv`: mtcute's future salts). */
  kv?: readonly KeyValueEntry[] | undefined;
  /** Reference messages (mtcute's message_refs; the reader's `refMessages`). */
  refMessages?: Iterable<ConvertedRefMessage> | AsyncIterable<ConvertedRefMessage> | undefined;
}

const OPTIONS = ['kv', 'refMessages'] as const satisfies readonly (keyof MtcuteFileOptions)[];

/** mtcute's migrations, statement for statement (sqlite_master keeps their text as given). */
const MIGRATIONS: readonly (readonly [repo: string, version: number, sql: string])[] = [
  [
    'auth_keys',
    1,
    `
                create table if not exists auth_keys (
                    dc integer primary key,
                    key blob not null
                );
                create table if not exists temp_auth_keys (
                    dc integer not null,
                    idx integer not null,
                    key blob not null,
                    expires integer not null,
                    primary key (dc, idx)
                );
            `,
  ],
  [
    'kv',
    1,
    `
          create table key_value (
              key text primary key,
              value blob not null
          );
      `,
  ],
  [
    'ref_messages',
    1,
    `
                create table if not exists message_refs (
                    peer_id integer not null,
                    chat_id integer not null,
                    msg_id integer not null
                );
                create index if not exists idx_message_refs_peer on message_refs (peer_id);
                create index if not exists idx_message_refs on message_refs (chat_id, msg_id);
            `,
  ],
  [
    'peers',
    1,
    `
                create table peers (
                    id integer primary key,
                    hash text not null,
                    usernames json not null,
                    updated integer not null,
                    phone text,
                    complete blob
                );
                create index idx_peers_usernames on peers (usernames);
                create index idx_peers_phone on peers (phone);
            `,
  ],
  ['peers', 2, 'alter table peers add column isMin integer not null default false;'],
];

const MIGRATIONS_TABLE = `
create table if not exists mtcute_migrations (
    repo text not null primary key,
    version integer not null
);
`.trim();

/** Keys the writer fills from the session: a `kv` option naming one would contradict it. */
const TYPED_KEYS = /^(dc_main|dc_media|current_user|updates_(pts|qts|date|seq)|updates_channel:.*)$/;

function int32le(value: number, signed: boolean): Uint8Array {
  const out = new Uint8Array(4);
  const view = new DataView(out.buffer);
  if (signed) view.setInt32(0, value, true);
  else view.setUint32(0, value, true);
  return out;
}

/** mtcute's current_user (version 1): flags 1 bot, 2 usernames, 4 premium; int53 id. */
function currentUser(user: NonNullable<Session['user']>): Uint8Array {
  const names = user.usernames ?? [];
  const flags = (user.bot ? 1 : 0) | (names.length > 0 ? 2 : 0) | (user.premium === true ? 4 : 0);
  const writer = new TlWriter().int32(1).int32(flags).int53(user.id);
  if (names.length > 0) {
    writer.int32(names.length);
    for (const name of names) writer.string(name);
  }
  return writer.result();
}

function dcOption(dc: Session['dcs'][number], mediaOnly: boolean): Uint8Array {
  const address = ipAddressOf(dc);
  if (address === null) throw unsupported(FORMAT, `DC ${dc.id} has no IP address and is not one of Telegram's well-known DCs`);
  const ipv6 = address.ipv4 === undefined;
  return serializeBasicDcOption({ id: dc.id, ipAddress: (address.ipv4 ?? address.ipv6)!, port: address.port, ipv6, mediaOnly, testMode: dc.testMode === true });
}

/**
 * Writes `session` and `peers` as a new mtcute SQLite storage file at `path` (refused if
 * it exists), mode 0600, in one transaction. mtcute keeps every DC's permanent and
 * temporary keys, the self user, update state, channel pts and every peer; it has no place
 * for a peer's display name outside the `complete` TL object, nor for a takeout id or an
 * api id (each counted in `warnings`). Usernames are written lower-case: mtcute looks a
 * username up lower-cased.
 */
export async function writeMtcuteSqlite(session: Session, peers: PeerInput, path: string, options: MtcuteFileOptions = {}): Promise<WrittenFile> {
  checkWriteInput('mtcute-sqlite', session, peers, path, options, OPTIONS, 'writeMtcuteSqlite');
  const home = homeWithKey(session, FORMAT);
  const mainData = dcOption(home, false);
  const media = session.dcs.find((d) => d.mediaOnly && d.id === home.id) ?? session.dcs.find((d) => d.mediaOnly);
  const mediaData = media === undefined ? null : dcOption(media, true);
  const kv = options.kv ?? [];
  if (!Array.isArray(kv)) throw new ConvertError('MTSTORE_CONVERT_INVALID', 'writeMtcuteSqlite: kv must be an array of { key, value } entries.');
  for (const entry of kv) {
    if (typeof entry?.key !== 'string' || !(entry.value instanceof Uint8Array)) throw new ConvertError('MTSTORE_CONVERT_INVALID', 'writeMtcuteSqlite: kv must be an array of { key, value } entries (value bytes).');
    if (TYPED_KEYS.test(entry.key)) throw new ConvertError('MTSTORE_CONVERT_INVALID', `writeMtcuteSqlite: kv entry "${entry.key}" is written from the session itself.`);
  }

  const warnings = sessionLosses(session, { takeoutId: 'mtcute keeps none', apiId: 'mtcute keeps none: the client passes its own' });

  const count = await writeSqliteFile(
    path,
    'the mtcute session file',
    async (db) => {
      db.exec(MIGRATIONS_TABLE);
      const migrated = new Map<string, number>();
      for (const [repo, version, sql] of MIGRATIONS) {
        db.exec(sql);
        migrated.set(repo, version);
      }
      const setVersion = db.prepare('insert or replace into mtcute_migrations (repo, version) values (?, ?)');
      for (const [repo, version] of migrated) setVersion.run(repo, version);

      const setKv = db.prepare('insert or replace into key_value (key, value) values (?, ?)');
      setKv.run('dc_main', mainData);
      if (mediaData !== null) setKv.run('dc_media', mediaData);
      if (session.user !== undefined) setKv.run('current_user', currentUser(session.user));
      if (session.state !== undefined) {
        const { pts, qts, date, seq } = session.state;
        setKv.run('updates_pts', int32le(pts, true));
        setKv.run('updates_qts', int32le(qts, true));
        setKv.run('updates_date', int32le(date | 0, true));
        setKv.run('updates_seq', int32le(seq, true));
      }
      for (const channel of session.channels) setKv.run(`updates_channel:${channel.id}`, int32le(channel.pts, false));
      for (const entry of kv) setKv.run(entry.key, entry.value);

      const setKey = db.prepare('insert or replace into auth_keys (dc, key) values (?, ?)');
      const setTemp = db.prepare('insert or replace into temp_auth_keys (dc, idx, key, expires) values (?, ?, ?, ?)');
      // mtcute keys a DC by id: a main entry's key first, a media-only entry's only where the main one has none.
      const keyed = new Set<number>();
      for (const dc of [...session.dcs.filter((d) => !d.mediaOnly), ...session.dcs.filter((d) => d.mediaOnly)]) {
        if (dc.authKey !== undefined && !keyed.has(dc.id)) {
          keyed.add(dc.id);
          setKey.run(dc.id, dc.authKey);
        }
        for (const temp of dc.tempAuthKeys ?? []) setTemp.run(dc.id, temp.index, temp.key, temp.expiresAt * 1000);
      }

      const setRef = db.prepare('insert or replace into message_refs (peer_id, chat_id, msg_id) values (?, ?, ?)');
      for await (const ref of options.refMessages ?? []) setRef.run(ref.peerId, ref.chatId, ref.messageId);

      const setPeer = db.prepare('insert or replace into peers (id, hash, isMin, usernames, updated, phone, complete) values (?, ?, ?, ?, ?, ?, ?)');
      // Every peer, min ones too (mtcute records the flag), and its complete TL object.
      const lost = new PeerLosses({ displayName: "mtcute keeps a name only inside the peer's complete TL object, which these peers lack" });
      let written = 0;
      for await (const peer of eachPeer('mtcute-sqlite', peers)) {
        setPeer.run(...peerRow(peer));
        written++;
        lost.written(peer);
      }
      warnings.push(...lost.lines());
      return written;
    },
    // mtcute opens its file in WAL mode (SqliteStorage's default): the file is left as mtcute leaves its own.
    (db) => db.pragma('journal_mode = WAL'),
  );
  return { format: 'mtcute-sqlite', path, peers: count, warnings };
}

/** The row mtcute's PeersService writes: marked id, hash "low|high" ("" for a basic chat), lower-case usernames as JSON, milliseconds. */
function peerRow(peer: Peer): [bigint, string, number, string, number, string | null, Uint8Array | null] {
  const hash = peer.type === 'chat' ? '' : longToFastString(peer.accessHash);
  return [
    toMarkedId(peer.type, peer.id),
    hash,
    peer.min === true ? 1 : 0,
    JSON.stringify(peer.usernames.map((u) => u.toLowerCase())),
    peer.updatedAt * 1000,
    peer.phone ?? null,
    peer.complete ?? null,
  ];
}
