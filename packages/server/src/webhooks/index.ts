/**
 * Webhooks: events derived from the shared stores' changes (events.ts), put into the engine's
 * outbox (one per deployment: Redis, or this process on the embedded engine), held for the grace
 * window when they are leaves, and delivered by one instance per endpoint (delivery.ts). Also the
 * events of an instance that died: its users' `user.offline` (its presence entries' `member.left`
 * and `room.vacated` come from the presence sweep like any other leave).
 */
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import type { DeadLetter, Engine, OutboxItem, PresenceChange, RoomKey } from '../engine/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { createDelivery } from './delivery.js';
import type { WebhooksConfig } from '../webhook-endpoints.js';
import { messageEvent, parseSubject, presenceEvents, toOutbox, userEvent, type Subject, type WebhookEvent } from './events.js';

export type { WebhookEvent } from './events.js';

/** What the real-time layer tells the webhooks (each call made by the one instance whose store change it reports). */
export interface WebhookTap {
  /** A presence change (join, leave, sweep of expired entries, status): member and room events. */
  presence(change: PresenceChange): void;
  /** A connection opened on this instance; `first`: the user's first across the deployment. */
  connected(tenantId: string, userId: string, first: boolean): void;
  /** A connection of this instance closed; `last`: the user's last across the deployment. */
  disconnected(tenantId: string, userId: string, last: boolean): void;
  /** A message was published (not a duplicate). */
  published(key: RoomKey, message: RoomMessage): void;
}

export interface WebhookDeps {
  config: Readonly<WebhooksConfig>;
  serverId: string;
  engine: Pick<Engine, 'webhooks' | 'presence' | 'connections' | 'instances'>;
  metrics: Metrics;
  logger: Logger;
}

/** A dead letter as the server API shows it. */
export interface DeadLetterView {
  id: string;
  tenantId: string;
  url: string;
  events: WebhookEvent[];
  attempts: number;
  lastError: string;
  failedAt: number;
}

/** How often an instance says it is alive (and its users' set exists), and after how long without it an instance counts as dead. */
export const TRACK_INTERVAL_MS = 5000;
export const DEAD_AFTER_MS = 20_000;
/** Users of a dead instance handled per store call; held leaves settled per round. */
const REAP_BATCH = 100;
const SETTLE_BATCH = 500;
/** Events written to the outbox per store call at most. */
const ADD_BATCH = 500;
/** The lease of the instance that settles held leaves (endpoint ids are hex: no clash). */
const SETTLE_LEASE = '@settle';

const userKey = (tenantId: string, userId: string) => JSON.stringify([tenantId, userId]);

