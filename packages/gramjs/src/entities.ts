/**
 * GramJS entities to mtstore peers and back. The rules are MemorySession's
 * (`_entityToRow`): an entity is cached when `utils.getInputPeer(entity, false)` turns
 * it into an InputPeerUser / InputPeerChat / InputPeerChannel — so min users and
 * channels (no usable access hash) and empty users are skipped, and basic chats get
 * access hash 0.
 */
import { Api, helpers, utils } from 'telegram';
import { isPhone, isUsername, MAX_COMPLETE_BYTES, MAX_DISPLAY_NAME, storableText, type Peer, type PeerType } from '@mtstore/core';

/**
 * GramJS's TL classes, read once: `Api` is a dictionary-mode object (over a thousand
 * classes added by key), so `Api.User` in a loop is a hash lookup per entity.
 */
export const ApiUser = Api.User;
const ApiUsername = Api.Username;

/** Fields of Api.User / Api.Chat / Api.Channel this module reads (the union has them on some members only). */
interface EntityFields {
  username?: string;
  usernames?: Api.Username[];
  phone?: string;
}

/**
 * The peer to cache for one GramJS entity, or null when MemorySession would not
 * cache it. `withComplete` adds the entity's TL bytes (`getBytes()`), when they fit.
 */
export function entityToPeer(entity: unknown, now: number, withComplete: boolean): Peer | null {
  return entity instanceof ApiUser ? userToPeer(entity, now, withComplete) : otherEntityToPeer(entity, now, withComplete);
}

/**
 * entityToPeer of an Api.User, read in line (nearly every entity GramJS processes is
 * one): no key object, and the display name read here instead of through
 * getDisplayName's instanceof chain. Split from the rest so processEntities, which
 * also needs to know whether the entity is a user (the self check), tests
 * `instanceof Api.User` once per entity. Each field is read once: a GramJS TL object
 * is a dictionary-mode object (its constructor adds some forty properties by key),
 * so every read is a hash lookup the optimizer cannot turn into a field load.
 */
export function userToPeer(user: Api.User, now: number, withComplete: boolean): Peer | null {
  const accessHash = user.accessHash;
  if (accessHash === undefined || user.min === true) return null;
  return peerOf(user, 'user', toBigint(user.id), toBigint(accessHash), userDisplayName(user.firstName, user.lastName), user, now, withComplete);
}

/** entityToPeer of anything but an Api.User. */
export function otherEntityToPeer(entity: unknown, now: number, withComplete: boolean): Peer | null {
  if (typeof entity !== 'object' || entity === null || (entity as { classType?: unknown }).classType !== 'constructor') return null;
  const key = peerKeyOf(entity);
  if (key === null) return null;
  return peerOf(entity, key.type, key.id, key.accessHash, utils.getDisplayName(entity as Api.TypeUser), entity as EntityFields, now, withComplete);
}

function peerOf(entity: object, type: PeerType, id: bigint, accessHash: bigint, name: string, fields: EntityFields, now: number, withComplete: boolean): Peer {
  let complete: Uint8Array | undefined;
  if (withComplete) {
    const bytes = (entity as Api.VirtualClass<undefined>).getBytes();
    // An object too big for the contract is cached without it: its typed fields are what lookups need.
    if (bytes.length <= MAX_COMPLETE_BYTES) complete = bytes;
  }
  const phone = fields.phone;
  // Every field in one literal, the absent optional ones undefined (the model reads
  // undefined as absent): each peer gets the one hidden class, and none grows a
  // property store as fields are added one by one.
  return {
    type,
    id,
    accessHash,
    usernames: usernamesOf(fields.username, fields.usernames),
    updatedAt: now,
    min: undefined,
    phone: isPhone(phone) ? phone : undefined,
    complete,
    // What every adapter stores, at most MAX_DISPLAY_NAME: a name with U+0000 or a broken
    // surrogate (or cut inside a pair) would fail the whole batch it is written in.
    displayName: name === '' ? undefined : storableText(name, MAX_DISPLAY_NAME) || undefined,
  };
}

/** `utils.getDisplayName` of an Api.User: first and last name, or the one there is. */
function userDisplayName(firstName: string | undefined, lastName: string | undefined): string {
  if (firstName && lastName) return `${firstName} ${lastName}`;
  return firstName || lastName || '';
}

