import { monitorEventLoopDelay } from 'node:perf_hooks';
import client from 'prom-client';

/** A counter child for hot paths: see `talliedCounter`. */
export interface Tally {
  inc(): void;
}

class PendingTally<L extends string> implements Tally {
  n = 0;
  constructor(readonly labels: Partial<Record<L, string>>) {}
  inc(): void {
    this.n++;
  }
}

/**
 * A prom-client Counter whose `tally(...labelValues)` children count in a plain number, added to the
 * counter when it is collected (every scrape): prom-client's own children hash their label values and
 * validate them on every increment, which costs more than the rest of a message's bookkeeping.
 */
function talliedCounter<L extends string>(cfg: client.CounterConfiguration<L> & { labelNames: readonly L[] }) {
  const tallies = new Map<string, PendingTally<L>>();
  const counter = new client.Counter<L>({
    ...cfg,
    collect() {
      for (const t of tallies.values()) {
        if (t.n === 0) continue;
        this.inc(t.labels, t.n);
        t.n = 0;
      }
    },
  });
  return Object.assign(counter, {
    /** The child for these label values (in `labelNames` order); the same object for the same values. */
    tally(...values: string[]): Tally {
      // One label value (the usual case) is its own key: no string is built per call.
      const k = values.length === 1 ? (values[0] as string) : values.join('\u0000');
      let t = tallies.get(k);
      if (!t) {
        const labels: Partial<Record<L, string>> = {};
        cfg.labelNames.forEach((name, i) => {
          const v = values[i];
          if (v !== undefined) labels[name] = v;
        });
        tallies.set(k, (t = new PendingTally<L>(labels)));
      }
      return t;
    },
  });
}

/**
 * The server's Prometheus metrics on a registry of its own (no globals), with
 * tenant labels bounded: the first `maxTenants` tenants seen get their own
 * label value, later ones share `_other`.
 */
