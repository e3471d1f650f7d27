/**
 * Lease fencing in the database (docs/contract.md §12). While an instance holds the
 * session's lease, each of its writes runs as a script that first reads the lease key
 * and writes nothing unless it still holds this instance's token: one atomic step
 * with the write, on the node owning the session's slot (the lease key
 * `<prefix>lease:{<name>}` shares the session's hash tag). Without a lease the write
 * is sent exactly as before: no script, no extra command.
 */
import type { RedisClient } from './connection.js';
import { LuaScript } from './scripts.js';

/** The error reply a fenced script answers when the lease holds another token (or none). */
export const FENCE_REFUSED = 'MTSTORE_FENCE';

/** KEYS[1] is the lease key, ARGV[1] the token: the stored value starts with `<token>|`. */
const CHECK = `
local held = redis.call('GET', KEYS[1])
if not held or string.sub(held, 1, #ARGV[1] + 1) ~= ARGV[1] .. '|' then
  return redis.error_reply('${FENCE_REFUSED} the session lease holds another token')
end
`;

/**
 * Plain commands under the fence. KEYS: the lease. ARGV: the token, then per command
 * its argument count n and the n arguments (command name first). The commands' keys
 * are arguments, not KEYS: they share the lease key's slot, which is where the script
 * runs (Redis accepts undeclared keys of the script's own slot).
 */
const COMMANDS = new LuaScript(`${CHECK}
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
`);

/** One command: its name and arguments (keys included). */
export type Command = readonly (string | Buffer)[];

/** The token of the lease this instance holds, read once per write; undefined when it holds none. */
export type FenceToken = () => bigint | undefined;

/**
 * A session's fence: the lease key, and the token getter the storage hands every
 * repository (`() => this.fenceToken`).
 */
export class Fence {
  constructor(
    readonly lease: string,
    readonly token: FenceToken,
  ) {}

  /** `commands` as one fenced script (every one applies, or none when the token changed). */
  commands(client: RedisClient, token: bigint, commands: readonly Command[]): Promise<unknown> {
    const argv: (string | Buffer)[] = [this.lease, token.toString()];
    for (const command of commands) argv.push(String(command.length), ...command);
    return COMMANDS.run(client, 1, argv);
  }

  /**
   * Runs `script` (its `keyCount` keys, then its arguments, in `argv`): its fenced form
   * when `token` is defined.
   */
  script(client: RedisClient, token: bigint | undefined, script: LuaScript, keyCount: number, argv: (string | Buffer)[]): Promise<unknown> {
    if (token === undefined) return script.run(client, keyCount, argv);
    return fencedScript(script).run(client, keyCount + 1, [this.lease, ...argv.slice(0, keyCount), token.toString(), ...argv.slice(keyCount)]);
  }
}

const wrapped = new WeakMap<LuaScript, LuaScript>();

/**
 * The fenced form of a script: the same body, run only when the lease key (an extra
 * first KEY) holds the token (an extra first ARGV). The body sees its own KEYS and ARGV
 * as before (copied in a loop: `unpack` stops at a few thousand values, a peer batch
 * has 30,000).
 */
export function fencedScript(script: LuaScript): LuaScript {
  let fenced = wrapped.get(script);
  if (fenced === undefined) {
    fenced = new LuaScript(`${CHECK}
local keys, argv = {}, {}
for i = 2, #KEYS do keys[i - 1] = KEYS[i] end
for i = 2, #ARGV do argv[i - 1] = ARGV[i] end
local function body(KEYS, ARGV)
${script.source}
end
return body(keys, argv)
`);
    wrapped.set(script, fenced);
  }
  return fenced;
}

/** A fenced script's refusal (connection.ts turns it into the LeaseLostError core expects). */
export function isFenceRefusal(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith(FENCE_REFUSED);
}
