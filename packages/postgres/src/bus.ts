/**
 * Session events between processes over LISTEN/NOTIFY.
 *
 * Each bus holds one dedicated connection (a `pg.Client`, never a pool client): it
 * LISTENs on the schema's channel and also sends NOTIFY (`SELECT pg_notify(…)`), so
 * subscribers on the publishing bus hear its events too. Payloads are core's compact
 * JSON (ids and origin only). When the connection drops, the bus reconnects by itself
 * with exponential backoff and LISTENs again; events sent while it was away are lost
 * (NOTIFY does not replay: remote delivery is at-most-once, as the contract says).
 * Subscribers hear `lost` when the listening connection drops (its socket closes or
 * errors, or it stops answering the bus's heartbeat) and `live` once LISTEN runs again
 * on a new one. The heartbeat (`SELECT 1` every `heartbeatInterval` ms, #watch) is what
 * notices a connection that died silently (no FIN, no RST: a NAT that dropped the flow,
 * a host that vanished): a listening connection sends nothing, so nothing fails, and
 * TCP keep-alive gives up only after over two hours with Linux's defaults.
 * A connection through a pooler is probed once LISTEN ran (#probe): through a
 * transaction-mode pool LISTEN cannot work, and the connection is refused.
 */
import {
  CallsInFlight,
  assertIdentifier,
  assertKnownOptions,
  optionNames,
  assertSubscribeOptions,
  BusSubscriptions,
  decodeSessionEvent,
  assertTimerMs,
  assertOptional,
  describeValue,
  encodeSessionEvent,
  frozenSessionEvent,
  heartbeatIntervalOption,
  heartbeatJudge,
  InvalidArgumentError,
  StorageClosedError,
  toStorageError,
  type SessionEvent,
  type SessionEventBus,
  type SessionEventSubscribeOptions,
} from '@mtstore/core';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Client, ClientConfig, Notification, QueryResult } from 'pg';
import { assertPgConfig, DEFAULT_SCHEMA, POOL_DEFAULTS } from './connection.js';
import { clientWaitOf } from './transaction.js';

export interface PostgresSessionEventBusOptions {
  /** `postgres://user:password@host:5432/database`. Give this or `config`. */
  connectionString?: string | undefined;
  /** A pg ClientConfig for the bus's own connection. */
  config?: ClientConfig | undefined;
  /** The schema the sessions live in: the channel is `mtstore_<schema>`, so schemas do not hear each other. Default `mtstore`. */
  schema?: string | undefined;
  /** First and longest wait between reconnection attempts, ms. Default 100 and 5,000; each an integer from 1 to 2^31 - 1. */
  reconnectDelay?: { initial?: number | undefined; max?: number | undefined } | undefined;
  /** Told about a lost connection, a failed reconnection and an undecodable payload. Default: console.warn. */
  onError?: ((error: unknown) => void) | undefined;
  /**
   * How often, in ms, the bus checks that its connection answers (`SELECT 1`). A
   * connection that completed no round trip from one check to the next (while
   * connecting: did not get on) is taken as dead: closed and, while anyone listens,
   * opened again (subscribers hear `lost`, then `live`). So a connection that died
   * silently is noticed within twice this. Default 15,000; 100 to 2^31 - 1.
   */
  heartbeatInterval?: number | undefined;
}

const NAME = 'PostgresSessionEventBus';
/** Every option of the constructor: any other name is refused (assertKnownOptions). */
const OPTIONS = optionNames<PostgresSessionEventBusOptions>()(['connectionString', 'config', 'schema', 'reconnectDelay', 'onError', 'heartbeatInterval']);

/** Payloads in one NOTIFY statement at most (~100 bytes each). */
const NOTIFY_BATCH = 1_000;
/** One notification per array element, in the array's order (a function scan yields its rows in order). */
const NOTIFY = 'SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload';

/** Publishes that go in one statement (#send). */
interface NotifyBatch {
  readonly payloads: string[];
  /** The event of each payload (a frozen copy): what this bus's subscribers hear when it comes back (echoOf). */
  readonly events: SessionEvent[];
  readonly seen: Set<string>;
  /** How many of its notifications came back so far, or were found lost (echoOf). */
  heard: number;
  /** Settles when the statement did. */
  sent: Promise<void>;
}

