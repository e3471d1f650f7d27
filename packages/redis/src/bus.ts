import {
  BusSubscriptions,
  decodeSessionEvent,
  encodeSessionEvent,
  heartbeatIntervalOption,
  heartbeatJudge,
  InvalidArgumentError,
  StorageClosedError,
  toStorageError,
  type SessionEvent,
  type SessionEventBus,
  type SessionEventSubscribeOptions,
  assertSubscribeOptions,
  optionNames,
  withKnownOptions,
} from '@mtstore/core';
import { Cluster, type Redis } from 'ioredis';
import { destroySocket, failInFlightOnLoss, RedisConnection, type RedisConnectionOptions } from './connection.js';
import { eventChannel } from './schema.js';
import { CLUSTER_PUBLISH } from './scripts.js';

export interface RedisSessionEventBusOptions extends RedisConnectionOptions {
  /**
   * How often, in ms, the bus checks that its subscriber connection answers: a PING
   * (Redis allows it on a subscribed connection). A connection that answered nothing
   * from one check to the next is taken as dead: closed and opened again, as after any
   * drop (subscribers hear `lost`, then `live` once subscribed again). So a connection
   * that died silently (no FIN, no RST: a NAT that dropped the flow, a host that
   * vanished) is noticed within twice this. Default 15,000; 100 to 2^31 - 1. A first
   * subscribe() is bounded by the connection's `commandTimeout` too (subscribeDeadline).
   */
  heartbeatInterval?: number | undefined;
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<RedisSessionEventBusOptions>()(['url', 'options', 'cluster', 'client', 'prefix', 'create', 'heartbeatInterval']);

/** Reconnect attempts to a Cluster subscriber's node before the bus moves to another master (about 2 s). Not in the package index: bus-move.test.ts counts them. */
export const NODE_RETRIES = 5;


/**
 * What the subscriber connection changes from the connection it copies. The bus sends
 * SUBSCRIBE again itself after every reconnect (`#markLive`), and handles that promise:
 * ioredis' own resubscribe (`autoResubscribe`) does not, so a resubscribe cut by the
 * next drop rejected with no handler and ended the process. No `commandTimeout`: a
 * SUBSCRIBE fails when its connection is lost (no resend: failInFlightOnLoss rejects it
 * at once), not on a timer, which would leave a slow but working connection unsubscribed.
 */
const SUBSCRIBER_OPTIONS = {
  autoResubscribe: false,
  autoResendUnfulfilledCommands: false,
  commandTimeout: undefined,
} as const;

/**
 * The bound on a first subscribe(): its connect and SUBSCRIBE get the connection's
 * `commandTimeout` (mtstore's 5 s by default), as any command of the bus's storage
 * does, or it rejects. Without it a silent server (a peer that accepts the connection
 * and answers nothing) left subscribe() to the heartbeat, two `heartbeatInterval`s:
 * 30 s with the defaults, while a publish on the same link failed within 7.5 s. Also a
 * Cluster subscriber's move to another master (#resubscribe tries again a second later).
 * Not a resubscribe after a reconnect (#markLive): it keeps no timer (SUBSCRIBER_OPTIONS),
 * as it has nobody to reject to and the heartbeat bounds it. undefined when the
 * connection has no commandTimeout (0 or none: an application's client may have none).
 */
function subscribeDeadline(subscriber: Redis, ms: number | undefined): { expired: Promise<never>; fired: () => boolean; clear: () => void } | undefined {
  if (typeof ms !== 'number' || !(ms > 0)) return undefined;
  let timer: NodeJS.Timeout | undefined;
  let fired = false;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      fired = true;
      const status = subscriber.status;
      const state = status === 'ready' ? 'SUBSCRIBE unanswered' : status === 'connect' ? 'connected, handshake unanswered' : `connection ${status}`;
      reject(new Error(`Redis did not confirm the bus's SUBSCRIBE within commandTimeout (${ms} ms; ${state})`));
    }, ms);
  });
  // Lost when the subscribe settles first: nothing must report it as unhandled.
  expired.catch(() => undefined);
  return { expired, fired: () => fired, clear: () => clearTimeout(timer) };
}

