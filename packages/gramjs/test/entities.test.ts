/**
 * entityToPeer's in-line Api.User path against GramJS's own rules: a user is cached
 * when `utils.getInputPeer(user, false)` gives an InputPeerUser (so no min user and no
 * user without access hash), its display name is `utils.getDisplayName`, and every
 * peer is built with the same fields (absent ones undefined).
 */
import { describe, expect, it } from 'vitest';
import { Api, helpers, utils } from 'telegram';
import { entityToPeer } from '../src/entities.js';

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
