/**
 * The server API (`/api/v1`): what an application's backend asks of and does to the deployment:
 * publish, read history, occupancy and presence, rooms, users and their connections, disconnects,
 * member removal, token revocation, instances and tenants. JSON over HTTP on the sockets' port,
 * authenticated by API key (keys.ts), rate-limited per key, every error a coded answer. Reads come
 * from the engine's shared state; actions reach every instance through the adapter (control.ts).
 * The routes are described in openapi.ts (served at `/api/v1/openapi.json`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseMessageId } from '../engine/ids.js';
import { ROOM_NAME_PATTERN, type ErrorCode } from '@intelgraph/websocket-protocol';
import type { Config } from '../config.js';
import type { Engine, RoomKey } from '../engine/types.js';
import { CodedError, toCoded, UnavailableError } from '../errors.js';
import { readJson, send, sendError, messageBodyLimit } from '../http/respond.js';
import { createApiLimits } from '../limits/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionControl } from '../realtime/control.js';
import { createClusterView, type ClusterView } from './cluster-view.js';
import { apiKey, authenticateApiKey, type ApiKey } from '../auth/api-keys.js';
import { openApiDocument } from './openapi.js';
import { publishBackendMessage } from '../http/publish.js';
import { Router, type Route } from './router.js';
import { bodies, check, cursors, DEAD_LETTER_ID_PATTERN, MAX_USER_ID, queries, tenantIdSchema } from './schemas.js';
import type { Webhooks } from '../webhooks/index.js';

export const API_PREFIX = '/api/v1';

export interface ServerApiDeps {
  config: Readonly<Config>;
  engine: Engine;
  control: ConnectionControl;
  metrics: Metrics;
  logger: Logger;
  /** What the API reads of the deployment (default: the engine's shared state). */
  view?: ClusterView;
  /** The webhooks' dead letters (absent: the routes answer NOT_FOUND for every letter and list none). */
  webhooks?: Pick<Webhooks, 'deadLetters' | 'tap'>;
}

/**
 * Who may call a route: anyone (the OpenAPI document), any key (about itself), a key acting on one
 * tenant, an operator key only, or `tenants`: a tenant key on its tenant, an operator key on the
 * tenant `?tenantId=` names or, without it, on every tenant (`tenantId` is then '').
 */
type Scope = 'public' | 'key' | 'tenant' | 'operator' | 'tenants';

interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The tenant acted on (tenant-scoped routes; '' for every tenant). */
  tenantId: string;
  /** The key presented (every route but public ones). */
  key?: ApiKey;
}

interface Handler {
  scope: Scope;
  run(call: Call): Promise<unknown>;
}

export type ServerApi = ReturnType<typeof createServerApi>;

