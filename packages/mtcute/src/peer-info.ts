/**
 * mtcute's `PeerInfo` and mtstore's `Peer`. mtcute keys peers by marked id (a
 * number), keeps the access hash as its "fast string" (`low|high` of the int64) and
 * the update time in milliseconds (`Date.now()`, which its username TTL is checked
 * against); mtstore keeps (type, id), a bigint hash and epoch seconds, so `updated`
 * comes back rounded down to the second.
 */
import { fromMarkedId, MAX_COMPLETE_BYTES, toMarkedId, type Peer } from '@mtstore/core';
import { Long, type IPeersRepository } from '@mtcute/core';
import { __tlReaderMap, longFromFastString, longToFastString, TlBinaryReader } from '@mtcute/core/utils.js';

export type PeerInfo = IPeersRepository.PeerInfo;

const UINT32_MAX = 0xffff_ffff;
const PHONE = /^[0-9]{1,20}$/;
const USERNAME = /^[A-Za-z0-9_]{1,64}$/;

/** `low|high` (two signed int32) to the int64 they make. */
export function accessHashFromString(value: string): bigint {
  if (value === '') return 0n; // mtcute's hash of a basic chat, which has none
  const long = longFromFastString(value);
  return (BigInt(long.high) << 32n) | BigInt(long.low >>> 0);
}

export function accessHashToString(value: bigint): string {
  return longToFastString(Long.fromBits(Number(BigInt.asIntN(32, value)), Number(BigInt.asIntN(32, value >> 32n))));
}

export interface ToPeerOptions {
  /** Read the display name out of `complete` (first + last name, or title). */
  displayName: boolean;
}

export function peerFromInfo(info: PeerInfo, options: ToPeerOptions): Peer {
  const { type, id } = fromMarkedId(info.id);
  const peer: Peer = {
    type,
    id,
    accessHash: accessHashFromString(info.accessHash),
    // mtcute lower-cases usernames; a malformed one would fail the whole batch.
    usernames: info.usernames.filter((u) => USERNAME.test(u)),
    updatedAt: Math.min(UINT32_MAX, Math.max(0, Math.floor(info.updated / 1000))),
  };
  if (info.isMin) peer.min = true;
  if (info.phone !== undefined && PHONE.test(info.phone)) peer.phone = info.phone;
  // Larger TL objects than mtstore keeps would fail the whole batch: the peer is stored without it.
  if (info.complete.length > 0 && info.complete.length <= MAX_COMPLETE_BYTES) {
    peer.complete = info.complete;
    if (options.displayName) {
      const name = displayNameOf(info.complete);
      if (name !== undefined) peer.displayName = name;
    }
  }
  return peer;
}

export function infoFromPeer(peer: Peer): PeerInfo {
  const info: PeerInfo = {
    id: Number(toMarkedId(peer.type, peer.id)),
    accessHash: peer.type === 'chat' ? '' : accessHashToString(peer.accessHash),
    isMin: peer.min === true,
    usernames: peer.usernames,
    updated: peer.updatedAt * 1000,
    complete: peer.complete ?? new Uint8Array(0),
  };
  if (peer.phone !== undefined) info.phone = peer.phone;
  return info;
}

const MAX_DISPLAY_NAME = 1024;

/** The name mtcute would show, from the serialized user/chat/channel; undefined when it has none. */
export function displayNameOf(complete: Uint8Array): string | undefined {
  let object: unknown;
  try {
    object = TlBinaryReader.deserializeObject(__tlReaderMap, complete);
  } catch {
    return undefined;
  }
  const tl = object as { _?: string; firstName?: string; lastName?: string; title?: string };
  let name: string | undefined;
  if (tl._ === 'user') name = [tl.firstName, tl.lastName].filter((part) => part !== undefined && part !== '').join(' ');
  else name = tl.title;
  if (name === undefined || name === '') return undefined;
  return name.length > MAX_DISPLAY_NAME ? name.slice(0, MAX_DISPLAY_NAME) : name;
}
