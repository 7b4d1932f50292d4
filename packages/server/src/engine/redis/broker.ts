import type { RoomMessage } from '@intelgraph/websocket-protocol';
import type { AppendOptions, AppendResult, Broker, NewMessage, RoomKey } from '../types.js';
import { assertAvailable, RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import type { RedisHistoryStore } from './history.js';
import { KeySpace } from './keys.js';

type Handler = (key: RoomKey, msg: RoomMessage, exceptConnectionId: string | undefined) => void;

export interface RedisBrokerOptions {
  /** Runs the append-and-publish script (the history store's client). */
  history: RedisHistoryStore;
  /** Connection used for subscriptions only (a Redis in subscriber mode, or a Cluster). */
  subscriber: RedisClient;
  /**
   * Sharded pub/sub (Redis 7 SPUBLISH/SSUBSCRIBE): a room's messages go only
   * through the node owning the room's slot. Required to scale pub/sub on a
   * Cluster (a Cluster subscriber must then be built with `shardedSubscribers: true`).
   */
  sharded?: boolean;
  keys?: KeySpace;
  observe?: ObserveLatency;
  /** Called with published text that could not be decoded (defaults to ignoring it). */
  onInvalid?: (channel: string, text: string) => void;
}

/** What travels on a room's channel: `{ t: tenantId, r: room, x: exceptConnectionId | null, m: message }`. */
interface Envelope {
  t: string;
  r: string;
  x: string | null;
  m: RoomMessage;
}

function decode(text: string): Envelope | undefined {
  try {
    const v = JSON.parse(text) as Partial<Envelope> | null;
    if (!v || typeof v.t !== 'string' || typeof v.r !== 'string') return undefined;
    if (v.x !== null && typeof v.x !== 'string') return undefined;
    if (!v.m || typeof v.m !== 'object' || typeof v.m.id !== 'string') return undefined;
    return v as Envelope;
  } catch {
    return undefined;
  }
}

/**
 * Delivery through Redis pub/sub. `publish` runs the history append script,
 * which publishes the message in the same atomic step that assigns its id:
 * Redis runs one script at a time per room (per slot on a Cluster) and
 * delivers a connection's pub/sub messages in publish order, so every
 * subscribed instance receives a room's messages in id order, whichever
 * instances publish concurrently.
 *
 * Subscriptions are reference-counted per room and serialized per channel;
 * `subscribe` resolves once Redis confirmed the subscription. After the
 * subscriber reconnects, ioredis subscribes again to every channel it had
 * (autoResubscribe, plain and sharded; a Cluster's sharded subscribers
 * resubscribe after each topology refresh). Messages published while the
 * subscriber is disconnected are not received: pub/sub has no replay, which
 * is what history recovery (`since`) is for.
 */
export class RedisBroker implements Broker {
  private readonly ops: RedisOps;
  private readonly history: RedisHistoryStore;
  private readonly subscriber: RedisClient;
  private readonly sharded: boolean;
  private readonly keys: KeySpace;
  private readonly onInvalid: (channel: string, text: string) => void;
  private handler: Handler = () => {};
  /** Channel -> how many `subscribe` calls are not yet matched by `unsubscribe`. */
  private readonly refs = new Map<string, number>();
  /** Channels Redis confirmed (or is confirming) a subscription to. */
  private readonly active = new Set<string>();
  /** Channel -> the last queued subscription change, so changes to one channel never overlap. */
  private readonly queue = new Map<string, Promise<void>>();

  constructor(opts: RedisBrokerOptions) {
    this.history = opts.history;
    this.subscriber = opts.subscriber;
    this.sharded = opts.sharded ?? false;
    this.keys = opts.keys ?? new KeySpace();
    this.ops = new RedisOps(opts.subscriber, opts.observe);
    this.onInvalid = opts.onInvalid ?? (() => {});
    const listener = (channel: string, text: string) => this.deliver(channel, text);
    this.subscriber.on(this.sharded ? 'smessage' : 'message', listener);
  }

  publish(key: RoomKey, msg: NewMessage, opts: AppendOptions & { exceptConnectionId?: string }): Promise<AppendResult> {
    const head = `{"t":${JSON.stringify(key.tenantId)},"r":${JSON.stringify(key.room)},"x":${JSON.stringify(opts.exceptConnectionId ?? null)},"m":`;
    return this.history.appendPublishing(key, msg, opts, {
      command: this.sharded ? 'SPUBLISH' : 'PUBLISH',
      channel: this.keys.channel(key),
      head,
    });
  }

  onMessage(handler: Handler): void {
    this.handler = handler;
  }

  async subscribe(key: RoomKey): Promise<void> {
    const channel = this.keys.channel(key);
    // Refuse at once while Redis is down, before counting the reference.
    assertAvailable(this.subscriber);
    this.refs.set(channel, (this.refs.get(channel) ?? 0) + 1);
    try {
      await this.sync(channel);
    } catch (err) {
      this.release(channel);
      throw err;
    }
  }

  async unsubscribe(key: RoomKey): Promise<void> {
    const channel = this.keys.channel(key);
    if (!this.refs.has(channel)) return;
    this.release(channel);
    await this.sync(channel);
  }

  /** Rooms this broker holds a subscription for (for tests and stats). */
  subscribedRooms(): number {
    return this.refs.size;
  }

  private release(channel: string): void {
    const n = (this.refs.get(channel) ?? 0) - 1;
    if (n > 0) this.refs.set(channel, n);
    else this.refs.delete(channel);
  }

  /** Brings the Redis subscription of a channel in line with its reference count, after earlier changes. */
  private sync(channel: string): Promise<void> {
    const prev = this.queue.get(channel) ?? Promise.resolve();
    const next = prev
      .catch(() => {})
      .then(async () => {
        const wanted = this.refs.has(channel);
        if (wanted && !this.active.has(channel)) {
          await this.ops.run('broker.subscribe', () =>
            this.sharded ? this.subscriber.ssubscribe(channel) : this.subscriber.subscribe(channel),
          );
          this.active.add(channel);
        } else if (!wanted && this.active.has(channel)) {
          // Forget it first: a failed unsubscribe leaves at worst a stray subscription whose messages are dropped.
          this.active.delete(channel);
          await this.ops.run('broker.unsubscribe', () =>
            this.sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel),
          );
        }
      });
    this.queue.set(channel, next);
    void next
      .catch(() => {})
      .then(() => {
        if (this.queue.get(channel) === next) this.queue.delete(channel);
      });
    return next;
  }

  private deliver(channel: string, text: string): void {
    // Only rooms still subscribed here: a stray subscription (failed unsubscribe) delivers nothing.
    if (!this.refs.has(channel)) return;
    const env = decode(text);
    if (!env) {
      this.onInvalid(channel, text);
      return;
    }
    this.handler({ tenantId: env.t, room: env.r }, env.m, env.x ?? undefined);
  }
}
