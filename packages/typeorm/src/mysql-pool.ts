/**
 * mysql / mariadb, a DataSource the adapter owns: a call waiting in mysql2's pool for a
 * free connection fails once it has waited `connectTimeout` while the server completed
 * nothing, as core's silenceBoundedPool does for pg. mysql2's queue has no timeout
 * (`queueLimit` 0, which serves a healthy server's burst whole), so on a silent server its
 * queue drained one connect timeout at a time per connection slot (each stuck connection
 * destroyed after the statement timeout hands its slot to one waiter, whose new
 * connection then waits connectTimeout): pool of 2, 500 ms connect, 1 s statement
 * timeout, 40 calls queued: the last rejected after 11.1 s; with the defaults (10
 * connections, 10 s) 10,000 queued calls would take hours.
 *
 * TypeORM builds the pool as `driver.mysql.createPool(options)` from the module it loaded
 * (0.3 and 1.x alike): the adapter gives the driver that module with createPool replaced
 * (ownedMysqlModule), before `initialize()`. mysql2 is never imported here. The watch is
 * core's CheckoutWatch, as in the pg pools.
 */
import { checkoutTimeout, CheckoutWatch, type QueuedCheckout } from '@mtstore/core';

type GetConnectionCallback = (error: Error | null | undefined, connection?: PooledConnection) => void;

interface PooledConnection {
  release(): void;
}

/** The part of a mysql2 Pool (lib/base/pool.js) the watch uses. */
interface Mysql2Pool {
  getConnection(callback: GetConnectionCallback): void;
  releaseConnection(connection: { _pool?: unknown }): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  config?: { connectionConfig?: { connectTimeout?: unknown } };
  /** mysql2's queue of waiting callbacks (its RingQueue). */
  _connectionQueue?: { length: number; get(i: number): unknown; shift(): unknown; removeOne(i: number): unknown };
}

interface MysqlModule {
  createPool?: unknown;
}

/** A queued getConnection call's callbacks: the caller's, and what mysql2 holds (the caller's unless the watch rejected the call first). */
interface Checkout {
  readonly callback: GetConnectionCallback;
  readonly onConnect: GetConnectionCallback;
}

/** mysql2's default connectTimeout (lib/connection_config.js), when the config says nothing. */
const MYSQL2_CONNECT_TIMEOUT = 10_000;

/**
 * Bounds the queue of `pool` (a mysql2 Pool) by the server's silence (see the file's
 * comment). Silence is counted as core's whenSilent counts it: a connection released
 * healthy or newly opened is the server heard from; a tick of the watch that ran late
 * (this process too busy to read replies) restarts it.
 */
function watchQueue(pool: Mysql2Pool): void {
  const configured = Number(pool.config?.connectionConfig?.connectTimeout ?? MYSQL2_CONNECT_TIMEOUT);
  const quiet = Number.isFinite(configured) && configured > 0 ? configured : 0;
  if (quiet === 0) return;
  const watch = new CheckoutWatch<Checkout>(quiet, (expired) => {
    dequeue(expired);
    for (const waiter of expired) waiter.data.callback(checkoutTimeout(quiet));
  });
  /** The callbacks mysql2 holds for waiters: it hands one back to getConnection when a slot frees up. */
  const ours = new WeakSet<GetConnectionCallback>();

  pool.on('connection', () => watch.heard());
  const release = pool.releaseConnection.bind(pool);
  pool.releaseConnection = (connection) => {
    // A connection taken out of the pool (destroyed after a statement timeout, lost) is no reply.
    if (connection._pool) watch.heard();
    release(connection);
  };

  const getConnection = pool.getConnection.bind(pool);
  pool.getConnection = (callback) => {
    // mysql2 calls getConnection again with a queued callback when a removed connection frees a slot.
    if (ours.has(callback)) return getConnection(callback);
    const waiter = watch.queue({
      callback,
      onConnect: (error, connection) => {
        if (waiter.cancelled) {
          // The caller was told it failed: its statement must never run. Handed back from a
          // microtask, not inside mysql2's hand-over to the next waiter.
          if (connection !== undefined && connection !== null) queueMicrotask(() => connection.release());
          return;
        }
        watch.served(waiter);
        callback(error, connection);
      },
    });
    ours.add(waiter.data.onConnect);
    getConnection(waiter.data.onConnect);
  };

  /** Takes the expired waiters out of mysql2's queue (a connection mysql2 still hands one goes straight back: QueuedCheckout.cancelled). */
  function dequeue(expired: readonly QueuedCheckout<Checkout>[]): void {
    const queue = pool._connectionQueue;
    if (queue === undefined) return;
    const gone = new Set<unknown>(expired.map((w) => w.data.onConnect));
    // Waiters expire oldest first, and mysql2's queue is oldest first: they are at its head, or gone from it.
    for (let i = 0; i < queue.length && gone.size > 0; ) {
      const item = queue.get(i);
      if (!gone.delete(item)) i++;
      else if (i === 0) queue.shift();
      else queue.removeOne(i);
    }
  }
}

/**
 * mysql2's pool as watchQueue knows it (lib/base/pool.js: its queue a RingQueue, a Denque
 * before 3.x). The `mysql` package's pool (its queue an Array, untested here) is left as it is.
 */
function isMysql2Pool(pool: Mysql2Pool | null | undefined): pool is Mysql2Pool {
  const queue = pool?._connectionQueue;
  return (
    typeof pool?.getConnection === 'function' &&
    typeof pool.releaseConnection === 'function' &&
    typeof pool.on === 'function' &&
    pool.config?.connectionConfig !== undefined &&
    typeof queue?.get === 'function' &&
    typeof queue.shift === 'function' &&
    typeof queue.removeOne === 'function'
  );
}

/**
 * The mysql2 module an owned DataSource's driver loaded, with createPool replaced by one
 * whose pools' queues wait as watchQueue says; everything else is the module's own
 * (inherited). A module without createPool is returned as it is.
 */
export function ownedMysqlModule(mysql: unknown): unknown {
  const module = mysql as MysqlModule | null;
  const createPool = module?.createPool;
  if (typeof createPool !== 'function') return mysql;
  return Object.create(module, {
    createPool: {
      enumerable: true,
      value: (options: unknown): unknown => {
        const pool = (createPool as (options: unknown) => unknown).call(module, options) as Mysql2Pool;
        if (isMysql2Pool(pool)) watchQueue(pool);
        return pool;
      },
    },
  }) as unknown;
}
