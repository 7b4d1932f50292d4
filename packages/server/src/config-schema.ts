/**
 * The environment the server reads: every variable with its type, default and bounds, and the
 * validators other variables reuse (URLs the server calls, files it reads). `config.ts` turns the
 * parsed values into the frozen `Config`.
 */
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';

const boolText = () => z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' });
const truthy = (v: string) => v === 'true' || v === '1' || v === 'yes';

export const bool = (def: boolean) =>
  boolText()
    .default(def ? 'true' : 'false')
    .transform(truthy);

/** A boolean whose default depends on other variables (undefined when unset). */
export const optionalBool = () =>
  boolText()
    .optional()
    .transform((v) => (v === undefined ? undefined : truthy(v)));

export const int = (def: number, min: number, max: number) =>
  z
    .string()
    .default(String(def))
    .transform((v, ctx) => {
      const n = Number(v.trim());
      if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/** `value` as a URL of one of `protocols` (`'https:'`...) with a host, or undefined when it is not one. */
export function parseUrl(value: string, protocols: readonly string[]): URL | undefined {
  try {
    const url = new URL(value);
    return protocols.includes(url.protocol) && url.hostname !== '' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** An optional URL of one of `protocols`, refused at start unless it parses and names a host. */
export const urlOf = (protocols: readonly string[], message: string) =>
  optionalString.transform((v, ctx) => {
    if (v === undefined || parseUrl(v, protocols)) return v;
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  });

/** An optional http:// or https:// URL (an endpoint the server calls). */
export const httpUrl = () => urlOf(['http:', 'https:'], 'must be an http(s) URL such as https://host/path');

/** Files larger than this are refused: every file the server reads is a key, a certificate or a secret. */
const MAX_FILE_BYTES = 1_048_576;

/** The text of the file at `path`, or why it cannot be used. */
function readText(path: string): { text: string } | { error: string } {
  try {
    const st = statSync(path);
    if (!st.isFile()) return { error: `"${path}" is not a regular file` };
    if (st.size > MAX_FILE_BYTES) return { error: `"${path}" is larger than ${MAX_FILE_BYTES} bytes` };
    const text = readFileSync(path, 'utf8');
    if (text.trim() === '') return { error: `"${path}" is empty` };
    return { text };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // "ENOENT: no such file or directory, stat '/x'" -> "no such file or directory"
    return { error: `"${path}" cannot be read (${/^[A-Z]+: ([^,]+)/.exec(message)?.[1] ?? message})` };
  }
}

/** An optional path to a non-empty file, read at start: `{ path, text }`. */
export const readableFile = () =>
  optionalString.transform((path, ctx) => {
    if (path === undefined) return undefined;
    const read = readText(path);
    if ('error' in read) {
      ctx.addIssue({ code: 'custom', message: read.error });
      return z.NEVER;
    }
    return { path, text: read.text };
  });

/** The patches to socket.io / engine.io / ws internals (transport-tuning/), by name. */
export const TRANSPORT_PATCH_NAMES = ['write-batching', 'direct-broadcast', 'handshake-release', 'listener-compaction'] as const;
export type TransportPatchName = (typeof TRANSPORT_PATCH_NAMES)[number];

/** `on` (every patch), `off` (none), or a comma-separated list of patch names. */
export const transportTuning = () =>
  z
    .string()
    .default('on')
    .transform((v, ctx): TransportPatchName[] => {
      const text = v.trim().toLowerCase();
      if (text === 'on' || text === '') return [...TRANSPORT_PATCH_NAMES];
      if (text === 'off') return [];
      const names = text.split(',').map((n) => n.trim()).filter((n) => n !== '');
      const unknown = names.filter((n) => !(TRANSPORT_PATCH_NAMES as readonly string[]).includes(n));
      if (unknown.length > 0) {
        ctx.addIssue({ code: 'custom', message: `must be on, off or a comma-separated list of ${TRANSPORT_PATCH_NAMES.join(', ')} (unknown: ${unknown.join(', ')})` });
        return z.NEVER;
      }
      return TRANSPORT_PATCH_NAMES.filter((n) => names.includes(n));
    });

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], { message: 'must be development, production or test' }).default('development'),
  PORT: int(9001, 0, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be fatal, error, warn, info, debug, trace or silent' }).default('info'),
  SERVER_ID: optionalString,

  TLS_CERT_FILE: readableFile(),
  TLS_KEY_FILE: readableFile(),

  REDIS_URL: urlOf(['redis:', 'rediss:'], 'must be a redis:// or rediss:// URL'),
  REDIS_HOST: optionalString,
  REDIS_PORT: int(6379, 1, 65535),
  REDIS_PASSWORD: optionalString,
  REDIS_PASSWORD_FILE: readableFile(),
  REDIS_TLS: bool(false),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{0,64}$/, 'must be up to 64 characters of A-Z a-z 0-9 : _ . -').default('ig:'),
  REDIS_CLUSTER_NODES: optionalString,
  REDIS_SHARDED: z.enum(['true', 'false', 'auto']).default('auto'),
  REDIS_COMMAND_TIMEOUT: int(5000, 100, 600_000),
  CLUSTERING_ENABLED: bool(true),

  JWT_SECRET: optionalString,
  JWT_SECRET_FILE: readableFile(),
  JWT_PREVIOUS_SECRETS: optionalString,
  JWT_PUBLIC_KEY: optionalString,
  JWT_PUBLIC_KEY_FILE: readableFile(),
  JWKS_URL: httpUrl(),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_REQUIRE_EXP: bool(true),
  JWT_MAX_AGE: optionalString,

  CORS_ORIGIN: z.string().default('http://localhost:3000'),
  TRUST_PROXY: bool(false),
  STATS_TOKEN: optionalString,
  API_KEY: optionalString,
  API_KEYS: optionalString,
  API_KEYS_FILE: readableFile(),
  API_RATE_LIMIT_PER_SECOND: int(100, 0, 1_000_000),
  API_RATE_LIMIT_BURST: int(200, 0, 10_000_000),
  API_MAX_BODY_BYTES: int(1_048_576, 1024, 67_108_864),
  REVOCATION_TTL: z.string().default('7d'),

  AUTH_PROXY_URL: httpUrl(),
  JOIN_PROXY_URL: httpUrl(),
  PUBLISH_PROXY_URL: httpUrl(),
  AUTH_PROXY_SECRET: optionalString,
  AUTH_PROXY_SECRET_FILE: readableFile(),
  AUTH_PROXY_TIMEOUT: int(2000, 50, 60_000),
  AUTH_PROXY_CACHE_TTL: int(10_000, 0, 86_400_000),
  AUTH_PROXY_CACHE_SIZE: int(10_000, 1, 1_000_000),
  AUTH_PROXY_FAILURE_POLICY: z.enum(['refuse', 'allow'], { message: 'must be refuse or allow' }).default('refuse'),
  AUTH_PROXY_BREAKER_FAILURES: int(5, 0, 1_000_000),
  AUTH_PROXY_BREAKER_COOLDOWN: int(10_000, 100, 3_600_000),

  WEBHOOK_URL: httpUrl(),
  WEBHOOK_SECRET: optionalString,
  WEBHOOK_SECRET_FILE: readableFile(),
  WEBHOOK_EVENTS: optionalString,
  WEBHOOK_ROOM_PREFIXES: optionalString,
  WEBHOOKS_FILE: readableFile(),
  WEBHOOK_BATCH_SIZE: int(100, 1, 1000),
  WEBHOOK_BATCH_WAIT: int(1000, 0, 60_000),
  WEBHOOK_TIMEOUT: int(10_000, 100, 120_000),
  WEBHOOK_RETRY_FOR: int(3600, 1, 604_800),
  WEBHOOK_RETRY_BASE: int(1000, 10, 600_000),
  WEBHOOK_RETRY_MAX_DELAY: int(60_000, 10, 3_600_000),
  WEBHOOK_LEAVE_GRACE: int(5000, 0, 600_000),
  WEBHOOK_CONCURRENCY: int(8, 1, 256),
  WEBHOOK_QUEUE_MAX: int(100_000, 1, 10_000_000),
  WEBHOOK_DEAD_LETTER_MAX: int(10_000, 1, 1_000_000),
  WEBHOOK_DEAD_LETTER_TTL: int(604_800, 60, 31_536_000),

  PERSISTENCE_ENABLED: bool(true),
  PERSISTENCE_TTL: int(3600, 1, 31_536_000),
  PERSISTENCE_MAX_MESSAGES: int(1000, 1, 1_000_000),
  DEDUPE_WINDOW: int(300, 1, 86_400),

  HEARTBEAT_INTERVAL: int(30_000, 100, 3_600_000),
  HEARTBEAT_TIMEOUT: int(60_000, 200, 7_200_000),
  SHUTDOWN_TIMEOUT: int(30_000, 0, 3_600_000),
  RECONNECT_JITTER: int(5_000, 0, 600_000),
  HANDSHAKE_TIMEOUT: int(10_000, 100, 600_000),
  OVERLOAD_LAG_MS: int(200, 0, 60_000),
  OVERLOAD_RETRY_AFTER_MS: int(1000, 100, 600_000),

  MAX_MESSAGE_BYTES: int(65_536, 0, 16_777_216),
  MAX_HTTP_BUFFER_SIZE: int(0, 0, 67_108_864),
  WRITE_BUFFER_LIMIT: int(4_194_304, 0, 1_073_741_824),
  RATE_LIMIT_MESSAGES_PER_SECOND: int(50, 0, 1_000_000),
  RATE_LIMIT_MESSAGES_BURST: int(100, 0, 10_000_000),
  RATE_LIMIT_USER_MESSAGES_PER_SECOND: int(200, 0, 1_000_000),
  RATE_LIMIT_USER_MESSAGES_BURST: int(400, 0, 10_000_000),
  RATE_LIMIT_TENANT_MESSAGES_PER_SECOND: int(5000, 0, 10_000_000),
  RATE_LIMIT_TENANT_MESSAGES_BURST: int(10_000, 0, 100_000_000),
  RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND: int(20, 0, 1_000_000),
  RATE_LIMIT_CONNECTIONS_PER_IP_BURST: int(100, 0, 10_000_000),
  MAX_CONNECTIONS_PER_USER: int(20, 0, 1_000_000),
  MAX_ROOMS_PER_CONNECTION: int(100, 0, 1_000_000),
  RATE_LIMIT_EVENTS_PER_SECOND: int(30, 0, 1_000_000),
  RATE_LIMIT_EVENTS_BURST: int(300, 0, 10_000_000),
  RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND: int(40, 0, 1_000_000),
  RATE_LIMIT_SESSIONS_PER_IP_BURST: int(200, 0, 10_000_000),
  MAX_PENDING_SESSIONS_PER_IP: int(50, 0, 1_000_000),
  MAX_PENDING_SESSIONS: int(5000, 0, 10_000_000),
  PRESENCE_UPDATE_INTERVAL: int(250, 0, 60_000),

  METRICS_MAX_TENANTS: int(100, 1, 100_000),
  /** Unset: on in development and test, off in production (config.ts). */
  CONSOLE_ENABLED: optionalBool(),
  WS_PER_MESSAGE_DEFLATE: bool(false),
  TRANSPORT_TUNING: transportTuning(),
});

export type Env = z.infer<typeof envSchema>;