/** pg sets it from the server's BackendKeyData on connect; @types/pg leaves it out. */
type BackendClient = Client & { readonly processID?: number | null };

/**
 * The event `payload` was made from, if it is the next of the statements `sent` on this
 * connection still to come back (oldest first); undefined if not, and it is decoded.
 * The bus hears its own NOTIFYs, and decoding each (JSON, checks, BigInts) was about a
 * third of a burst's CPU per event in the publisher (bench/bus.mjs, `--cpu-prof`): the
 * event kept at publish is handed out instead. PostgreSQL sends a session its own
 * notifications in the order it sent them (commit order, each statement's in array
 * order; a statement never holds one payload twice, see #send), and none of a statement
 * that failed in the server: an own payload that is not the next one means the ones
 * before it will never come, and they are dropped (one that failed only in pg, say its
 * query_timeout, is taken out of `sent`: its notifications, if they come, are decoded,
 * with those sent after it). A payload matched is the exact text the event was
 * encoded to, so the event is the one decoding it gives; a mismatch only costs the decode.
 */
function echoOf(sent: NotifyBatch[], payload: string): SessionEvent | undefined {
  while (sent.length > 0) {
    const batch = sent[0] as NotifyBatch;
    const index = batch.heard++;
    if (batch.heard >= batch.payloads.length) sent.shift();
    if (batch.payloads[index] === payload) return batch.events[index];
  }
  return undefined;
}

/**
 * `reconnectDelay`, checked before any I/O: each wait an integer number of ms from 1 to
 * 2^31 - 1 (Node's timers fire a longer one after 1 ms; 0 or NaN would reconnect in a
 * tight loop).
 */
function reconnectDelayOption(value: unknown): { initial: number; max: number } {
  if (value === undefined) return { initial: 100, max: 5_000 };
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`${NAME}: reconnectDelay must be an object like { initial: 100, max: 5000 }, got ${describeValue(value)}`);
  const { initial = 100, max = 5_000 } = value as { initial?: unknown; max?: unknown };
  assertTimerMs(initial, `${NAME}: reconnectDelay.initial`);
  assertTimerMs(max, `${NAME}: reconnectDelay.max`);
  return { initial, max };
}

/** How long close() lets the server answer pg's Terminate before it drops the socket. */
const CLOSE_GRACE_MS = 1_000;
/** How long, at most, the probe of a pooled connection waits for its NOTIFY to come back (#probe). */
const PROBE_WAIT_MS = 2_000;

/** The socket under a pg Client (pg 8: `client.connection.stream`), read guarded. */
function socketOf(client: Client): { destroy(error?: Error): void } | undefined {
  const stream = (client as unknown as { connection?: { stream?: { destroy?: unknown } } }).connection?.stream;
  return typeof stream?.destroy === 'function' ? (stream as { destroy(error?: Error): void }) : undefined;
}

/**
 * Closes a Client at once, whatever it waits for: its socket is destroyed, with `error`
 * for a connect or query under way to reject with. Not end(): on an idle connection it
 * sends Terminate and waits for the server to close, for ever if the server went silent;
 * during connect it leaves connect() pending for good.
 */
function destroyClient(client: Client, error?: Error): void {
  const socket = socketOf(client);
  if (socket) socket.destroy(error);
  else void client.end().catch(() => {});
}

export class PostgresSessionEventBus implements SessionEventBus {
  /** The NOTIFY channel. */
  readonly channel: string;
  readonly #config: ClientConfig;
  /** Lost (isLost) from when the listening connection is lost until LISTEN runs again on a new one. */
  readonly #subscriptions = new BusSubscriptions(NAME);
  readonly #delay: { initial: number; max: number };
  readonly #onError: (error: unknown) => void;
  /** The live, listening connection. */
  #client: Client | undefined;
  /** The connection attempt in progress, shared by everyone who needs the connection. */
  #connecting: Promise<Client> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;
  #closing: Promise<void> | undefined;
  readonly #heartbeat: number;
  /** The server's limits on the bus's statements, ms: how long pg waits for a reply (see #connect). */
  readonly #wait: number;
  /** The connection being opened (connect and LISTEN under way): close() abandons it. */
  #opening: Client | undefined;
  /** The second connection of a probe under way (#probe): close() abandons it too. */
  #prober: Client | undefined;
  /** Round trips each connection completed (connect, LISTEN, publishes, checks): what the heartbeat looks at. */
  readonly #progress = new WeakMap<Client, number>();
  /** Each connection's statements sent whose notifications have not all come back (echoOf). */
  readonly #sent = new WeakMap<Client, NotifyBatch[]>();

