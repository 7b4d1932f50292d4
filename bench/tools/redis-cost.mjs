#!/usr/bin/env node
/**
 * Redis's cost of one persistent message against a bare PUBLISH of the same envelope, on a private
 * redis-server: `node bench/tools/redis-cost.mjs [messages=20000] [rooms=100] [inFlight=200]`.
 * Our side is the real room stream (packages/server/dist, Redis engine): the append script with the
 * user's and the tenant's buckets, storage, trimming at PERSISTENCE_MAX_MESSAGES and the publication,
 * `inFlight` publishes outstanding (auto-pipelined as the server sends them). Rooms are filled to
 * their cap first, so that every measured append also trims, as in a long-lived room. Figures:
 * Two more connections subscribe to every room's channel (two instances with members), so that
 * each PUBLISH, ours and bare, is delivered twice. Figures: `INFO commandstats` (microseconds per call of the script and of PUBLISH, and Redis calls per message)
 * and redis-server's CPU time from /proc per message.
 */
import { Redis } from 'ioredis';
import { RedisRateLimiter } from '../../packages/server/dist/engine/redis/rate-limiter.js';
import { RedisRoomStream } from '../../packages/server/dist/engine/redis/stream.js';
import { startRedis } from '../lib/servers.mjs';

const [messages = 20_000, rooms = 100, inFlight = 200] = process.argv.slice(2).map(Number);
const retention = { ttlSeconds: 3600, maxMessages: 100, dedupeWindowSeconds: 300 };
const payload = { text: 'x'.repeat(48), t: 0 };

const redis = await startRedis();
if (redis.error) throw new Error(redis.error);
const client = new Redis(redis.url, { enableAutoPipelining: true });
// Two instances with members in every room: each message is delivered to two subscribers, ours and bare alike.
const subscribers = [new Redis(redis.url), new Redis(redis.url)];
try {
  const limiter = new RedisRateLimiter({ client });
  const stream = new RedisRoomStream({ client, subscriber: subscribers[0], retention, limiter });
  const otherClient = new Redis(redis.url);
  subscribers.push(otherClient);
  const other = new RedisRoomStream({ client: otherClient, subscriber: subscribers[1], retention, limiter });
  for (let r = 0; r < rooms; r++) for (const s of [stream, other]) await s.subscribe({ tenantId: 'bench', room: `room-${r}` });
  // Bare PUBLISH goes to channels of its own, with two plain subscribers (the streams' would check its ids).
  const bareSubscribers = [new Redis(redis.url), new Redis(redis.url)];
  subscribers.push(...bareSubscribers);
  for (const b of bareSubscribers) await b.subscribe(...Array.from({ length: rooms }, (_, r) => `bare:room-${r}`));
  const limits = (i) => ({
    group: 'bench',
    buckets: [
      { key: `u:user-${i % 1000}`, rate: 100_000, burst: 100_000 },
      { key: 't', rate: 1_000_000, burst: 1_000_000 },
    ],
  });
  const send = (i) => stream.publish({ tenantId: 'bench', room: `room-${i % rooms}` }, { from: `conn-${i % 1000}`, payload, timestamp: Date.now() }, { persistent: true, limits: limits(i) });
  async function run(n, fn) {
    let next = 0;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < n) await fn(next++);
    }));
  }
  const stats = async () => {
    const text = await client.info('commandstats');
    const out = {};
    for (const m of text.matchAll(/^cmdstat_(\w+):calls=(\d+),usec=(\d+)/gm)) out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
    return out;
  };
  // Fill every room to its cap (and warm the scripts up).
  await run(rooms * retention.maxMessages + 1000, send);

  await client.config('RESETSTAT');
  let cpu0 = redis.cpuMicros();
  let t0 = Date.now();
  await run(messages, send);
  const oursMs = Date.now() - t0;
  const ourCpu = redis.cpuMicros() - cpu0;
  const ours = await stats();

  // The same published text, as bare PUBLISH calls.
  const envelope = JSON.stringify({ m: { id: '0000000000000001-abcd', room: 'room-1', from: 'conn-1', payload, timestamp: Date.now(), persistent: true }, p: '' });
  await client.config('RESETSTAT');
  cpu0 = redis.cpuMicros();
  t0 = Date.now();
  await run(messages, (i) => client.publish(`bare:room-${i % rooms}`, envelope));
  const bareMs = Date.now() - t0;
  const bareCpu = redis.cpuMicros() - cpu0;
  const bare = await stats();

  const script = ours.evalsha ?? ours.eval;
  const inner = Object.entries(ours).filter(([k]) => !['evalsha', 'eval', 'info', 'config'].includes(k)).reduce((a, [, v]) => a + v.calls, 0);
  const r = {
    messages,
    rooms,
    inFlight,
    oursScriptUsecPerCall: Math.round((script.usec / script.calls) * 100) / 100,
    barePublishUsecPerCall: Math.round((bare.publish.usec / bare.publish.calls) * 100) / 100,
    oursRedisCallsPerMessage: Math.round((inner / messages) * 100) / 100,
    oursRedisCpuMicrosPerMessage: Math.round((ourCpu / messages) * 100) / 100,
    bareRedisCpuMicrosPerMessage: Math.round((bareCpu / messages) * 100) / 100,
    oursMsgsPerSec: Math.round((messages * 1000) / oursMs),
    bareMsgsPerSec: Math.round((messages * 1000) / bareMs),
    innerCalls: Object.fromEntries(Object.entries(ours).filter(([k]) => !['info', 'config'].includes(k)).map(([k, v]) => [k, v.calls])),
  };
  r.scriptOverPublish = Math.round((r.oursScriptUsecPerCall / r.barePublishUsecPerCall) * 100) / 100;
  r.cpuOverPublish = Math.round((r.oursRedisCpuMicrosPerMessage / r.bareRedisCpuMicrosPerMessage) * 100) / 100;
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
} finally {
  client.disconnect();
  for (const s of subscribers) s.disconnect();
  await redis.stop();
}
