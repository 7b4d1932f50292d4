import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { formatMessageId, newEpoch, parseMessageId } from '../ids.js';
import type { AppendOptions, AppendResult, HistoryPage, HistoryStore, NewMessage, Retention, RoomKey } from '../types.js';
import { defineScript, RedisOps, type ObserveLatency, type RedisClient, type ScriptCall } from './connection.js';
import { RateRefusedError } from '../limits.js';
import { APPEND_LIMITED_LUA, APPEND_LUA, HEAD_LUA, READ_LUA } from './history-scripts.js';
import { KeySpace } from './keys.js';
import { bucketArguments, MAX_BUCKETS } from './rate-limiter.js';

/** Where an append also publishes the new message (the broker's part of the script). */
export interface PublishTarget {
  command: 'PUBLISH' | 'SPUBLISH';
  channel: string;
  /** Published text is `head + message JSON + '}'`. */
  head: string;
}

export interface RedisHistoryOptions {
  client: RedisClient;
  retention: Retention;
  keys?: KeySpace;
  observe?: ObserveLatency;
  /** An operation Redis has not answered within this time fails with `REDIS_UNAVAILABLE` (default 5000 ms). */
  commandTimeoutMs?: number;
}

/** A room's state is kept this long after its last append even when it stores nothing, like the memory store. */
const MIN_IDLE_MS = 60_000;

/**
 * History in Redis: per room a meta hash (epoch, last sequence, dropped-up-to)
 * and a sorted set of messages by sequence, both written by one Lua script.
 */
export class RedisHistoryStore implements HistoryStore {
  private readonly ops: RedisOps;
  private readonly keys: KeySpace;
  private readonly retention: Retention;
  private readonly appendScript: ScriptCall;
  private readonly readScript: ScriptCall;
  private readonly headScript: ScriptCall;
  /** The append taking 1 to MAX_BUCKETS rate-limit buckets first (index = number of buckets), defined up front like every script. */
  private readonly limitedScripts: ScriptCall[] = [];
  private readonly client: RedisClient;
  /**
   * On a single Redis, an append takes its rate-limit buckets in the same
   * script. On a Cluster the tenant's buckets and the room's keys are in
   * different slots: the broker takes the buckets first, in their own script.
   */
  readonly takesLimits: boolean;

  constructor(opts: RedisHistoryOptions) {
    this.client = opts.client;
    this.ops = new RedisOps(opts.client, opts.observe, opts.commandTimeoutMs);
    this.keys = opts.keys ?? new KeySpace();
    this.retention = opts.retention;
    this.appendScript = defineScript(opts.client, 'igHistoryAppend', 3, APPEND_LUA);
    this.readScript = defineScript(opts.client, 'igHistoryRead', 2, READ_LUA);
    this.headScript = defineScript(opts.client, 'igHistoryHead', 1, HEAD_LUA);
    this.takesLimits = !opts.client.isCluster;
    if (this.takesLimits) {
      for (let n = 1; n <= MAX_BUCKETS; n++) this.limitedScripts[n] = defineScript(opts.client, `igHistoryAppendLimited${n}`, 3 + n, APPEND_LIMITED_LUA);
    }
  }

  append(key: RoomKey, msg: NewMessage, opts: AppendOptions): Promise<AppendResult> {
    return this.ops.run('history.append', () => this.appendAndPublish(key, msg, opts, undefined));
  }

  /** Appends and publishes the message in the same script (not when it is a duplicate): the broker's publish. */
  appendPublishing(key: RoomKey, msg: NewMessage, opts: AppendOptions, publish: PublishTarget): Promise<AppendResult> {
    return this.ops.run('broker.publish', () => this.appendAndPublish(key, msg, opts, publish));
  }

  private async appendAndPublish(key: RoomKey, msg: NewMessage, opts: AppendOptions, publish: PublishTarget | undefined): Promise<AppendResult> {
    const message: Omit<RoomMessage, 'id'> = { room: key.room, from: msg.from, payload: msg.payload, timestamp: msg.timestamp };
    if (opts.persistent) message.persistent = true;
    if (msg.clientMessageId !== undefined) message.clientMessageId = msg.clientMessageId;
    const r = this.retention;
    const ttlMs = Math.max(0, Math.round(r.ttlSeconds * 1000));
    const log = this.keys.historyLog(key);
    const dedupe = msg.clientMessageId !== undefined && r.dedupeWindowSeconds > 0;
    let script = this.appendScript;
    let bucketKeys: string[] = [];
    let bucketArgs: number[] = [];
    let bucketIndex: number[] = [];
    if (opts.limits) {
      if (!this.takesLimits) throw new Error('this history store does not take rate limits: take them before appending');
      ({ keys: bucketKeys, args: bucketArgs, index: bucketIndex } = bucketArguments(this.keys, opts.limits.group, opts.limits.buckets));
      if (bucketKeys.length > 0) script = this.limitedScripts[bucketKeys.length] as ScriptCall;
    }
    const reply = await script(
      this.keys.historyMeta(key),
      log,
      dedupe ? this.keys.dedupe(key, msg.from, msg.clientMessageId as string) : log,
      ...bucketKeys,
      newEpoch(),
      JSON.stringify(message),
      opts.persistent ? 1 : 0,
      ttlMs,
      Math.max(0, r.maxMessages),
      Math.max(ttlMs, MIN_IDLE_MS),
      dedupe ? 1 : 0,
      Math.max(1, Math.round(r.dedupeWindowSeconds * 1000)),
      publish?.command ?? '',
      publish?.channel ?? '',
      publish?.head ?? '',
      ...bucketArgs,
    );
    if ((reply as number[])[0] === 2) {
      const [, retryAfterMs, by] = reply as [number, number, number];
      throw new RateRefusedError({ allowed: false, retryAfterMs, refusedBy: bucketIndex[by - 1] as number });
    }
    const [duplicate, value] = reply as [number, string];
    if (duplicate === 1) return { message: JSON.parse(value) as RoomMessage, duplicate: true };
    return { message: { id: value, ...message }, duplicate: false };
  }

  read(key: RoomKey, opts: { since?: string; limit: number }): Promise<HistoryPage> {
    return this.ops.run('history.read', async () => {
      const limit = Math.max(1, Math.floor(opts.limit));
      let mode = 'none';
      let epoch = '';
      let seq = '0';
      if (opts.since !== undefined) {
        const since = parseMessageId(opts.since);
        mode = since ? 'id' : 'bad';
        if (since) {
          epoch = since.epoch;
          seq = String(since.seq);
        }
      }
      const reply = (await this.readScript(
        this.keys.historyMeta(key),
        this.keys.historyLog(key),
        mode,
        epoch,
        seq,
        limit,
        Math.max(0, this.retention.maxMessages),
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
    return this.ops.run('history.head', async () => {
      const ttlMs = Math.max(0, Math.round(this.retention.ttlSeconds * 1000));
      const [epoch, seq] = (await this.headScript(this.keys.historyMeta(key), newEpoch(), Math.max(ttlMs, MIN_IDLE_MS))) as [string, string];
      return formatMessageId(Number(seq), epoch);
    });
  }
}
