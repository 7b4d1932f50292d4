import type { DeadLetter, DeadLetterLimits, DeadLetterQuery, OutboxItem, QueuedEvent, WebhookStore } from '../types.js';
import { RedisOps, type ObserveLatency, type RedisClient } from './connection.js';
import { KeySpace } from './keys.js';
import { defineScript, type ScriptArg, type ScriptCall } from './scripts.js';

export interface RedisWebhookStoreOptions {
  client: RedisClient;
  keys?: KeySpace;
  observe?: ObserveLatency;
  commandTimeoutMs?: number;
}

/** A tracked instance's user set outlives its last refresh by this long: a dead instance's set goes by itself. */
const SERVER_USERS_TTL_MS = 3_600_000;

/** `<queuedAt>|<id>|<json>` as the queue holds it. */
function queued(raw: string): QueuedEvent {
  const a = raw.indexOf('|');
  const b = raw.indexOf('|', a + 1);
  return { queuedAt: Number(raw.slice(0, a)), id: raw.slice(a + 1, b), json: raw.slice(b + 1) };
}

/**
 * The webhook outbox in Redis: every key of the outbox in the slot of `{webhooks}`, each change one
 * script (lua/webhook-*.lua), so concurrent instances never see half a change. The instance tracking
 * (which users each instance holds) uses single-key commands only.
 */
export class RedisWebhookStore implements WebhookStore {
  private readonly ops: RedisOps;
  private readonly client: RedisClient;
  private readonly keys: KeySpace;
  private readonly base: string;
  private readonly scripts: Record<'add' | 'release' | 'ack' | 'letter' | 'lease', ScriptCall>;

  constructor(opts: RedisWebhookStoreOptions) {
    this.client = opts.client;
    this.ops = new RedisOps(opts.client, opts.observe, opts.commandTimeoutMs);
    this.keys = opts.keys ?? new KeySpace();
    this.base = this.keys.webhooks();
    const c = opts.client;
    this.scripts = {
      add: defineScript(c, 'webhook-add.lua', 1),
      release: defineScript(c, 'webhook-release.lua', 1),
      ack: defineScript(c, 'webhook-ack.lua', 1),
      letter: defineScript(c, 'webhook-letter.lua', 1),
      lease: defineScript(c, 'webhook-lease.lua', 1),
    };
  }

  add(items: readonly OutboxItem[], now: number, graceMs: number, queueMax: number): Promise<number> {
    if (items.length === 0) return Promise.resolve(0);
    return this.ops.run('webhooks.add', async () => {
      const args: ScriptArg[] = [now, graceMs, queueMax];
      for (const i of items) args.push(i.id, i.json, i.hold?.kind ?? '', i.hold?.subject ?? '', i.endpoints.join(','));
      return (await this.scripts.add(this.base, ...args)) as number;
    });
  }

  due(now: number, limit: number): Promise<string[]> {
    return this.ops.run('webhooks.due', () => this.client.zrangebyscore(`${this.base}due`, '-inf', now * 1000 + 999, 'LIMIT', 0, limit));
  }

  settle(release: readonly string[], drop: readonly string[], now: number, queueMax: number): Promise<number> {
    if (release.length === 0 && drop.length === 0) return Promise.resolve(0);
    return this.ops.run('webhooks.settle', async () => (await this.scripts.release(this.base, now, queueMax, release.length, ...release, ...drop)) as number);
  }

  active(): Promise<string[]> {
    return this.ops.run('webhooks.active', () => this.client.smembers(`${this.base}active`));
  }

  peek(endpoint: string, max: number): Promise<QueuedEvent[]> {
    return this.ops.run('webhooks.peek', async () => (await this.client.lrange(`${this.base}q:${endpoint}`, 0, max - 1)).map(queued));
  }

  ack(endpoint: string, ids: readonly string[]): Promise<number> {
    return this.ops.run('webhooks.ack', async () => (await this.scripts.ack(this.base, endpoint, Date.now(), 0, 0, ids.length, ...ids)) as number);
  }

