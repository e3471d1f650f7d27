/**
 * postgres, a DataSource the adapter owns: the pg pool TypeORM creates for it, with
 * `connectTimeoutMS` (pg-pool's `connectionTimeoutMillis`) bounding opening a connection,
 * and a call's wait for a free one only while the server completes nothing: core's
 * silenceBoundedPool, as @mtstore/postgres' own pool. pg-pool bounds both with that one
 * setting: 10,000 peer writes at once on an owned DataSource (10 connections, 10 s)
 * stored 1,170, the rest failed "timeout exceeded when trying to connect" while the
 * server was answering every one (an MTProto server's thundering herd after a restart).
 *
 * TypeORM builds the pool as `new driver.postgres.Pool(config)` (0.3 and 1.x alike), from
 * the pg module it loaded (or the DataSource's `driver` option): the adapter gives the
 * driver that module with `Pool` replaced (ownedPgModule), before `initialize()`. pg is
 * never imported here: an application on MySQL or sqlite need not have it.
 */
import { silenceBoundedPool, type PgClientClass, type PgPoolClass } from '@mtstore/core';

/** The pg module as TypeORM uses it: its Pool and Client classes (the rest is inherited as it is). */
interface PgModule {
  Pool?: unknown;
  Client?: unknown;
}

/**
 * The pg module an owned DataSource's driver loaded, with its Pool replaced by one whose
 * queue waits as core's silenceBoundedPool says; everything else is the module's own
 * (inherited). Only for pg's JavaScript Client, which bounds its own connect (`_connect` reads
 * `connectionTimeoutMillis`): pg-native's does not, so its pool is left as it is.
 */
export function ownedPgModule(postgres: unknown): unknown {
  const module = postgres as PgModule | null;
  const { Pool, Client } = module ?? {};
  if (typeof Pool !== 'function' || typeof Client !== 'function') return postgres;
  if (typeof (Client.prototype as { _connect?: unknown } | undefined)?._connect !== 'function') return postgres;
  return Object.create(module, { Pool: { value: silenceBoundedPool(Pool as PgPoolClass, Client as PgClientClass), enumerable: true } }) as unknown;
}