export function createWebhooks(deps: WebhookDeps) {
  const { config, serverId, engine, metrics, logger } = deps;
  const store = engine.webhooks;
  const enabled = config.endpoints.length > 0;
  /** This instance's connections per user, to keep the users of this instance tracked. */
  const local = new Map<string, number>();

  /** Events made in this turn of the event loop, written together (one store call for many changes under load). */
  let pending: OutboxItem[] = [];
  let flushing: NodeJS.Immediate | undefined;

  function emit(derived: Parameters<typeof toOutbox>[0]): void {
    if (!enabled || derived.length === 0) return;
    const items = toOutbox(derived, config.endpoints, Date.now());
    if (items.length === 0) return;
    pending.push(...items);
    flushing ??= setImmediate(flush);
  }

  function flush(): void {
    flushing = undefined;
    const all = pending;
    pending = [];
    // In order, at most ADD_BATCH a call: calls on one connection run in the order they were made.
    for (let i = 0; i < all.length; i += ADD_BATCH) {
      const items = all.slice(i, i + ADD_BATCH);
      store.add(items, Date.now(), config.leaveGraceMs, config.queueMax).then(
        (dropped) => {
          const pairs = items.reduce((n, item) => n + item.endpoints.length, 0);
          metrics.webhookEvents.inc({ outcome: 'queued' }, pairs - dropped);
          if (dropped > 0) {
            metrics.webhookEvents.inc({ outcome: 'dropped' }, dropped);
            logger.warn({ dropped }, 'webhook queue full: events dropped');
          }
        },
        (err: unknown) => logger.warn({ err, events: items.length }, 'webhook events not stored'),
      );
    }
  }

  const tap: WebhookTap = {
    presence: (change) => emit(presenceEvents(change)),
    connected(tenantId, userId, first) {
      if (!enabled) return;
      const k = userKey(tenantId, userId);
      const n = (local.get(k) ?? 0) + 1;
      local.set(k, n);
      if (n === 1) store.track(serverId, [k], Date.now()).catch((err: unknown) => logger.warn({ err }, 'webhook user tracking failed'));
      if (first) emit([userEvent('user.online', tenantId, userId)]);
    },
    disconnected(tenantId, userId, last) {
      if (!enabled) return;
      const k = userKey(tenantId, userId);
      const n = (local.get(k) ?? 1) - 1;
      if (n > 0) local.set(k, n);
      else {
        local.delete(k);
        store.untrack(serverId, k).catch((err: unknown) => logger.warn({ err }, 'webhook user tracking failed'));
      }
      if (last) emit([userEvent('user.offline', tenantId, userId)]);
    },
    published: (key, message) => emit([messageEvent(key, message)]),
  };

  /** Whether a held leave is still true at the end of its window (it is dropped otherwise). */
  async function stillGone(subject: Subject, now: number): Promise<boolean> {
    switch (subject.kind) {
      case 'member':
        return !(await engine.presence.list(subject.key, now)).some((p) => p.userId === subject.userId);
      case 'room':
        return (await engine.presence.occupancy(subject.key, now)).connections === 0;
      case 'user':
        return (await engine.connections.list(subject.tenantId, subject.userId, now)).length === 0;
    }
  }

  /** Queues (or drops) the held leaves whose window ended: on the instance holding the settle lease. */
  async function settle(): Promise<void> {
    if (!(await store.lease(SETTLE_LEASE, serverId, 10_000))) return;
    const now = Date.now();
    const due = await store.due(now, SETTLE_BATCH);
    if (due.length === 0) return;
    // Checked together (one round trip's wait for the batch), queued in the order they were held.
    const gone = await Promise.all(due.map((s) => {
      const subject = parseSubject(s);
      return subject === undefined ? true : stillGone(subject, now);
    }));
    await store.settle(due.filter((_, i) => gone[i]), due.filter((_, i) => !gone[i]), Date.now(), config.queueMax);
  }

  /** Keeps this instance's users tracked (re-tracks them all when the store lost them). */
  async function track(): Promise<void> {
    const now = Date.now();
    if (!(await store.refresh(serverId, now)) && local.size > 0) await store.track(serverId, [...local.keys()], now);
  }

  /** The users of instances that died (silent, without an instance record): their records removed, `user.offline` for those left with none. */
  async function reap(): Promise<void> {
    const now = Date.now();
    const silent = (await store.silent(now - DEAD_AFTER_MS)).filter((s) => s !== serverId);
    if (silent.length === 0) return;
    const live = new Set((await engine.instances.instances(now)).map((i) => i.serverId));
    for (const dead of silent) {
      if (live.has(dead)) continue;
      for (let users = await store.takeUsers(dead, REAP_BATCH); users.length > 0; users = await store.takeUsers(dead, REAP_BATCH)) {
        for (const u of users) {
          const [tenantId, userId] = JSON.parse(u) as [string, string];
          const released = await engine.connections.releaseServer(tenantId, userId, dead, Date.now());
          if (released.last) emit([userEvent('user.offline', tenantId, userId)]);
        }
      }
      logger.info({ instance: dead }, 'webhooks: users of a dead instance released');
    }
  }

  function view(l: DeadLetter): DeadLetterView {
    return { id: l.id, tenantId: l.tenantId, url: l.url, events: l.events.map((e) => JSON.parse(e.json) as WebhookEvent), attempts: l.attempts, lastError: l.lastError, failedAt: l.failedAt };
  }

  const ttl = config.deadLetterTtlMs;
  const deadLetters = {
    /** Newest first; `cursor` is the last id of the previous page, undefined after the last page. */
    async list(q: { tenantId?: string; cursor?: string; limit: number }): Promise<{ deadLetters: DeadLetterView[]; cursor: string | null }> {
      const page = await store.deadLetters({ limit: q.limit, ...(q.tenantId !== undefined && { tenantId: q.tenantId }), ...(q.cursor !== undefined && { before: q.cursor }) }, Date.now(), ttl);
      const last = page[page.length - 1];
      return { deadLetters: page.map(view), cursor: page.length === q.limit && last ? last.id : null };
    },
    /** The letter, when it exists and belongs to `tenantId` (undefined: any tenant). */
    async get(id: string, tenantId: string | undefined): Promise<DeadLetter | undefined> {
      const l = await store.letter(id, Date.now(), ttl);
      return l && (tenantId === undefined || l.tenantId === tenantId) ? l : undefined;
    },
    replay: (id: string) => store.replay(id, Date.now()),
    discard: (id: string) => store.discard(id),
  };

  const delivery = createDelivery({ store, config, serverId, metrics, logger });
  const timers: NodeJS.Timeout[] = [];

  return {
    tap,
    deadLetters,
    /** Starts delivery, the settling of held leaves and the tracking of instances (nothing without endpoints). */
    start(): void {
      if (!enabled || timers.length > 0) return;
      const every = (ms: number, what: string, fn: () => Promise<void>) => {
        let busy = false;
        const t = setInterval(() => {
          if (busy) return;
          busy = true;
          fn()
            .catch((err: unknown) => logger.warn({ err }, `webhooks: ${what} failed`))
            .finally(() => (busy = false));
        }, ms);
        t.unref();
        timers.push(t);
      };
      const tick = Math.min(1000, Math.max(100, Math.floor(config.batchWaitMs / 2)));
      every(tick, 'delivery', () => delivery.claim());
      every(tick, 'settling held leaves', settle);
      every(TRACK_INTERVAL_MS, 'instance tracking', async () => {
        await track();
        await reap();
      });
    },
    async stop(): Promise<void> {
      if (flushing) clearImmediate(flushing);
      flush();
      for (const t of timers.splice(0)) clearInterval(t);
      await delivery.stop();
    },
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
