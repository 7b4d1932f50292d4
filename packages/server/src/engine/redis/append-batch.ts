import { newEpoch } from '../ids.js';
import type { RoomKey } from '../types.js';
import type { RedisClient } from './connection.js';
import { KeySpace } from './keys.js';
import { MAX_BUCKETS } from './rate-limiter.js';
import { defineScript, type ScriptArg, type ScriptCall } from './scripts.js';
import { TurnBatch } from './turn-batch.js';

/** One message waiting for its append, as `RedisRoomStream` prepared it. */
export interface PendingAppend {
  key: RoomKey;
  /** The message JSON without its id and without its opening `{` (the script puts `{"id":…,` in front). */
  json: string;
  persistent: boolean;
  /** The duplicate-window key of its clientMessageId, when it has one and the window is on. */
  dedupeKey: string | undefined;
  /** The start of the published envelope ('' without publication). */
  head: string;
  /** Keys and (rate, burst, cost) of the buckets taken with the append (single Redis only). */
  bucketKeys: readonly string[];
  bucketArgs: readonly number[];
}

/** The script's answer for one message: new (id), duplicate (first message JSON) or refused by a bucket. */
export type AppendReply = readonly [0, string] | readonly [1, string] | readonly [2, number, number];

export interface AppendBatcherOptions {
  client: RedisClient;
  keys: KeySpace;
  ttlMs: number;
  maxMessages: number;
  idleMs: number;
  dedupeMs: number;
  /** PUBLISH | SPUBLISH | '' (no publication). */
  publish: string;
}

/** Messages per script call: a turn's burst beyond it goes in several calls, in order. */
export const BATCH_MAX = 256;

/**
 * Appends of one event-loop turn in one script call (lua/stream-append-batch.lua), gathered by a
 * TurnBatch (flushed once the turn's I/O callbacks are done, so the sends read from every socket in
 * that poll go together). A lone message takes the single-message script, several take the batch
 * script: on a single Redis all rooms and their buckets in one call, on a Cluster one call per room
 * (a call's keys must share a slot; a room's keys do, and its buckets were taken before). Calls go
 * out in queue order on the one connection, so a room's ids follow the order of its publishes.
 */
export class AppendBatcher {
  private readonly client: RedisClient;
  private readonly keys: KeySpace;
  private readonly single: ScriptCall;
  /** The single append taking 1 to MAX_BUCKETS buckets first (index = number of buckets). */
  private readonly limited: ScriptCall[] = [];
  private readonly batch: ScriptCall;
  private readonly common: ScriptArg[];
  private readonly turn: TurnBatch<PendingAppend, AppendReply>;

  constructor(private readonly opts: AppendBatcherOptions) {
    this.client = opts.client;
    this.keys = opts.keys;
    this.single = defineScript(opts.client, 'stream-append.lua', 3);
    if (!opts.client.isCluster) {
      for (let n = 1; n <= MAX_BUCKETS; n++) this.limited[n] = defineScript(opts.client, 'stream-append-limited.lua', 3 + n);
    }
    this.batch = defineScript(opts.client, 'stream-append-batch.lua', 'variable');
    this.common = [opts.ttlMs, opts.maxMessages, opts.idleMs, opts.dedupeMs, opts.publish];
    this.turn = new TurnBatch((entries) => this.run(entries), BATCH_MAX);
  }

  append(entry: PendingAppend): Promise<AppendReply> {
    return this.turn.add(entry);
  }

  /** One chunk of a turn: one call on a single Redis, one per room on a Cluster; replies in the chunk's order. */
  private async run(entries: readonly PendingAppend[]): Promise<AppendReply[]> {
    if (!this.client.isCluster) return this.call(entries);
    const byRoom = new Map<string, number[]>();
    entries.forEach((e, i) => {
      const room = this.keys.room(e.key);
      const list = byRoom.get(room);
      if (list) list.push(i);
      else byRoom.set(room, [i]);
    });
    const replies: AppendReply[] = new Array<AppendReply>(entries.length);
    await Promise.all(
      [...byRoom.values()].map(async (indexes) => {
        const got = await this.call(indexes.map((i) => entries[i] as PendingAppend));
        indexes.forEach((i, k) => (replies[i] = got[k] as AppendReply));
      }),
    );
    return replies;
  }

  private async call(entries: readonly PendingAppend[]): Promise<AppendReply[]> {
    if (entries.length === 1) return [await this.callOne(entries[0] as PendingAppend)];
    return this.callBatch(entries);
  }

  private async callOne(e: PendingAppend): Promise<AppendReply> {
    const o = this.opts;
    const log = this.keys.historyLog(e.key);
    const script = e.bucketKeys.length > 0 ? (this.limited[e.bucketKeys.length] as ScriptCall) : this.single;
    return (await script(
      this.keys.historyMeta(e.key),
      log,
      e.dedupeKey ?? log,
      ...e.bucketKeys,
      newEpoch(),
      e.json,
      e.persistent ? 1 : 0,
      o.ttlMs,
      o.maxMessages,
      o.idleMs,
      e.dedupeKey !== undefined ? 1 : 0,
      o.dedupeMs,
      o.publish,
      o.publish ? this.keys.channel(e.key) : '',
      e.head,
      ...e.bucketArgs,
    )) as AppendReply;
  }

  private async callBatch(part: readonly PendingAppend[]): Promise<AppendReply[]> {
    const roomKeys: string[] = [];
    const roomArgs: ScriptArg[] = [];
    const roomIndex = new Map<string, number>();
    const extraKeys: string[] = [];
    const extraIndex = new Map<string, number>();
    const messageArgs: ScriptArg[] = [];
    const rooms = new Set<string>();
    for (const e of part) rooms.add(this.keys.room(e.key));
    // KEYS: the rooms' pairs first, then duplicate-window keys and buckets (numbered once the room count is known).
    const extra = (key: string): number => {
      let k = extraIndex.get(key);
      if (k === undefined) {
        extraKeys.push(key);
        k = 2 * rooms.size + extraKeys.length;
        extraIndex.set(key, k);
      }
      return k;
    };
    for (const e of part) {
      const name = this.keys.room(e.key);
      let r = roomIndex.get(name);
      if (r === undefined) {
        roomKeys.push(this.keys.historyMeta(e.key), this.keys.historyLog(e.key));
        roomArgs.push(newEpoch(), this.opts.publish ? this.keys.channel(e.key) : '');
        r = roomIndex.size + 1;
        roomIndex.set(name, r);
      }
      const nb = e.bucketKeys.length;
      messageArgs.push(r, e.json, e.persistent ? 1 : 0, e.dedupeKey !== undefined ? extra(e.dedupeKey) : 0, e.head, nb);
      for (let b = 0; b < nb; b++) messageArgs.push(extra(e.bucketKeys[b] as string), e.bucketArgs[3 * b] as number, e.bucketArgs[3 * b + 1] as number, e.bucketArgs[3 * b + 2] as number);
    }
    const keys = [...roomKeys, ...extraKeys];
    return (await this.batch(keys.length, ...keys, ...this.common, roomIndex.size, ...roomArgs, ...messageArgs)) as AppendReply[];
  }
}
