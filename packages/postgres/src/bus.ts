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
 * errors; a silently dead link is noticed by TCP keep-alive) and `live` once LISTEN
 * runs again on a new one.
 */
import {
  assertIdentifier,
  assertSubscribeOptions,
  reportStateSafely,
  decodeSessionEvent,
  deliverSafely,
  encodeSessionEvent,
  InvalidArgumentError,
  StorageClosedError,
  toStorageError,
  type SessionEvent,
  type SessionEventBus,
  type SessionEventSubscribeOptions,
} from '@mtstore/core';
import pg from 'pg';
import type { Client, ClientConfig, Notification } from 'pg';
import { DEFAULT_SCHEMA, POOL_DEFAULTS } from './connection.js';

export interface PostgresSessionEventBusOptions {
  /** `postgres://user:password@host:5432/database`. Give this or `config`. */
  connectionString?: string;
  /** A pg ClientConfig for the bus's own connection. */
  config?: ClientConfig;
  /** The schema the sessions live in: the channel is `mtstore_<schema>`, so schemas do not hear each other. Default `mtstore`. */
  schema?: string;
  /** First and longest wait between reconnection attempts, ms. Default 100 and 5,000. */
  reconnectDelay?: { initial?: number; max?: number };
  /** Told about a lost connection, a failed reconnection and an undecodable payload. Default: console.warn. */
  onError?: (error: unknown) => void;
}

type Listener = (event: SessionEvent) => void;

const NAME = 'PostgresSessionEventBus';

export class PostgresSessionEventBus implements SessionEventBus {
  /** The NOTIFY channel. */
  readonly channel: string;
  readonly #config: ClientConfig;
  readonly #listeners = new Set<Listener>();
  /** onState hooks by subscription. */
  readonly #states = new Map<Listener, SessionEventSubscribeOptions>();
  /** The listening connection was lost and LISTEN has not run again since. */
  #deaf = false;
  readonly #delay: { initial: number; max: number };
  readonly #onError: (error: unknown) => void;
  /** The live, listening connection. */
  #client: Client | undefined;
  /** The connection attempt in progress, shared by everyone who needs the connection. */
  #connecting: Promise<Client> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;
  #closing: Promise<void> | undefined;

  constructor(options: PostgresSessionEventBusOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${NAME}: options must be an object`);
    if (options.connectionString !== undefined && options.config !== undefined) {
      throw new InvalidArgumentError(`${NAME}: give connectionString or config, not both`);
    }
    const schema = options.schema ?? DEFAULT_SCHEMA;
    assertIdentifier(schema, `${NAME}: schema`);
    this.channel = `mtstore_${schema}`;
    const config = options.connectionString !== undefined ? { connectionString: options.connectionString } : options.config;
    const { connectionTimeoutMillis, query_timeout, keepAlive } = POOL_DEFAULTS;
    this.#config = { connectionTimeoutMillis, query_timeout, keepAlive, application_name: 'mtstore-bus', ...config };
    this.#delay = { initial: options.reconnectDelay?.initial ?? 100, max: options.reconnectDelay?.max ?? 5_000 };
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
    const send = async (): Promise<void> => {
      const client = await this.#connection();
      await client.query({ text: 'SELECT pg_notify($1, $2)', values: [this.channel, payload] });
    };
    // One at a time on the bus's one connection: pg 8 queues concurrent queries on a
    // Client itself but warns that pg 9 will not (a subject publishes the events of
    // destroyAllSessions and expireSessions together). The connection runs one query at
    // a time either way, so the order of sending is all this changes.
    const sent = this.#publishing.then(send, send);
    this.#publishing = sent.catch(() => undefined);
    try {
      await sent;
    } catch (error) {
      throw toStorageError(error, `${NAME}.publish`);
    }
  }

  /** Settles after the last publish queued: the next one goes after it. */
  #publishing: Promise<void> = Promise.resolve();

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
    // One wrapper per subscription: the same function subscribed twice is two subscriptions.
    const wrapper: Listener = (event) => deliverSafely(listener, event, NAME);
    this.#listeners.add(wrapper);
    if (options?.onState) this.#states.set(wrapper, { onState: options.onState });
    return async () => {
      this.#listeners.delete(wrapper);
      this.#states.delete(wrapper);
    };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#retry);
      this.#listeners.clear();
      this.#states.clear();
      const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
      this.#client = undefined;
      await client?.end().catch(() => {});
    })();
    return this.#closing;
  }

  #connection(): Promise<Client> {
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<Client> {
    const client = new pg.Client(this.#config);
    client.on('notification', (message) => this.#receive(message));
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('the listening connection ended')));
    try {
      await client.connect();
      // The channel is derived from a validated identifier; quoted to keep its case.
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#closing) {
      await client.end().catch(() => {});
      throw new StorageClosedError(`${NAME}: the bus is closed`);
    }
    this.#client = client;
    this.#failures = 0;
    if (this.#deaf) {
      this.#deaf = false;
      this.#tell('live');
    }
    return client;
  }

  #receive(message: Notification): void {
    if (message.channel !== this.channel || this.#closing) return;
    let event: SessionEvent;
    try {
      event = Object.freeze(decodeSessionEvent(message.payload ?? ''));
    } catch (error) {
      this.#report(error);
      return;
    }
    for (const listener of [...this.#listeners]) listener(event);
  }

  /** The listening connection died: forget it and, while anyone listens, reconnect. */
  #lost(client: Client, error: unknown): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    client.end().catch(() => {});
    if (this.#closing) return;
    if (!this.#deaf) {
      this.#deaf = true;
      this.#tell('lost');
    }
    this.#report(error);
    this.#reconnect();
  }

  #tell(state: 'lost' | 'live'): void {
    for (const [listener, options] of [...this.#states]) {
      if (this.#states.has(listener)) reportStateSafely(options, state, NAME);
    }
  }

  #reconnect(): void {
    if (this.#closing || this.#retry || this.#listeners.size === 0) return;
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
