import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ROOM_NAME_PATTERN, TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import type { Config } from '../config.js';
import type { Engine } from '../engine/types.js';
import { CodedError, toCoded, UnavailableError } from '../errors.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { IoServer } from '../realtime/context.js';
import { publishBackendMessage, type PublishDeps } from './publish.js';
import { apiKey, authenticateApiKey } from '../auth/api-keys.js';
import { createConsoleRoutes } from './console.js';
import { createOriginPolicy } from './origin.js';
import { bearerMatches, messageBodyLimit, readJson, send, sendError } from './respond.js';

export interface HttpDeps {
  config: Readonly<Config>;
  engine: Engine;
  metrics: Metrics;
  logger: Logger;
  lifecycle: Lifecycle;
  io: IoServer;
  startedAt: number;
  /** Told of each message published here (the webhooks' `message.published`). */
  onPublished?: PublishDeps['onPublished'];
  /** Routes served under a path prefix of their own (the server API under `/api/v1`). */
  mounted?: { prefix: string; handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> };
}

const publishSchema = z.object({
  tenantId: z.string().regex(TENANT_ID_PATTERN),
  room: z.string().regex(ROOM_NAME_PATTERN),
  payload: z.unknown(),
  persistent: z.boolean().optional(),
  from: z.string().min(1).max(256).optional(),
});

