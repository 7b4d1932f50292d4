import { createHash } from 'node:crypto';

/** An HMAC secret and the id tokens signed with it carry in their `kid` header. */
export interface HmacSecret {
  id: string;
  secret: string;
}

/** `id:secret`: an explicit id of 1-32 characters of A-Z a-z 0-9 _ . - before the first colon. */
const EXPLICIT_ID = /^([A-Za-z0-9_.-]{1,32}):([\s\S]+)$/;

/**
 * Label values of the verification metric that are not secret ids, so no secret may be named so.
 * `public_key` and `jwks` count tokens verified by JWT_PUBLIC_KEY or JWKS_URL; `unknown`, tokens
 * no configured key signed.
 */
export const RESERVED_SECRET_IDS: ReadonlySet<string> = new Set(['unknown', 'public_key', 'jwks']);

/**
 * The id of a secret given without one: the first 8 hex digits of its SHA-256, which an operator can
 * compute with `printf %s "$SECRET" | sha256sum | cut -c1-8`. Tokens show it, and 32 bits of a hash
 * tell nothing a signature made with the secret does not.
 */
export function secretId(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 8);
}

/** Reads a secret as written in JWT_SECRET or JWT_PREVIOUS_SECRETS: `secret` or `id:secret`. */
export function parseSecret(text: string): HmacSecret {
  const m = EXPLICIT_ID.exec(text);
  if (m) return { id: m[1] as string, secret: m[2] as string };
  return { id: secretId(text), secret: text };
}