export function createMetrics(opts: { maxTenants: number; serverId: string; collectDefault?: boolean }) {
  const registry = new client.Registry();
  registry.setDefaultLabels({ server: opts.serverId });
  if (opts.collectDefault !== false) client.collectDefaultMetrics({ register: registry });
  const known = new Set<string>();
  const tenant = (id: string): string => {
    if (known.has(id)) return id;
    if (known.size < opts.maxTenants) {
      known.add(id);
      return id;
    }
    return '_other';
  };
  const latencyBuckets = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();

  const m = {
    registry,
    tenant,
    activeConnections: new client.Gauge({
      name: 'websocket_active_connections',
      help: 'Open connections by tenant and presence status',
      labelNames: ['tenant', 'status'] as const,
      registers: [registry],
    }),
    connectionsTotal: new client.Counter({
      name: 'websocket_connections_total',
      help: 'Connections accepted since start, by tenant',
      labelNames: ['tenant'] as const,
      registers: [registry],
    }),
    connectionsRejected: new client.Counter({
      name: 'websocket_connections_rejected_total',
      help: 'Connection attempts refused, by error code (ORIGIN_NOT_ALLOWED: any Socket.IO request from an origin not allowed)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    messagesSent: talliedCounter({
      name: 'websocket_messages_sent_total',
      help: 'Room messages this instance delivered to its local members (one per message and room, not per recipient)',
      labelNames: ['tenant'] as const,
      registers: [registry],
    }),
    messagesReceived: talliedCounter({
      name: 'websocket_messages_received_total',
      help: 'Client events received, by tenant and event',
      labelNames: ['tenant', 'event'] as const,
      registers: [registry],
    }),
    eventsRefused: talliedCounter({
      name: 'websocket_events_refused_total',
      help: 'Client events answered with an error code (a limit, a permission, an invalid payload...), by tenant',
      labelNames: ['tenant'] as const,
      registers: [registry],
    }),
    messageLatency: new client.Histogram({
      name: 'websocket_message_latency_ms',
      help: 'Time from receiving a client event to acknowledging it, in milliseconds',
      labelNames: ['event'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    activeRooms: new client.Gauge({
      name: 'websocket_active_rooms',
      help: 'Rooms with at least one member on this instance',
      registers: [registry],
    }),
    roomSubscriptions: new client.Gauge({
      name: 'websocket_room_subscriptions',
      help: 'Room memberships (connection x room) on this instance',
      registers: [registry],
    }),
    errors: new client.Counter({
      name: 'websocket_errors_total',
      help: 'Errors returned to clients or raised internally, by type (error code)',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    redisLatency: new client.Histogram({
      name: 'websocket_redis_latency_ms',
      help: 'Redis operation latency in milliseconds, by operation',
      labelNames: ['operation'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    eventLoopLag: new client.Gauge({
      name: 'websocket_event_loop_lag_ms',
      help: 'Event loop delay (p99 over the interval since the previous scrape), in milliseconds',
      registers: [registry],
      collect() {
        const p99 = lag.percentile(99);
        this.set(Number.isFinite(p99) ? p99 / 1e6 : 0);
        lag.reset();
      },
    }),
    rateLimited: new client.Counter({
      name: 'websocket_rate_limited_total',
      help: 'Requests refused by a rate limit or cap, by scope',
      labelNames: ['scope'] as const,
      registers: [registry],
    }),
    presenceEntries: new client.Gauge({
      name: 'websocket_presence_entries',
      help: 'Presence entries (user x room) in the presence store (embedded engine; not sampled on Redis)',
      registers: [registry],
    }),
    historyMessages: new client.Gauge({
      name: 'websocket_history_messages',
      help: 'Messages stored in history (embedded engine; not sampled on Redis)',
      registers: [registry],
    }),
    historyRecoveries: new client.Counter({
      name: 'websocket_history_recoveries_total',
      help: 'Joins with `since`: hit when nothing was lost, miss when recovered was false',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    messagesPersisted: talliedCounter({
      name: 'websocket_messages_persisted_total',
      help: 'Messages stored in history by this instance',
      labelNames: ['tenant'] as const,
      registers: [registry],
    }),
    jwtVerifications: talliedCounter({
      name: 'websocket_jwt_verifications_total',
      help: 'Token verifications (handshakes and auth:refresh) by result and by the key whose signature matched: an HMAC secret id, public_key, jwks, or unknown when none did',
      labelNames: ['kid', 'result'] as const,
      registers: [registry],
    }),
    authProxyCalls: new client.Counter({
      name: 'websocket_auth_proxy_requests_total',
      help: 'Authorization proxy decisions by action (connect, join, publish) and outcome: allow, refuse, cached (an earlier decision reused), timeout, error (no answer, a non-2xx status or an invalid answer), circuit_open (no request made)',
      labelNames: ['action', 'outcome'] as const,
      registers: [registry],
    }),
    authProxyLatency: new client.Histogram({
      name: 'websocket_auth_proxy_latency_ms',
      help: 'Authorization proxy request duration in milliseconds, by action (requests made, answered or not)',
      labelNames: ['action'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    authProxyCircuitOpen: new client.Gauge({
      name: 'websocket_auth_proxy_circuit_open',
      help: '1 while the circuit breaker of an authorization proxy is open (requests not made), by action',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    apiRequests: new client.Counter({
      name: 'websocket_api_requests_total',
      help: 'Server API (/api/v1) requests by route and status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    webhookEvents: new client.Counter({
      name: 'websocket_webhook_events_total',
      help: 'Webhook events by outcome, counted once per endpoint: queued, dropped (the queue was full), delivered, dead_lettered',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    webhookDeliveries: new client.Counter({
      name: 'websocket_webhook_deliveries_total',
      help: 'Webhook requests by outcome: delivered (2xx) or failed (another status, no answer within WEBHOOK_TIMEOUT, a network error)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    webhookRetries: new client.Counter({
      name: 'websocket_webhook_retries_total',
      help: 'Webhook batches scheduled for another attempt after a failure',
      registers: [registry],
    }),
    webhookDeadLetters: new client.Counter({
      name: 'websocket_webhook_dead_letters_total',
      help: 'Dead letters stored (a batch not delivered within WEBHOOK_RETRY_FOR, one letter per tenant)',
      registers: [registry],
    }),
    webhookLatency: new client.Histogram({
      name: 'websocket_webhook_delivery_latency_ms',
      help: 'Time from an event entering its endpoint queue to the receiver acknowledging it, in milliseconds',
      buckets: [10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000],
      registers: [registry],
    }),
    webhookRequestDuration: new client.Histogram({
      name: 'websocket_webhook_request_duration_ms',
      help: 'Webhook request duration in milliseconds, answered or not',
      buckets: latencyBuckets.concat([5000, 10_000, 30_000]),
      registers: [registry],
    }),
    close() {
      lag.disable();
      registry.clear();
    },
  };
  for (const r of ['hit', 'miss']) m.historyRecoveries.inc({ result: r }, 0);
  for (const o of ['queued', 'dropped', 'delivered', 'dead_lettered']) m.webhookEvents.inc({ outcome: o }, 0);
  for (const o of ['delivered', 'failed']) m.webhookDeliveries.inc({ outcome: o }, 0);
  for (const s of ['connection', 'user', 'tenant', 'ip', 'connections_per_user', 'rooms_per_connection', 'slow_consumer', 'api_key', 'dev_token']) m.rateLimited.inc({ scope: s }, 0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** A tenant's counts since this instance started: `room:send` events received, and events refused. */
export interface TenantCounts {
  messages: number;
  refused: number;
}

/**
 * Per-tenant counts read from the metrics' own counters (tenant labels as they are bounded there:
 * past METRICS_MAX_TENANTS, `_other`).
 */
export async function tenantCounts(metrics: Pick<Metrics, 'messagesReceived' | 'eventsRefused'>): Promise<Map<string, TenantCounts>> {
  const counts = new Map<string, TenantCounts>();
  const of = (tenant: string) => {
    let c = counts.get(tenant);
    if (!c) counts.set(tenant, (c = { messages: 0, refused: 0 }));
    return c;
  };
  for (const v of (await metrics.messagesReceived.get()).values) {
    if (v.labels.event === 'room:send' && typeof v.labels.tenant === 'string') of(v.labels.tenant).messages += v.value;
  }
  for (const v of (await metrics.eventsRefused.get()).values) {
    if (typeof v.labels.tenant === 'string') of(v.labels.tenant).refused += v.value;
  }
  return counts;
}