interface PeerKey {
  type: PeerType;
  id: bigint;
  accessHash: bigint;
}

/**
 * What `utils.getInputPeer(entity, false)` gives for anything but an Api.User (which
 * entityToPeer reads itself), without building the InputPeer: the same rules for the
 * classes processEntities sees, GramJS's own function for anything else. (Building
 * the TL object costs more than the rest of caching.)
 */
function peerKeyOf(entity: object): PeerKey | null {
  if (entity instanceof Api.Chat || entity instanceof Api.ChatEmpty || entity instanceof Api.ChatForbidden) {
    return { type: 'chat', id: toBigint(entity.id), accessHash: 0n };
  }
  if (entity instanceof Api.Channel) {
    if (entity.accessHash === undefined || entity.min === true) return null;
    return { type: 'channel', id: toBigint(entity.id), accessHash: toBigint(entity.accessHash) };
  }
  if (entity instanceof Api.ChannelForbidden) return { type: 'channel', id: toBigint(entity.id), accessHash: toBigint(entity.accessHash) };
  let input: Api.TypeInputPeer;
  try {
    input = utils.getInputPeer(entity as Api.TypeUser, false);
  } catch {
    return null; // objects that are no peer at all
  }
  if (input instanceof Api.InputPeerUser) return { type: 'user', id: toBigint(input.userId), accessHash: toBigint(input.accessHash) };
  if (input instanceof Api.InputPeerChannel) return { type: 'channel', id: toBigint(input.channelId), accessHash: toBigint(input.accessHash) };
  if (input instanceof Api.InputPeerChat) return { type: 'chat', id: toBigint(input.chatId), accessHash: 0n };
  return null; // InputPeerEmpty (UserEmpty) and the like
}

/** The main username first, then the other active ones (collectible usernames), each once. */
function usernamesOf(main: string | undefined, usernames: Api.Username[] | undefined): string[] {
  // Most entities have at most the main username: no set, no closure.
  if (!Array.isArray(usernames) || usernames.length === 0) return isUsername(main) ? [main] : [];
  const result: string[] = [];
  const seen = new Set<string>();
  const add = (username: unknown): void => {
    if (!isUsername(username)) return;
    const lower = username.toLowerCase();
    if (seen.has(lower)) return;
    seen.add(lower);
    result.push(username);
  };
  add(main);
  for (const u of usernames) if (u instanceof ApiUsername && u.active === true) add(u.username);
  return result;
}

/** The entities MemorySession's `_entitiesToRows` takes from a TL object or a list. */
export function entitiesOf(tlo: unknown): unknown[] {
  if (typeof tlo !== 'object' || tlo === null) return [];
  const object = tlo as Record<string, unknown>;
  if (object.classType !== 'constructor' && helpers.isArrayLike(tlo)) return Array.from(tlo as ArrayLike<unknown>);
  const entities: unknown[] = [];
  if ('user' in object) entities.push(object.user);
  if ('chat' in object) entities.push(object.chat);
  if ('channel' in object) entities.push(object.channel);
  if ('chats' in object && helpers.isArrayLike(object.chats)) entities.push(...Array.from(object.chats as ArrayLike<unknown>));
  if ('users' in object && helpers.isArrayLike(object.users)) entities.push(...Array.from(object.users as ArrayLike<unknown>));
  return entities;
}

/** The InputPeer GramJS builds for a cached peer (MemorySession.getInputEntity). */
export function inputPeerOf(peer: Peer): Api.TypeInputPeer {
  switch (peer.type) {
    case 'user':
      return new Api.InputPeerUser({ userId: helpers.returnBigInt(peer.id), accessHash: helpers.returnBigInt(peer.accessHash) });
    case 'chat':
      return new Api.InputPeerChat({ chatId: helpers.returnBigInt(peer.id) });
    case 'channel':
      return new Api.InputPeerChannel({ channelId: helpers.returnBigInt(peer.id), accessHash: helpers.returnBigInt(peer.accessHash) });
  }
}

/**
 * GramJS's big-integer (or a number) to a native bigint. Where the runtime has
 * BigInt, big-integer wraps one in `.value`: taken as is, without a string round trip.
 */
export function toBigint(value: Api.long | number | bigint): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(value);
  const inner = (value as unknown as { value?: unknown }).value;
  return typeof inner === 'bigint' ? inner : BigInt(value.toString());
}
