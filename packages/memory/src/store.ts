import type { Peer, Session } from '@mtstore/core';

/** The peers of one named session, with the two lookup indexes. */
export interface PeerTable {
  /** `type:id` → peer */
  readonly byKey: Map<string, Peer>;
  /** lower-cased username → `type:id` */
  readonly byUsername: Map<string, string>;
  /** phone → `type:id` */
  readonly byPhone: Map<string, string>;
}

export interface ClientEntry {
  session: Session;
  readonly peers: PeerTable;
}

/**
 * The data of one memory backend. Every MemoryStorage / MemorySessionStorage opened
 * on the same store sees the same data, the way two connections see one database.
 * Without a store each instance gets its own.
 */
export class MemoryStore {
  /** Client sessions by name. */
  readonly clients = new Map<string, ClientEntry>();
  /**
   * Server sessions: authKeyId → sessionIds. bigint keys hash by value, so a lookup
   * allocates nothing (no string key is built per hasSession).
   */
  readonly server = new Map<bigint, Set<bigint>>();
}
