/**
 * Sessions, peers and ids the traits use. Deterministic by seed, so a failure names
 * what it saved. Every session exercises every optional field somewhere.
 */
import type { DataCenter, Peer, PeerType, Session } from '@mtstore/core';

/** -2^63, -1, 0, 1, 2^53+1 (not a safe integer), 2^63-1. */
export const ID_EXTREMES: readonly bigint[] = [-(2n ** 63n), -1n, 0n, 1n, 2n ** 53n + 1n, 2n ** 63n - 1n];

/** 256 bytes that differ for every seed and are not all alike. */
export function authKey(seed: number): Uint8Array {
  const key = new Uint8Array(256);
  let x = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < key.length; i++) {
    x = (Math.imul(x ^ (x >>> 15), 2246822519) + i) >>> 0;
    key[i] = x & 0xff;
  }
  return key;
}

/**
 * A logged-in session: several DCs (main, media-only, IPv6-only, test) with
 * permanent and temp keys, user, state, channels and takeout. `seed` changes every
 * part, including how many DCs and channels there are.
 */
export function fullSession(seed = 1): Session {
  const dcs: DataCenter[] = [
    { id: 1, ipv4: '149.154.175.53', port: 443, authKey: authKey(seed * 10 + 1) },
    {
      id: 2,
      ipv4: '149.154.167.51',
      ipv6: '2001:67c:4e8:f002::a',
      port: 443,
      testMode: false,
      mediaOnly: false,
      authKey: authKey(seed * 10 + 2),
      tempAuthKeys: [
        { index: 0, key: authKey(seed * 10 + 3), expiresAt: 1_900_000_000 + seed },
        { index: 1, key: authKey(seed * 10 + 4), expiresAt: 1_900_000_100 + seed },
      ],
    },
    { id: 2, ipv4: '149.154.167.151', port: 443, mediaOnly: true },
  ];
  for (let i = 0; i < seed % 3; i++) {
    dcs.push({ id: 4 + i, ipv6: `2001:67c:4e8:f00${4 + i}::a`, port: 80 + i, testMode: true, authKey: authKey(seed * 10 + 5 + i) });
  }
  return {
    version: 1,
    homeDcId: 2,
    dcs,
    apiId: 10_000 + seed,
    user: { id: 1_000_000_000n + BigInt(seed), dcId: 2, bot: seed % 2 === 0, usernames: [`user_${seed}`, `User${seed}_alt`], premium: seed % 3 === 0 },
    state: { pts: 100 + seed, qts: 200 + seed, date: 1_700_000_000 + seed, seq: 300 + seed },
    channels: Array.from({ length: 1 + (seed % 4) }, (_, i) => ({ id: 1_000_000_000_000n + BigInt(i), pts: seed * 10 + i })),
    takeoutId: 5_000_000_000n + BigInt(seed),
  };
}

/** The least a valid session holds: one DC, no key, no user, no state. */
export function minimalSession(): Session {
  return { version: 1, homeDcId: 2, dcs: [{ id: 2, port: 443 }], channels: [] };
}

/** A non-min peer with one username and a phone for users. */
export function peer(type: PeerType, n: number, overrides: Partial<Peer> = {}): Peer {
  const base: Peer = {
    type,
    id: BigInt(n),
    accessHash: BigInt(n) * 7919n + 13n,
    usernames: [`${type}_${n}`],
    updatedAt: 1_700_000_000 + n,
  };
  if (type === 'user') base.phone = String(10_000_000_000 + n);
  return { ...base, ...overrides };
}

/** JSON with bigints, for messages. */
export function show(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
}

/** Peer k of round `round` (the crash traits): every peer of one batch carries its round in the access hash. */
/** Peers each worker of the first-write race stores (roundPeer(1, k), k below this). */
export const FIRST_WRITE_PEERS = 5;

/** The auth key a first-write worker stores for session `name`: its bytes differ per name. */
export function firstWriteKey(name: string): Uint8Array {
  const key = new Uint8Array(256);
  for (let i = 0; i < key.length; i++) key[i] = (i + name.charCodeAt(name.length - 1)) & 0xff;
  return key;
}

export function roundPeer(round: number, k: number): Peer {
  return { type: 'user', id: BigInt(k + 1), accessHash: BigInt(round) * 1000n + BigInt(k), usernames: [`crash_${k}`], phone: String(7_000_000 + k), updatedAt: 1_700_000_000 + round };
}
