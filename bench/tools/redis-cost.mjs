#!/usr/bin/env node
/**
 * Redis's cost of one persistent message against a bare PUBLISH of the same envelope, on a private
 * redis-server, at three paces:
 *
 *   node bench/tools/redis-cost.mjs [messages=20000] [rooms=100] [inFlight=200] [--dist DIR] [--label NAME]
 *
 * Our side is the real room stream (`DIR`, default packages/server/dist: the Redis engine's
 * RedisRoomStream): the append with the user's and the tenant's buckets, storage, trimming at
 * `maxMessages` and the publication. Rooms are filled to their cap first, so that every measured append
 * also trims, as in a long-lived room. Two instances subscribe to every room's channel, so that each
 * PUBLISH, ours and bare, is delivered twice. Paces (both sides alike; the bare side publishes the same
 * text with PUBLISH on an auto-pipelined connection):
 *   - `1/turn`: one publish at a time, each awaited (a lone message in every event-loop turn);
 *   - `10/turn`: ten publishes issued together, awaited together, again and again;
 *   - `burst`: `inFlight` publishes outstanding, each answer issuing the next (as a busy server).
 * Figures per pace: redis-server's CPU time per message (INFO cpu), the script's µs per message and the
 * calls Redis made per message (INFO commandstats, commands run by scripts included), script calls per
 * message; bare PUBLISH's CPU and µs per message; ours over bare; and the least any script that
 * publishes costs: a turn's PUBLISHes of the same envelope in one script call and nothing else (CPU
 * and script µs per message, over bare). Prints them and writes
 * bench/results/redis-cost-<timestamp>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis } from '../lib/servers.mjs';

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const dist = resolve(option('--dist', new URL('../../packages/server/dist', import.meta.url).pathname));
const label = option('--label', '');
const [messages = 20_000, rooms = 100, inFlight = 200] = argv.map(Number);
const { RedisRateLimiter } = await import(pathToFileURL(`${dist}/engine/redis/rate-limiter.js`).href);
const { RedisRoomStream } = await import(pathToFileURL(`${dist}/engine/redis/stream.js`).href);
let revision = '';
try {
  revision = execFileSync('git', ['-C', dist, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
} catch {}

const retention = { ttlSeconds: 3600, maxMessages: 100, dedupeWindowSeconds: 300 };
const payload = { text: 'x'.repeat(48), t: 0 };
const round = (x) => Math.round(x * 100) / 100;

const redis = await startRedis();
if (redis.error) throw new Error(redis.error);
const client = new Redis(redis.url, { enableAutoPipelining: true });
const connections = [client];
const connect = () => {
  const c = new Redis(redis.url);
  connections.push(c);
  return c;
};
try {
  const limiter = new RedisRateLimiter({ client });
  // Two instances with members in every room: each message is delivered to two subscribers, ours and bare alike.
  const stream = new RedisRoomStream({ client, subscriber: connect(), retention, limiter });
  const other = new RedisRoomStream({ client: connect(), subscriber: connect(), retention, limiter });
  for (let r = 0; r < rooms; r++) for (const s of [stream, other]) await s.subscribe({ tenantId: 'bench', room: `room-${r}` });
  // Bare PUBLISH goes to channels of its own, with two plain subscribers (the streams' would check its ids).
  for (const b of [connect(), connect()]) await b.subscribe(...Array.from({ length: rooms }, (_, r) => `bare:room-${r}`));
  const limits = (i) => ({
    group: 'bench',
    buckets: [
      { key: `u:user-${i % 1000}`, rate: 100_000, burst: 100_000 },
      { key: 't', rate: 1_000_000, burst: 1_000_000 },
    ],
  });
  const ours = (i) => stream.publish({ tenantId: 'bench', room: `room-${i % rooms}` }, { from: `conn-${i % 1000}`, payload, timestamp: Date.now() }, { persistent: true, limits: limits(i) });
  const envelope = JSON.stringify({ m: { id: '0000000000000001-abcd', room: 'room-1', from: 'conn-1', payload, timestamp: Date.now(), persistent: true }, p: '' });
  const bare = (i) => client.publish(`bare:room-${i % rooms}`, envelope);
  // The least a script that publishes can cost: a turn's PUBLISHes of the bare envelope in one script
  // call, nothing else (no id, no storage, no bucket). Ours pays this too, and bare PUBLISH does not.
  const floorSha = await client.script('LOAD', "for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return #ARGV / 2");
  let turn = [];
  const floor = (i) =>
    new Promise((resolve, reject) => {
      if (turn.length === 0) {
        setImmediate(() => {
          const batch = turn;
          turn = [];
          client.evalsha(floorSha, 0, ...batch.flatMap((p) => [p.channel, envelope])).then(
            () => batch.forEach((p) => p.resolve()),
            (err) => batch.forEach((p) => p.reject(err)),
          );
        });
      }
      turn.push({ channel: `bare:room-${i % rooms}`, resolve, reject });
    });

  const paces = {
    '1/turn': async (n, fn) => {
      for (let i = 0; i < n; i++) await fn(i);
    },
    '10/turn': async (n, fn) => {
      for (let i = 0; i < n; i += 10) await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, k) => fn(i + k)));
    },
    burst: async (n, fn) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < n) await fn(next++);
        }),
      );
    },
  };
  const stats = async () => {
    const text = await client.info('commandstats');
    const out = {};
    for (const m of text.matchAll(/^cmdstat_(\w+):calls=(\d+),usec=(\d+)/gm)) out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
    return out;
  };
  // Redis's own CPU time (getrusage, microseconds): /proc's 10 ms ticks are too coarse for a burst of cheap PUBLISHes.
  const cpuMicros = async () => {
    const text = await client.info('cpu');
    const field = (name) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(text)?.[1] ?? NaN);
    return Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6);
  };
  async function measure(pace, fn) {
    await client.config('RESETSTAT');
    const cpu0 = await cpuMicros();
    const t0 = performance.now();
    await paces[pace](messages, fn);
    const ms = performance.now() - t0;
    const cpu = (await cpuMicros()) - cpu0;
    return { stats: await stats(), cpu, ms };
  }

  // Fill every room to its cap (and load the scripts, the batch one included).
  await paces.burst(rooms * retention.maxMessages + 1000, ours);
  await paces['1/turn'](100, ours);

  const results = [];
  for (const pace of Object.keys(paces)) {
    const o = await measure(pace, ours);
    const b = await measure(pace, bare);
    const f = await measure(pace, floor);
    const scripts = ['evalsha', 'eval'].reduce((sum, k) => sum + (o.stats[k]?.calls ?? 0), 0);
    const scriptUsec = ['evalsha', 'eval'].reduce((sum, k) => sum + (o.stats[k]?.usec ?? 0), 0);
    const innerStats = Object.entries(o.stats).filter(([k]) => !['evalsha', 'eval', 'info', 'config', 'script'].includes(k));
    const inner = innerStats.reduce((a, [, v]) => a + v.calls, 0);
    const innerUsec = innerStats.reduce((a, [, v]) => a + v.usec, 0);
    const r = {
      pace,
      oursRedisCpuMicrosPerMessage: round(o.cpu / messages),
      bareRedisCpuMicrosPerMessage: round(b.cpu / messages),
      floorRedisCpuMicrosPerMessage: round(f.cpu / messages),
      floorScriptUsecPerMessage: round(((f.stats.evalsha?.usec ?? 0) + (f.stats.eval?.usec ?? 0)) / messages),
      oursScriptUsecPerMessage: round(scriptUsec / messages),
      barePublishUsecPerMessage: round(b.stats.publish.usec / messages),
      oursRedisCallsPerMessage: round(inner / messages),
      // The script's time in the commands it calls, and the rest (the interpreter: its strings, tables, arguments).
      oursCommandUsecPerMessage: round(innerUsec / messages),
      oursInterpreterUsecPerMessage: round((scriptUsec - innerUsec) / messages),
      oursScriptCallsPerMessage: Math.round((scripts / messages) * 1000) / 1000,
      oursMsgsPerSec: Math.round((messages * 1000) / o.ms),
      bareMsgsPerSec: Math.round((messages * 1000) / b.ms),
      innerCalls: Object.fromEntries(Object.entries(o.stats).filter(([k]) => !['info', 'config'].includes(k)).map(([k, v]) => [k, v.calls])),
      innerUsec: Object.fromEntries(Object.entries(o.stats).filter(([k]) => !['info', 'config'].includes(k)).map(([k, v]) => [k, v.usec])),
    };
    r.cpuOverPublish = round(r.oursRedisCpuMicrosPerMessage / r.bareRedisCpuMicrosPerMessage);
    r.commandUsecOverPublish = round(r.oursScriptUsecPerMessage / r.barePublishUsecPerMessage);
    r.floorCpuOverPublish = round(r.floorRedisCpuMicrosPerMessage / r.bareRedisCpuMicrosPerMessage);
    results.push(r);
    process.stdout.write(
      `${pace.padEnd(8)} ours ${r.oursRedisCpuMicrosPerMessage} µs CPU/msg (script ${r.oursScriptUsecPerMessage} µs/msg: commands ${r.oursCommandUsecPerMessage}, interpreter ${r.oursInterpreterUsecPerMessage}; ${r.oursRedisCallsPerMessage} calls/msg, ${r.oursScriptCallsPerMessage} script calls/msg, ${r.oursMsgsPerSec} msgs/s)` +
        ` | bare PUBLISH ${r.bareRedisCpuMicrosPerMessage} µs CPU/msg (${r.barePublishUsecPerMessage} µs/msg, ${r.bareMsgsPerSec} msgs/s) | CPU ours/bare ${r.cpuOverPublish}` +
        ` | PUBLISH from a script ${r.floorRedisCpuMicrosPerMessage} µs CPU/msg (script ${r.floorScriptUsecPerMessage} µs/msg), over bare ${r.floorCpuOverPublish}\n`,
    );
  }
  const out = { tool: 'redis-cost', startedAt: new Date().toISOString(), label, dist, revision, messages, rooms, inFlight, retention, results };
  const dir = new URL('../results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`redis-cost-${out.startedAt.replace(/[:.]/g, '-')}.json`, dir);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`wrote ${file.pathname}\n`);
} finally {
  for (const c of connections) c.disconnect();
  await redis.stop();
}
