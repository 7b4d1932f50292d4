#!/usr/bin/env node
/**
 * Redis's cost of a handshake's registration and of a disconnect's release, on a private redis-server:
 * `node bench/tools/registry-cost.mjs [connections=20000] [perTurn=1,8,40,64] [--dist DIR]`.
 * The real connection registry (DIR, default packages/server/dist: the Redis engine), each connection
 * a user of its own, its token checked against the user's revocation as the handshake does. For each
 * `perTurn`, connections are acquired `perTurn` at a time in one event-loop turn (as the handshakes of
 * one poll), then released the same way. With a build whose registry takes no token (`acquire` with 3
 * parameters) the revocation is read beside each acquire, as the handshake then did.
 * Figures: redis-server's CPU time from /proc per connection (acquire + release), and from
 * `INFO commandstats` the script and GET calls per connection and the microseconds inside them.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis } from '../lib/servers.mjs';

const args = process.argv.slice(2);
const distAt = args.indexOf('--dist');
const dist = resolve(distAt >= 0 ? args.splice(distAt, 2)[1] : 'packages/server/dist');
const [connections = 20_000, perTurnList = '1,8,40,64'] = args;
const total = Number(connections);
const { RedisConnectionRegistry } = await import(pathToFileURL(`${dist}/engine/redis/connections.js`).href);
const { RedisRevocationStore } = await import(pathToFileURL(`${dist}/engine/redis/revocations.js`).href);

const redis = await startRedis();
if (redis.error) throw new Error(redis.error);
const client = new Redis(redis.url, { enableAutoPipelining: true });
const admin = new Redis(redis.url);
const stats = async () => {
  const out = {};
  for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  return out;
};
const rows = [];
try {
  const registry = new RedisConnectionRegistry({ client });
  const revocations = new RedisRevocationStore({ client });
  const takesToken = registry.acquire.length >= 4;
  const acquire = async (i, now) => {
    const record = { tenantId: 'bench', userId: `u${i}`, connectionId: `c${i}`, serverId: 'srv', connectedAt: now };
    if (takesToken) return registry.acquire(record, 5, now, { issuedAt: now - 1000 });
    const [acquired] = await Promise.all([registry.acquire(record, 5, now), revocations.revokedBefore('bench', `u${i}`, now)]);
    return acquired;
  };
  const release = (i, now) => registry.release({ tenantId: 'bench', userId: `u${i}`, connectionId: `c${i}` }, now);
  /** `op` over every connection, `perTurn` of them started together in one turn, the next group once they are answered. */
  const inTurns = async (perTurn, op) => {
    for (let i = 0; i < total; i += perTurn) {
      const now = Date.now();
      await Promise.all(Array.from({ length: Math.min(perTurn, total - i) }, (_, k) => op(i + k, now)));
    }
  };
  await inTurns(64, acquire);
  await inTurns(64, release);
  for (const perTurn of String(perTurnList).split(',').map(Number)) {
    await admin.config('RESETSTAT');
    const cpu0 = redis.cpuMicros();
    const t0 = performance.now();
    await inTurns(perTurn, acquire);
    await inTurns(perTurn, release);
    const ms = performance.now() - t0;
    const cpu = redis.cpuMicros() - cpu0;
    const s = await stats();
    const scripts = (s.evalsha?.calls ?? 0) + (s.eval?.calls ?? 0);
    const scriptUsec = (s.evalsha?.usec ?? 0) + (s.eval?.usec ?? 0);
    // A GET inside a script is counted too: the GETs made apart are those beyond one per acquire script's check.
    rows.push({
      perTurn,
      redisCpuMicrosPerConnection: +(cpu / total).toFixed(1),
      scriptCallsPerConnection: +(scripts / total).toFixed(3),
      scriptMicrosPerConnection: +(scriptUsec / total).toFixed(1),
      getCallsPerConnection: +((s.get?.calls ?? 0) / total).toFixed(3),
      connectionsPerSec: Math.round((total * 1000) / ms),
    });
  }
} finally {
  client.disconnect();
  admin.disconnect();
  await redis.stop();
}
console.log(`registry cost, ${total} connections (acquire with the revocation check + release), ${dist}`);
console.table(rows);
console.log(JSON.stringify({ dist, connections: total, rows }));
