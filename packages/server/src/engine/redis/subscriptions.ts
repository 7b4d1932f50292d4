import type { Cluster } from 'ioredis';
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import type { Deliver, HistoryPage, ReadQuery, RoomKey } from '../types.js';
import { assertAvailable, RedisOps, type RedisClient } from './connection.js';
import type { KeySpace } from './keys.js';

/**
 * What travels on a room's channel: `{ t: tenantId, r: room, x: exceptConnectionId | null, m: message, p: previous id }`,
 * `p` being the room's id before this message ('' when the message starts a new history).
 */
interface Envelope {
  t: string;
  r: string;
  x: string | null;
  m: RoomMessage;
  p?: string;
}

/** How often a sharded subscriber on a Cluster reads the slot map, when its own `slotsRefreshInterval` is not set. */
export const SLOT_REFRESH_MS = 5000;

/** Largest page read from history to fill one gap. */
const FILL_PAGE = 500;

/** The envelope's head, before the message JSON the append script splices in: `head + message + ',"p":"…"}'`. */
export function envelopeHead(key: RoomKey, exceptConnectionId: string | undefined): string {
  return `{"t":${JSON.stringify(key.tenantId)},"r":${JSON.stringify(key.room)},"x":${JSON.stringify(exceptConnectionId ?? null)},"m":`;
}

function decode(text: string): Envelope | undefined {
  try {
    const v = JSON.parse(text) as Partial<Envelope> | null;
    if (!v || typeof v.t !== 'string' || typeof v.r !== 'string') return undefined;
    if (v.x !== null && typeof v.x !== 'string') return undefined;
    if (!v.m || typeof v.m !== 'object' || typeof v.m.id !== 'string') return undefined;
    if (v.p !== undefined && typeof v.p !== 'string') return undefined;
    return v as Envelope;
  } catch {
    return undefined;
  }
}

export interface RoomSubscriptionsOptions {
  /** Connection used for subscriptions only (a Redis in subscriber mode, or a Cluster). */
  subscriber: RedisClient;
  /** SSUBSCRIBE (sharded pub/sub) instead of SUBSCRIBE. */
  sharded: boolean;
  keys: KeySpace;
  ops: RedisOps;
  /** Reads stored messages after a position, to fill a gap. */
  read: (key: RoomKey, query: ReadQuery) => Promise<HistoryPage>;
  /** Called with published text that could not be decoded. */
  onInvalid: (channel: string, text: string) => void;
}

/**
 * This instance's side of the Redis room stream's delivery: the subscriptions
 * to rooms' channels and the ordered delivery of what arrives on them.
 *
 * The append script publishes each message in the same atomic step that
 * assigns its id: Redis runs one script at a time per room (per slot on a
 * Cluster) and delivers a connection's pub/sub messages in publish order, so
 * every subscribed instance receives a room's messages in id order, whichever
 * instances publish concurrently.
 *
 * Subscriptions are reference-counted per room and serialized per channel;
 * `subscribe` resolves once Redis confirmed the subscription. After the
 * subscriber reconnects, ioredis subscribes again to every channel it had
 * (autoResubscribe, plain and sharded; a Cluster's sharded subscribers
 * resubscribe after each topology refresh). Messages published while the
 * subscriber is disconnected are not received by pub/sub, which has no
 * replay: each message names the id before it (`p`), so an instance that
 * sees a message whose predecessor it did not deliver, or whose subscriber
 * reconnected, reads the missed persistent messages from history and
 * delivers them first, in id order (volatile messages in such a gap are
 * lost, as volatile messages may be).
 */
