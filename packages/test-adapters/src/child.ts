/**
 * The child's side of ./processes' ProcessTarget: the storage a child process opens from
 * the arguments `ProcessTarget.args` gave it (`sqlite <file> …` or `postgres <url>
 * <schema> …`). Its own entry: ./processes imports vitest, which a child run by plain
 * node does not load.
 */
import { createInterface } from 'node:readline';
import type { Storage } from '@mtstore/core';
import { PostgresStorage } from '@mtstore/postgres';
import { SqliteStorage } from '@mtstore/sqlite';

/** Session `name` of the backend `args` name; `rest` is what follows the backend's arguments. */
export function openFromArgs(args: readonly string[], name: string): { storage: Storage; rest: string[] } {
  const [kind, target, ...rest] = args;
  if (kind === 'sqlite') return { storage: new SqliteStorage({ path: target as string, name }), rest };
  if (kind === 'postgres') return { storage: new PostgresStorage({ config: { connectionString: target }, schema: rest[0], name }), rest: rest.slice(1) };
  throw new Error(`openFromArgs: unknown backend ${String(kind)} (sqlite or postgres)`);
}

/**
 * Waits for the line `line` on stdin, then stops reading stdin for good (closed and
 * destroyed), so that stdin is not what keeps the process alive: for a child that must
 * exit by itself once it has nothing left to do.
 */
export async function untilStdinLine(line: string): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  for await (const read of lines) if (read === line) break;
  lines.close();
  process.stdin.destroy();
}
