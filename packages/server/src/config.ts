/**
 * Configuration: every environment variable (config-schema.ts), validated once at start and frozen.
 * A bad value throws a ConfigError whose message is one line naming the variable.
 */
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createSecureContext } from 'node:tls';
import { parseEnv } from 'node:util';
import { parseSecret, RESERVED_SECRET_IDS, type HmacSecret } from './auth/secrets.js';
import { parseApiKeys, type ApiKeyEntry } from './auth/api-keys.js';
import type { BackendAuthConfig } from './auth/proxy.js';
import { envSchema, parseUrl, type Env, type TransportPatchName } from './config-schema.js';
import { endpoint, eventsSchema, MIN_WEBHOOK_SECRET, parseEndpointsFile, prefixesSchema, type WebhookEndpoint, type WebhooksConfig } from './webhook-endpoints.js';

export type { WebhooksConfig } from './webhook-endpoints.js';

export { httpUrl, readableFile, urlOf, TRANSPORT_PATCH_NAMES, type TransportPatchName } from './config-schema.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface RedisConfig {
  /** Standalone connection URL (`redis://` or `rediss://`), or undefined with cluster nodes. */
  url?: string;
  clusterNodes?: { host: string; port: number }[];
  password?: string;
  tls: boolean;
  keyPrefix: string;
  /** Sharded pub/sub (SPUBLISH/SSUBSCRIBE): on for Redis Cluster. */
  sharded: boolean;
  /** An operation Redis has not answered within this many ms fails with a coded error. */
  commandTimeoutMs: number;
}

export interface JwtConfig {
  /** HMAC secrets: the first signs, every one verifies (JWT_SECRET, then JWT_PREVIOUS_SECRETS). */
  secrets: readonly HmacSecret[];
  /** True when the secret was generated for this process (development only). */
  secretGenerated: boolean;
  publicKey?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  requireExp: boolean;
  /** JWT_MAX_AGE: tokens issued longer ago are refused, and connections end by then. */
  maxAgeSeconds?: number;
}

export interface LimitsConfig {
  connection: { rate: number; burst: number };
  user: { rate: number; burst: number };
  tenant: { rate: number; burst: number };
  ip: { rate: number; burst: number };
  maxConnectionsPerUser: number;
  maxRoomsPerConnection: number;
  /** Every client event but `room:send`, per connection, in cost units (see limits/events.ts). */
  events: { rate: number; burst: number };
  /** Engine.IO sessions (before any authentication), per client address and pending in total. */
  sessions: { rate: number; burst: number; pendingPerAddress: number; pendingTotal: number };
  /** Presence updates of one user in one room are announced at most once per this many ms (0: each one). */
  presenceUpdateIntervalMs: number;
  /** New handshakes are refused (OVERLOADED) while the event loop lags more than lagMs (0: never). */
  overload: { lagMs: number; retryAfterMs: number };
}

/** The server API (`/api/v1`): its keys and the limits of its calls. */
export interface ApiConfig {
  /** API_KEYS entries, then API_KEY as an operator key (`*`). Empty: the API is disabled. */
  keys: readonly ApiKeyEntry[];
  /** Calls per key, shared by every instance. */
  rate: { rate: number; burst: number };
  /** Largest body of a batch of messages. */
  maxBodyBytes: number;
  /** How long a revocation is kept: JWT_MAX_AGE when set (no token it covers lives longer), else REVOCATION_TTL. */
  revocationTtlSeconds: number;
}

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  /** PEM certificate chain and private key: the server then serves HTTPS and WSS itself. */
  tls?: { cert: string; key: string };
  logLevel: Env['LOG_LEVEL'];
  serverId: string;
  /** Undefined: the embedded in-memory engine. */
  redis?: RedisConfig;
  /** Fan out through the Redis adapter (false keeps the instance standalone even with Redis). */
  clustering: boolean;
  jwt: JwtConfig;
  /** Allowed origins; `*` allows any. */
  corsOrigins: string[];
  trustProxy: boolean;
  statsToken?: string;
  apiKey?: string;
  api: ApiConfig;
  backendAuth?: BackendAuthConfig;
  persistence: { enabled: boolean; ttlSeconds: number; maxMessages: number; dedupeWindowSeconds: number };
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  shutdownTimeoutMs: number;
  reconnectJitterMs: number;
  handshakeTimeoutMs: number;
  maxMessageBytes: number;
  maxHttpBufferSize: number;
  writeBufferLimit: number;
  limits: LimitsConfig;
  webhooks: WebhooksConfig;
  metricsMaxTenants: number;
  perMessageDeflate: boolean;
  /** The patches to socket.io / engine.io / ws internals to apply (TRANSPORT_TUNING); empty: none. */
  transportTuning: readonly TransportPatchName[];
  /** The demo at `/` and the admin view at `/admin` (CONSOLE_ENABLED; default: on except in production). */
  console: ConsoleConfig;
}