export class RoomSubscriptions {
  private readonly subscriber: RedisClient;
  private readonly sharded: boolean;
  private readonly keys: KeySpace;
  private readonly ops: RedisOps;
  private readonly read: RoomSubscriptionsOptions['read'];
  private readonly onInvalid: RoomSubscriptionsOptions['onInvalid'];
  private handler: Deliver = () => {};
  /** Channel -> how many `subscribe` calls are not yet matched by `unsubscribe`. */
  private readonly refs = new Map<string, number>();
  /** Channels Redis confirmed (or is confirming) a subscription to. */
  private readonly active = new Set<string>();
  /** Channel -> the last queued subscription change, so changes to one channel never overlap. */
  private readonly queue = new Map<string, Promise<void>>();
  /** Channel -> the room and the id of the last message delivered from it. */
  private readonly last = new Map<string, { key: RoomKey; id?: string }>();
  /** Channel -> messages received while a gap of it is being filled from history. */
  private readonly filling = new Map<string, Envelope[]>();
  private wasReady = false;

  constructor(opts: RoomSubscriptionsOptions) {
    this.subscriber = opts.subscriber;
    this.sharded = opts.sharded;
    this.keys = opts.keys;
    this.ops = opts.ops;
    this.read = opts.read;
    this.onInvalid = opts.onInvalid;
    const listener = (channel: string, text: string) => this.receive(channel, text);
    this.subscriber.on(this.sharded ? 'smessage' : 'message', listener);
    this.subscriber.on('ready', () => {
      // After a reconnect, what was published meanwhile is only in history: fill every room (once resubscribed).
      if (this.wasReady) this.fillAfterResubscribe();
      this.wasReady = true;
    });
    if (this.sharded && this.subscriber.isCluster) this.followSlotMoves(this.subscriber as Cluster);
  }

  /**
   * Sharded subscriptions on a Cluster live on the master owning each room's
   * slot. ioredis moves them whenever it reads a slot map in which the slots
   * have new owners. When a master dies, the ended connection makes it read
   * the map. When a master hands its slots over while staying up (`CLUSTER
   * FAILOVER` to its replica, as managed services do for upgrades, or a slot
   * migrated by resharding), Redis drops the subscriptions and closes nothing:
   * without a periodic read of the map the room would go silent on this
   * instance for good. So the map is read every few seconds (the Cluster's
   * `slotsRefreshInterval`, which the server sets, or a timer here), and once
   * ioredis has subscribed again, what was missed meanwhile is filled from
   * history.
   */
  private followSlotMoves(cluster: Cluster): void {
    cluster.on('subscribersReady', () => {
      if (this.wasReady) this.fillAfterResubscribe();
    });
    if (cluster.options.slotsRefreshInterval) return;
    const watch = setInterval(() => {
      if (cluster.status === 'ready') cluster.refreshSlotsCache();
    }, SLOT_REFRESH_MS);
    watch.unref();
    cluster.once('end', () => clearInterval(watch));
  }

  onMessage(handler: Deliver): void {
    this.handler = handler;
  }

