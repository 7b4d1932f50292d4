import { z } from 'zod';
import {
  CLIENT_MESSAGE_ID_PATTERN,
  HISTORY_DIRECTIONS,
  MAX_HISTORY_LIMIT,
  PRESENCE_STATUSES,
  ROOM_NAME_PATTERN,
  type ErrorCode,
} from '@intelgraph/websocket-protocol';
import { CodedError } from './errors.js';

/** Largest encoded metadata object accepted (join or presence metadata). */
export const MAX_METADATA_BYTES = 4096;
/** Deepest nesting accepted in a payload or metadata. */
export const MAX_DEPTH = 32;

/**
 * Validation of client input (socket events and HTTP bodies): zod schemas for payloads, and the JSON
 * checks payloads and metadata go through.
 */

/**
 * Checks that a value is plain JSON (no binary attachments, no non-finite
 * numbers, nesting at most MAX_DEPTH) and returns its encoded size in bytes.
 * Throws INVALID_PAYLOAD otherwise.
 */
export function jsonSize(value: unknown, what = 'payload'): number {
  checkJson(value, 0, what);
  return encodedSize(value);
}

/**
 * Checks that a value is plain JSON (as `jsonSize`) and tells whether its
 * encoded size is over `max` bytes (never when `max` <= 0). The check's walk
 * yields an upper bound of the size; the value is only encoded when that bound
 * is over `max`, so the usual small message is not serialised here at all.
 */
export function exceedsJsonSize(value: unknown, max: number, what = 'payload'): boolean {
  const bound = checkJson(value, 0, what);
  return max > 0 && bound > max && encodedSize(value) > max;
}

function encodedSize(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : Buffer.byteLength(text);
}

/**
 * Bytes a JSON string takes at most, quotes included: a UTF-16 code unit never
 * encodes to more than 6 bytes (`\uXXXX`; UTF-8 needs at most 3).
 */
const stringBound = (s: string) => 2 + 6 * s.length;
/** Characters of the longest number JSON.stringify writes (25, e.g. `-0.0000014136548624912402`), rounded up. */
const NUMBER_BOUND = 26;

/** Throws unless the value is plain JSON; returns an upper bound of its encoded size in bytes. */
function checkJson(value: unknown, depth: number, what: string): number {
  if (depth > MAX_DEPTH) throw new CodedError('INVALID_PAYLOAD', `The ${what} is nested too deeply (at most ${MAX_DEPTH} levels)`);
  if (value === null) return 4;
  switch (typeof value) {
    case 'string':
      return stringBound(value);
    case 'boolean':
      return 5;
    case 'number':
      if (!Number.isFinite(value)) throw new CodedError('INVALID_PAYLOAD', `The ${what} holds a non-finite number`);
      return NUMBER_BOUND;
    case 'object': {
      let bound = 2;
      if (Array.isArray(value)) {
        for (const v of value) bound += checkJson(v, depth + 1, what) + 1;
        return bound;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new CodedError('INVALID_PAYLOAD', `The ${what} must be JSON (binary attachments are not accepted)`);
      const obj = value as Record<string, unknown>;
      for (const k of Object.keys(obj)) bound += stringBound(k) + 2 + checkJson(obj[k], depth + 1, what);
      return bound;
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
  history: z.object({
    room,
    since: since.optional(),
    before: since.optional(),
    limit: z.number().int().min(1).optional(),
    direction: z.enum(HISTORY_DIRECTIONS as readonly ['forward', 'backward']).optional(),
  }),
  presenceQuery: z.object({ room }),
  status: z.object({ status, metadata: metadata.optional() }),
  heartbeat: z.object({ status: status.optional() }),
  // Any value: one that cannot be a token is AUTH_INVALID (see the session), only a missing one INVALID_PAYLOAD.
  refresh: z.object({ token: z.unknown().refine((t) => t !== undefined, { message: 'required' }) }),
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
  if (exceedsJsonSize(value, MAX_METADATA_BYTES, 'metadata')) {
    throw new CodedError('PAYLOAD_TOO_LARGE', `Metadata is limited to ${MAX_METADATA_BYTES} bytes`);
  }
}
