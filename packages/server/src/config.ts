/**
 * Configuration: every environment variable, validated once at start and frozen.
 * A bad value throws a ConfigError whose message is one line naming the variable.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseEnv } from 'node:util';
import { z } from 'zod';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (def: number, min: number, max: number) =>
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

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], { message: 'must be development, production or test' }).default('development'),
  PORT: int(9001, 0, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be fatal, error, warn, info, debug, trace or silent' }).default('info'),
  SERVER_ID: optionalString,

  REDIS_URL: optionalString,
  REDIS_HOST: optionalString,
  REDIS_PORT: int(6379, 1, 65535),
  REDIS_PASSWORD: optionalString,
  REDIS_TLS: bool(false),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{0,64}$/, 'must be up to 64 characters of A-Z a-z 0-9 : _ . -').default('ig:'),
  REDIS_CLUSTER_NODES: optionalString,
  REDIS_SHARDED: z.enum(['true', 'false', 'auto']).default('auto'),
  REDIS_COMMAND_TIMEOUT: int(5000, 100, 600_000),
  CLUSTERING_ENABLED: bool(true),

  JWT_SECRET: optionalString,
  JWT_PUBLIC_KEY: optionalString,
  JWKS_URL: optionalString,
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_REQUIRE_EXP: bool(true),

  CORS_ORIGIN: z.string().default('http://localhost:3000'),
  TRUST_PROXY: bool(false),
  STATS_TOKEN: optionalString,
  API_KEY: optionalString,

  PERSISTENCE_ENABLED: bool(true),
  PERSISTENCE_TTL: int(3600, 1, 31_536_000),
  PERSISTENCE_MAX_MESSAGES: int(1000, 1, 1_000_000),
  DEDUPE_WINDOW: int(300, 1, 86_400),

  HEARTBEAT_INTERVAL: int(30_000, 100, 3_600_000),
  HEARTBEAT_TIMEOUT: int(60_000, 200, 7_200_000),
  SHUTDOWN_TIMEOUT: int(30_000, 0, 3_600_000),
  RECONNECT_JITTER: int(5_000, 0, 600_000),
  HANDSHAKE_TIMEOUT: int(10_000, 100, 600_000),

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
  WS_PER_MESSAGE_DEFLATE: bool(false),
});

type Raw = z.infer<typeof schema>;

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

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  logLevel: Raw['LOG_LEVEL'];
  serverId: string;
  /** Undefined: the embedded in-memory engine. */
  redis?: RedisConfig;
  /** Fan out through the Redis adapter (false keeps the instance standalone even with Redis). */
  clustering: boolean;
  jwt: {
    secret?: string;
    /** True when the secret was generated for this process (development only). */
    secretGenerated: boolean;
    publicKey?: string;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    requireExp: boolean;
  };
  /** Allowed origins; `*` allows any. */
  corsOrigins: string[];
  trustProxy: boolean;
  statsToken?: string;
  apiKey?: string;
  persistence: { enabled: boolean; ttlSeconds: number; maxMessages: number; dedupeWindowSeconds: number };
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  shutdownTimeoutMs: number;
  reconnectJitterMs: number;
  handshakeTimeoutMs: number;
  maxMessageBytes: number;
  maxHttpBufferSize: number;
  writeBufferLimit: number;
  limits: {
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
  };
  metricsMaxTenants: number;
  perMessageDeflate: boolean;
}

/** Reads `.env` from `dir` into a copy of `env`, without overriding variables already set. */
export function withDotEnv(env: NodeJS.ProcessEnv, dir = process.cwd()): NodeJS.ProcessEnv {
  const file = `${dir}/.env`;
  if (!existsSync(file)) return env;
  const parsed = parseEnv(readFileSync(file, 'utf8'));
  return { ...parsed, ...env };
}

