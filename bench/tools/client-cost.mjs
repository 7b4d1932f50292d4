#!/usr/bin/env node
/**
 * node bench/tools/client-cost.mjs [dist-dir=packages/server/dist]
 * An instance's own CPU (not Redis's) per persistent publish on a private redis-server: the whole
 * Redis engine on one client, as the server builds it, one publish per event-loop turn (the pace of
 * a quiet room, where nothing shares a turn's write). Five rounds of 5,000 after a warm-up of 2,000.
 * Give another build's dist directory (inside this repository, so its imports resolve) to compare.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis } from '../lib/servers.mjs';
const dist = pathToFileURL(resolve(process.argv[2] ?? new URL('../../packages/server/dist', import.meta.url).pathname)).href;
const { createRedisEngine } = await import(`${dist}/engine/redis/engine.js`);
const redis = await startRedis();
const client = new Redis(redis.url, { enableAutoPipelining: true });
const engine = createRedisEngine({ client, retention: { ttlSeconds: 3600, maxMessages: 100, dedupeWindowSeconds: 60 }, presenceTimeoutMs: 60000 });
const stream = engine.stream;
const key = { tenantId: 'acme', room: 'r1' };
const msg = (i) => ({ from: 'u', payload: { i }, timestamp: Date.now() });
async function run(n) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    await stream.publish(key, msg(i), { persistent: true });
    await new Promise((r) => setImmediate(r));
  }
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / n;
}
await run(2000);
const r = [];
for (let k = 0; k < 5; k++) r.push((await run(5000)).toFixed(1));
client.disconnect();
await redis.stop();
console.log(dist, 'instance CPU µs per persistent publish (one per turn):', r.join(' '));
process.exit(0);
