/**
 * The OpenAPI 3.1 description of the server API, served at `GET /api/v1/openapi.json` and kept in
 * docs/openapi.json (a test checks the two agree, and that every route answers as described).
 */
import { CLIENT_MESSAGE_ID_PATTERN, DEFAULT_HISTORY_LIMIT, ERROR_CODES, MAX_HISTORY_LIMIT, PRESENCE_STATUSES, ROOM_NAME_PATTERN, TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import { DEAD_LETTER_ID_PATTERN, DEFAULT_DEAD_LETTER_PAGE, DEFAULT_PAGE, MAX_BATCH_MESSAGES, MAX_DEAD_LETTER_PAGE, MAX_PAGE, MAX_USER_ID } from './schemas.js';
import { WEBHOOK_EVENT_TYPES } from '../webhook-endpoints.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const int = (description?: string): Schema => ({ type: 'integer', ...(description && { description }) });
const str = (description?: string): Schema => ({ type: 'string', ...(description && { description }) });
/** An object with exactly these properties (`required` lists those always present). */
const object = (properties: Record<string, Schema>, required: string[] = Object.keys(properties), description?: string): Schema => ({
  type: 'object',
  ...(description && { description }),
  properties,
  required,
  additionalProperties: false,
});
const arrayOf = (items: Schema): Schema => ({ type: 'array', items });
const ms = (what: string) => int(`${what} (milliseconds since the epoch)`);

const statusCounts = object(Object.fromEntries(PRESENCE_STATUSES.map((s) => [s, int()])));
const presenceInfo: Record<string, Schema> = {
  userId: str(),
  status: { enum: [...PRESENCE_STATUSES] },
  lastSeen: ms('latest join, status change or heartbeat of any of the user\'s connections'),
  connections: int("the user's connections in the room"),
  metadata: { type: 'object' },
};
const presenceRequired = ['userId', 'status', 'lastSeen', 'connections'];

const schemas: Record<string, Schema> = {
  Error: object(
    { error: { enum: [...ERROR_CODES] }, message: str(), retryAfterMs: int('with RATE_LIMITED: wait this long before retrying') },
    ['error', 'message'],
    'Every error answer; the codes are those of the protocol (docs/protocol.md §7)',
  ),
  RoomMessage: object(
    {
      id: str('sorts in delivery order within the room'),
      room: str(),
      from: str(),
      payload: {},
      timestamp: ms('when the server accepted it'),
      persistent: { type: 'boolean' },
      clientMessageId: str('the idempotency key, when one was given'),
    },
    ['id', 'room', 'from', 'payload', 'timestamp'],
  ),
  NewMessage: object(
    {
      payload: { description: 'any JSON value, at most MAX_MESSAGE_BYTES encoded' },
      persistent: { type: 'boolean', description: 'store in history (default false)' },
      from: { type: 'string', minLength: 1, maxLength: 256, description: 'shown as the sender (default `system`)' },
      idempotencyKey: { type: 'string', pattern: CLIENT_MESSAGE_ID_PATTERN.source, description: 'a repeat within DEDUPE_WINDOW (same room and from) is not delivered again' },
    },
    ['payload'],
  ),
  Published: object({ messageId: str(), duplicate: { type: 'boolean', description: 'true when the idempotency key was seen: the first message\'s id' } }),
  BatchResult: {
    oneOf: [
      object({ index: int(), room: str(), messageId: str(), duplicate: { type: 'boolean' } }),
      object({ index: int(), room: str(), error: { enum: [...ERROR_CODES] }, message: str() }, ['index', 'error', 'message']),
    ],
  },
  History: object({
    messages: arrayOf(ref('RoomMessage')),
    hasMore: { type: 'boolean', description: 'more messages in the range beyond the last one returned' },
    recovered: { type: 'boolean', description: 'false when `since` is older than what is retained' },
  }),
  Occupancy: object({ room: str(), connections: int(), users: int(), byStatus: statusCounts }),
  PresencePage: object({ room: str(), presence: arrayOf(object(presenceInfo, presenceRequired)), next: str('cursor of the next page') }, ['room', 'presence']),
  RoomsPage: object({ rooms: arrayOf(ref('Occupancy')), next: str('cursor of the next page') }, ['rooms']),
  User: object({
    tenantId: str(),
    userId: str(),
    online: { type: 'boolean' },
    connections: arrayOf(object({ connectionId: str(), instance: str('SERVER_ID of the instance holding it'), connectedAt: ms('when it connected'), rooms: arrayOf(str()) })),
    presence: arrayOf(object({ room: str(), ...presenceInfo }, ['room', ...presenceRequired])),
  }),
  Disconnected: object({ userId: str(), code: { enum: [...ERROR_CODES] }, connections: int('the user\'s connections when asked, on every instance') }),
  MemberRemoved: object({ room: str(), userId: str(), connections: int('the user\'s connections in the room when asked') }),
  Revoked: object({ userId: str(), before: ms('tokens issued before this are refused'), expiresAt: ms('when the revocation lapses (every token it covers has expired)') }),
  WebhookEvent: object(
    {
      id: str('stable across retries and replays: de-duplicate by it'),
      type: { enum: [...WEBHOOK_EVENT_TYPES] },
      tenantId: str(),
      time: str('when the change happened (ISO 8601)'),
      data: { type: 'object', description: 'the event\'s payload (docs/webhooks.md)' },
    },
    undefined,
    'One event as the webhook request carries it',
  ),
  DeadLetter: object({
    id: { type: 'string', pattern: DEAD_LETTER_ID_PATTERN.source },
    tenantId: str(),
    url: str('the endpoint that did not take the batch'),
    events: arrayOf(ref('WebhookEvent')),
    attempts: int('requests made'),
    lastError: str('what the last attempt got: a status, a timeout, a network error'),
    failedAt: ms('when it was dead-lettered'),
  }),
  Instance: object({
    serverId: str(),
    startedAt: ms('start'),
    lifecycle: { enum: ['running', 'draining', 'closed'] },
    connections: int(),
    connectionsByTenant: { type: 'object', additionalProperties: { type: 'integer' } },
    countsByTenant: {
      type: 'object',
      description: 'per tenant since the instance started: room:send events received and client events refused (the tenants with the most messages)',
      additionalProperties: object({ messages: int(), refused: int() }),
    },
    eventLoopLagMs: { type: 'number' },
    updatedAt: ms('last report'),
  }, ['serverId', 'startedAt', 'lifecycle', 'connections', 'connectionsByTenant', 'eventLoopLagMs', 'updatedAt']),
};

const param = (name: string, where: 'path' | 'query', schema: Schema, description: string, required = where === 'path'): Schema => ({ name, in: where, required, description, schema });
const params = {
  room: param('room', 'path', { type: 'string', pattern: ROOM_NAME_PATTERN.source }, 'the room name, percent-encoded (`/` as `%2F`)'),
  userId: param('userId', 'path', { type: 'string', minLength: 1, maxLength: MAX_USER_ID }, "the user id (the token's `sub`), percent-encoded"),
  tenantId: param('tenantId', 'query', { type: 'string', pattern: TENANT_ID_PATTERN.source }, 'the tenant acted on: required with an operator key, optional (its own) with a tenant key'),
  cursor: param('cursor', 'query', { type: 'string' }, 'the `next` of the previous page'),
  limit: (def: number, max: number) => param('limit', 'query', { type: 'integer', minimum: 1, maximum: max, default: def }, `page size (default ${def}, at most ${max})`),
};

const json = (schema: Schema) => ({ 'application/json': { schema } });
const ok = (schema: Schema, description: string) => ({ description, content: json(schema) });
const failure = (description: string) => ({ description, content: json(ref('Error')) });
/** The error answers every authenticated route may give. */
const errors = (...extra: [string, string][]) => ({
  '401': failure('AUTH_REQUIRED (no key) or AUTH_INVALID (unknown key)'),
  '403': failure('FORBIDDEN: the API is disabled, the key cannot act on this tenant, or the route needs an operator key'),
  '429': failure('RATE_LIMITED: too many calls with this key (`Retry-After`)'),
  '500': failure('INTERNAL: unexpected failure, or the storage unreachable (retryable)'),
  ...Object.fromEntries(extra.map(([status, text]) => [status, failure(text)])),
});
const badRequest: [string, string] = ['400', 'INVALID_PAYLOAD or INVALID_ROOM: a parameter or field is missing or invalid'];
const tooLarge: [string, string] = ['413', 'PAYLOAD_TOO_LARGE: the body or the payload is over its limit'];
const body = (schema: Schema, required = true) => ({ required, content: json(schema) });

/** The document, built once per call (it is small). */
export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'IntelGraph real-time server API',
      version: '1.0.0',
      description:
        'What an application backend asks of and does to the deployment. Authenticate with `Authorization: Bearer <key>` (API_KEYS). A tenant key acts on its tenant; an operator key (`*:key`) names the tenant with `?tenantId=`. Every error is `{ error, message }` with a code of the protocol. See docs/server-api.md.',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ apiKey: [] }],
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key of API_KEYS (or API_KEY)' } }, schemas },
    paths: {
      '/openapi.json': { get: { operationId: 'openapi', summary: 'This document', security: [], responses: { '200': ok({ type: 'object' }, 'the OpenAPI document') } } },
      '/key': {
        get: {
          operationId: 'key',
          summary: 'The key presented: the tenant it acts on, or `*` for an operator key',
          responses: { '200': ok(object({ tenant: str('a tenant id, or * (operator)'), operator: { type: 'boolean' } }), 'the key is valid'), ...errors() },
        },
      },
      '/rooms/{room}/messages': {
        parameters: [params.room, params.tenantId],
        post: {
          operationId: 'publish',
          summary: 'Publish a message to a room',
          requestBody: body(ref('NewMessage')),
          responses: { '200': ok(ref('Published'), 'published (or a duplicate of an earlier one)'), ...errors(badRequest, tooLarge) },
        },
        get: {
          operationId: 'history',
          summary: "Read a room's stored messages",
          parameters: [
            param('since', 'query', { type: 'string' }, 'only messages after this id'),
            param('before', 'query', { type: 'string' }, 'only messages before this id'),
            params.limit(DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT),
            param('direction', 'query', { enum: ['forward', 'backward'], default: 'forward' }, 'forward: oldest first; backward: newest first'),
          ],
          responses: { '200': ok(ref('History'), 'a page of history'), ...errors(badRequest) },
        },
      },
      '/messages': {
        parameters: [params.tenantId],
        post: {
          operationId: 'publishBatch',
          summary: `Publish up to ${MAX_BATCH_MESSAGES} messages, each on its own`,
          requestBody: body(
            object({ messages: { type: 'array', minItems: 1, maxItems: MAX_BATCH_MESSAGES, items: object({ room: { type: 'string', pattern: ROOM_NAME_PATTERN.source }, ...(schemas.NewMessage?.properties as Record<string, Schema>) }, ['room', 'payload']) } }),
          ),
          responses: {
            '200': ok(object({ results: arrayOf(ref('BatchResult')) }), 'one result per message, in order: an id, or the error that message got'),
            ...errors(badRequest, tooLarge),
          },
        },
      },
      '/rooms': {
        parameters: [params.tenantId],
        get: {
          operationId: 'rooms',
          summary: "The tenant's rooms with members, by name, with their occupancy",
          parameters: [param('prefix', 'query', { type: 'string', maxLength: 128 }, 'only rooms whose name starts with this'), params.cursor, params.limit(DEFAULT_PAGE, MAX_PAGE)],
          responses: { '200': ok(ref('RoomsPage'), 'a page of rooms (possibly shorter than `limit` while `next` is set)'), ...errors(badRequest) },
        },
      },
      '/rooms/{room}': {
        parameters: [params.room, params.tenantId],
        get: { operationId: 'occupancy', summary: 'Who is in a room: connections, users, users by status', responses: { '200': ok(ref('Occupancy'), 'the occupancy (zeros for an empty room)'), ...errors(badRequest) } },
      },
      '/rooms/{room}/presence': {
        parameters: [params.room, params.tenantId],
        get: {
          operationId: 'presence',
          summary: "A room's presence entries, one per user, by user id",
          parameters: [params.cursor, params.limit(DEFAULT_PAGE, MAX_PAGE)],
          responses: { '200': ok(ref('PresencePage'), 'a page of presence entries'), ...errors(badRequest) },
        },
      },
      '/rooms/{room}/members/{userId}': {
        parameters: [params.room, params.userId, params.tenantId],
        delete: {
          operationId: 'removeMember',
          summary: "Take a user's connections out of a room, on every instance (`room:left` with reason `removed`)",
          responses: { '200': ok(ref('MemberRemoved'), 'the removal is on its way to every instance'), ...errors(badRequest) },
        },
      },
      '/users/{userId}': {
        parameters: [params.userId, params.tenantId],
        get: { operationId: 'user', summary: "A user's connections (instance, rooms, since when) and presence", responses: { '200': ok(ref('User'), 'the user (online false without connections)'), ...errors(badRequest) } },
      },
      '/users/{userId}/disconnect': {
        parameters: [params.userId, params.tenantId],
        post: {
          operationId: 'disconnect',
          summary: "Close every connection of a user, on every instance, with a code",
          requestBody: body(object({ code: { enum: [...ERROR_CODES], default: 'FORBIDDEN' }, reason: { type: 'string', minLength: 1, maxLength: 256 } }, []), false),
          responses: { '200': ok(ref('Disconnected'), 'the disconnect is on its way to every instance'), ...errors(badRequest, tooLarge) },
        },
      },
      '/users/{userId}/revoke': {
        parameters: [params.userId, params.tenantId],
        post: {
          operationId: 'revoke',
          summary: "Refuse the user's tokens issued before a time, and close the connections holding one",
          requestBody: body(object({ before: int('milliseconds since the epoch (default now)') }, []), false),
          responses: { '200': ok(ref('Revoked'), 'the revocation is stored and on its way to every instance'), ...errors(badRequest, tooLarge) },
        },
      },
      '/webhooks/dead-letters': {
        parameters: [param('tenantId', 'query', { type: 'string', pattern: TENANT_ID_PATTERN.source }, 'with an operator key: only this tenant\'s (default: every tenant\'s); a tenant key sees its own only')],
        get: {
          operationId: 'deadLetters',
          summary: 'Webhook batches that were not delivered within WEBHOOK_RETRY_FOR, newest first',
          parameters: [param('cursor', 'query', { type: 'string', pattern: DEAD_LETTER_ID_PATTERN.source }, 'the `cursor` of the previous page'), params.limit(DEFAULT_DEAD_LETTER_PAGE, MAX_DEAD_LETTER_PAGE)],
          responses: {
            '200': ok(
              object(
                {
                  deadLetters: arrayOf(ref('DeadLetter')),
                  cursor: { type: ['string', 'null'], description: 'pass as `cursor` for the next page; null on the last page' },
                  configured: { const: false, description: 'present on a server without webhook endpoints (the list is then empty)' },
                },
                ['deadLetters', 'cursor'],
              ),
              'a page of dead letters',
            ),
            ...errors(badRequest),
          },
        },
      },
      '/webhooks/dead-letters/{id}/replay': {
        parameters: [param('id', 'path', { type: 'string', pattern: DEAD_LETTER_ID_PATTERN.source }, 'the dead letter'), params.tenantId],
        post: {
          operationId: 'replayDeadLetter',
          summary: "Queue a dead letter's events again (same ids) and remove the letter",
          responses: { '200': ok(object({ id: str(), replayed: int('events queued again') }), 'queued at the end of its endpoint\'s queue'), ...errors(badRequest, ['404', 'NOT_FOUND: no such letter for this key, or webhooks not configured']) },
        },
      },
      '/webhooks/dead-letters/{id}': {
        parameters: [param('id', 'path', { type: 'string', pattern: DEAD_LETTER_ID_PATTERN.source }, 'the dead letter'), params.tenantId],
        delete: {
          operationId: 'deleteDeadLetter',
          summary: 'Remove a dead letter without replaying it',
          responses: { '200': ok(object({ id: str(), deleted: { const: true } }), 'removed'), ...errors(badRequest, ['404', 'NOT_FOUND: no such letter for this key, or webhooks not configured']) },
        },
      },
      '/instances': {
        get: { operationId: 'instances', summary: 'The live instances (operator key)', responses: { '200': ok(object({ instances: arrayOf(ref('Instance')) }), 'every instance that reported recently'), ...errors() } },
      },
      '/tenants': {
        get: {
          operationId: 'tenants',
          summary: 'Tenants with their connections, and their messages and refusals summed over the live instances (operator key)',
          responses: {
            '200': ok(
              object({
                tenants: arrayOf(
                  object({
                    tenantId: str(),
                    connections: int(),
                    messages: int('room:send events received by the live instances since each started (a rate is the difference of two reads over the time between them)'),
                    refused: int('client events answered with an error code by the live instances since each started'),
                  }),
                ),
              }),
              'by connections, largest first',
            ),
            ...errors(),
          },
        },
      },
    },
  };
}
