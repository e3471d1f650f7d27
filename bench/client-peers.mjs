// The peers the "vs clients" rows store, as each library is handed them: shared by
// bench/vs-clients.mjs (wall clock) and bench/peer-icount.mjs (instructions), so both
// measure the same rows.

/** Peers per batch. */
export const PEERS = 1000;

/** Peer `n` as mtstore stores it: a user with one username, a phone and 48 TL bytes. */
export function mtstorePeer(n) {
  return {
    type: 'user',
    id: BigInt(n),
    accessHash: BigInt(n) * 7919n + 13n,
    usernames: [`User_${n}`],
    phone: String(10_000_000_000 + n),
    updatedAt: 1_700_000_000 + n,
    displayName: `User ${n}`,
    complete: completeBytes(n),
  };
}

export const completeBytes = (n) => new Uint8Array(48).fill(n & 0xff);

/** The same peer as mtcute's PeersService hands its repository. */
export function mtcutePeer(n) {
  return {
    id: n,
    accessHash: String(BigInt(n) * 7919n + 13n),
    isMin: false,
    usernames: [`user_${n}`],
    phone: String(10_000_000_000 + n),
    updated: 1_700_000_000 + n,
    complete: completeBytes(n),
  };
}

/** The same peer as Telethon's _entities_to_rows makes it (id, hash, username lower-cased, phone as int, name, date). */
export function telethonRow(n) {
  return [n, BigInt(n) * 7919n + 13n, `user_${n}`, 10_000_000_000 + n, `User ${n}`, 1_700_000_000 + n];
}

export const batchOf = (make, first) => Array.from({ length: PEERS }, (_, k) => make(first + k));