export function loadConfig(env: NodeJS.ProcessEnv): Readonly<Config> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = String(issue?.path[0] ?? 'configuration');
    const value = env[name];
    const shown = name.includes('SECRET') || name.includes('KEY') || name.includes('TOKEN') || name.includes('PASSWORD') ? '' : value === undefined ? '' : ` (got "${value}")`;
    throw new ConfigError(`Invalid configuration: ${name} ${issue?.message ?? 'is invalid'}${shown}`);
  }
  const r = result.data;
  const prod = r.NODE_ENV === 'production';
  const fail = (name: string, message: string): never => {
    throw new ConfigError(`Invalid configuration: ${name} ${message}`);
  };

  let secret = r.JWT_SECRET;
  let secretGenerated = false;
  const asymmetric = r.JWT_PUBLIC_KEY !== undefined || r.JWKS_URL !== undefined;
  if (secret !== undefined) {
    if (prod && secret.length < 64) fail('JWT_SECRET', 'must be at least 64 characters in production');
    if (!prod && secret.length < 32) fail('JWT_SECRET', 'must be at least 32 characters');
  } else if (prod && !asymmetric) {
    fail('JWT_SECRET', 'is required in production (or JWT_PUBLIC_KEY / JWKS_URL)');
  } else if (!asymmetric) {
    secret = randomBytes(48).toString('hex');
    secretGenerated = true;
  }
  if (r.JWT_PUBLIC_KEY !== undefined && !r.JWT_PUBLIC_KEY.includes('-----BEGIN')) fail('JWT_PUBLIC_KEY', 'must be a PEM public key');
  if (r.JWKS_URL !== undefined && !/^https?:\/\//.test(r.JWKS_URL)) fail('JWKS_URL', 'must be an http(s) URL');

  const corsOrigins = r.CORS_ORIGIN.split(',').map((s) => s.trim()).filter(Boolean);
  if (corsOrigins.length === 0) fail('CORS_ORIGIN', 'must list at least one origin');
  for (const o of corsOrigins) {
    if (o !== '*' && !/^https?:\/\/[^\s/]+$/.test(o)) fail('CORS_ORIGIN', `has an invalid origin "${o}" (expected scheme://host[:port] or *)`);
    if (prod && /localhost|127\.0\.0\.1|\[::1\]/.test(o)) fail('CORS_ORIGIN', 'must not include localhost in production');
    if (prod && o === '*') fail('CORS_ORIGIN', 'must not be * in production');
  }
  if (r.HEARTBEAT_TIMEOUT <= r.HEARTBEAT_INTERVAL) fail('HEARTBEAT_TIMEOUT', 'must be greater than HEARTBEAT_INTERVAL');

  let redis: RedisConfig | undefined;
  if (r.REDIS_CLUSTER_NODES !== undefined) {
    const nodes = r.REDIS_CLUSTER_NODES.split(',').map((s) => s.trim()).filter(Boolean).map((hp) => {
      const m = /^([^:\s]+):(\d{1,5})$/.exec(hp);
      if (!m) return fail('REDIS_CLUSTER_NODES', `has an invalid node "${hp}" (expected host:port)`);
      return { host: m[1] as string, port: Number(m[2]) };
    });
    redis = { clusterNodes: nodes, tls: r.REDIS_TLS, keyPrefix: r.REDIS_KEY_PREFIX, sharded: r.REDIS_SHARDED !== 'false', commandTimeoutMs: r.REDIS_COMMAND_TIMEOUT };
    if (r.REDIS_PASSWORD !== undefined) redis.password = r.REDIS_PASSWORD;
  } else if (r.REDIS_URL !== undefined || r.REDIS_HOST !== undefined) {
    let url = r.REDIS_URL;
    if (url === undefined) url = `${r.REDIS_TLS ? 'rediss' : 'redis'}://${r.REDIS_HOST}:${r.REDIS_PORT}`;
    if (!/^rediss?:\/\//.test(url)) fail('REDIS_URL', 'must start with redis:// or rediss://');
    try {
      new URL(url);
    } catch {
      fail(r.REDIS_URL !== undefined ? 'REDIS_URL' : 'REDIS_HOST', 'does not form a valid Redis URL');
    }
    redis = { url, tls: r.REDIS_TLS || url.startsWith('rediss://'), keyPrefix: r.REDIS_KEY_PREFIX, sharded: r.REDIS_SHARDED === 'true', commandTimeoutMs: r.REDIS_COMMAND_TIMEOUT };
    if (r.REDIS_PASSWORD !== undefined) redis.password = r.REDIS_PASSWORD;
  }

  const cfg: Config = {
    env: r.NODE_ENV,
    port: r.PORT,
    host: r.HOST,
    logLevel: r.LOG_LEVEL,
    serverId: r.SERVER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    clustering: r.CLUSTERING_ENABLED,
    jwt: {
      secretGenerated,
      requireExp: r.JWT_REQUIRE_EXP,
      ...(secret !== undefined && { secret }),
      ...(r.JWT_PUBLIC_KEY !== undefined && { publicKey: r.JWT_PUBLIC_KEY.replace(/\\n/g, '\n') }),
      ...(r.JWKS_URL !== undefined && { jwksUrl: r.JWKS_URL }),
      ...(r.JWT_ISSUER !== undefined && { issuer: r.JWT_ISSUER }),
      ...(r.JWT_AUDIENCE !== undefined && { audience: r.JWT_AUDIENCE }),
    },
    corsOrigins,
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
    limits: {
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
    },
    metricsMaxTenants: r.METRICS_MAX_TENANTS,
    perMessageDeflate: r.WS_PER_MESSAGE_DEFLATE,
    ...(r.STATS_TOKEN !== undefined && { statsToken: r.STATS_TOKEN }),
    ...(r.API_KEY !== undefined && { apiKey: r.API_KEY }),
    ...(redis !== undefined && { redis }),
  };
  return deepFreeze(cfg);
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
