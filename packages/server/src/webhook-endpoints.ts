/**
 * Where webhooks go: WEBHOOK_URL (every tenant's events) and the per-tenant endpoints of
 * WEBHOOKS_FILE (JSON or YAML), each with its secret, event filter and room-prefix filter.
 */
import { createHash } from 'node:crypto';
import { TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export const WEBHOOK_EVENT_TYPES = [
  'room.occupied',
  'room.vacated',
  'member.joined',
  'member.left',
  'user.online',
  'user.offline',
  'presence.changed',
  'message.published',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What an endpoint receives unless it names its events: everything but `message.published`, which is opt-in. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = WEBHOOK_EVENT_TYPES.filter((t) => t !== 'message.published');

/** Secrets sign the requests: at least this long, like the authorization proxies' secret. */
export const MIN_WEBHOOK_SECRET = 32;

/** Endpoints one WEBHOOKS_FILE lists at most. */
export const MAX_WEBHOOK_ENDPOINTS = 1000;

export interface WebhookEndpoint {
  /** Stable across restarts and instances: a hash of the tenant and the URL (names its queue). */
  id: string;
  /** The tenant whose events it receives; undefined: every tenant's (WEBHOOK_URL). */
  tenantId?: string;
  url: string;
  secret: string;
  events: readonly WebhookEventType[];
  /** Only events of rooms whose name starts with one of these (events without a room always pass); undefined: every room. */
  roomPrefixes?: readonly string[];
}

/** Webhooks (WEBHOOK_URL, WEBHOOKS_FILE): where events go, and how they are batched, retried and kept. */
export interface WebhooksConfig {
  /** WEBHOOK_URL first (every tenant), then the entries of WEBHOOKS_FILE; empty: no events are made. */
  endpoints: readonly WebhookEndpoint[];
  /** Events per request at most. */
  batchSize: number;
  /** A batch shorter than batchSize waits this long for more (ms). */
  batchWaitMs: number;
  /** A request not answered within this is a failure (ms). */
  timeoutMs: number;
  /** A batch is retried for this long after its first failure, then dead-lettered (ms). */
  retryForMs: number;
  /** Backoff: a random wait up to min(maxDelay, base x 2^attempt) (full jitter). */
  retryBaseMs: number;
  retryMaxDelayMs: number;
  /** member.left, room.vacated and user.offline wait this long; a return within it cancels both (ms). */
  leaveGraceMs: number;
  /** Endpoints delivered to at once by one instance. */
  concurrency: number;
  /** Events queued per endpoint at most (more are dropped and counted). */
  queueMax: number;
  deadLetterMax: number;
  deadLetterTtlMs: number;
}

export function endpointId(tenantId: string | undefined, url: string): string {
  return createHash('sha256').update(`${tenantId ?? '*'}\n${url}`).digest('hex').slice(0, 16);
}

const httpUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}, 'must be an http(s) URL such as https://host/path');

export const eventsSchema = z.array(z.enum(WEBHOOK_EVENT_TYPES, { message: `must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}` })).min(1).max(WEBHOOK_EVENT_TYPES.length);
export const prefixesSchema = z.array(z.string().regex(/^[A-Za-z0-9:_.@/-]{1,128}$/, 'must be the start of a room name (1-128 characters of A-Z a-z 0-9 : _ . @ / -)')).min(1).max(100);

const fileSchema = z.object({
  endpoints: z
    .array(
      z.object({
        tenantId: z.string().regex(TENANT_ID_PATTERN, 'must be a tenant id (1-64 characters of A-Z a-z 0-9 _ . -)'),
        url: httpUrl,
        secret: z.string().min(MIN_WEBHOOK_SECRET, `must be at least ${MIN_WEBHOOK_SECRET} characters`),
        events: eventsSchema.optional(),
        roomPrefixes: prefixesSchema.optional(),
      }).strict(),
    )
    .max(MAX_WEBHOOK_ENDPOINTS),
}).strict();

/** The endpoints of a WEBHOOKS_FILE's text, or why they cannot be used (one line, naming the entry). */
export function parseEndpointsFile(text: string): { endpoints: WebhookEndpoint[] } | { error: string } {
  let raw: unknown;
  try {
    // YAML 1.2 reads JSON as well.
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    return { error: `is neither JSON nor YAML (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})` };
  }
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = (issue?.path ?? []).map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    return { error: `${where ? `${where} ` : ''}${issue?.message ?? 'is invalid'} (expected { endpoints: [{ tenantId, url, secret, events?, roomPrefixes? }] })` };
  }
  const endpoints = r.data.endpoints.map((e) => endpoint(e.tenantId, e.url, e.secret, e.events, e.roomPrefixes));
  const seen = new Set<string>();
  for (const e of endpoints) {
    if (seen.has(e.id)) return { error: `lists the URL ${e.url} twice for tenant ${e.tenantId ?? ''}` };
    seen.add(e.id);
  }
  return { endpoints };
}

export function endpoint(tenantId: string | undefined, url: string, secret: string, events?: readonly WebhookEventType[], roomPrefixes?: readonly string[]): WebhookEndpoint {
  return {
    id: endpointId(tenantId, url),
    url,
    secret,
    events: [...new Set(events ?? DEFAULT_WEBHOOK_EVENTS)],
    ...(tenantId !== undefined && { tenantId }),
    ...(roomPrefixes !== undefined && { roomPrefixes: [...roomPrefixes] }),
  };
}

/** Whether the endpoint receives an event of this type, tenant and room (undefined: an event without a room). */
export function wants(e: WebhookEndpoint, type: WebhookEventType, tenantId: string, room: string | undefined): boolean {
  if (e.tenantId !== undefined && e.tenantId !== tenantId) return false;
  if (!e.events.includes(type)) return false;
  return room === undefined || e.roomPrefixes === undefined || e.roomPrefixes.some((p) => room.startsWith(p));
}
