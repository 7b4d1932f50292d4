/**
 * Two or three instances over a private redis-server: cross-instance fan-out (publisher on
 * instance A, subscribers on the others) and persistent chat with every room spread over the
 * instances. Our server needs its Redis engine (REDIS_URL): when it refuses to start with
 * Redis, the table says so and the baseline is still measured.
 */
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { measureStep, sleep } from '../lib/measure.mjs';
import { machine, printTable, ratio, writeResult } from '../lib/report.mjs';
import { BENCH_SECRET, BENCH_TENANT, startBare, startOurs, startRedis } from '../lib/servers.mjs';
import { climb } from './chat.mjs';

export const CLUSTER_DEFAULTS = {
  instances: 2,
  fanoutClients: 1000,
  deliveryTargets: [25_000, 50_000, 100_000],
  chatClientsPerInstance: 500,
  roomSize: 10,
  inboundSteps: [500, 1000, 2000, 3000, 4000, 5000, 6000, 8000],
  stepMs: 4000,
  p99LimitMs: 50,
};
export const CLUSTER_SMOKE = {
  instances: 2,
  fanoutClients: 20,
  deliveryTargets: [200],
  chatClientsPerInstance: 10,
  roomSize: 10,
  inboundSteps: [20],
  stepMs: 700,
  p99LimitMs: 50,
  retries: 0,
};

async function startInstances(impl, n, redisUrl, opts) {
  const started = [];
  try {
    for (let i = 0; i < n; i++) {
      const name = `${impl}-${String.fromCharCode(65 + i)}`;
      started.push(impl === 'ours' ? await startOurs({ REDIS_URL: redisUrl }, { ...opts, name }) : await startBare({ REDIS_URL: redisUrl }, { ...opts, name }));
    }
    return started;
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw err;
  }
}

async function runOne(impl, p, redis, opts) {
  let instances;
  try {
    instances = await startInstances(impl, p.instances, redis.url, opts);
  } catch (err) {
    if (!err.startFailure) throw err;
    const first = String(err.message).split('\n').find((l) => /redis|engine|error/i.test(l) && !/exited with/.test(l)) ?? String(err.message).split('\n')[0];
    const reason = `refused to start with REDIS_URL: ${first.trim().slice(0, 300)}`;
    process.stdout.write(`  ${impl}: ${reason}\n`);
    return { refused: reason };
  }
  const redisProc = { name: 'redis', cpuMicros: redis.cpuMicros };
  const addresses = sourceAddresses();
  const secret = impl === 'ours' ? { secret: BENCH_SECRET } : {};
  const fleets = [];
  const fleet = (name, o) => {
    const f = new ClientFleet(`${impl}-${name}`, { tenantId: BENCH_TENANT, addresses, ...secret, ...o });
    fleets.push(f);
    return f;
  };
  try {
    // 1. Cross-instance fan-out: the publisher on A, the subscribers on the other instances.
    const others = instances.slice(1);
    const per = Math.ceil(p.fanoutClients / others.length);
    const subs = others.map((s, i) => fleet(`fan-${s.name}`, { url: s.url, count: per, indexBase: i * per, userPrefix: 'xfan-', workers: per >= 500 ? 2 : 1 }));
    const pub = fleet('publisher', { url: instances[0].url, count: 1, userPrefix: 'xpub-' });
    for (const f of [...subs, pub]) await f.connect();
    for (const f of [...subs, pub]) await f.join({ room: 'xfanout' });
    await sleep(500);
    const members = per * others.length;
    const fanSteps = [];
    for (const [i, target] of p.deliveryTargets.entries()) {
      const step = await measureStep({ servers: [...instances, redisProc], senders: pub, receivers: subs, rate: target / members, membersPerMessage: members, durationMs: p.stepMs, phase: 200 + i, settleMs: 500 });
      fanSteps.push(step);
      process.stdout.write(`  ${impl} cross-instance fan-out ${target}/s: ${step.deliveriesPerSec}/s (${step.deliveredFraction}), p50 ${step.latency.p50Ms} ms, p99 ${step.latency.p99Ms} ms, ${step.cpuMicrosPerDelivery} µs/delivery, cpu ${step.cpu.map((c) => `${c.name} ${c.cpuPercent}%`).join(' ')}\n`);
      if ((step.deliveredFraction ?? 1) < 0.5 || (step.latency.p99Ms ?? 0) > 5000) break;
      await sleep(500);
    }
    await Promise.allSettled([...subs, pub].map((f) => f.close()));

    // 2. Persistent chat: every room has members on every instance.
    const share = Math.max(1, Math.floor(p.roomSize / instances.length));
    const chatFleets = instances.map((s, i) => fleet(`chat-${s.name}`, { url: s.url, count: p.chatClientsPerInstance, userPrefix: `xchat${i}-` }));
    for (const f of chatFleets) await f.connect();
    for (const f of chatFleets) await f.join({ prefix: 'xchat-', groupSize: share });
    await sleep(500);
    const chat = await climb({ impl, servers: [...instances, redisProc], fleets: chatFleets, p, persistent: true, members: share * instances.length - 1 });
    return { instances: instances.length, fanout: fanSteps, persistentChat: chat };
  } finally {
    await Promise.allSettled(fleets.map((f) => f.close()));
    await Promise.allSettled(instances.map((s) => s.stop()));
  }
}