/** A node connection's address as the Cluster client has it (natMap applied); a duplicate of it has the same. */
function nodeAddress(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

/**
 * The master a Cluster subscriber goes to, at random (spreading the buses), other than
 * `left` (the node it moved away from) while another is listed. The Cluster client
 * still lists a master that died until a slots refresh no longer names it, and the other
 * nodes name it until they mark it failed (cluster-node-timeout, 15 s by default): a
 * pick of it failed and was retried a second later. Only a listing of that node alone
 * gives it.
 */
function pickMaster(masters: Redis[], left: string | undefined): Redis | undefined {
  const others = left === undefined ? masters : masters.filter((node) => nodeAddress(node) !== left);
  const pool = others.length > 0 ? others : masters;
  return pool[Math.floor(Math.random() * pool.length)];
}

/**
 * Session events over Redis pub/sub, on the channel `<prefix>events` (buses with
 * different prefixes do not hear each other). Events are published on the main
 * connection and received on a duplicate of it: a subscribed connection can run no
 * other command. That subscriber is always ours (also when the main client is the
 * application's) and is closed with the bus. When it drops, ioredis reconnects and
 * the bus subscribes again (subscribers hear `lost` on the close and `live` once
 * SUBSCRIBE is confirmed again); events published meanwhile are lost (pub/sub does not
 * replay — remote delivery is at-most-once). On a Cluster client PUBLISH reaches
 * every node, so the subscriber is a plain connection to one master (it hears
 * everything), moved to another master when its node stays away; publishing always
 * through the node that owns the channel name's slot keeps events in order. A
 * subscriber connection that stops answering is closed and opened again like one that
 * dropped (#watch): a subscriber only listens, so without a check of its own a
 * connection whose peer vanished silently would stay open and deaf until TCP
 * keep-alive gives up (over two hours with Linux's defaults).
 */
export class RedisSessionEventBus implements SessionEventBus {
  readonly channel: string;
  readonly #connection: RedisConnection;
  /** Lost (isLost) from when the subscribed connection closes until SUBSCRIBE is confirmed again. */
  readonly #subscriptions = new BusSubscriptions('RedisSessionEventBus');
  /** The address of the Cluster node the subscriber last moved away from, until it is subscribed elsewhere (see pickMaster). */
  #left: string | undefined;
  #subscriber: Redis | undefined;
  #subscribed: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  readonly #heartbeat: number;

  constructor(options: RedisSessionEventBusOptions = {}) {
    withKnownOptions(options, OPTIONS, 'RedisSessionEventBus');
    // First: with `options: { lazyConnect: false }` the connection below starts connecting at once.
    this.#heartbeat = heartbeatIntervalOption(typeof options === 'object' && options !== null ? (options as { heartbeatInterval?: unknown }).heartbeatInterval : undefined, 'RedisSessionEventBus');
    this.#connection = new RedisConnection(options, 'RedisSessionEventBus', { keys: false, noun: 'bus' });
    this.channel = eventChannel(this.#connection.prefix);
  }

  async publish(event: SessionEvent): Promise<void> {
    if (this.#closing) throw new StorageClosedError('RedisSessionEventBus.publish: the bus is closed');
    let message: string;
    try {
      message = encodeSessionEvent(event);
    } catch (error) {
      throw new InvalidArgumentError(`RedisSessionEventBus.publish: ${(error as Error).message}`);
    }
    try {
      // Counted: close() lets a publish made before it finish (RedisConnection.close).
      // Refused unsent on an application's client closed for good; failures said as run()'s.
      await this.#connection.track(
        (client) => (client instanceof Cluster ? CLUSTER_PUBLISH.run(client, 1, [this.channel, this.channel, message]) : client.publish(this.channel, message)),
        'RedisSessionEventBus.publish',
      );
    } catch (error) {
      throw toStorageError(error, 'RedisSessionEventBus.publish');
    }
  }

  /** Resolves once Redis acknowledged the SUBSCRIBE: an event published after that is delivered. */
  async subscribe(listener: (event: SessionEvent) => void, options?: SessionEventSubscribeOptions): Promise<() => Promise<void>> {
    if (this.#closing) throw new StorageClosedError('RedisSessionEventBus.subscribe: the bus is closed');
    if (typeof listener !== 'function') throw new InvalidArgumentError('RedisSessionEventBus.subscribe: listener must be a function');
    assertSubscribeOptions(options, 'RedisSessionEventBus');
    try {
      await this.#subscribe();
    } catch (error) {
      if (this.#closing) throw new StorageClosedError('RedisSessionEventBus.subscribe: the bus was closed while subscribing');
      throw toStorageError(error, 'RedisSessionEventBus.subscribe');
    }
    if (this.#closing) throw new StorageClosedError('RedisSessionEventBus.subscribe: the bus was closed while subscribing');
    // The bus's one SUBSCRIBE may have been made earlier on a connection down now: then
    // this subscription hears `lost` at once and `live` with the others (BusSubscriptions.add).
    const remove = this.#subscriptions.add(listener, options);
    return async () => {
      remove();
    };
  }

  /** One SUBSCRIBE per bus, on its own connection, kept until close; a failed attempt is retried next time. */
  #subscribe(): Promise<void> {
    this.#subscribed ??= (async () => {
      const subscriber = await this.#openSubscriber();
      subscriber.on('message', (channel: string, message: string) => this.#deliver(channel, message));
      const deadline = subscribeDeadline(subscriber, this.#commandTimeout);
      try {
        const subscribing = (async () => {
          if (subscriber.status === 'wait') await subscriber.connect();
          await subscriber.subscribe(this.channel);
        })();
        // Settles after the deadline too (the connection dropped below): nobody waits for it then.
        subscribing.catch(() => undefined);
        await (deadline ? Promise.race([subscribing, deadline.expired]) : subscribing);
        this.#left = undefined;
      } catch (error) {
        // Drop this connection (it would keep reconnecting); the next subscribe opens a new one.
        if (this.#subscriber === subscriber) this.#subscriber = undefined;
        subscriber.disconnect();
        // At once: over a silent link disconnect() alone waits for the peer (see close()).
        if (deadline?.fired()) destroySocket(subscriber);
        this.#subscribed = undefined;
        throw error;
      } finally {
        deadline?.clear();
      }
    })();
    return this.#subscribed;
  }

  /**
   * The `commandTimeout` of the connection the subscriber copies (the Cluster's node
   * options for a Cluster client), read when the subscriber is opened: what bounds a
   * first subscribe() (subscribeDeadline). 0 or undefined: none (then the heartbeat does).
   */
  #commandTimeout: number | undefined;

  /**
   * The subscriber: a duplicate of the single-server connection, or on a Cluster a
   * plain connection to one of its masters (PUBLISH reaches every node). Not ioredis'
   * own Cluster subscriber: that one moves to another node by itself when its
   * connection drops and tells nobody, so the bus could not say `lost` and `live`.
   */
  async #openSubscriber(): Promise<Redis> {
    const client = this.#connection.client;
    let subscriber: Redis;
    if (client instanceof Cluster) {
      // The node list is the client's startup nodes until its first slots refresh (connectNodes).
      await this.#connection.connectNodes();
      const node = pickMaster(client.nodes('master'), this.#left);
      if (node === undefined) throw new Error('the cluster has no master node to subscribe on');
      subscriber = node.duplicate({
        ...SUBSCRIBER_OPTIONS,
        lazyConnect: true,
        connectionName: `${node.options.connectionName || 'mtstore'}:events`,
        // A node that stays away (failed over, removed) ends the connection: the bus
        // then subscribes on another master (see 'end' below).
        retryStrategy: (times: number) => (times > NODE_RETRIES ? null : Math.min(times * 100, 2_000)),
      });
      subscriber.on('end', () => this.#moveSubscriber(subscriber));
    } else {
      const name = client.options.connectionName;
      // Lazy: #subscribe connects it and waits. A copy of an application's client without an
      // offline queue started connecting at once, and its SUBSCRIBE, sent meanwhile, failed.
      subscriber = client.duplicate({ ...SUBSCRIBER_OPTIONS, lazyConnect: true, connectionName: `${name || 'mtstore'}:events` });
    }
    // The copy has none of its own (SUBSCRIBER_OPTIONS): the bound of a first subscribe().
    this.#commandTimeout = (client instanceof Cluster ? client.options.redisOptions?.commandTimeout : client.options.commandTimeout) ?? undefined;
    subscriber.on('error', () => {});
    // A SUBSCRIBE in flight when the connection drops rejects at once (it is not resent).
    failInFlightOnLoss(subscriber);
    // Lost when the subscribed connection closes; live again once the bus's SUBSCRIBE is
    // confirmed on the new one (#markLive, on every 'ready' after a close).
    subscriber.on('close', () => this.#markDeaf(subscriber));
    subscriber.on('ready', () => this.#markLive(subscriber));
    this.#subscriber = subscriber;
    this.#watch(subscriber);
    return subscriber;
  }

  /**
   * The heartbeat: every `heartbeatInterval` ms, a PING on the subscriber while it is
   * ready. A connection that made no progress from one check to the next (no PONG, no
   * 'ready', no close) while it is up or coming up is taken as dead and its socket
   * destroyed; ioredis then reconnects as after any drop, and the bus resubscribes
   * (#markDeaf / #markLive: the one resubscribe path). It also bounds a handshake that
   * never completes: ioredis' connectTimeout ends once TCP connects, and the subscriber
   * has no commandTimeout, so a reconnect to a peer that accepts but never answers
   * would otherwise wait for ever, and so would a first subscribe().
   */
  #watch(subscriber: Redis): void {
    let progress = 0;
    /** Judges `progress` on each tick while the connection is up or coming up. */
    const judge = heartbeatJudge(this.#heartbeat);
    const advance = (): void => {
      progress++;
    };
    subscriber.on('ready', advance);
    subscriber.on('close', advance);
    const timer = setInterval(() => {
      if (this.#closing || subscriber !== this.#subscriber) {
        clearInterval(timer);
        return;
      }
      const status = subscriber.status;
      if (status !== 'ready' && status !== 'connect' && status !== 'connecting') {
        // Between connections (reconnecting, ended): ioredis' own timers act.
        judge.reset();
        return;
      }
      // A tick late because the loop was blocked judges leniently (core heartbeatJudge).
      if (judge.silent(progress)) {
        judge.reset();
        // ioredis takes it as a lost connection and reconnects. Not disconnect(true): see destroySocket.
        if (!destroySocket(subscriber)) subscriber.disconnect(true);
        return;
      }
      // Rejected when the connection is lost (failInFlightOnLoss): 'close' acts then.
      if (status === 'ready') subscriber.ping().then(advance, () => undefined);
    }, this.#heartbeat);
    // The check alone does not keep the process alive.
    timer.unref();
    subscriber.once('end', () => clearInterval(timer));
  }

  /** A Cluster subscriber whose node stayed away: subscribe on another master (its 'ready' tells `live`), retrying until closed. */
  #moveSubscriber(subscriber: Redis): void {
    if (this.#closing || subscriber !== this.#subscriber) return;
    this.#markDeaf(subscriber);
    this.#left = nodeAddress(subscriber);
    this.#subscriber = undefined;
    this.#subscribed = undefined;
    this.#resubscribe(0);
  }

  #resubscribe(delay: number): void {
    setTimeout(() => {
      if (!this.#closing) this.#subscribe().catch(() => this.#resubscribe(1_000));
    }, delay).unref();
  }

  #markDeaf(subscriber: Redis): void {
    if (this.#closing || subscriber !== this.#subscriber) return;
    this.#subscriptions.lost();
  }

  /**
   * The only resubscribe (autoResubscribe is off): on each 'ready' after the subscribed
   * connection closed, SUBSCRIBE again and tell `live` once Redis confirms it.
   */
  #markLive(subscriber: Redis): void {
    if (this.#closing || subscriber !== this.#subscriber || !this.#subscriptions.isLost) return;
    subscriber.subscribe(this.channel).then(
      () => {
        if (this.#closing || subscriber !== this.#subscriber) return;
        this.#subscriptions.live();
      },
      // Failed: the connection is going again; its next 'ready' tries again.
      () => undefined,
    );
  }

  #deliver(channel: string, message: string): void {
    if (channel !== this.channel) return;
    let event: SessionEvent;
    try {
      event = decodeSessionEvent(message);
    } catch (error) {
      console.error(`RedisSessionEventBus: ignored a message on ${this.channel} that is not a session event`, error);
      return;
    }
    // One object for every listener: decodeSessionEvent's event is frozen, so no listener
    // can change what the next one hears (contract §7).
    this.#subscriptions.deliver(event);
  }

  async close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#subscriptions.clear();
      const subscriber = this.#subscriber;
      this.#subscriber = undefined;
      if (subscriber) {
        subscriber.disconnect();
        // At once: disconnect() alone waits up to 2 s for a peer that may have gone
        // silent, and a subscribe() under way settles only then.
        destroySocket(subscriber);
      }
      await this.#connection.close();
    })();
    return this.#closing;
  }
}
