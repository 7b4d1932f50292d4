/**
 * The signature of every request this server sends to an application's backend (authorization
 * proxies, webhooks): `X-Webhook-Timestamp: <ms since the epoch>` and
 * `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. The receiver
 * recomputes it over the raw body and refuses a timestamp too far from its clock (replays).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-webhook-timestamp';
export const SIGNATURE_HEADER = 'x-webhook-signature';

/** `sha256=<hex>` of `timestamp.body`. */
export function signature(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The two headers to send with `body`. */
export function signedHeaders(secret: string, body: string, now = Date.now()): Record<string, string> {
  return { [TIMESTAMP_HEADER]: String(now), [SIGNATURE_HEADER]: signature(secret, now, body) };
}

/**
 * Whether `headers` carry a valid signature of `body` made with `secret` (any of `secrets`, during a
 * rotation) within `toleranceMs` of `now`. For receivers written in TypeScript, and the tests.
 */
export function verifySignature(
  secrets: string | readonly string[],
  headers: Record<string, string | string[] | undefined>,
  body: string,
  toleranceMs = 300_000,
  now = Date.now(),
): boolean {
  const ts = headers[TIMESTAMP_HEADER];
  const sig = headers[SIGNATURE_HEADER];
  if (typeof ts !== 'string' || typeof sig !== 'string' || !/^\d{1,16}$/.test(ts)) return false;
  if (Math.abs(now - Number(ts)) > toleranceMs) return false;
  const given = Buffer.from(sig);
  return (typeof secrets === 'string' ? [secrets] : secrets).some((secret) => {
    const want = Buffer.from(signature(secret, ts, body));
    return want.length === given.length && timingSafeEqual(want, given);
  });
}
