/**
 * The child's side of ./processes' ProcessTarget: the storage a child process opens from
 * the arguments `ProcessTarget.args` gave it (`sqlite <file> …` or `postgres <url>
 * <schema> …`). Its own entry: ./processes imports vitest, which a child run by plain
 * node does not load.
 */
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
