import { z } from 'zod';
import {
  CLIENT_MESSAGE_ID_PATTERN,
  MAX_HISTORY_LIMIT,
  PRESENCE_STATUSES,
  ROOM_NAME_PATTERN,
  type ErrorCode,
} from '@intelgraph/websocket-protocol';
import { CodedError } from '../errors.js';

/** Largest encoded metadata object accepted (join or presence metadata). */
export const MAX_METADATA_BYTES = 4096;
/** Deepest nesting accepted in a payload or metadata. */
export const MAX_DEPTH = 32;

/**
 * Checks that a value is plain JSON (no binary attachments, no non-finite
 * numbers, nesting at most MAX_DEPTH) and returns its encoded size in bytes.
 * Throws INVALID_PAYLOAD otherwise.
 */
export function jsonSize(value: unknown, what = 'payload'): number {
  checkJson(value, 0, what);
  const text = JSON.stringify(value);
  return text === undefined ? 0 : Buffer.byteLength(text);
}

function checkJson(value: unknown, depth: number, what: string): void {
  if (depth > MAX_DEPTH) throw new CodedError('INVALID_PAYLOAD', `The ${what} is nested too deeply (at most ${MAX_DEPTH} levels)`);
  if (value === null) return;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new CodedError('INVALID_PAYLOAD', `The ${what} holds a non-finite number`);
      return;
    case 'object': {
      if (Array.isArray(value)) {
        for (const v of value) checkJson(v, depth + 1, what);
        return;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new CodedError('INVALID_PAYLOAD', `The ${what} must be JSON (binary attachments are not accepted)`);
      for (const v of Object.values(value as Record<string, unknown>)) checkJson(v, depth + 1, what);
      return;
    }
    default:
      throw new CodedError('INVALID_PAYLOAD', `The ${what} must be JSON`);
  }
}

const room = z.string().regex(ROOM_NAME_PATTERN);
const metadata = z.record(z.string(), z.unknown());
const since = z.string().max(64);
const status = z.enum(PRESENCE_STATUSES);

export const schemas = {
  join: z.object({ room, metadata: metadata.optional(), since: since.optional() }),
  leave: z.object({ room }),
  send: z.object({
    room,
    payload: z.unknown(),
    persistent: z.boolean().optional(),
    clientMessageId: z.string().regex(CLIENT_MESSAGE_ID_PATTERN).optional(),
  }),
  history: z.object({ room, since: since.optional(), limit: z.number().int().min(1).optional() }),
  presenceQuery: z.object({ room }),
  status: z.object({ status, metadata: metadata.optional() }),
  heartbeat: z.object({ status: status.optional() }),
  refresh: z.object({ token: z.string().min(1).max(16_384) }),
};

export { MAX_HISTORY_LIMIT };

/**
 * Parses a payload, mapping failures to the most precise code: an invalid or
 * missing `room` is INVALID_ROOM, anything else INVALID_PAYLOAD.
 */
export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CodedError('INVALID_PAYLOAD', 'The payload must be an object');
  }
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = String(issue?.path[0] ?? '');
  const code: ErrorCode = field === 'room' ? 'INVALID_ROOM' : 'INVALID_PAYLOAD';
  const detail =
    field === 'room'
      ? 'Room names are 1-128 characters of A-Z a-z 0-9 : _ . @ / -'
      : field
        ? `Invalid field "${field}": ${issue?.message ?? 'invalid'}`
        : 'Invalid payload';
  throw new CodedError(code, detail);
}

export function checkMetadata(value: Record<string, unknown> | undefined): void {
  if (value === undefined) return;
  if (jsonSize(value, 'metadata') > MAX_METADATA_BYTES) {
    throw new CodedError('PAYLOAD_TOO_LARGE', `Metadata is limited to ${MAX_METADATA_BYTES} bytes`);
  }
}
