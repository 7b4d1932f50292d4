/** What the server API accepts: bodies and query parameters, checked with zod. */
import {
  CLIENT_MESSAGE_ID_PATTERN,
  DEFAULT_HISTORY_LIMIT,
  ERROR_CODES,
  HISTORY_DIRECTIONS,
  MAX_HISTORY_LIMIT,
  ROOM_NAME_PATTERN,
  TENANT_ID_PATTERN,
  type ErrorCode,
} from '@intelgraph/websocket-protocol';
import { z } from 'zod';
import { MAX_ROOMS_PAGE } from '../engine/types.js';
import { CodedError } from '../errors.js';

/** Messages one `POST /api/v1/messages` carries at most. */
export const MAX_BATCH_MESSAGES = 100;
/** Page size of the paged lists: default and largest. */
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = MAX_ROOMS_PAGE;
/** Dead letter ids: `dl_`, the failure time (13 digits), `_`, 12 hex digits. */
export const DEAD_LETTER_ID_PATTERN = /^dl_\d{13}_[0-9a-f]{12}$/;
export const DEFAULT_DEAD_LETTER_PAGE = 50;
export const MAX_DEAD_LETTER_PAGE = 200;
/** User ids as tokens carry them (`sub`). */
export const MAX_USER_ID = 256;

const room = z.string().regex(ROOM_NAME_PATTERN);
const message = {
  payload: z.unknown(),
  persistent: z.boolean().optional(),
  from: z.string().min(1).max(256).optional(),
  idempotencyKey: z.string().regex(CLIENT_MESSAGE_ID_PATTERN, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -').optional(),
};

export const bodies = {
  message: z.object(message),
  batch: z.object({ messages: z.array(z.unknown()).min(1).max(MAX_BATCH_MESSAGES) }),
  batchItem: z.object({ room, ...message }),
  disconnect: z.object({
    code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]).optional(),
    reason: z.string().min(1).max(256).optional(),
  }),
  revoke: z.object({ before: z.number().int().min(0).max(8_640_000_000_000).optional() }),
};

const limit = (def: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,7}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .default(def);

export const queries = {
  history: z.object({
    since: z.string().max(64).optional(),
    before: z.string().max(64).optional(),
    limit: limit(DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT),
    direction: z.enum(HISTORY_DIRECTIONS as readonly ['forward', 'backward']).optional(),
  }),
  page: z.object({ cursor: z.string().max(512).optional(), limit: limit(DEFAULT_PAGE, MAX_PAGE) }),
  deadLetters: z.object({
    cursor: z.string().regex(DEAD_LETTER_ID_PATTERN, 'must be the cursor of the previous page').optional(),
    limit: limit(DEFAULT_DEAD_LETTER_PAGE, MAX_DEAD_LETTER_PAGE),
  }),
  rooms: z.object({
    prefix: z.string().regex(/^[A-Za-z0-9:_.@/-]{0,128}$/, 'must be up to 128 characters of a room name').optional(),
    cursor: z.string().max(512).optional(),
    limit: limit(DEFAULT_PAGE, MAX_PAGE),
  }),
};

export const tenantIdSchema = z.string().regex(TENANT_ID_PATTERN);


/** `value` parsed by `schema`, or INVALID_PAYLOAD (INVALID_ROOM for `room`) naming the field at fault. */
export function check<T>(schema: z.ZodType<T>, value: unknown, what = 'body'): T {
  if (what === 'body' && (value === null || typeof value !== 'object' || Array.isArray(value))) throw new CodedError('INVALID_PAYLOAD', 'The body must be a JSON object');
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  if (field === 'room') throw new CodedError('INVALID_ROOM', 'Room names are 1-128 characters of A-Z a-z 0-9 : _ . @ / -');
  throw new CodedError('INVALID_PAYLOAD', field ? `Invalid ${what === 'body' ? 'field' : 'parameter'} "${field}": ${issue?.message ?? 'invalid'}` : `Invalid ${what}`);
}

/** Cursors of the paged lists: the last item's name, opaque to callers. */
export const cursors = {
  encode: (after: string) => Buffer.from(after, 'utf8').toString('base64url'),
  decode(cursor: string | undefined): string | undefined {
    if (cursor === undefined) return undefined;
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new CodedError('INVALID_PAYLOAD', 'Invalid parameter "cursor"');
    return Buffer.from(cursor, 'base64url').toString('utf8');
  },
};
