/**
 * Delivery of the outbox: per endpoint, one instance at a time (a lease in the shared store) sends
 * the head of the endpoint's queue as one signed POST of up to WEBHOOK_BATCH_SIZE events, and only
 * removes them once the receiver answered 2xx. A failed batch is sent again (same events, same ids)
 * after a random wait up to min(WEBHOOK_RETRY_MAX_DELAY, WEBHOOK_RETRY_BASE x 2^attempt), until
 * WEBHOOK_RETRY_FOR has passed since its first failure; then it goes to the dead letters, one letter
 * per tenant. Nothing behind a batch is sent before it is delivered or dead-lettered: the endpoint's
 * order (so each room's order) holds. An instance that dies holding a lease leaves the batch queued;
 * another instance sends it once the lease runs out (the receiver may get it twice: same ids).
 */
import { randomBytes } from 'node:crypto';
import type { DeadLetter, QueuedEvent, WebhookStore } from '../engine/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { signedHeaders } from '../signing.js';
import type { WebhookEndpoint, WebhooksConfig } from '../webhook-endpoints.js';

export interface DeliveryDeps {
  store: WebhookStore;
  config: Readonly<WebhooksConfig>;
  serverId: string;
  metrics: Metrics;
  logger: Logger;
}

/** How long an instance leaves an endpoint delivered by another before asking for its lease again. */
const RETRY_LEASE_MS = 2000;

/** The outcome of one request. */
type Attempt = { ok: true } | { ok: false; error: string };

/** Events of one tenant in a batch (a letter is per tenant, so a tenant's key sees only its own). */
function byTenant(batch: readonly QueuedEvent[]): Map<string, QueuedEvent[]> {
  const out = new Map<string, QueuedEvent[]>();
  for (const e of batch) {
    const tenantId = (JSON.parse(e.json) as { tenantId: string }).tenantId;
    let list = out.get(tenantId);
    if (!list) out.set(tenantId, (list = []));
    list.push(e);
  }
  return out;
}