  constructor(options: PostgresSessionEventBusOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${NAME}: options must be an object`);
    assertKnownOptions(options, OPTIONS, NAME);
    if (options.connectionString !== undefined && options.config !== undefined) {
      throw new InvalidArgumentError(`${NAME}: give connectionString or config, not both`);
    }
    const schema = options.schema ?? DEFAULT_SCHEMA;
    assertIdentifier(schema, `${NAME}: schema`);
    this.channel = `mtstore_${schema}`;
    if (options.connectionString !== undefined && typeof options.connectionString !== 'string') {
      throw new InvalidArgumentError(`${NAME}: connectionString must be a string`);
    }
    if (options.config !== undefined && (typeof options.config !== 'object' || options.config === null)) {
      throw new InvalidArgumentError(`${NAME}: config must be a pg ClientConfig object`);
    }
    const config = options.connectionString !== undefined ? { connectionString: options.connectionString } : options.config;
    assertPgConfig(options.connectionString, options.config, NAME);
    const { connectionTimeoutMillis, query_timeout, keepAlive } = POOL_DEFAULTS;
    this.#config = { connectionTimeoutMillis, query_timeout, keepAlive, application_name: 'mtstore-bus', ...config };
    this.#wait = clientWaitOf(this.#config);
    this.#heartbeat = heartbeatIntervalOption(options.heartbeatInterval, NAME);
    this.#delay = reconnectDelayOption(options.reconnectDelay);
    // Checked here: #report swallows what the hook throws (a failing hook must not break
    // the bus), so a hook that is not a function would have hidden every error for good.
    assertOptional(options.onError, 'function', `${NAME}: onError`);
    this.#onError = options.onError ?? ((error) => console.warn(`${NAME} (${this.channel}):`, error));
  }

  async publish(event: SessionEvent): Promise<void> {
    if (this.#closing) throw new StorageClosedError(`${NAME}.publish: the bus is closed`);
    let payload: string;
    try {
      payload = encodeSessionEvent(event);
    } catch (error) {
      throw new InvalidArgumentError(`${NAME}.publish: ${(error as Error).message}`);
    }
    try {
      await this.#send(payload, frozenSessionEvent(event));
    } catch (error) {
      throw toStorageError(error, `${NAME}.publish`);
    }
  }

  /**
   * Adds `payload` to the statement waiting to be sent, or queues a new one, and
   * settles when that statement did. Publishes made while one statement is in flight
   * go together in the next (`SELECT pg_notify` over an array: one round trip, one
   * transaction, delivered in order), so a subject's destroyAllSessions or sweep of n
   * sessions costs about one round trip per NOTIFY_BATCH events, not one per event.
   * A payload already in the waiting statement starts a new one: PostgreSQL delivers
   * only one of identical notifications sent in one transaction (a session created,
   * destroyed and created again would lose its second `created`).
   */
  #send(payload: string, event: SessionEvent): Promise<void> {
    let batch = this.#waiting;
    if (batch === undefined || batch.payloads.length >= NOTIFY_BATCH || batch.seen.has(payload)) {
      const next: NotifyBatch = { payloads: [], events: [], seen: new Set(), heard: 0, sent: Promise.resolve() };
      next.sent = this.#serially(async () => {
        // Closed to further payloads from here: they go in the next statement.
        if (this.#waiting === next) this.#waiting = undefined;
        if (this.#cut) throw new StorageClosedError(`${NAME}.publish: the bus was closed, and the server stopped answering, before this event was sent`);
        let sent: NotifyBatch[] | undefined;
        try {
          const client = await this.#connection();
          // Before the query: its notifications may come back with its answer.
          sent = this.#sent.get(client);
          sent?.push(next);
          await client.query({ text: NOTIFY, values: [this.channel, next.payloads] });
          this.#answered(client);
        } catch (error) {
          // Most likely none of it comes back; if it does, it is decoded.
          const index = sent?.indexOf(next) ?? -1;
          if (index !== -1) sent?.splice(index, 1);
          // One error object for every publish of the statement, saying how many it
          // carried: a SessionSubject reports it once, not once per event (see onBusError).
          const count = next.payloads.length;
          throw toStorageError(error, `${NAME}.publish: the NOTIFY carrying ${count} event${count === 1 ? '' : 's'}`);
        }
      });
      this.#waiting = batch = next;
      this.#inFlight.track(next.sent);
    }
    batch.payloads.push(payload);
    batch.events.push(event);
    batch.seen.add(payload);
    return batch.sent;
  }

  /** The statement that takes the publishes made from now on, until it is sent. */
  #waiting: NotifyBatch | undefined;
  /** Statements queued or in flight: close() lets them finish (docs/contract.md §9). */
  readonly #inFlight = new CallsInFlight();
  /** close() stopped waiting for them (the server went silent): those not sent yet fail. */
  #cut = false;

  /**
   * Runs `task` after the ones queued before it. Publishes and heartbeat checks go one
   * at a time on the bus's one connection: pg 8 queues concurrent queries on a Client
   * itself but warns that pg 9 will not (a subject publishes the events of
   * destroyAllSessions and expireSessions together). The connection runs one query at
   * a time either way, so the order of sending is all this changes.
   */
  #serially(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Settles after the last task queued: the next one goes after it. */
  #queue: Promise<void> = Promise.resolve();

  /** Resolves once the connection is LISTENing, so an event published after it is heard. */
  async subscribe(listener: (event: SessionEvent) => void, options?: SessionEventSubscribeOptions): Promise<() => Promise<void>> {
    if (this.#closing) throw new StorageClosedError(`${NAME}.subscribe: the bus is closed`);
    if (typeof listener !== 'function') throw new InvalidArgumentError(`${NAME}.subscribe: listener must be a function`);
    assertSubscribeOptions(options, NAME);
    try {
      await this.#connection();
    } catch (error) {
      throw toStorageError(error, `${NAME}.subscribe`);
    }
    if (this.#closing) throw new StorageClosedError(`${NAME}.subscribe: the bus is closed`);
    // Live here: the connection just LISTENed. Were it lost since, the subscription hears
    // `lost` now (BusSubscriptions.add) rather than resolve deaf saying nothing.
    const remove = this.#subscriptions.add(listener, options);
    return async () => {
      remove();
    };
  }

  /**
   * Publishes made before close() finish first while the server answers (ending the
   * connection under them failed every one, "Connection terminated": a subject's
   * destroyAllSessions just before a shutdown lost its events); once CLOSE_GRACE_MS
   * pass with none of them finishing, the rest fail. Then it resolves within about
   * CLOSE_GRACE_MS, also when the server went silent: a connection attempt under way
   * is abandoned (over a silent link it would wait for pg's connect and query
   * timeouts), and the listening connection gets that long to answer pg's Terminate
   * before its socket is dropped.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#retry);
      this.#subscriptions.clear();
      await this.#inFlight.settled(CLOSE_GRACE_MS);
      this.#cut = true;
      if (this.#opening) destroyClient(this.#opening, new StorageClosedError(`${NAME}: the bus was closed while connecting`));
      if (this.#prober) destroyClient(this.#prober, new StorageClosedError(`${NAME}: the bus was closed while connecting`));
      const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
      this.#client = undefined;
      if (client) await this.#end(client);
    })();
    return this.#closing;
  }

  /** Ends a healthy connection politely (pg's Terminate), a silent one within CLOSE_GRACE_MS. */
  async #end(client: Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_GRACE_MS);
    });
    await Promise.race([client.end().catch(() => {}), grace]);
    clearTimeout(timer);
    // Nothing left to do once the server closed it; otherwise drop the socket.
    destroyClient(client);
  }

  #connection(): Promise<Client> {
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<Client> {
    const client: BackendClient = new pg.Client(this.#config);
    const sent: NotifyBatch[] = [];
    this.#sent.set(client, sent);
    client.on('notification', (message) => this.#receive(message, message.processId === client.processID ? sent : undefined));
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('the listening connection ended')));
    this.#opening = client;
    this.#watch(client);
    try {
      await client.connect();
      this.#answered(client);
      // The channel is derived from a validated identifier; quoted to keep its case. In the
      // same round trip, idle_session_timeout (PostgreSQL 14+; often set per role or
      // database) goes off for this session: a listening connection is idle by design, and
      // a timeout under the heartbeat interval had the server end it every time, the bus
      // going lost / live and missing the events in between. current_setting(…, true) is
      // NULL on a server without the setting, so set_config never runs there.
      // statement_timeout and lock_timeout go to how long pg waits for the server (the
      // config's query_timeout, 30 s if none), as in the storages' transactions: the
      // application's short ones (its `options`, its role's) failed publishes (NOTIFYs
      // of several buses at once wait for each other's commit: PostgreSQL's lock on the
      // notification queue) and the LISTEN on a busy server. First in the message: each
      // statement of it runs under the limit set before it. The connection is the bus's own.
      // Last, the server process's id, for the pooler check below.
      const results = (await client.query(
        `SET statement_timeout = ${this.#wait}; SET lock_timeout = ${this.#wait}; SELECT set_config('idle_session_timeout', '0', false) WHERE current_setting('idle_session_timeout', true) IS NOT NULL; LISTEN "${this.channel}"; SELECT pg_backend_pid() AS pid`,
      )) as unknown as QueryResult<{ pid: number }>[];
      this.#answered(client);
      // Straight to PostgreSQL, the connection's BackendKeyData names the process that
      // answers: nothing more to check. Otherwise a pooler (PgBouncer, Supavisor, …) made
      // up that key, and LISTEN works only if the pooler keeps this connection on one
      // server connection (session mode); in transaction mode the bus stayed deaf without
      // a word (PgBouncer drops the notifications of a server connection no client holds).
      const last = Array.isArray(results) ? results.at(-1) : (results as QueryResult<{ pid: number }>);
      if (last?.rows[0]?.pid !== (client as BackendClient).processID) await this.#probe(client);
    } catch (error) {
      destroyClient(client);
      throw error;
    } finally {
      if (this.#opening === client) this.#opening = undefined;
    }
    if (this.#closing) {
      destroyClient(client);
      throw new StorageClosedError(`${NAME}: the bus is closed`);
    }
    this.#client = client;
    this.#failures = 0;
    this.#subscriptions.live();
    return client;
  }

  /**
   * For a connection through a pooler: LISTEN on a channel of its own, NOTIFY it from a
   * second connection, and wait (PROBE_WAIT_MS, at most half a heartbeat) for it to come
   * back. Through a session-mode pool, or anything that keeps the connection on one
   * server connection, it does (one connection more, for a moment, per connect). Through
   * a transaction-mode pool the LISTEN's server connection went back to the pool: the
   * NOTIFY reaches the second connection or nobody, and the connect fails with the fix
   * in its message (subscribe and publish reject; a bus with subscribers reports it to
   * onError at each reconnection) instead of a bus that never hears an event.
   */
  async #probe(client: Client): Promise<void> {
    const channel = `mtstore_probe_${randomBytes(8).toString('hex')}`;
    let heard = (): void => {};
    const back = new Promise<boolean>((resolve) => {
      heard = () => resolve(true);
    });
    const onNotification = (message: Notification): void => {
      if (message.channel === channel) heard();
    };
    client.on('notification', onNotification);
    const other = new pg.Client(this.#config);
    other.on('error', () => {});
    this.#prober = other;
    let timer: NodeJS.Timeout | undefined;
    try {
      await client.query(`LISTEN "${channel}"`);
      this.#answered(client);
      await other.connect();
      this.#answered(client);
      await other.query(`NOTIFY "${channel}"`);
      this.#answered(client);
      const wait = Math.min(PROBE_WAIT_MS, this.#heartbeat / 2);
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), wait);
      });
      if (!(await Promise.race([back, timeout]))) {
        throw new Error(
          `the bus's connection goes through a pooler that does not keep it on one server connection (transaction pooling: a NOTIFY from another connection did not reach its LISTEN within ${wait} ms), where LISTEN cannot work: give the bus a connection straight to PostgreSQL, or through a pool in session mode (README: Behind PgBouncer)`,
        );
      }
      await client.query(`UNLISTEN "${channel}"`);
      this.#answered(client);
    } finally {
      clearTimeout(timer);
      client.off('notification', onNotification);
      if (this.#prober === other) this.#prober = undefined;
      destroyClient(other);
    }
  }

  /** `own`: this connection sent it, and these are the statements it sent (echoOf). */
  #receive(message: Notification, own: NotifyBatch[] | undefined): void {
    if (message.channel !== this.channel || this.#closing) return;
    const payload = message.payload ?? '';
    let event = own === undefined ? undefined : echoOf(own, payload);
    if (event === undefined) {
      try {
        event = decodeSessionEvent(payload); // frozen by core: one object for every listener
      } catch (error) {
        this.#report(error);
        return;
      }
    }
    this.#subscriptions.deliver(event);
  }

  /**
   * The heartbeat, from the moment a connection is made until it is dropped: every
   * `heartbeatInterval` ms a `SELECT 1` (queued with the publishes) on the live
   * connection. One that completed no round trip from one check to the next — no
   * check, no publish, or while connecting no step of connect and LISTEN — is taken as
   * dead (#silent). Measured in round trips rather than per check, so a long queue of
   * publishes on a working connection is not taken for silence.
   */
  #watch(client: Client): void {
    const judge = heartbeatJudge(this.#heartbeat);
    let checking = false;
    const timer = setInterval(() => {
      if (this.#closing || (client !== this.#client && client !== this.#opening)) {
        clearInterval(timer);
        return;
      }
      // A tick late because the loop was blocked judges leniently (core heartbeatJudge).
      if (judge.silent(this.#progress.get(client) ?? 0)) {
        clearInterval(timer);
        this.#silent(client);
        return;
      }
      if (client !== this.#client || checking) return;
      checking = true;
      this.#serially(async () => {
        if (client !== this.#client) return;
        await client.query('SELECT 1');
        this.#answered(client);
      })
        // A failed check is the connection failing: its 'error' / 'end' (or the next check) acts.
        .catch(() => undefined)
        .finally(() => {
          checking = false;
        });
    }, this.#heartbeat);
    // The check alone does not keep the process alive.
    timer.unref();
    client.once('end', () => clearInterval(timer));
  }

  #answered(client: Client): void {
    this.#progress.set(client, (this.#progress.get(client) ?? 0) + 1);
  }

  /**
   * A connection that stopped answering: its socket is destroyed (so a query or connect
   * under way rejects with this), and a live one is lost as if it had dropped (lost,
   * reported, reconnected while anyone listens). One still being opened fails its
   * connect or LISTEN, and whoever waits for it (subscribe, publish, a retry) acts.
   */
  #silent(client: Client): void {
    const error = new Error(`the connection answered nothing for over ${this.#heartbeat} ms (heartbeatInterval): taken as dead`);
    destroyClient(client, error);
    this.#lost(client, error);
  }

  /** The listening connection died: forget it and, while anyone listens, reconnect. */
  #lost(client: Client, error: unknown): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    // Not end(): it would wait for a server that may not answer (see destroyClient).
    destroyClient(client);
    if (this.#closing) return;
    this.#subscriptions.lost();
    this.#report(error);
    this.#reconnect();
  }

  #reconnect(): void {
    if (this.#closing || this.#retry || this.#subscriptions.size === 0) return;
    const delay = Math.min(this.#delay.max, this.#delay.initial * 2 ** this.#failures);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#connection().catch((error: unknown) => {
        if (this.#closing) return;
        this.#failures++;
        this.#report(error);
        this.#reconnect();
      });
    }, delay * (0.5 + Math.random() / 2));
    // A pending retry alone does not keep the process alive.
    this.#retry.unref();
  }

  #report(error: unknown): void {
    try {
      this.#onError(toStorageError(error, `${NAME} (${this.channel})`));
    } catch {
      // A failing hook must not break the bus.
    }
  }
}
