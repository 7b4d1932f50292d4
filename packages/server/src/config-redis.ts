import { commaList, fail } from './config-parse.js';
import { parseUrl, type Env } from './config-schema.js';

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

/** The Redis engine's connection: cluster nodes, a URL, or a host and port; undefined for the embedded engine. */
export function redisConfig(r: Env, password: string | undefined): RedisConfig | undefined {
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