export function createDelivery(deps: DeliveryDeps) {
  const { store, config, serverId, metrics, logger } = deps;
  const endpoints = new Map(config.endpoints.map((e) => [e.id, e]));
  /** Endpoints this instance delivers to now. */
  const running = new Map<string, Promise<void>>();
  /** Endpoints whose lease another instance held, and until when not to ask again (ms). */
  const elsewhere = new Map<string, number>();
  // Long enough for a request and the renewal between two; renewed every third of it while delivering.
  const leaseMs = config.timeoutMs + 10_000;
  const inFlight = new Set<AbortController>();
  const sleepers = new Set<() => void>();
  let stopped = false;

  /** Resolves after `ms`, or at once when delivery stops. */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      sleepers.add(done);
    });

  async function post(endpoint: WebhookEndpoint, batch: readonly QueuedEvent[]): Promise<Attempt> {
    const body = `{"events":[${batch.map((e) => e.json).join(',')}]}`;
    const abort = new AbortController();
    inFlight.add(abort);
    const timer = setTimeout(() => abort.abort(new Error('timeout')), config.timeoutMs);
    const started = performance.now();
    try {
      const res = await fetch(endpoint.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'intelgraph-webhooks/1', ...signedHeaders(endpoint.secret, body) },
        body,
        redirect: 'error',
        signal: abort.signal,
      });
      // The answer's body is of no interest, whatever its size: not read.
      await res.body?.cancel().catch(() => {});
      return res.status >= 200 && res.status <= 299 ? { ok: true } : { ok: false, error: `status ${res.status}` };
    } catch (err) {
      if (abort.signal.aborted) return { ok: false, error: stopped ? 'instance stopping' : `no answer within ${config.timeoutMs} ms` };
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      return { ok: false, error: `${err instanceof Error ? err.message : String(err)}${cause}`.slice(0, 300) };
    } finally {
      clearTimeout(timer);
      inFlight.delete(abort);
      metrics.webhookRequestDuration.observe(performance.now() - started);
    }
  }

  /** Sends one batch until it is delivered or dead-lettered; false when the lease was lost or delivery stopped. */
  async function deliver(endpoint: WebhookEndpoint, batch: readonly QueuedEvent[], held: () => boolean): Promise<boolean> {
    const ids = batch.map((e) => e.id);
    let firstFailure: number | undefined;
    for (let attempt = 1; ; attempt++) {
      if (stopped || !held()) return false;
      const result = await post(endpoint, batch);
      if (stopped && !result.ok) return false;
      const now = Date.now();
      if (result.ok) {
        await store.ack(endpoint.id, ids);
        metrics.webhookDeliveries.inc({ outcome: 'delivered' });
        metrics.webhookEvents.inc({ outcome: 'delivered' }, batch.length);
        for (const e of batch) metrics.webhookLatency.observe(now - e.queuedAt);
        return true;
      }
      metrics.webhookDeliveries.inc({ outcome: 'failed' });
      firstFailure ??= now;
      if (now - firstFailure >= config.retryForMs) {
        const failedAt = now;
        const letters: DeadLetter[] = [...byTenant(batch)].map(([tenantId, events]) => ({
          id: `dl_${String(failedAt).padStart(13, '0')}_${randomBytes(6).toString('hex')}`,
          tenantId,
          endpoint: endpoint.id,
          url: endpoint.url,
          events,
          attempts: attempt,
          lastError: result.error,
          failedAt,
        }));
        await store.deadLetter(endpoint.id, ids, letters, { max: config.deadLetterMax, ttlMs: config.deadLetterTtlMs }, now);
        metrics.webhookDeadLetters.inc(letters.length);
        metrics.webhookEvents.inc({ outcome: 'dead_lettered' }, batch.length);
        logger.warn({ endpoint: endpoint.url, events: batch.length, attempts: attempt, lastError: result.error }, 'webhook batch dead-lettered');
        return true;
      }
      const delay = Math.random() * Math.min(config.retryMaxDelayMs, config.retryBaseMs * 2 ** (attempt - 1));
      metrics.webhookRetries.inc();
      logger.debug({ endpoint: endpoint.url, attempt, error: result.error, delayMs: Math.round(delay) }, 'webhook delivery failed, retrying');
      await sleep(delay);
    }
  }

  /** Delivers an endpoint's queue while this instance holds its lease and the queue has events. */
  async function drain(endpoint: WebhookEndpoint): Promise<void> {
    let held = true;
    const renew = setInterval(() => {
      store.lease(endpoint.id, serverId, leaseMs).then(
        (ok) => (held &&= ok),
        () => (held = false),
      );
    }, Math.floor(leaseMs / 3));
    renew.unref();
    try {
      while (!stopped && held) {
        const batch = await store.peek(endpoint.id, config.batchSize);
        if (batch.length === 0) break;
        const waited = Date.now() - (batch[0] as QueuedEvent).queuedAt;
        if (batch.length < config.batchSize && waited < config.batchWaitMs) {
          await sleep(config.batchWaitMs - waited);
          continue;
        }
        if (!(await deliver(endpoint, batch, () => held))) break;
      }
    } finally {
      clearInterval(renew);
      if (held) await store.unlease(endpoint.id, serverId).catch(() => {});
    }
  }

  /** Starts draining the endpoints with queued events that no instance delivers to, up to WEBHOOK_CONCURRENCY here. */
  async function claim(): Promise<void> {
    for (const id of await store.active()) {
      if (stopped || running.size >= config.concurrency) return;
      const endpoint = endpoints.get(id);
      // A queue of an endpoint no longer configured stays until it is configured again.
      if (!endpoint || running.has(id) || (elsewhere.get(id) ?? 0) > Date.now()) continue;
      if (!(await store.lease(id, serverId, leaseMs))) {
        // Held by another instance: asked again a while later, not every round.
        elsewhere.set(id, Date.now() + RETRY_LEASE_MS);
        continue;
      }
      elsewhere.delete(id);
      const run = drain(endpoint)
        .catch((err: unknown) => logger.warn({ err, endpoint: endpoint.url }, 'webhook delivery interrupted'))
        .finally(() => running.delete(id));
      running.set(id, run);
    }
  }

  return {
    claim,
    /** Stops delivering: requests in flight are cut short (their batches stay queued), leases given back. */
    async stop(): Promise<void> {
      stopped = true;
      for (const a of inFlight) a.abort(new Error('stopping'));
      for (const wake of [...sleepers]) wake();
      await Promise.allSettled([...running.values()]);
    },
  };
}
