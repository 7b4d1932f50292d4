/** Writing HTTP answers and reading request bodies, for every route (routes.ts, the server API). */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpStatusOf } from '@intelgraph/websocket-protocol';
import type { Config } from '../config.js';
import { CodedError, toCoded } from '../errors.js';

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

/**
 * An error answer: the code's status from the protocol's catalogue, and `{ error, message }`
 * (with `retryAfterMs` and a `Retry-After` header in seconds when a retry must wait).
 */
export function sendError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}): void {
  const coded = toCoded(err);
  const wait = coded.retryAfterMs;
  if (wait === undefined) return send(res, httpStatusOf(coded.code), { error: coded.code, message: coded.message }, headers);
  send(res, httpStatusOf(coded.code), { error: coded.code, message: coded.message, retryAfterMs: wait }, { 'retry-after': String(Math.max(1, Math.ceil(wait / 1000))), ...headers });
}

/** Constant-time comparison of a presented bearer token with the expected one. */
export function bearerMatches(req: IncomingMessage, expected: string | undefined): boolean {
  if (expected === undefined) return false;
  const header = req.headers.authorization;
  if (typeof header !== 'string' || !/^Bearer\s+/i.test(header)) return false;
  const given = Buffer.from(header.replace(/^Bearer\s+/i, '').trim());
  const want = Buffer.from(expected);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => {
      // Answer now and close the connection once the answer is out; the rest of the body is read and dropped.
      res.setHeader('connection', 'close');
      req.removeAllListeners('data');
      req.resume();
      reject(new CodedError('PAYLOAD_TOO_LARGE', `Bodies are limited to ${limit} bytes`));
    };
    if (Number(req.headers['content-length'] ?? 0) > limit) return tooLarge();
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) return tooLarge();
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The JSON body of a request (Content-Type application/json, at most `limit` bytes), parsed. */
export async function readJson(req: IncomingMessage, res: ServerResponse, limit: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new CodedError('INVALID_PAYLOAD', 'Content-Type must be application/json');
  const text = await readBody(req, res, limit);
  try {
    return JSON.parse(text);
  } catch {
    throw new CodedError('INVALID_PAYLOAD', 'The body is not valid JSON');
  }
}

/** Largest body of a request carrying one message: room for a maximal payload and the other fields. */
export function messageBodyLimit(config: Pick<Config, 'maxMessageBytes' | 'maxHttpBufferSize'>): number {
  return config.maxMessageBytes === 0 ? config.maxHttpBufferSize : Math.max(config.maxMessageBytes, 1024) + 4096;
}
