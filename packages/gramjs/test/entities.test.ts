/**
 * entityToPeer's in-line Api.User path against GramJS's own rules: a user is cached
 * when `utils.getInputPeer(user, false)` gives an InputPeerUser (so no min user and no
 * user without access hash), its display name is `utils.getDisplayName`, and every
 * peer is built with the same fields (absent ones undefined).
 */
import { describe, expect, it } from 'vitest';
import { Api, helpers, utils } from 'telegram';
import { entityToPeer, otherEntityToPeer, userToPeer } from '../src/entities.js';

function gramjsCaches(user: Api.User): boolean {
  try {
    return utils.getInputPeer(user, false) instanceof Api.InputPeerUser;
  } catch {
    return false;
  }
}

const users: Array<[string, Api.User]> = [
  ['first and last name', new Api.User({ id: helpers.returnBigInt(1), accessHash: helpers.returnBigInt(11), firstName: 'Ada', lastName: 'Lovelace' })],
  ['first name only', new Api.User({ id: helpers.returnBigInt(2), accessHash: helpers.returnBigInt(12), firstName: 'Ada' })],
  ['last name only', new Api.User({ id: helpers.returnBigInt(3), accessHash: helpers.returnBigInt(13), lastName: 'Lovelace' })],
  ['empty first name, a last name', new Api.User({ id: helpers.returnBigInt(4), accessHash: helpers.returnBigInt(14), firstName: '', lastName: 'Byron' })],
  ['no name', new Api.User({ id: helpers.returnBigInt(5), accessHash: helpers.returnBigInt(15), username: 'nameless', phone: '15550005' })],
  ['min user', new Api.User({ id: helpers.returnBigInt(6), accessHash: helpers.returnBigInt(16), firstName: 'Min', min: true })],
  ['no access hash', new Api.User({ id: helpers.returnBigInt(7), firstName: 'Hashless' })],
  ['bad username and phone', new Api.User({ id: helpers.returnBigInt(8), accessHash: helpers.returnBigInt(18), username: 'not valid', phone: '+1555' })],
];

/** Users with collectible usernames: the main one first, then the active ones, each once (case-insensitively). */
const collectors: Array<[string, Api.User, string[]]> = [
  [
    'main and active extra usernames',
    new Api.User({
      id: helpers.returnBigInt(9),
      accessHash: helpers.returnBigInt(19),
      username: 'main_name',
      usernames: [new Api.Username({ username: 'extra_one', active: true }), new Api.Username({ username: 'Main_Name', active: true }), new Api.Username({ username: 'gone_name' })],
    }),
    ['main_name', 'extra_one'],
  ],
  ['extra usernames only', new Api.User({ id: helpers.returnBigInt(10), accessHash: helpers.returnBigInt(20), usernames: [new Api.Username({ username: 'only_extra', active: true })] }), ['only_extra']],
];

describe('entityToPeer on Api.User', () => {
  it.each(users)('%s: cached as GramJS caches it, named as getDisplayName names it', (_label, user) => {
    const peer = entityToPeer(user, 100, false);
    expect(peer !== null).toBe(gramjsCaches(user));
    if (peer === null) return;
    const name = utils.getDisplayName(user);
    expect(peer).toEqual({
      type: 'user',
      id: BigInt(String(user.id)),
      accessHash: BigInt(String(user.accessHash)),
      usernames: user.username === 'nameless' ? ['nameless'] : [],
      updatedAt: 100,
      phone: user.phone === '15550005' ? '15550005' : undefined,
      displayName: name === '' ? undefined : name,
    });
  });

  it('builds every peer with the same fields in the same order (one hidden class)', () => {
    const shapes = new Set(users.map(([, user]) => entityToPeer(user, 1, true)).filter((peer) => peer !== null).map((peer) => Object.keys(peer).join()));
    expect([...shapes]).toEqual(['type,id,accessHash,usernames,updatedAt,min,phone,complete,displayName']);
  });
});

describe('userToPeer (processEntities\u2019 path for Api.User) against the generic path', () => {
  // otherEntityToPeer of a user goes through GramJS's own getInputPeer and getDisplayName:
  // the in-line path must give the very same peer.
  it.each([...users, ...collectors.map(([label, user]) => [label, user] as [string, Api.User])])('%s', (_label, user) => {
    expect(userToPeer(user, 7, false)).toEqual(otherEntityToPeer(user, 7, false));
    expect(entityToPeer(user, 7, false)).toEqual(userToPeer(user, 7, false));
  });

  it.each(collectors)('%s: usernames in order, inactive and repeated ones left out', (_label, user, expected) => {
    expect(userToPeer(user, 1, false)?.usernames).toEqual(expected);
  });

  it('chats and channels take the generic path with the same fields, and what is no peer gives null', () => {
    const chat = entityToPeer(new Api.Chat({ id: helpers.returnBigInt(30), title: 'Chat', photo: new Api.ChatPhotoEmpty(), participantsCount: 2, date: 0, version: 1 }), 1, false);
    const channel = entityToPeer(new Api.Channel({ id: helpers.returnBigInt(31), accessHash: helpers.returnBigInt(41), title: 'Chan', username: 'chan_name', photo: new Api.ChatPhotoEmpty(), date: 0 }), 1, false);
    expect(chat).toEqual({ type: 'chat', id: 30n, accessHash: 0n, usernames: [], updatedAt: 1, displayName: 'Chat' });
    expect(channel).toEqual({ type: 'channel', id: 31n, accessHash: 41n, usernames: ['chan_name'], updatedAt: 1, displayName: 'Chan' });
    expect(Object.keys(channel ?? {}).join()).toBe('type,id,accessHash,usernames,updatedAt,min,phone,complete,displayName');
    expect(entityToPeer(new Api.UserEmpty({ id: helpers.returnBigInt(32) }), 1, false)).toBeNull();
    expect(entityToPeer({ id: 5 }, 1, false)).toBeNull();
    expect(entityToPeer(null, 1, false)).toBeNull();
  });
});