/** The HTTP routes other than Socket.IO's own. */
export function createHttpHandler(deps: HttpDeps) {
  const { config, engine, metrics, lifecycle, io, logger } = deps;
  const origins = createOriginPolicy(config);
  const apiKeys = config.api.keys.map((k) => apiKey(k.tenant, k.key));

  async function dependencies() {
    const checks = await Promise.all(
      engine.health.map(async (h) => {
        try {
          const r = await Promise.race([
            h.check(),
            new Promise<{ ok: false; detail: string }>((resolve) => setTimeout(() => resolve({ ok: false, detail: 'timeout' }), 2000).unref()),
          ]);
          return [h.name, r] as const;
        } catch {
          return [h.name, { ok: false, detail: 'unreachable' }] as const;
        }
      }),
    );
    return Object.fromEntries(checks) as Record<string, { ok: boolean; latencyMs?: number; detail?: string }>;
  }

  async function health(res: ServerResponse) {
    const checks = await dependencies();
    const ok = Object.values(checks).every((d) => d.ok);
    send(res, 200, {
      status: ok ? 'ok' : 'degraded',
      serverId: config.serverId,
      engine: engine.name,
      lifecycle: lifecycle.state,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
      connections: io.of('/').sockets.size,
      dependencies: checks,
    });
  }

  async function ready(res: ServerResponse) {
    if (!lifecycle.accepting) return send(res, 503, { status: 'unavailable', reason: 'shutting down' });
    const d = await dependencies();
    const down = Object.entries(d).filter(([, v]) => !v.ok).map(([k]) => k);
    if (down.length) return send(res, 503, { status: 'unavailable', reason: `dependencies down: ${down.join(', ')}` });
    send(res, 200, { status: 'ready' });
  }

  async function scrape(res: ServerResponse) {
    // Gauges read from the stores where that is cheap (the embedded engine), refreshed for each scrape.
    const [presence, history] = await Promise.all([engine.presence.size?.(), engine.stream.size?.()]).catch(() => []);
    if (presence !== undefined) metrics.presenceEntries.set(presence);
    if (history !== undefined) metrics.historyMessages.set(history);
    const text = await metrics.registry.metrics();
    send(res, 200, text, { 'content-type': metrics.registry.contentType });
  }

  async function stats(req: IncomingMessage, res: ServerResponse) {
    if ((config.env === 'production' || config.statsToken !== undefined) && !bearerMatches(req, config.statsToken)) {
      throw new CodedError('AUTH_REQUIRED', 'Authorization: Bearer <STATS_TOKEN> is required');
    }
    // Tenant ids come from tokens: counted in a Map, so `constructor` or `__proto__` is a tenant like any other.
    const byTenant = new Map<string, number>();
    for (const s of io.of('/').sockets.values()) {
      const t = s.data.identity?.tenantId;
      if (t) byTenant.set(t, (byTenant.get(t) ?? 0) + 1);
    }
    let rooms = 0;
    let memberships = 0;
    for (const [name, members] of io.of('/').adapter.rooms) {
      if (name.includes('#')) {
        rooms++;
        memberships += members.size;
      }
    }
    const mem = process.memoryUsage();
    send(res, 200, {
      serverId: config.serverId,
      engine: engine.name,
      lifecycle: lifecycle.state,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
      connections: { total: io.of('/').sockets.size, byTenant: Object.fromEntries(byTenant) },
      rooms: { active: rooms, subscriptions: memberships },
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
    });
  }

  async function publish(req: IncomingMessage, res: ServerResponse) {
    if (apiKeys.length === 0) throw new CodedError('FORBIDDEN', 'The publish API is disabled: set API_KEY or API_KEYS');
    const key = authenticateApiKey(apiKeys, req);
    const body = await readJson(req, res, messageBodyLimit(config));
    const r = publishSchema.safeParse(body);
    if (!r.success) {
      const field = String(r.error.issues[0]?.path[0] ?? 'body');
      throw new CodedError(field === 'room' ? 'INVALID_ROOM' : 'INVALID_PAYLOAD', `Invalid field "${field}"`);
    }
    const p = r.data;
    if (key.tenant !== '*' && key.tenant !== p.tenantId) throw new CodedError('FORBIDDEN', 'This API key cannot act on another tenant');
    const result = await publishBackendMessage({ config, stream: engine.stream, metrics, ...(deps.onPublished && { onPublished: deps.onPublished }) }, { tenantId: p.tenantId, room: p.room }, p);
    send(res, 200, { messageId: result.messageId });
  }

  type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
  /** Path, then method. HEAD is answered by the GET route (Node sends no body for it). */
  const routes = new Map<string, ReadonlyMap<string, Route>>([
    ['/health', new Map([['GET', (_req, res) => health(res)]])],
    ['/health/live', new Map([['GET', (_req, res) => send(res, 200, { status: 'live' })]])],
    ['/health/ready', new Map([['GET', (_req, res) => ready(res)]])],
    ['/metrics', new Map([['GET', (_req, res) => scrape(res)]])],
    ['/stats', new Map([['GET', stats]])],
    ['/api/publish', new Map([['POST', publish]])],
    ...createConsoleRoutes({ config, metrics, logger }),
  ]);

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const origin = req.headers.origin;
    const originAllowed = origins.allows(req);
    if (origin !== undefined && originAllowed) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      res.setHeader('access-control-allow-headers', 'authorization, content-type');
      res.setHeader('access-control-allow-methods', 'GET, POST, DELETE, OPTIONS');
    }
    try {
      if (req.method === 'OPTIONS') {
        if (!originAllowed) return sendError(res, new CodedError('FORBIDDEN', 'Origin not allowed'));
        res.writeHead(204).end();
        return;
      }
      if (!originAllowed) return sendError(res, new CodedError('FORBIDDEN', 'Origin not allowed'));
      const methods = routes.get(url.pathname);
      // A path of the table wins over the mounted prefix (routes of other modules may live below it).
      const mounted = deps.mounted;
      if (!methods && mounted && (url.pathname === mounted.prefix || url.pathname.startsWith(`${mounted.prefix}/`))) return await mounted.handle(req, res, url);
      if (!methods) return sendError(res, new CodedError('NOT_FOUND'));
      const route = methods.get(req.method === 'HEAD' ? 'GET' : (req.method ?? ''));
      if (!route) return sendError(res, new CodedError('METHOD_NOT_ALLOWED'), { allow: allowed(methods) });
      return await route(req, res);
    } catch (err) {
      const coded = toCoded(err);
      if (coded instanceof UnavailableError) logger.warn({ path: url.pathname }, coded.message);
      else if (coded.code === 'INTERNAL') logger.error({ err, path: url.pathname }, 'http request failed');
      metrics.errors.inc({ type: coded.code });
      if (!res.headersSent) sendError(res, coded);
    }
  };
}

/** The `Allow` header of a path: its methods, HEAD with GET, and OPTIONS (CORS preflights). */
function allowed(methods: ReadonlyMap<string, unknown>): string {
  const list = [...methods.keys()];
  if (methods.has('GET')) list.push('HEAD');
  return [...list, 'OPTIONS'].join(', ');
}
