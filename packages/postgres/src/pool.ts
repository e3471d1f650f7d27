/**
 * The pg Pool mtstore creates (Database's owned pool): `connectionTimeoutMillis` bounds
 * opening a connection, and a call's wait for a free one only while the server completes
 * nothing. pg-pool bounds both with that one setting, so on a healthy server a burst
 * longer than the pool serves in that time lost its tail: 20,000 peer writes on the
 * default pool (10 connections, 10 s) stored 3,814, the rest failed "timeout exceeded
 * when trying to connect" while the server was answering every one (an MTProto server's
 * thundering herd after a restart). Core's silenceBoundedPool (shared with
 * @mtstore/typeorm's owned postgres DataSource): the pool itself waits without a bound,
 * each Client bounds its own connect, and a watch rejects a queued call once it has
 * waited that long while the pool heard nothing from the server.
 */
import { silenceBoundedPool, type PgClientClass, type PgPoolClass } from '@mtstore/core';
import pg from 'pg';

/**
 * The pool mtstore creates from a connection string or config (never one the
 * application passes in: that keeps its own settings).
 */
export const OwnedPool = silenceBoundedPool(pg.Pool as unknown as PgPoolClass, pg.Client as unknown as PgClientClass) as unknown as typeof pg.Pool;
