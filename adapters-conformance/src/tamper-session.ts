/**
 * The session damage kinds planted on a session held as a model object (a Session an
 * adapter keeps in memory, a decoded document): for adapters whose `tamper` hook edits
 * objects rather than rows. The memory adapter's hook and the kit's self-test both use it.
 */
import type { Damage } from './api.js';

/** The damage kinds that concern the session snapshot (the rest are peers, kv, versions and files). */
export const SESSION_DAMAGES: readonly Damage[] = [
  'user-without-id',
  'state-without-pts',
  'user-only-id',
  'user-only-dc-id',
  'user-only-bot',
  'user-only-usernames',
  'user-only-premium',
  'state-only-pts',
  'state-only-qts',
  'state-only-date',
  'state-only-seq',
  'state-negative-pts',
  'dc-id-zero',
  'flag-not-boolean',
  'user-usernames-not-list',
  'channel-id-not-integer',
  'takeout-id-not-integer',
];

/** A self user's fields and an update state's, as the model names them. */
const FIELDS = { user: ['id', 'dcId', 'bot', 'usernames', 'premium'], state: ['pts', 'qts', 'date', 'seq'] } as const;

/** What a `user-only-*` / `state-only-*` kind leaves: in `object`, field `keep` alone (every field in `drop` missing). */
export interface OneFieldLeft {
  object: 'user' | 'state';
  keep: string;
  drop: readonly string[];
}

/**
 * The `user-only-*` / `state-only-*` kinds, for hooks that map model fields onto
 * columns or hash fields: a user or state with one field left is damaged, not absent,
 * whichever field it is (a decoder that tests only some fields for presence misses it).
 */
export const ONE_FIELD_LEFT: Readonly<Partial<Record<Damage, OneFieldLeft>>> = Object.fromEntries(
  (['user', 'state'] as const).flatMap((object) =>
    FIELDS[object].map((keep) => [
      `${object}-only-${keep.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
      { object, keep, drop: FIELDS[object].filter((field) => field !== keep) },
    ]),
  ),
);

/** What the edits need of a session object: a Session, or an adapter's snapshot of one. */
export interface SessionObject {
  dcs: readonly { id: number }[];
  user?: object | undefined;
  state?: object | undefined;
  channels: readonly object[];
  takeoutId?: unknown;
}

/**
 * Edits `session` in place to hold `damage`, one of SESSION_DAMAGES. The session must be
 * a full one (a self user, an update state, a channel and a takeout id, as the kit's
 * fullSession fixture writes); throws otherwise, and for any other kind.
 */
export function tamperSessionObject(session: SessionObject | null | undefined, damage: Damage): void {
  if (session?.user === undefined || session.state === undefined || session.takeoutId === undefined) {
    throw new Error('tamperSessionObject: no full session to damage');
  }
  // Plain records: the damage puts values there that their types forbid.
  const user = session.user as unknown as Record<string, unknown>;
  const state = session.state as unknown as Record<string, unknown>;
  const edits: Partial<Record<Damage, () => void>> = {
    'user-without-id': () => delete user.id,
    'state-without-pts': () => delete state.pts,
    'state-negative-pts': () => (state.pts = -1),
    'dc-id-zero': () => ((session.dcs.find((dc) => dc.id === 1) as { id: number }).id = 0),
    'flag-not-boolean': () => (user.bot = 2),
    'user-usernames-not-list': () => (user.usernames = 'not a list'),
    'channel-id-not-integer': () => ((session.channels[0] as unknown as Record<string, unknown>).id = 'x'),
    'takeout-id-not-integer': () => ((session as unknown as Record<string, unknown>).takeoutId = 'x'),
  };
  const partial = ONE_FIELD_LEFT[damage];
  if (partial !== undefined) {
    // A partial user or state, as a half-done hand edit leaves it.
    const record = partial.object === 'user' ? user : state;
    if (!(partial.keep in record)) throw new Error(`tamperSessionObject: no ${partial.object}.${partial.keep} to keep`);
    for (const field of partial.drop) delete record[field];
    return;
  }
  const edit = edits[damage];
  if (edit === undefined) throw new Error(`tamperSessionObject: ${damage} is not a session damage`);
  edit();
}