  deadLetter(endpoint: string, ids: readonly string[], letters: readonly DeadLetter[], limits: DeadLetterLimits, now: number): Promise<number> {
    return this.ops.run('webhooks.deadLetter', async () => {
      const args: ScriptArg[] = [endpoint, now, limits.max, limits.ttlMs, ids.length, ...ids];
      for (const l of letters) args.push(l.id, l.tenantId, JSON.stringify(l));
      return (await this.scripts.ack(this.base, ...args)) as number;
    });
  }

  lease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.ops.run('webhooks.lease', async () => (await this.scripts.lease(`${this.base}lease:${name}`, owner, Math.max(1, Math.ceil(ttlMs)))) === 1);
  }

  unlease(name: string, owner: string): Promise<void> {
    return this.ops.run('webhooks.lease', async () => {
      await this.scripts.lease(`${this.base}lease:${name}`, owner, 0);
    });
  }

  deadLetters(query: DeadLetterQuery, now: number, ttlMs: number): Promise<DeadLetter[]> {
    return this.ops.run('webhooks.deadLetters', async () => {
      const index = query.tenantId === undefined ? `${this.base}dl:all` : `${this.base}dl:t:${query.tenantId}`;
      const ids = await this.client.zrevrangebylex(index, query.before === undefined ? '+' : `(${query.before}`, '-', 'LIMIT', 0, query.limit);
      if (ids.length === 0) return [];
      const raws = await this.client.hmget(`${this.base}dl`, ...ids);
      return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as DeadLetter).filter((l) => l.failedAt >= now - ttlMs);
    });
  }

  letter(id: string, now: number, ttlMs: number): Promise<DeadLetter | undefined> {
    return this.ops.run('webhooks.letter', async () => {
      const raw = await this.client.hget(`${this.base}dl`, id);
      const l = raw === null ? undefined : (JSON.parse(raw) as DeadLetter);
      return l && l.failedAt >= now - ttlMs ? l : undefined;
    });
  }

  replay(id: string, now: number): Promise<DeadLetter | undefined> {
    return this.ops.run('webhooks.replay', async () => {
      const raw = (await this.scripts.letter(this.base, id, 'replay', now)) as string | null;
      return raw ? (JSON.parse(raw) as DeadLetter) : undefined;
    });
  }

  discard(id: string): Promise<boolean> {
    return this.ops.run('webhooks.discard', async () => Boolean(await this.scripts.letter(this.base, id, 'discard', Date.now())));
  }

  track(serverId: string, users: readonly string[], now: number): Promise<void> {
    return this.ops.run('webhooks.track', async () => {
      const set = this.keys.webhookServerUsers(serverId);
      await Promise.all([
        this.client.zadd(this.keys.webhookServers(), now, serverId),
        ...(users.length > 0 ? [this.client.sadd(set, ...users), this.client.pexpire(set, SERVER_USERS_TTL_MS)] : []),
      ]);
    });
  }

  untrack(serverId: string, user: string): Promise<void> {
    return this.ops.run('webhooks.untrack', async () => {
      await this.client.srem(this.keys.webhookServerUsers(serverId), user);
    });
  }

  refresh(serverId: string, now: number): Promise<boolean> {
    return this.ops.run('webhooks.refresh', async () => {
      const [, kept] = await Promise.all([
        this.client.zadd(this.keys.webhookServers(), now, serverId),
        this.client.pexpire(this.keys.webhookServerUsers(serverId), SERVER_USERS_TTL_MS),
      ]);
      return kept === 1;
    });
  }

  silent(before: number): Promise<string[]> {
    return this.ops.run('webhooks.silent', () => this.client.zrangebyscore(this.keys.webhookServers(), '-inf', `(${before}`));
  }

  takeUsers(serverId: string, max: number): Promise<string[]> {
    return this.ops.run('webhooks.takeUsers', async () => {
      const users = await this.client.spop(this.keys.webhookServerUsers(serverId), max);
      if (users.length === 0) await this.client.zrem(this.keys.webhookServers(), serverId);
      return users;
    });
  }
}
