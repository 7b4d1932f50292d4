/**
 * Server API keys: `API_KEYS` entries `tenant:key` (a key that acts on that tenant only) and `*:key`
 * (an operator key, naming the tenant of each call with `?tenantId=`). The legacy `API_KEY` is an
 * operator key. Keys are compared in constant time and never logged; a key is known in logs and
 * rate limits by its id, a hash prefix.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TENANT_ID_PATTERN } from '@intelgraph/websocket-protocol';
import { CodedError } from '../errors.js';

/** Shortest key accepted: 32 characters of a random alphabet are out of reach of guessing. */
export const MIN_API_KEY_LENGTH = 32;
const KEY_PATTERN = /^[A-Za-z0-9._~+/=-]+$/;

export interface ApiKey {
  /** A tenant id, or `*` for an operator key. */
  tenant: string;
  /** SHA-256 of the key: what is compared (fixed length), and its id's source. */
  digest: Buffer;
  /** The first 12 hex digits of the digest: names the key in logs and rate-limit buckets. */
  id: string;
}

const digestOf = (key: string) => createHash('sha256').update(key).digest();

export function apiKey(tenant: string, key: string): ApiKey {
  const digest = digestOf(key);
  return { tenant, digest, id: digest.toString('hex').slice(0, 12) };
}

/** A configured key and the tenant it acts on (`*`: any). */
export interface ApiKeyEntry {
  tenant: string;
  key: string;
}

/** `API_KEYS` entries, or the first problem found (the message names the entry by position, never by value). */
export function parseApiKeys(entries: readonly string[]): { keys: ApiKeyEntry[] } | { error: string } {
  const keys: ApiKeyEntry[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    const at = `entry ${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon <= 0) return { error: `${at} must be tenant:key or *:key` };
    const tenant = entry.slice(0, colon);
    const key = entry.slice(colon + 1);
    if (tenant !== '*' && !TENANT_ID_PATTERN.test(tenant)) return { error: `${at} names an invalid tenant id (1-64 characters of A-Z a-z 0-9 _ . -, or *)` };
    if (key.length < MIN_API_KEY_LENGTH) return { error: `${at} has a key shorter than ${MIN_API_KEY_LENGTH} characters` };
    if (!KEY_PATTERN.test(key)) return { error: `${at} has a key with characters other than A-Z a-z 0-9 . _ ~ + / = -` };
    if (seen.has(key)) return { error: `${at} repeats a key already listed` };
    seen.add(key);
    keys.push({ tenant, key });
  }
  return { keys };
}

/**
 * The key `presented` is, or undefined. Every configured key is compared (digests of equal length,
 * in constant time), so the time taken tells nothing about which matched or how closely.
 */
export function findApiKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  const given = digestOf(presented);
  let found: ApiKey | undefined;
  for (const k of keys) if (timingSafeEqual(k.digest, given) && found === undefined) found = k;
  return found;
}

/** The key a request presents (`Authorization: Bearer <key>`), or AUTH_REQUIRED / AUTH_INVALID. */
export function authenticateApiKey(keys: readonly ApiKey[], req: IncomingMessage): ApiKey {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || !/^Bearer\s+\S/i.test(header)) throw new CodedError('AUTH_REQUIRED', 'Authorization: Bearer <API key> is required');
  const key = findApiKey(keys, header.replace(/^Bearer\s+/i, '').trim());
  if (!key) throw new CodedError('AUTH_INVALID', 'Invalid API key');
  return key;
}
