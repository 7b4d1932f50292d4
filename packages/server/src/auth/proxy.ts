/**
 * The authorization proxies: the application's backend decides connects (AUTH_PROXY_URL), joins
 * (JOIN_PROXY_URL) and sends (PUBLISH_PROXY_URL). The server POSTs
 * `{ action, tenantId, userId, room?, claims, connection, metadata?, payload? }`, signed like the
 * webhooks (signing.ts), and the backend answers `{ allow, code?, message?, metadata?, payload? }`.
 *
 * A decision is reused for AUTH_PROXY_CACHE_TTL per action, user and room (a publish answer that
 * replaces the payload is about that message only: it is not reused). A backend that fails (no
 * answer in AUTH_PROXY_TIMEOUT, a non-2xx status, an invalid answer) yields the failure policy:
 * refuse with BACKEND_UNAVAILABLE (retryable), or allow. After AUTH_PROXY_BREAKER_FAILURES failures
 * in a row the circuit opens: no request is made for AUTH_PROXY_BREAKER_COOLDOWN, the policy
 * applies at once, then one trial request decides whether it closes.
 */
import { isErrorCode, type ErrorCode, type Metadata } from '@intelgraph/websocket-protocol';
import { z } from 'zod';
import { CodedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { signedHeaders } from '../signing.js';
import { exceedsJsonSize, MAX_METADATA_BYTES } from '../validation.js';
import { CircuitBreaker } from './circuit-breaker.js';
import type { Identity } from './verify.js';

/** AUTH_PROXY_URL, JOIN_PROXY_URL, PUBLISH_PROXY_URL: the application's backend decides connects, joins and sends. */
export interface BackendAuthConfig {
  connectUrl?: string;
  joinUrl?: string;
  publishUrl?: string;
  /** Signs every request (X-Webhook-Signature). */
  secret: string;
  timeoutMs: number;
  /** Decisions are reused for this long per user, room and action (0: never). */
  cacheTtlMs: number;
  cacheSize: number;
  /** What a backend that fails, times out or answers nonsense yields: a BACKEND_UNAVAILABLE refusal, or an allow. */
  failurePolicy: 'refuse' | 'allow';
  /** Consecutive failures that open the circuit (0: never), and how long it stays open before one trial call. */
  breaker: { failures: number; cooldownMs: number };
}

export type ProxyAction = 'connect' | 'join' | 'publish';

/** What the backend is told about the connection asking. */
export interface ProxyConnection {
  id: string;
  serverId: string;
  /** The client's address (as the per-address limits see it). */
  address?: string;
  /** Handshake only: the `Origin` and `User-Agent` headers, when sent. */
  origin?: string;
  userAgent?: string;
}

const answerSchema = z.object({
  allow: z.boolean(),
  code: z.string().max(64).optional(),
  message: z.string().max(512).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  payload: z.unknown().optional(),
});

interface Decision {
  allow: boolean;
  code: ErrorCode;
  message?: string;
  metadata?: Metadata;
  payload?: unknown;
  hasPayload: boolean;
}

/** Why a call did not yield a decision. */
class BackendFailure extends Error {
  constructor(readonly outcome: 'timeout' | 'error', message: string) {
    super(message);
  }
}

export interface BackendAuthorizationDeps {
  config: BackendAuthConfig;
  /** Largest payload a transformed publish may carry (MAX_MESSAGE_BYTES; 0: no limit). */
  maxMessageBytes: number;
  /** Largest answer read (room for one maximal payload). */
  maxAnswerBytes: number;
  metrics: Metrics;
  logger: Logger;
}

export type BackendAuthorization = ReturnType<typeof createBackendAuthorization>;

/** The proxies of `config` (built when at least one URL is set); an action without a URL is allowed as is. */
export function createBackendAuthorization(deps: BackendAuthorizationDeps) {
  const { config, metrics, logger } = deps;
  const urls: Record<ProxyAction, string | undefined> = { connect: config.connectUrl, join: config.joinUrl, publish: config.publishUrl };
  const breakers = new Map<ProxyAction, CircuitBreaker>();
  for (const action of ['connect', 'join', 'publish'] as const) {
    if (urls[action] === undefined) continue;
    metrics.authProxyCircuitOpen.set({ action }, 0);
    breakers.set(
      action,
      new CircuitBreaker(config.breaker.failures, config.breaker.cooldownMs, (open) => {
        metrics.authProxyCircuitOpen.set({ action }, open ? 1 : 0);
        if (open) logger.warn({ action, cooldownMs: config.breaker.cooldownMs }, 'authorization backend failing: circuit open');
        else logger.info({ action }, 'authorization backend answering again: circuit closed');
      }),
    );
  }
  /** Decisions by action, tenant, user and room; oldest dropped first past AUTH_PROXY_CACHE_SIZE. */
  const cache = new Map<string, { decision: Decision; until: number }>();
  /** Requests in flight for a cache key: concurrent identical questions share one request. */
  const inFlight = new Map<string, Promise<Decision>>();

  const count = (action: ProxyAction, outcome: string) => metrics.authProxyCalls.inc({ action, outcome });

  async function readAnswer(res: Response): Promise<string> {
    if (!res.body) return '';
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > deps.maxAnswerBytes) {
        await reader.cancel().catch(() => {});
        throw new BackendFailure('error', `answer larger than ${deps.maxAnswerBytes} bytes`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function validate(action: ProxyAction, raw: unknown): Decision {
    const r = answerSchema.safeParse(raw);
    if (!r.success) throw new BackendFailure('error', `invalid answer (${String(r.error.issues[0]?.path[0] ?? 'body')})`);
    const a = r.data;
    const code = a.code ?? 'FORBIDDEN';
    if (!isErrorCode(code)) throw new BackendFailure('error', 'invalid answer (code is not an error code)');
    if (a.metadata !== undefined && exceedsJsonSize(a.metadata, MAX_METADATA_BYTES, 'metadata')) throw new BackendFailure('error', 'invalid answer (metadata too large)');
    const hasPayload = action === 'publish' && 'payload' in a && a.payload !== undefined;
    if (hasPayload && exceedsJsonSize(a.payload, deps.maxMessageBytes)) throw new BackendFailure('error', 'invalid answer (payload too large)');
    return {
      allow: a.allow,
      code,
      hasPayload,
      ...(a.message !== undefined && { message: a.message }),
      ...(action === 'join' && a.metadata !== undefined && { metadata: a.metadata }),
      ...(hasPayload && { payload: a.payload }),
    };
  }

  async function call(action: ProxyAction, url: string, body: string): Promise<Decision> {
    const started = performance.now();
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signedHeaders(config.secret, body) },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(config.timeoutMs),
      });
      const text = await readAnswer(res);
      if (res.status < 200 || res.status > 299) throw new BackendFailure('error', `status ${res.status}`);
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        throw new BackendFailure('error', 'invalid answer (not JSON)');
      }
      return validate(action, raw);
    } catch (err) {
      if (err instanceof BackendFailure) throw err;
      if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) throw new BackendFailure('timeout', `no answer within ${config.timeoutMs} ms`);
      // The validation's own refusals (a payload that is not JSON...) are invalid answers too.
      if (err instanceof CodedError) throw new BackendFailure('error', `invalid answer (${err.message})`);
      throw new BackendFailure('error', err instanceof Error ? err.message : String(err));
    } finally {
      metrics.authProxyLatency.observe({ action }, performance.now() - started);
    }
  }

  /** The failure policy's answer: an allow, or BACKEND_UNAVAILABLE. */
  function onFailure(action: ProxyAction): Decision {
    if (config.failurePolicy === 'allow') return { allow: true, code: 'FORBIDDEN', hasPayload: false };
    throw new CodedError('BACKEND_UNAVAILABLE', `The authorization backend did not answer (${action}): retry later`);
  }

  async function ask(action: ProxyAction, url: string, body: string, cacheKey: string | undefined): Promise<Decision> {
    const breaker = breakers.get(action) as CircuitBreaker;
    if (!breaker.allow()) {
      count(action, 'circuit_open');
      return onFailure(action);
    }
    try {
      const decision = await call(action, url, body);
      breaker.success();
      count(action, decision.allow ? 'allow' : 'refuse');
      if (cacheKey !== undefined && config.cacheTtlMs > 0 && !decision.hasPayload) remember(cacheKey, decision);
      return decision;
    } catch (err) {
      breaker.failure();
      const failure = err as BackendFailure;
      count(action, failure.outcome);
      logger.debug({ action, reason: failure.message }, 'authorization backend failed');
      return onFailure(action);
    }
  }

  function remember(key: string, decision: Decision): void {
    cache.delete(key);
    cache.set(key, { decision, until: Date.now() + config.cacheTtlMs });
    while (cache.size > config.cacheSize) cache.delete(cache.keys().next().value as string);
  }

  function cached(key: string): Decision | undefined {
    const hit = cache.get(key);
    if (!hit) return undefined;
    if (hit.until > Date.now()) return hit.decision;
    cache.delete(key);
    return undefined;
  }

  /** The decision for one question: from the cache, from a request already in flight, or from a new one. */
  async function decide(action: ProxyAction, identity: Identity, connection: ProxyConnection, extra: { room?: string; metadata?: Metadata; payload?: unknown }): Promise<Decision> {
    const url = urls[action] as string;
    // Publishes carry their payload: one question per message, only its verdict may be reused.
    const key = `${action}\u0000${identity.tenantId}\u0000${extra.room ?? ''}\u0000${identity.userId}`;
    const hit = config.cacheTtlMs > 0 ? cached(key) : undefined;
    if (hit) {
      count(action, 'cached');
      return hit;
    }
    const body = JSON.stringify({
      action,
      tenantId: identity.tenantId,
      userId: identity.userId,
      ...(extra.room !== undefined && { room: extra.room }),
      claims: identity.claims ?? claimsOf(identity),
      connection,
      ...(extra.metadata !== undefined && { metadata: extra.metadata }),
      ...(action === 'publish' && { payload: extra.payload }),
    });
    if (action === 'publish') return ask(action, url, body, key);
    let pending = inFlight.get(key);
    if (!pending) {
      pending = ask(action, url, body, key).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  }

  function refuse(d: Decision, action: ProxyAction): never {
    throw new CodedError(d.code, d.message ?? (d.code === 'FORBIDDEN' ? `Not allowed to ${action === 'publish' ? 'send' : action}` : undefined));
  }

  return {
    /** Whether the backend decides this action. */
    has: (action: ProxyAction): boolean => urls[action] !== undefined,

    /** Refuses the connection with the backend's code, or BACKEND_UNAVAILABLE. */
    async connect(identity: Identity, connection: ProxyConnection): Promise<void> {
      if (urls.connect === undefined) return;
      const d = await decide('connect', identity, connection, {});
      if (!d.allow) refuse(d, 'connect');
    },

    /** The presence metadata to use: the backend's when it gave some, else the client's. */
    async join(identity: Identity, connection: ProxyConnection, room: string, metadata: Metadata | undefined): Promise<Metadata | undefined> {
      if (urls.join === undefined) return metadata;
      const d = await decide('join', identity, connection, { room, ...(metadata !== undefined && { metadata }) });
      if (!d.allow) refuse(d, 'join');
      return d.metadata ?? metadata;
    },

    /** The payload to deliver: the backend's when it replaced it, else the client's. */
    async publish(identity: Identity, connection: ProxyConnection, room: string, payload: unknown): Promise<unknown> {
      if (urls.publish === undefined) return payload;
      const d = await decide('publish', identity, connection, { room, payload });
      if (!d.allow) refuse(d, 'publish');
      return d.hasPayload ? d.payload : payload;
    },
  };
}

/** The claims of an identity whose token's claims were not kept. */
function claimsOf(identity: Identity): Record<string, unknown> {
  return {
    sub: identity.userId,
    tenantId: identity.tenantId,
    roles: identity.roles,
    ...(identity.rooms !== undefined && { rooms: identity.rooms }),
    ...(identity.name !== undefined && { name: identity.name }),
    ...(identity.issuedAt !== undefined && { iat: Math.floor(identity.issuedAt / 1000) }),
    ...(identity.expiresAt !== undefined && { exp: Math.floor(identity.expiresAt / 1000) }),
  };
}
