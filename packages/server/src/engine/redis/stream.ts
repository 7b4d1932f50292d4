import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { LocalInterest } from '../interest.js';
import { formatMessageId, NO_HISTORY_EPOCH, parseMessageId } from '../ids.js';
import { RateRefusedError, throwIfRefused } from '../rate-refused.js';
import type { Deliver, HistoryPage, NewMessage, PublishLimits, PublishOptions, Published, RateLimiter, ReadQuery, Retention, RoomKey, RoomStream } from '../types.js';
import { RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import { KeySpace } from './keys.js';
import { AppendBatcher } from './append-batch.js';
import { bucketArguments } from './rate-limiter.js';
import { defineScript, type ScriptCall } from './scripts.js';
import { envelopeHead, RoomSubscriptions } from './subscriptions.js';

export interface RedisRoomStreamOptions {
  /** Command connection (standalone `Redis` or `Cluster`). */
  client: RedisClient;
  retention: Retention;
  /** Takes a publish's buckets when they cannot be taken in the append script (on a Cluster). */
  limiter: RateLimiter;
  /**
   * Connection for subscriptions (a Redis in subscriber mode, or a Cluster):
   * messages reach every instance through it. Without one, the stream is this
   * instance's only (no pub/sub at all): messages are delivered to its own
   * members once appended, and no subscriber connection is opened.
   */
  subscriber?: RedisClient;
  /**
   * Sharded pub/sub (Redis 7 SPUBLISH/SSUBSCRIBE): a room's messages go only
   * through the node owning the room's slot. Required to scale pub/sub on a
   * Cluster (a Cluster subscriber must then be built with `shardedSubscribers: true`).
   */
  sharded?: boolean;
  keys?: KeySpace;
  observe?: ObserveLatency;
  /** An operation Redis has not answered within this time fails with `REDIS_UNAVAILABLE` (default 5000 ms). */
  commandTimeoutMs?: number;
  /** Called with published text that could not be decoded (defaults to ignoring it). */
  onInvalid?: (channel: string, text: string) => void;
}

/** A room's state is kept this long after its last append even when it stores nothing, like the memory stream. */
const MIN_IDLE_MS = 60_000;

/**
 * The room stream in Redis: per room a meta hash (epoch, last sequence, dropped-up-to, start) and a
 * sorted set of stored messages by sequence, written by a Lua script that also publishes each message
 * on the room's channel (see RoomSubscriptions for the delivery side); the appends of one event-loop
 * turn share one script call (AppendBatcher). On a single Redis the publish's rate-limit buckets are
 * taken in that same script; on a Cluster the tenant's buckets and the room's keys are in different
 * slots, so the buckets are taken first, in their own script.
 */
export class RedisRoomStream implements RoomStream {
  private readonly ops: RedisOps;
  private readonly keys: KeySpace;
  private readonly retention: Retention;
  private readonly limiter: RateLimiter;
  private readonly subscriptions: RoomSubscriptions | undefined;
  private readonly sharded: boolean;
  private readonly readScript: ScriptCall;
  private readonly headScript: ScriptCall;
  /** Appends (and their buckets, on a single Redis), an event-loop turn's in one script call. */
  private readonly appends: AppendBatcher;
  private readonly takesLimits: boolean;
  private readonly idleMs: number;
  /** Delivery to this instance's members when there is no pub/sub, of the rooms in `interest`. */
  private localDeliver: Deliver = () => {};
  private readonly interest = new LocalInterest();

  constructor(opts: RedisRoomStreamOptions) {
    const client = opts.client;
    this.ops = new RedisOps(client, opts.observe, opts.commandTimeoutMs);
    this.keys = opts.keys ?? new KeySpace();
    this.retention = opts.retention;
    this.limiter = opts.limiter;
    this.sharded = opts.sharded ?? false;
    this.idleMs = Math.max(Math.round(opts.retention.ttlSeconds * 1000), MIN_IDLE_MS);
    this.readScript = defineScript(client, 'stream-read.lua', 2);
    this.headScript = defineScript(client, 'stream-head.lua', 1);
    this.takesLimits = !client.isCluster;
    const r = opts.retention;
    this.appends = new AppendBatcher({
      client,
      keys: this.keys,
      ttlMs: Math.max(0, Math.round(r.ttlSeconds * 1000)),
      maxMessages: Math.max(0, r.maxMessages),
      idleMs: this.idleMs,
      dedupeMs: Math.max(1, Math.round(r.dedupeWindowSeconds * 1000)),
      publish: opts.subscriber ? (this.sharded ? 'SPUBLISH' : 'PUBLISH') : '',
    });
    if (opts.subscriber) {
      this.subscriptions = new RoomSubscriptions({
        subscriber: opts.subscriber,
        sharded: this.sharded,
        keys: this.keys,
        ops: new RedisOps(opts.subscriber, opts.observe, opts.commandTimeoutMs),
        read: (key, query) => this.read(key, query),
        onInvalid: opts.onInvalid ?? (() => {}),
      });
    }
  }

  async publish(key: RoomKey, msg: NewMessage, opts: PublishOptions): Promise<Published> {
    let limits: PublishLimits | undefined = opts.limits;
    if (limits && !limits.buckets.some((b) => b.rate > 0)) limits = undefined;
    if (limits && !this.takesLimits) {
      throwIfRefused(await this.limiter.consumeAll(limits.group, limits.buckets));
      limits = undefined;
    }
    const published = await this.ops.run('stream.publish', () => this.append(key, msg, opts, limits));
    if (!this.subscriptions && !published.duplicate && this.interest.has(key)) this.localDeliver(key, published.message, opts.exceptConnectionId);
    return published;
  }

  private async append(key: RoomKey, msg: NewMessage, opts: PublishOptions, limits: PublishLimits | undefined): Promise<Published> {
    const message: Omit<RoomMessage, 'id'> = { room: key.room, from: msg.from, payload: msg.payload, timestamp: msg.timestamp };
    if (opts.persistent) message.persistent = true;
    if (msg.clientMessageId !== undefined) message.clientMessageId = msg.clientMessageId;
    const dedupe = msg.clientMessageId !== undefined && this.retention.dedupeWindowSeconds > 0;
    const buckets = limits ? bucketArguments(this.keys, limits.group, limits.buckets) : undefined;
    const reply = await this.appends.append({
      key,
      json: JSON.stringify(message).slice(1),
      persistent: opts.persistent,
      dedupeKey: dedupe ? this.keys.dedupe(key, msg.from, msg.clientMessageId as string) : undefined,
      head: this.subscriptions ? envelopeHead(key, opts.exceptConnectionId) : '',
      bucketKeys: buckets?.keys ?? [],
      bucketArgs: buckets?.args ?? [],
    });
    if (reply[0] === 2) throw new RateRefusedError({ allowed: false, retryAfterMs: reply[1], refusedBy: buckets?.index[reply[2] - 1] as number });
    if (reply[0] === 1) return { message: JSON.parse(reply[1]) as RoomMessage, duplicate: true };
    return { message: { id: reply[1], ...message }, duplicate: false };
  }

  read(key: RoomKey, query: ReadQuery): Promise<HistoryPage> {
    return this.ops.run('stream.read', async () => {
      const limit = Math.max(1, Math.floor(query.limit));
      let mode = 'none';
      let epoch = '';
      let seq = '0';
      if (query.since !== undefined) {
        const since = parseMessageId(query.since);
        mode = !since ? 'bad' : since.epoch === NO_HISTORY_EPOCH ? 'mark' : 'id';
        if (since) {
          epoch = since.epoch;
          seq = String(since.seq);
        }
      }
      const before = query.before === undefined ? undefined : parseMessageId(query.before);
      const reply = (await this.readScript(
        this.keys.historyMeta(key),
        this.keys.historyLog(key),
        mode,
        epoch,
        seq,
        limit,
        Math.max(0, this.retention.maxMessages),
        before ? String(before.seq) : '',
        query.direction === 'backward' ? 'b' : 'f',
        this.idleMs,
      )) as [number, number, ...string[]];
      const [recovered, hasMore, ...rows] = reply;
      return {
        messages: rows.map((m) => JSON.parse(m.slice(m.indexOf('|') + 1)) as RoomMessage),
        hasMore: hasMore === 1,
        recovered: recovered === 1,
      };
    });
  }

  head(key: RoomKey): Promise<string> {
    return this.ops.run('stream.head', async () => {
      const [epoch, seq] = (await this.headScript(this.keys.historyMeta(key))) as [string, string];
      return formatMessageId(Number(seq), epoch === '' ? NO_HISTORY_EPOCH : epoch);
    });
  }

  async subscribe(key: RoomKey): Promise<void> {
    if (this.subscriptions) return this.subscriptions.subscribe(key);
    this.interest.add(key);
  }

  async unsubscribe(key: RoomKey): Promise<void> {
    if (this.subscriptions) return this.subscriptions.unsubscribe(key);
    this.interest.remove(key);
  }

  onMessage(deliver: Deliver): void {
    if (this.subscriptions) this.subscriptions.onMessage(deliver);
    else this.localDeliver = deliver;
  }

  /** Rooms this instance holds a subscription for. */
  subscribedRooms(): number {
    return this.subscriptions?.size() ?? this.interest.size;
  }
}
