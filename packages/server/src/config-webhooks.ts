import { commaList, fail } from './config-parse.js';
import type { Env } from './config-schema.js';
import type { Secrets } from './config-secrets.js';
import { endpoint, eventsSchema, MIN_WEBHOOK_SECRET, parseEndpointsFile, prefixesSchema, type WebhookEndpoint, type WebhooksConfig } from './webhook-endpoints.js';

/** WEBHOOK_URL with its secret and filters, the endpoints of WEBHOOKS_FILE, and the delivery settings. */
export function webhooksConfig(r: Env, s: Secrets): WebhooksConfig {
  const endpoints: WebhookEndpoint[] = [];
  if (r.WEBHOOK_URL !== undefined) {
    const secret = s.webhookSecret;
    if (secret === undefined) return fail('WEBHOOK_SECRET', 'is required with WEBHOOK_URL (it signs the requests)');
    if (secret.length < MIN_WEBHOOK_SECRET) fail(s.named('WEBHOOK_SECRET'), `must be at least ${MIN_WEBHOOK_SECRET} characters`);
    const list = (name: 'WEBHOOK_EVENTS' | 'WEBHOOK_ROOM_PREFIXES', schema: typeof eventsSchema | typeof prefixesSchema) => {
      const text = r[name];
      if (text === undefined) return undefined;
      const parsed = schema.safeParse(commaList(text));
      if (!parsed.success) return fail(name, `${parsed.error.issues[0]?.message ?? 'is invalid'} (got "${text}")`);
      return parsed.data;
    };
    const events = list('WEBHOOK_EVENTS', eventsSchema) as WebhookEndpoint['events'] | undefined;
    endpoints.push(endpoint(undefined, r.WEBHOOK_URL, secret, events, list('WEBHOOK_ROOM_PREFIXES', prefixesSchema)));
  } else {
    for (const name of ['WEBHOOK_SECRET', 'WEBHOOK_EVENTS', 'WEBHOOK_ROOM_PREFIXES'] as const) {
      if (r[name] !== undefined || (name === 'WEBHOOK_SECRET' && s.webhookSecret !== undefined)) fail(name, 'needs WEBHOOK_URL');
    }
  }
  if (r.WEBHOOKS_FILE !== undefined) {
    const parsed = parseEndpointsFile(r.WEBHOOKS_FILE.text);
    if ('error' in parsed) return fail('WEBHOOKS_FILE', `"${r.WEBHOOKS_FILE.path}" ${parsed.error}`);
    endpoints.push(...parsed.endpoints);
  }
  if (r.WEBHOOK_RETRY_MAX_DELAY < r.WEBHOOK_RETRY_BASE) fail('WEBHOOK_RETRY_MAX_DELAY', 'must be at least WEBHOOK_RETRY_BASE');
  return {
    endpoints,
    batchSize: r.WEBHOOK_BATCH_SIZE,
    batchWaitMs: r.WEBHOOK_BATCH_WAIT,
    timeoutMs: r.WEBHOOK_TIMEOUT,
    retryForMs: r.WEBHOOK_RETRY_FOR * 1000,
    retryBaseMs: r.WEBHOOK_RETRY_BASE,
    retryMaxDelayMs: r.WEBHOOK_RETRY_MAX_DELAY,
    leaveGraceMs: r.WEBHOOK_LEAVE_GRACE,
    concurrency: r.WEBHOOK_CONCURRENCY,
    queueMax: r.WEBHOOK_QUEUE_MAX,
    deadLetterMax: r.WEBHOOK_DEAD_LETTER_MAX,
    deadLetterTtlMs: r.WEBHOOK_DEAD_LETTER_TTL * 1000,
  };
}