export function createServerApi(deps: ServerApiDeps) {
  const { config, engine, control, metrics, logger } = deps;
  const view = deps.view ?? createClusterView(engine);
  const limits = createApiLimits({ config, rateLimiter: engine.rateLimiter, metrics });
  const keys: readonly ApiKey[] = config.api.keys.map((k) => apiKey(k.tenant, k.key));
  const publishDeps = { config, stream: engine.stream, metrics, ...(deps.webhooks && { onPublished: deps.webhooks.tap.published }) };

  const roomOf = (call: Call): RoomKey => {
    const room = call.params.room as string;
    if (!ROOM_NAME_PATTERN.test(room)) throw new CodedError('INVALID_ROOM', 'Room names are 1-128 characters of A-Z a-z 0-9 : _ . @ / -');
    return { tenantId: call.tenantId, room };
  };
  const userOf = (call: Call): string => {
    const userId = call.params.userId as string;
    if (userId.length > MAX_USER_ID) throw new CodedError('INVALID_PAYLOAD', `User ids are 1-${MAX_USER_ID} characters`);
    return userId;
  };
  const queryOf = (call: Call) => Object.fromEntries([...new Set(call.query.keys())].map((k) => [k, call.query.get(k) as string]));
  const bodyOf = (call: Call, limit = messageBodyLimit(config)) => readJson(call.req, call.res, limit);
  /** A body that may be left out (no Content-Type and no length): `{}` then. */
  const optionalBodyOf = (call: Call) => {
    const h = call.req.headers;
    const empty = h['content-type'] === undefined && h['transfer-encoding'] === undefined && (h['content-length'] ?? '0') === '0';
    return empty ? Promise.resolve({}) : bodyOf(call);
  };

  const route = (method: Route<Handler>['method'], path: string, scope: Scope, run: Handler['run']): Route<Handler> => ({ method, path, handler: { scope, run } });
  const routes: Route<Handler>[] = [
    route('GET', '/openapi.json', 'public', async () => openApiDocument()),
    route('GET', '/key', 'key', async (call) => ({ tenant: call.key?.tenant ?? '', operator: call.key?.tenant === '*' })),
    route('POST', '/rooms/{room}/messages', 'tenant', async (call) => {
      const key = roomOf(call);
      return publishBackendMessage(publishDeps, key, check(bodies.message, await bodyOf(call)));
    }),
    route('GET', '/rooms/{room}/messages', 'tenant', async (call) => {
      const key = roomOf(call);
      const q = check(queries.history, queryOf(call), 'query');
      for (const field of ['since', 'before'] as const) {
        const id = q[field];
        if (id !== undefined && !parseMessageId(id)) throw new CodedError('INVALID_PAYLOAD', `Invalid parameter "${field}": must be a message id`);
      }
      const page = await engine.stream.read(key, {
        limit: q.limit,
        ...(q.since !== undefined && { since: q.since }),
        ...(q.before !== undefined && { before: q.before }),
        ...(q.direction !== undefined && { direction: q.direction }),
      });
      return { messages: page.messages, hasMore: page.hasMore, recovered: page.recovered };
    }),
    route('POST', '/messages', 'tenant', async (call) => {
      const { messages } = check(bodies.batch, await bodyOf(call, config.api.maxBodyBytes));
      return { results: await publishBatch(call.tenantId, messages) };
    }),
    route('GET', '/rooms/{room}', 'tenant', (call) => view.occupancy(roomOf(call))),
    route('GET', '/rooms/{room}/presence', 'tenant', async (call) => {
      const key = roomOf(call);
      const q = check(queries.page, queryOf(call), 'query');
      const after = cursors.decode(q.cursor);
      const all = (await view.presence(key)).sort((a, b) => compareText(a.userId, b.userId));
      const from = after === undefined ? all : all.filter((p) => compareText(p.userId, after) > 0);
      const presence = from.slice(0, q.limit);
      const last = presence[presence.length - 1];
      return { room: key.room, presence, ...(from.length > q.limit && last && { next: cursors.encode(last.userId) }) };
    }),
    route('DELETE', '/rooms/{room}/members/{userId}', 'tenant', async (call) => {
      const key = roomOf(call);
      const userId = userOf(call);
      const member = (await view.presence(key)).find((p) => p.userId === userId);
      control.removeMember(key.tenantId, userId, key.room);
      return { room: key.room, userId, connections: member?.connections ?? 0 };
    }),
    route('GET', '/rooms', 'tenant', async (call) => {
      const q = check(queries.rooms, queryOf(call), 'query');
      const after = cursors.decode(q.cursor);
      const page = await view.rooms(call.tenantId, { limit: q.limit, ...(q.prefix && { prefix: q.prefix }), ...(after !== undefined && { after }) });
      return { rooms: page.rooms, ...(page.next !== undefined && { next: cursors.encode(page.next) }) };
    }),
    route('GET', '/users/{userId}', 'tenant', async (call) => {
      const userId = userOf(call);
      const connections = await view.connections(call.tenantId, userId);
      const rooms = [...new Set(connections.flatMap((c) => c.rooms))].sort(compareText);
      const presence = (
        await Promise.all(rooms.map(async (room) => ({ room, entry: (await view.presence({ tenantId: call.tenantId, room })).find((p) => p.userId === userId) })))
      ).flatMap(({ room, entry }) => (entry ? [{ room, ...entry }] : []));
      return { tenantId: call.tenantId, userId, online: connections.length > 0, connections, presence };
    }),
    route('POST', '/users/{userId}/disconnect', 'tenant', async (call) => {
      const userId = userOf(call);
      const body = check(bodies.disconnect, await optionalBodyOf(call));
      const code: ErrorCode = body.code ?? 'FORBIDDEN';
      const connections = (await view.connections(call.tenantId, userId)).length;
      control.disconnectUser(call.tenantId, userId, code, body.reason ?? 'Disconnected by the application');
      return { userId, code, connections };
    }),
    route('POST', '/users/{userId}/revoke', 'tenant', async (call) => {
      const userId = userOf(call);
      const body = check(bodies.revoke, await optionalBodyOf(call));
      const now = Date.now();
      const requested = body.before ?? now;
      if (requested > now + REVOKE_SKEW_MS) throw new CodedError('INVALID_PAYLOAD', 'Invalid field "before": must not be in the future');
      const ttlMs = config.api.revocationTtlSeconds * 1000;
      // Every token issued before `requested` has expired by `requested + ttl`: the revocation can go then.
      const expiresAt = requested + ttlMs;
      const before = expiresAt > now ? await engine.revocations.revoke(call.tenantId, userId, requested, expiresAt) : requested;
      control.revoked(call.tenantId, userId, before);
      return { userId, before, expiresAt: before + ttlMs };
    }),
    route('GET', '/webhooks/dead-letters', 'tenants', async (call) => {
      const q = check(queries.deadLetters, queryOf(call), 'query');
      // Not an error: a console shows "not configured" without a failed request in its log.
      if (!webhooksConfigured()) return { deadLetters: [], cursor: null, configured: false };
      return webhooksOn().list({ limit: q.limit, ...(call.tenantId !== '' && { tenantId: call.tenantId }), ...(q.cursor !== undefined && { cursor: q.cursor }) });
    }),
    route('POST', '/webhooks/dead-letters/{id}/replay', 'tenants', async (call) => {
      const letters = await letterOf(call);
      const replayed = await letters.replay(call.params.id as string);
      if (!replayed) throw new CodedError('NOT_FOUND', 'No such dead letter');
      return { id: replayed.id, replayed: replayed.events.length };
    }),
    route('DELETE', '/webhooks/dead-letters/{id}', 'tenants', async (call) => {
      const letters = await letterOf(call);
      if (!(await letters.discard(call.params.id as string))) throw new CodedError('NOT_FOUND', 'No such dead letter');
      return { id: call.params.id as string, deleted: true };
    }),
    route('GET', '/instances', 'operator', async () => ({ instances: await view.instances() })),
    route('GET', '/tenants', 'operator', async () => {
      // Tenant ids come from tokens: a Map, so `__proto__` is a tenant like any other.
      const byTenant = new Map<string, { tenantId: string; connections: number; messages: number; refused: number }>();
      const of = (tenantId: string) => {
        let t = byTenant.get(tenantId);
        if (!t) byTenant.set(tenantId, (t = { tenantId, connections: 0, messages: 0, refused: 0 }));
        return t;
      };
      for (const i of await view.instances()) {
        for (const [t, n] of Object.entries(i.connectionsByTenant)) of(t).connections += n;
        for (const [t, c] of Object.entries(i.countsByTenant ?? {})) {
          of(t).messages += c.messages;
          of(t).refused += c.refused;
        }
      }
      return { tenants: [...byTenant.values()].sort((a, b) => b.connections - a.connections || compareText(a.tenantId, b.tenantId)) };
    }),
  ];
  const router = new Router(routes);

  /** The dead letters; NOT_FOUND on a server without webhook endpoints (WEBHOOK_URL, WEBHOOKS_FILE): there is no letter to act on. */
  const webhooksConfigured = () => deps.webhooks !== undefined && config.webhooks.endpoints.length > 0;
  function webhooksOn(): Webhooks['deadLetters'] {
    if (!deps.webhooks || !webhooksConfigured()) throw new CodedError('NOT_FOUND', 'Webhooks are not configured on this server');
    return deps.webhooks.deadLetters;
  }

  /** The dead letters, once the path's letter is known to exist for the call's tenant (NOT_FOUND otherwise: another tenant's letter is not revealed). */
  async function letterOf(call: Call): Promise<Webhooks['deadLetters']> {
    const id = call.params.id as string;
    if (!DEAD_LETTER_ID_PATTERN.test(id)) throw new CodedError('INVALID_PAYLOAD', 'Invalid dead letter id');
    const letters = webhooksOn();
    if (!(await letters.get(id, call.tenantId === '' ? undefined : call.tenantId))) throw new CodedError('NOT_FOUND', 'No such dead letter');
    return letters;
  }

  /** Each message on its own: one refused does not stop the others; a room's messages keep their order. */
  async function publishBatch(tenantId: string, items: unknown[]) {
    type Result = { index: number; room?: string; messageId?: string; duplicate?: boolean; error?: ErrorCode; message?: string };
    const results: Result[] = new Array(items.length);
    const byRoom = new Map<string, { index: number; item: ReturnType<typeof bodies.batchItem.parse> }[]>();
    items.forEach((raw, index) => {
      try {
        const item = check(bodies.batchItem, raw);
        let list = byRoom.get(item.room);
        if (!list) byRoom.set(item.room, (list = []));
        list.push({ index, item });
      } catch (err) {
        const coded = toCoded(err);
        results[index] = { index, error: coded.code, message: coded.message };
      }
    });
    await Promise.all(
      [...byRoom].map(async ([room, list]) => {
        for (const { index, item } of list) {
          try {
            results[index] = { index, room, ...(await publishBackendMessage(publishDeps, { tenantId, room }, item)) };
          } catch (err) {
            const coded = toCoded(err);
            if (coded.code === 'INTERNAL' && !(coded instanceof UnavailableError)) logger.error({ err, room }, 'batch publish failed');
            results[index] = { index, room, error: coded.code, message: coded.message };
          }
        }
      }),
    );
    return results;
  }

  /** The tenant a call acts on: the key's own, or, for an operator key, the one `?tenantId=` names. */
  function tenantOf(key: ApiKey, query: URLSearchParams, all = false): string {
    const named = query.get('tenantId') ?? undefined;
    if (named !== undefined && !tenantIdSchema.safeParse(named).success) throw new CodedError('INVALID_PAYLOAD', 'Invalid parameter "tenantId"');
    if (key.tenant !== '*') {
      if (named !== undefined && named !== key.tenant) throw new CodedError('FORBIDDEN', 'This API key cannot act on another tenant');
      return key.tenant;
    }
    if (named === undefined && all) return '';
    if (named === undefined) throw new CodedError('INVALID_PAYLOAD', 'An operator key names the tenant: add ?tenantId=');
    return named;
  }

  async function serve(req: IncomingMessage, res: ServerResponse, url: URL, route: Route<Handler>, params: Record<string, string>): Promise<void> {
    const { scope } = route.handler;
    let tenantId = '';
    let key: ApiKey | undefined;
    if (scope !== 'public') {
      if (keys.length === 0) throw new CodedError('FORBIDDEN', 'The server API is disabled: set API_KEYS');
      key = authenticateApiKey(keys, req);
      if (scope === 'operator' && key.tenant !== '*') throw new CodedError('FORBIDDEN', 'This route needs an operator key (*:key)');
      await limits.takeCall(key.id);
      if (scope === 'tenant' || scope === 'tenants') tenantId = tenantOf(key, url.searchParams, scope === 'tenants');
    }
    const body = await route.handler.run({ req, res, params, query: url.searchParams, tenantId, ...(key && { key }) });
    send(res, 200, body);
  }

  return {
    prefix: API_PREFIX,
    routes: routes as readonly Route<{ scope: Scope }>[],
    /** Answers a request whose path starts with `/api/v1`. */
    async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
      let label = 'unknown';
      try {
        const found = router.match(req.method ?? '', url.pathname.slice(API_PREFIX.length));
        if (!found) throw new CodedError('NOT_FOUND');
        if ('allow' in found) {
          label = 'method_not_allowed';
          return sendError(res, new CodedError('METHOD_NOT_ALLOWED'), { allow: [...found.allow, ...(found.allow.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ') });
        }
        label = `${found.route.method} ${found.route.path}`;
        await serve(req, res, url, found.route, found.params);
      } catch (err) {
        const coded = toCoded(err);
        if (coded instanceof UnavailableError) logger.warn({ path: url.pathname }, coded.message);
        else if (coded.code === 'INTERNAL') logger.error({ err, route: label }, 'server API request failed');
        metrics.errors.inc({ type: coded.code });
        if (!res.headersSent) sendError(res, coded);
      } finally {
        metrics.apiRequests.inc({ route: label, status: String(res.statusCode) });
      }
    },
  };
}

/** How far ahead of this server's clock a revocation's `before` may be (the caller's clock may run ahead). */
const REVOKE_SKEW_MS = 60_000;

/** Byte order of the UTF-8 names for ASCII (room names); code unit order otherwise, the same for every caller. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
