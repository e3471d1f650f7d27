import { CorruptDataError, int64FromStorage, InvalidArgumentError, type RefMessage, type RefMessageEntry, type RefMessageListPage, type RefMessageRepository } from '@mtstore/core';
import type { RedisConnection } from './connection.js';
import type { Fence } from './fence.js';
import type { ClientKeys } from './schema.js';
import { DELETE_SESSION, LuaScript } from './scripts.js';

/**
 * store. KEYS: sequence, the peer's set, index, order. ARGV: "<chatId>:<messageId>",
 * peer id. The sequence makes a reference stored again the most recent one of its
 * peer, and the last one in the session's order.
 */
const STORE_REF = new LuaScript(`
local seq = redis.call('INCR', KEYS[1])
local member = ARGV[1] .. ':' .. ARGV[2]
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('ZADD', KEYS[3], 0, member)
redis.call('ZADD', KEYS[4], seq, member)
return seq
`);

/**
 * delete(chatId, messageIds). KEYS: index, order. ARGV: the per-peer key prefix, chat id,
 * message ids. The index finds every peer a message references (members
 * "<chatId>:<messageId>:<peerId>" form one lexicographic range per message). The
 * sequence stays, also when the last reference goes (see RedisRefMessages).
 */
const DELETE_REFS = new LuaScript(`
local index = KEYS[1]
for i = 3, #ARGV do
  local message = ARGV[2] .. ':' .. ARGV[i]
  for _, member in ipairs(redis.call('ZRANGEBYLEX', index, '[' .. message .. ':', '(' .. message .. ';')) do
    redis.call('ZREM', ARGV[1] .. string.sub(member, #message + 2), message)
    redis.call('ZREM', index, member)
    redis.call('ZREM', KEYS[2], member)
  end
end
return 1
`);

/** deleteByPeer. KEYS: the peer's set, index, order. ARGV: peer id. The sequence stays. */
const DELETE_PEER_REFS = new LuaScript(`
for _, message in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  redis.call('ZREM', KEYS[2], message .. ':' .. ARGV[1])
  redis.call('ZREM', KEYS[3], message .. ':' .. ARGV[1])
end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * Reference messages of one session: per peer a sorted set of "<chatId>:<messageId>"
 * scored by an INCR sequence (the highest is the most recent: getByPeer is one
 * ZREVRANGE), one index by message for delete(chatId, messageIds), and the session's
 * order: every "<chatId>:<messageId>:<peerId>" scored by the same sequence, which
 * list pages through. The sequence never goes back while the session exists: clear
 * and deletes leave it (one small string key), so a cursor kept across them lists
 * the references stored after it (contract §6); it goes only with the session's
 * `delete()`. Before, it went with the last reference and restarted at 1.
 */
export class RedisRefMessages implements RefMessageRepository {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: ClientKeys,
    private readonly where: string,
    private readonly fence: Fence,
  ) {}

  store(peerId: bigint, chatId: bigint, messageId: number): Promise<void> {
    const argv = [this.keys.refSeq, this.keys.refPeer + peerId, this.keys.refIndex, this.keys.refOrder, `${chatId}:${messageId}`, peerId.toString()];
    const token = this.fence.token();
    return this.connection.run((client) => this.fence.script(client, token, STORE_REF, 4, argv), this.where, nothing);
  }

  getByPeer(peerId: bigint): Promise<RefMessage | null> {
    return this.connection.run(
      (client) => client.zrevrange(this.keys.refPeer + peerId, 0, 0),
      this.where,
      ([member]) => (member === undefined ? null : this.#decode(member, peerId)),
    );
  }

  delete(chatId: bigint, messageIds: readonly number[]): Promise<void> {
    const argv = [this.keys.refIndex, this.keys.refOrder, this.keys.refPeer, chatId.toString(), ...messageIds.map(String)];
    const token = this.fence.token();
    return this.connection.run((client) => this.fence.script(client, token, DELETE_REFS, 2, argv), this.where, nothing);
  }

  deleteByPeer(peerId: bigint): Promise<void> {
    const argv = [this.keys.refPeer + peerId, this.keys.refIndex, this.keys.refOrder, peerId.toString()];
    const token = this.fence.token();
    return this.connection.run((client) => this.fence.script(client, token, DELETE_PEER_REFS, 3, argv), this.where, nothing);
  }

  /** The session-delete script on the reference keys but the sequence: the index names every per-peer set. */
  clear(): Promise<void> {
    const argv = [this.keys.refIndex, this.keys.refOrder, this.keys.refPeer, '1'];
    const token = this.fence.token();
    return this.connection.run((client) => this.fence.script(client, token, DELETE_SESSION, 2, argv), this.where, nothing);
  }

  /**
   * One ZRANGEBYSCORE of the order set after the cursor (the sequence number of the
   * last reference of the previous page): O(log n + page).
   */
  list(after: bigint | null, limit: number): Promise<RefMessageListPage> {
    // One more than the page tells whether another page follows.
    return this.connection.run(
      (client) => client.zrangebyscore(this.keys.refOrder, `(${after ?? 0n}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1),
      this.where,
      (reply) => {
        const refs: RefMessageEntry[] = [];
        for (let i = 0; i < reply.length && refs.length < limit; i += 2) refs.push(this.#decodeIndexed(reply[i] as string));
        return { refs, next: reply.length > 2 * limit ? BigInt(reply[2 * limit - 1] as string) : null };
      },
    );
  }

  /** An index member `<chatId>:<messageId>:<peerId>`. */
  #decodeIndexed(member: string): RefMessageEntry {
    const colon = member.lastIndexOf(':');
    const peer = member.slice(colon + 1);
    const where = `${this.where}: reference message ${JSON.stringify(member)}`;
    if (colon < 0) throw new CorruptDataError(`${where} is not <chatId>:<messageId>:<peerId>`);
    const peerId = int64FromStorage(peer, `${where}: peer id`);
    const { chatId, messageId } = this.#decode(member.slice(0, colon), peerId);
    return { peerId, chatId, messageId };
  }

  #decode(member: string, peerId: bigint): RefMessage {
    const colon = member.lastIndexOf(':');
    const messageId = Number(member.slice(colon + 1));
    return { chatId: int64FromStorage(member.slice(0, colon), `${this.where}: reference message of peer ${peerId}: chat id`), messageId };
  }
}

function nothing(): void {}