  async subscribe(key: RoomKey): Promise<void> {
    const channel = this.keys.channel(key);
    // Refuse at once while Redis is down, before counting the reference.
    assertAvailable(this.subscriber);
    this.refs.set(channel, (this.refs.get(channel) ?? 0) + 1);
    if (!this.last.has(channel)) this.last.set(channel, { key });
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

  /** Rooms this instance holds a subscription for. */
  size(): number {
    return this.refs.size;
  }

  private release(channel: string): void {
    const n = (this.refs.get(channel) ?? 0) - 1;
    if (n > 0) this.refs.set(channel, n);
    else {
      this.refs.delete(channel);
      this.last.delete(channel);
    }
  }

  /** Brings the Redis subscription of a channel in line with its reference count, after earlier changes. */
  private sync(channel: string): Promise<void> {
    const prev = this.queue.get(channel) ?? Promise.resolve();
    const next = prev
      .catch(() => {})
      .then(async () => {
        const wanted = this.refs.has(channel);
        if (wanted && !this.active.has(channel)) {
          await this.ops.run('stream.subscribe', () => (this.sharded ? this.subscriber.ssubscribe(channel) : this.subscriber.subscribe(channel)));
          this.active.add(channel);
        } else if (!wanted && this.active.has(channel)) {
          // Forget it first: a failed unsubscribe leaves at worst a stray subscription whose messages are dropped.
          this.active.delete(channel);
          await this.ops.run('stream.unsubscribe', () => (this.sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel)));
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

  private receive(channel: string, text: string): void {
    // Only rooms still subscribed here: a stray subscription (failed unsubscribe) delivers nothing.
    if (!this.refs.has(channel)) return;
    const env = decode(text);
    if (!env) {
      this.onInvalid(channel, text);
      return;
    }
    this.accept(channel, env);
  }

  /** Delivers one message in order, or starts filling the gap before it. */
  private accept(channel: string, env: Envelope): void {
    const buffered = this.filling.get(channel);
    if (buffered) {
      buffered.push(env);
      return;
    }
    const state = this.last.get(channel);
    if (!state) return;
    if (state.id !== undefined && env.p && env.p > state.id) {
      this.fill(channel, [env]);
      return;
    }
    this.emit(channel, env.m, env.x ?? undefined);
  }

  private emit(channel: string, msg: RoomMessage, except: string | undefined): void {
    const state = this.last.get(channel);
    if (!state) return;
    if (state.id !== undefined && msg.id <= state.id) return;
    state.id = msg.id;
    this.handler(state.key, msg, except);
  }

  /**
   * ioredis subscribes again on its own once reconnected. The first read runs shortly after; on a loaded
   * machine the subscription may not be back by then, and a message published between that read and the
   * subscription would wait for the room's next message to be noticed: a second read a second later
   * closes that window (it reads nothing when nothing was missed).
   */
  private fillAfterResubscribe(): void {
    for (const ms of [100, 1000]) setTimeout(() => this.fillAll(), ms).unref();
  }

  private fillAll(): void {
    for (const [channel, state] of this.last) {
      if (state.id !== undefined && !this.filling.has(channel)) this.fill(channel, []);
    }
  }

  /**
   * Reads the persistent messages after the last delivered one from history and
   * delivers them, then what arrived meanwhile. A failed read leaves the gap to
   * the clients' own recovery (`since` on their next join).
   *
   * A gap history cannot fill (volatile messages, which are never stored, or
   * messages already expired) is passed over: the messages buffered when the
   * read started are delivered whatever precedes them, since that read saw
   * every stored message published before them. Only a message that arrived
   * during the read and still follows a gap (its subscriber reconnected
   * meanwhile) starts another read; otherwise a single missed volatile message
   * would make an instance read history again and again and hold every later
   * message of the room back.
   */
  private fill(channel: string, buffered: Envelope[]): void {
    const state = this.last.get(channel);
    if (!state || state.id === undefined) return;
    this.filling.set(channel, buffered);
    // Published before the read below starts: the read sees every stored message before them.
    const covered = buffered.length;
    void (async () => {
      let failed = false;
      try {
        let since = state.id as string;
        for (let pages = 0; pages < 20; pages++) {
          const page = await this.read(state.key, { since, limit: FILL_PAGE });
          const upTo = this.filling.get(channel)?.[0]?.m.id;
          for (const m of page.messages) {
            if (upTo !== undefined && m.id >= upTo) break;
            this.emit(channel, m, undefined);
          }
          const lastRead = page.messages[page.messages.length - 1]?.id;
          if (!page.hasMore || lastRead === undefined || (upTo !== undefined && lastRead >= upTo)) break;
          since = lastRead;
        }
      } catch {
        // Redis unreachable: deliver what came live; clients recover the rest through history when they rejoin.
        failed = true;
      } finally {
        const queued = this.filling.get(channel) ?? [];
        this.filling.delete(channel);
        for (let i = 0; i < queued.length; i++) {
          const env = queued[i] as Envelope;
          const now = this.last.get(channel);
          if (!now) break;
          if (!failed && i >= covered && now.id !== undefined && env.p && env.p > now.id) {
            this.fill(channel, queued.slice(i));
            break;
          }
          this.emit(channel, env.m, env.x ?? undefined);
        }
      }
    })();
  }
}
