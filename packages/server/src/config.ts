/**
 * Configuration: every environment variable (config-schema.ts), validated once at start and frozen.
 * A bad value throws a ConfigError whose message is one line naming the variable. Each group of
 * variables is read by its own step (config-*.ts); `loadConfig` runs them in order.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BackendAuthConfig } from './auth/proxy.js';
import { apiConfig, backendAuthConfig, jwtConfig, type ApiConfig, type JwtConfig } from './config-auth.js';
import { connectionsConfig, type ConnectionsConfig } from './config-connections.js';
import { consoleConfig, corsOrigins, tlsConfig, type ConsoleConfig, type TlsConfig } from './config-http.js';
import { limitsConfig, type LimitsConfig } from './config-limits.js';
import { parseEnvironment } from './config-parse.js';
import { redisConfig, type RedisConfig } from './config-redis.js';
import type { Env } from './config-schema.js';
import { mountedSecrets } from './config-secrets.js';
import { webhooksConfig } from './config-webhooks.js';
import type { WebhooksConfig } from './webhook-endpoints.js';

export { commaList, ConfigError, parseDuration, withDotEnv } from './config-parse.js';
export { httpUrl, readableFile, urlOf, TRANSPORT_PATCH_NAMES, type TransportPatchName } from './config-schema.js';
export type { ApiConfig, ConnectionsConfig, ConsoleConfig, JwtConfig, LimitsConfig, RedisConfig, TlsConfig, WebhooksConfig };

export interface Config extends ConnectionsConfig {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  /** PEM certificate chain and private key: the server then serves HTTPS and WSS itself. */
  tls?: TlsConfig;
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
  limits: LimitsConfig;
  webhooks: WebhooksConfig;
  metricsMaxTenants: number;
  /** The demo at `/` and the admin view at `/admin` (CONSOLE_ENABLED; default: on except in production). */
  console: ConsoleConfig;
}

/**
 * The configuration from the environment, validated and frozen, or a ConfigError naming the variable at fault.
 * The steps run in this order, so that of several faults the same one is always reported.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Readonly<Config> {
  const r = parseEnvironment(env);
  const prod = r.NODE_ENV === 'production';
  const secrets = mountedSecrets(r);
  const connections = connectionsConfig(r);
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
    persistence: { enabled: r.PERSISTENCE_ENABLED, ttlSeconds: r.PERSISTENCE_TTL, maxMessages: r.PERSISTENCE_MAX_MESSAGES, dedupeWindowSeconds: r.DEDUPE_WINDOW },
    ...connections,
    limits: limitsConfig(r),
    webhooks: webhooksConfig(r, secrets),
    metricsMaxTenants: r.METRICS_MAX_TENANTS,
    console: consoleConfig(r, prod, jwt.secretGenerated),
    ...(r.STATS_TOKEN !== undefined && { statsToken: r.STATS_TOKEN }),
    ...(r.API_KEY !== undefined && { apiKey: r.API_KEY }),
    ...(redis !== undefined && { redis }),
    ...(tls !== undefined && { tls }),
    ...(backendAuth !== undefined && { backendAuth }),
  });
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