export interface ConsoleConfig {
  enabled: boolean;
  /**
   * `POST /dev/token` mints tokens for any user and tenant: only with a secret generated for this
   * process (no JWT_SECRET) outside production, where no token it mints is valid anywhere else.
   */
  devTokens: boolean;
}

/** `30s`, `15m`, `1h`, `7d` or a number of seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

/** The entries of a comma-separated list, spaces around them ignored, empty ones skipped. */
export function commaList(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Reads `.env` from `dir` into a copy of `env`, without overriding variables already set. */
export function withDotEnv(env: NodeJS.ProcessEnv, dir = process.cwd()): NodeJS.ProcessEnv {
  const file = `${dir}/.env`;
  if (!existsSync(file)) return env;
  const parsed = parseEnv(readFileSync(file, 'utf8'));
  return { ...parsed, ...env };
}

const fail = (name: string, message: string): never => {
  throw new ConfigError(`Invalid configuration: ${name} ${message}`);
};

/** The configuration from the environment, validated and frozen, or a ConfigError naming the variable at fault. */
export function loadConfig(env: NodeJS.ProcessEnv): Readonly<Config> {
  const r = parseEnvironment(env);
  const prod = r.NODE_ENV === 'production';
  const secrets = mountedSecrets(r);
  if (r.HEARTBEAT_TIMEOUT <= r.HEARTBEAT_INTERVAL) fail('HEARTBEAT_TIMEOUT', 'must be greater than HEARTBEAT_INTERVAL');
  const redis = redisConfig(r, secrets.redisPassword);
  const tls = tlsConfig(r);
  const jwt = jwtConfig(r, prod, secrets);
  const backendAuth = backendAuthConfig(r, secrets);
  return deepFreeze<Config>({
    env: r.NODE_ENV,
    port: r.PORT,
    host: r.HOST,
    logLevel: r.LOG_LEVEL,
    serverId: r.SERVER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    clustering: r.CLUSTERING_ENABLED,
    jwt,
    api: apiConfig(r, secrets, jwt),
    corsOrigins: corsOrigins(r, prod),
    trustProxy: r.TRUST_PROXY,
    persistence: {
      enabled: r.PERSISTENCE_ENABLED,
      ttlSeconds: r.PERSISTENCE_TTL,
      maxMessages: r.PERSISTENCE_MAX_MESSAGES,
      dedupeWindowSeconds: r.DEDUPE_WINDOW,
    },
    heartbeatIntervalMs: r.HEARTBEAT_INTERVAL,
    heartbeatTimeoutMs: r.HEARTBEAT_TIMEOUT,
    shutdownTimeoutMs: r.SHUTDOWN_TIMEOUT,
    reconnectJitterMs: r.RECONNECT_JITTER,
    handshakeTimeoutMs: r.HANDSHAKE_TIMEOUT,
    maxMessageBytes: r.MAX_MESSAGE_BYTES,
    // Room for the event name, the other fields and framing around one maximal payload.
    // With MAX_MESSAGE_BYTES=0 (no payload limit) packets are still bounded, at 16 MiB unless MAX_HTTP_BUFFER_SIZE says otherwise.
    maxHttpBufferSize: r.MAX_HTTP_BUFFER_SIZE || (r.MAX_MESSAGE_BYTES === 0 ? 16_777_216 : Math.max(r.MAX_MESSAGE_BYTES, 16_384) * 2 + 16_384),
    writeBufferLimit: r.WRITE_BUFFER_LIMIT,
    limits: limitsConfig(r),
    webhooks: webhooksConfig(r, secrets),
    metricsMaxTenants: r.METRICS_MAX_TENANTS,
    perMessageDeflate: r.WS_PER_MESSAGE_DEFLATE,
    transportTuning: r.TRANSPORT_TUNING,
    console: consoleConfig(r, prod, jwt),
    ...(r.STATS_TOKEN !== undefined && { statsToken: r.STATS_TOKEN }),
    ...(r.API_KEY !== undefined && { apiKey: r.API_KEY }),
    ...(redis !== undefined && { redis }),
    ...(tls !== undefined && { tls }),
    ...(backendAuth !== undefined && { backendAuth }),
  });
}

/** Every variable typed and within its bounds; the first one that is not is named, its value shown unless it is a credential. */
function parseEnvironment(env: NodeJS.ProcessEnv): Env {
  const result = envSchema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = String(issue?.path[0] ?? 'configuration');
  const value = env[name];
  const secret = name.endsWith('_FILE') || /SECRET|KEY|TOKEN|PASSWORD/.test(name);
  // Credentials in a URL (redis://:password@host) are not shown either.
  const shown = secret || value === undefined ? '' : ` (got "${value.replace(/\/\/[^/@\s]*@/, '//[redacted]@')}")`;
  throw new ConfigError(`Invalid configuration: ${name} ${issue?.message ?? 'is invalid'}${shown}`);
}

/** Secrets given in a variable or, as mounted Kubernetes/Docker secrets are, in the file its `_FILE` twin names. */
interface Secrets {
  jwtSecret?: string;
  jwtPublicKey?: string;
  redisPassword?: string;
  apiKeys?: string;
  authProxySecret?: string;
  webhookSecret?: string;
  /** The variable's name as messages should give it (`JWT_SECRET (read from JWT_SECRET_FILE)`). */
  named(name: string): string;
}

function mountedSecrets(r: Env): Secrets {
  const fromFile = new Set<string>();
  const value = (name: string, direct: string | undefined, file: { text: string } | undefined): string | undefined => {
    if (file === undefined) return direct;
    if (direct !== undefined) fail(name, `and ${name}_FILE are both set: set only one`);
    fromFile.add(name);
    return file.text.replace(/[\r\n]+$/, '');
  };
  const jwtSecret = value('JWT_SECRET', r.JWT_SECRET, r.JWT_SECRET_FILE);
  const jwtPublicKey = value('JWT_PUBLIC_KEY', r.JWT_PUBLIC_KEY, r.JWT_PUBLIC_KEY_FILE)?.replace(/\\n/g, '\n');
  const redisPassword = value('REDIS_PASSWORD', r.REDIS_PASSWORD, r.REDIS_PASSWORD_FILE);
  const apiKeys = value('API_KEYS', r.API_KEYS, r.API_KEYS_FILE);
  const authProxySecret = value('AUTH_PROXY_SECRET', r.AUTH_PROXY_SECRET, r.AUTH_PROXY_SECRET_FILE);
  const webhookSecret = value('WEBHOOK_SECRET', r.WEBHOOK_SECRET, r.WEBHOOK_SECRET_FILE);
  return {
    ...(webhookSecret !== undefined && { webhookSecret }),
    ...(apiKeys !== undefined && { apiKeys }),
    ...(authProxySecret !== undefined && { authProxySecret }),
    ...(jwtSecret !== undefined && { jwtSecret }),
    ...(jwtPublicKey !== undefined && { jwtPublicKey }),
    ...(redisPassword !== undefined && { redisPassword }),
    named: (name) => (fromFile.has(name) ? `${name} (read from ${name}_FILE)` : name),
  };
}

/** HMAC secrets (current first, then previous ones), public key or JWKS, claim rules and token age. */
function jwtConfig(r: Env, prod: boolean, s: Secrets): JwtConfig {
  const secrets: HmacSecret[] = [];
  const addSecret = (name: string, text: string, entry: string) => {
    const parsed = parseSecret(text);
    if (prod && parsed.secret.length < 64) fail(name, `${entry}must be at least 64 characters in production`);
    if (!prod && parsed.secret.length < 32) fail(name, `${entry}must be at least 32 characters`);
    if (RESERVED_SECRET_IDS.has(parsed.id)) fail(name, `${entry}uses the reserved id "${parsed.id}"`);
    if (secrets.some((o) => o.id === parsed.id || o.secret === parsed.secret)) fail(name, `${entry}repeats a secret or a secret id already listed`);
    secrets.push(parsed);
  };
  let secretGenerated = false;
  const asymmetric = s.jwtPublicKey !== undefined || r.JWKS_URL !== undefined;
  if (s.jwtSecret !== undefined) {
    addSecret(s.named('JWT_SECRET'), s.jwtSecret, '');
    commaList(r.JWT_PREVIOUS_SECRETS).forEach((text, i) => addSecret('JWT_PREVIOUS_SECRETS', text, `entry ${i + 1} `));
  } else if (r.JWT_PREVIOUS_SECRETS !== undefined) {
    fail('JWT_PREVIOUS_SECRETS', 'needs JWT_SECRET (the secret that signs)');
  } else if (prod && !asymmetric) {
    fail('JWT_SECRET', 'is required in production (or JWT_PUBLIC_KEY / JWKS_URL)');
  } else if (!asymmetric) {
    addSecret('JWT_SECRET', randomBytes(48).toString('hex'), '');
    secretGenerated = true;
  }
  if (s.jwtPublicKey !== undefined) {
    try {
      createPublicKey(s.jwtPublicKey);
    } catch {
      fail(s.named('JWT_PUBLIC_KEY'), 'must be a PEM public key');
    }
  }
  let maxAgeSeconds: number | undefined;
  if (r.JWT_MAX_AGE !== undefined) {
    const seconds = parseDuration(r.JWT_MAX_AGE);
    if (seconds === undefined || seconds > 315_360_000) fail('JWT_MAX_AGE', `must be a duration like 3600, 90m, 24h or 7d, up to 3650d, or 0 for no limit (got "${r.JWT_MAX_AGE}")`);
    if (seconds !== 0) maxAgeSeconds = seconds;
  }
  return {
    secrets,
    secretGenerated,
    requireExp: r.JWT_REQUIRE_EXP,
    ...(maxAgeSeconds !== undefined && { maxAgeSeconds }),
    ...(s.jwtPublicKey !== undefined && { publicKey: s.jwtPublicKey }),
    ...(r.JWKS_URL !== undefined && { jwksUrl: r.JWKS_URL }),
    ...(r.JWT_ISSUER !== undefined && { issuer: r.JWT_ISSUER }),
    ...(r.JWT_AUDIENCE !== undefined && { audience: r.JWT_AUDIENCE }),
  };
}

/** CONSOLE_ENABLED (on by default outside production), and whether the development token endpoint exists. */
function consoleConfig(r: Env, prod: boolean, jwt: JwtConfig): ConsoleConfig {
  const enabled = r.CONSOLE_ENABLED ?? !prod;
  return { enabled, devTokens: enabled && !prod && jwt.secretGenerated };
}

/** API_KEYS (one entry a line or comma-separated in API_KEYS_FILE) and API_KEY, the API's limits, and how long revocations last. */
function apiConfig(r: Env, s: Secrets, jwt: JwtConfig): ApiConfig {
  const parsed = parseApiKeys(commaList(s.apiKeys?.replace(/\s*\n\s*/g, ',')));
  if ('error' in parsed) return fail(s.named('API_KEYS'), parsed.error);
  const keys = [...parsed.keys];
  if (r.API_KEY !== undefined) {
    if (keys.some((k) => k.key === r.API_KEY)) fail('API_KEY', 'is also listed in API_KEYS: list each key once');
    keys.push({ tenant: '*', key: r.API_KEY });
  }
  const ttl = parseDuration(r.REVOCATION_TTL);
  if (ttl === undefined || ttl < 60 || ttl > 315_360_000) fail('REVOCATION_TTL', `must be a duration from 60s to 3650d, like 24h or 7d (got "${r.REVOCATION_TTL}")`);
  return {
    keys,
    rate: { rate: r.API_RATE_LIMIT_PER_SECOND, burst: r.API_RATE_LIMIT_BURST },
    maxBodyBytes: r.API_MAX_BODY_BYTES,
    revocationTtlSeconds: jwt.maxAgeSeconds ?? (ttl as number),
  };
}

/** The authorization proxies: any of the three URLs, with the secret that signs their requests. */
function backendAuthConfig(r: Env, s: Secrets): BackendAuthConfig | undefined {
  const urls = {
    ...(r.AUTH_PROXY_URL !== undefined && { connectUrl: r.AUTH_PROXY_URL }),
    ...(r.JOIN_PROXY_URL !== undefined && { joinUrl: r.JOIN_PROXY_URL }),
    ...(r.PUBLISH_PROXY_URL !== undefined && { publishUrl: r.PUBLISH_PROXY_URL }),
  };
  if (Object.keys(urls).length === 0) return undefined;
  const secret = s.authProxySecret;
  if (secret === undefined) return fail('AUTH_PROXY_SECRET', 'is required with AUTH_PROXY_URL, JOIN_PROXY_URL or PUBLISH_PROXY_URL (it signs their requests)');
  if (secret.length < 32) fail(s.named('AUTH_PROXY_SECRET'), 'must be at least 32 characters');
  return {
    ...urls,
    secret,
    timeoutMs: r.AUTH_PROXY_TIMEOUT,
    cacheTtlMs: r.AUTH_PROXY_CACHE_TTL,
    cacheSize: r.AUTH_PROXY_CACHE_SIZE,
    failurePolicy: r.AUTH_PROXY_FAILURE_POLICY,
    breaker: { failures: r.AUTH_PROXY_BREAKER_FAILURES, cooldownMs: r.AUTH_PROXY_BREAKER_COOLDOWN },
  };
}

/** WEBHOOK_URL with its secret and filters, the endpoints of WEBHOOKS_FILE, and the delivery settings. */
function webhooksConfig(r: Env, s: Secrets): WebhooksConfig {
  const endpoints: WebhookEndpoint[] = [];
  if (r.WEBHOOK_URL !== undefined) {
    const secret = s.webhookSecret;
    if (secret === undefined) return fail('WEBHOOK_SECRET', 'is required with WEBHOOK_URL (it signs the requests)');
    if (secret.length < MIN_WEBHOOK_SECRET) fail(s.named('WEBHOOK_SECRET'), `must be at least ${MIN_WEBHOOK_SECRET} characters`);
    const list = (name: 'WEBHOOK_EVENTS' | 'WEBHOOK_ROOM_PREFIXES', schema: typeof eventsSchema | typeof prefixesSchema) => {
      const text = r[name];
      if (text === undefined) return undefined;
      const parsed = schema.safeParse(commaList(text));
      if (!parsed.success) return fail(name, `${parsed.error.issues[0]?.message ?? 'is invalid'} (got "${text}")`);
      return parsed.data;
    };
    const events = list('WEBHOOK_EVENTS', eventsSchema) as WebhookEndpoint['events'] | undefined;
    endpoints.push(endpoint(undefined, r.WEBHOOK_URL, secret, events, list('WEBHOOK_ROOM_PREFIXES', prefixesSchema)));
  } else {
    for (const name of ['WEBHOOK_SECRET', 'WEBHOOK_EVENTS', 'WEBHOOK_ROOM_PREFIXES'] as const) {
      if (r[name] !== undefined || (name === 'WEBHOOK_SECRET' && s.webhookSecret !== undefined)) fail(name, 'needs WEBHOOK_URL');
    }
  }
  if (r.WEBHOOKS_FILE !== undefined) {
    const parsed = parseEndpointsFile(r.WEBHOOKS_FILE.text);
    if ('error' in parsed) return fail('WEBHOOKS_FILE', `"${r.WEBHOOKS_FILE.path}" ${parsed.error}`);
    endpoints.push(...parsed.endpoints);
  }
  if (r.WEBHOOK_RETRY_MAX_DELAY < r.WEBHOOK_RETRY_BASE) fail('WEBHOOK_RETRY_MAX_DELAY', 'must be at least WEBHOOK_RETRY_BASE');
  return {
    endpoints,
    batchSize: r.WEBHOOK_BATCH_SIZE,
    batchWaitMs: r.WEBHOOK_BATCH_WAIT,
    timeoutMs: r.WEBHOOK_TIMEOUT,
    retryForMs: r.WEBHOOK_RETRY_FOR * 1000,
    retryBaseMs: r.WEBHOOK_RETRY_BASE,
    retryMaxDelayMs: r.WEBHOOK_RETRY_MAX_DELAY,
    leaveGraceMs: r.WEBHOOK_LEAVE_GRACE,
    concurrency: r.WEBHOOK_CONCURRENCY,
    queueMax: r.WEBHOOK_QUEUE_MAX,
    deadLetterMax: r.WEBHOOK_DEAD_LETTER_MAX,
    deadLetterTtlMs: r.WEBHOOK_DEAD_LETTER_TTL * 1000,
  };
}

/** TLS_CERT_FILE and TLS_KEY_FILE, both or neither, loadable and matching. */
function tlsConfig(r: Env): Config['tls'] {
  if (r.TLS_CERT_FILE === undefined && r.TLS_KEY_FILE === undefined) return undefined;
  if (r.TLS_KEY_FILE === undefined) return fail('TLS_KEY_FILE', 'must be set with TLS_CERT_FILE (both or neither)');
  if (r.TLS_CERT_FILE === undefined) return fail('TLS_CERT_FILE', 'must be set with TLS_KEY_FILE (both or neither)');
  const cert = r.TLS_CERT_FILE;
  const key = r.TLS_KEY_FILE;
  const check = (name: 'TLS_CERT_FILE' | 'TLS_KEY_FILE', what: string, load: () => unknown) => {
    try {
      load();
    } catch (err) {
      fail(name, `"${name === 'TLS_CERT_FILE' ? cert.path : key.path}" ${what} (${err instanceof Error ? err.message : String(err)})`);
    }
  };
  check('TLS_CERT_FILE', 'does not hold a PEM certificate', () => new X509Certificate(cert.text));
  check('TLS_KEY_FILE', 'does not hold an unencrypted PEM private key', () => createPrivateKey(key.text));
  check('TLS_KEY_FILE', 'does not match the certificate of TLS_CERT_FILE', () => createSecureContext({ cert: cert.text, key: key.text }));
  return { cert: cert.text, key: key.text };
}

/** CORS_ORIGIN: origins (scheme://host[:port]) or `*`; neither localhost nor `*` in production. */
function corsOrigins(r: Env, prod: boolean): string[] {
  const origins = commaList(r.CORS_ORIGIN);
  if (origins.length === 0) fail('CORS_ORIGIN', 'must list at least one origin');
  for (const o of origins) {
    if (o !== '*' && !/^https?:\/\/[^\s/]+$/.test(o)) fail('CORS_ORIGIN', `has an invalid origin "${o}" (expected scheme://host[:port] or *)`);
    if (prod && /localhost|127\.0\.0\.1|\[::1\]/.test(o)) fail('CORS_ORIGIN', 'must not include localhost in production');
    if (prod && o === '*') fail('CORS_ORIGIN', 'must not be * in production');
  }
  return origins;
}

/** The Redis engine's connection: cluster nodes, a URL, or a host and port; undefined for the embedded engine. */
function redisConfig(r: Env, password: string | undefined): RedisConfig | undefined {
  const common = { tls: r.REDIS_TLS, keyPrefix: r.REDIS_KEY_PREFIX, commandTimeoutMs: r.REDIS_COMMAND_TIMEOUT, ...(password !== undefined && { password }) };
  if (r.REDIS_CLUSTER_NODES !== undefined) {
    const nodes = commaList(r.REDIS_CLUSTER_NODES).map((hp) => {
      const m = /^([^:\s]+):(\d{1,5})$/.exec(hp);
      const port = Number(m?.[2]);
      if (!m || port < 1 || port > 65535) return fail('REDIS_CLUSTER_NODES', `has an invalid node "${hp}" (expected host:port, port 1 to 65535)`);
      return { host: m[1] as string, port };
    });
    if (nodes.length === 0) fail('REDIS_CLUSTER_NODES', 'must list at least one host:port');
    return { ...common, clusterNodes: nodes, sharded: r.REDIS_SHARDED !== 'false' };
  }
  if (r.REDIS_URL === undefined && r.REDIS_HOST === undefined) return undefined;
  const url = r.REDIS_URL ?? `${r.REDIS_TLS ? 'rediss' : 'redis'}://${r.REDIS_HOST}:${r.REDIS_PORT}`;
  if (!parseUrl(url, ['redis:', 'rediss:'])) fail('REDIS_HOST', `does not form a valid Redis URL (got "${r.REDIS_HOST}")`);
  return { ...common, url, tls: r.REDIS_TLS || url.startsWith('rediss://'), sharded: r.REDIS_SHARDED === 'true' };
}

/** Every limit (limits/ applies them). */
function limitsConfig(r: Env): LimitsConfig {
  return {
    connection: { rate: r.RATE_LIMIT_MESSAGES_PER_SECOND, burst: r.RATE_LIMIT_MESSAGES_BURST },
    user: { rate: r.RATE_LIMIT_USER_MESSAGES_PER_SECOND, burst: r.RATE_LIMIT_USER_MESSAGES_BURST },
    tenant: { rate: r.RATE_LIMIT_TENANT_MESSAGES_PER_SECOND, burst: r.RATE_LIMIT_TENANT_MESSAGES_BURST },
    ip: { rate: r.RATE_LIMIT_CONNECTIONS_PER_IP_PER_SECOND, burst: r.RATE_LIMIT_CONNECTIONS_PER_IP_BURST },
    maxConnectionsPerUser: r.MAX_CONNECTIONS_PER_USER,
    maxRoomsPerConnection: r.MAX_ROOMS_PER_CONNECTION,
    events: { rate: r.RATE_LIMIT_EVENTS_PER_SECOND, burst: r.RATE_LIMIT_EVENTS_BURST },
    sessions: {
      rate: r.RATE_LIMIT_SESSIONS_PER_IP_PER_SECOND,
      burst: r.RATE_LIMIT_SESSIONS_PER_IP_BURST,
      pendingPerAddress: r.MAX_PENDING_SESSIONS_PER_IP,
      pendingTotal: r.MAX_PENDING_SESSIONS,
    },
    presenceUpdateIntervalMs: r.PRESENCE_UPDATE_INTERVAL,
    overload: { lagMs: r.OVERLOAD_LAG_MS, retryAfterMs: r.OVERLOAD_RETRY_AFTER_MS },
  };
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