export async function cluster(params = CLUSTER_DEFAULTS, opts = {}) {
  const p = { ...CLUSTER_DEFAULTS, ...params };
  const startedAt = new Date().toISOString();
  const redis = await startRedis();
  if (redis.error) {
    const table = printTable('cluster over Redis', [['redis-server', `not available: ${redis.error}`, '-', null]]);
    const result = { scenario: 'cluster', startedAt, machine: machine(), params: p, redisError: redis.error, table };
    result.file = writeResult('cluster', result);
    return result;
  }
  let ours;
  let bare;
  try {
    ours = await runOne('ours', p, redis, opts);
    bare = await runOne('bare', p, redis, opts);
  } finally {
    await redis.stop();
  }
  const head = (r) => r.fanout?.find((s) => s.targetDeliveriesPerSec === p.deliveryTargets.at(-1)) ?? r.fanout?.at(-1);
  const o = ours.refused ? undefined : head(ours);
  const b = bare.refused ? undefined : head(bare);
  const maxIn = (r) => r.persistentChat?.best?.inboundPerSec ?? (r.refused ? null : 0);
  const rows = [
    ...(ours.refused ? [['ours', ours.refused, '', null]] : []),
    ...(bare.refused ? [['bare', '', bare.refused, null]] : []),
    [`cross-instance fan-out at ${o?.targetDeliveriesPerSec ?? b?.targetDeliveriesPerSec ?? '-'}/s: deliveries/s`, o?.deliveriesPerSec, b?.deliveriesPerSec, ratio(o?.deliveriesPerSec, b?.deliveriesPerSec)],
    ['  delivered fraction', o?.deliveredFraction, b?.deliveredFraction, ratio(o?.deliveredFraction, b?.deliveredFraction)],
    ['  latency p50 ms', o?.latency.p50Ms, b?.latency.p50Ms, ratio(o?.latency.p50Ms, b?.latency.p50Ms)],
    ['  latency p99 ms', o?.latency.p99Ms, b?.latency.p99Ms, ratio(o?.latency.p99Ms, b?.latency.p99Ms)],
    ['  CPU µs / delivery (all instances)', o?.cpuMicrosPerDelivery, b?.cpuMicrosPerDelivery, ratio(o?.cpuMicrosPerDelivery, b?.cpuMicrosPerDelivery)],
    ['  CPU % per process', o?.cpu.map((c) => `${c.name} ${c.cpuPercent}`).join(', '), b?.cpu.map((c) => `${c.name} ${c.cpuPercent}`).join(', '), null],
    [`persistent chat: max inbound msgs/s at p99 <= ${p.p99LimitMs} ms`, maxIn(ours), maxIn(bare), ratio(maxIn(ours), maxIn(bare))],
  ];
  const table = printTable(`cluster: ${p.instances} instances over Redis (bare: @socket.io/redis-adapter, ignores "persistent")`, rows);
  const result = { scenario: 'cluster', startedAt, machine: machine(), params: p, ours, bare, table };
  result.file = writeResult('cluster', result);
  return result;
}
