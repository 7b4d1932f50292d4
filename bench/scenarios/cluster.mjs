/**
 * Two or three instances over a private redis-server: cross-instance fan-out (publisher on
 * instance A, subscribers on the others: the worst case, one instance does every write),
 * the same fan-out with the subscribers spread over every instance (as a load balancer
 * spreads clients), and persistent chat with every room spread over the instances. Our server needs its Redis engine (REDIS_URL): when it refuses to start with
 * Redis, the table says so and the baseline is still measured.
 */
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { measureStep, pausesText, sleep } from '../lib/measure.mjs';
import { machine, printTable, ratio, writeResult } from '../lib/report.mjs';
import { BENCH_SECRET, BENCH_TENANT, startBare, startOurs, startRedis } from '../lib/servers.mjs';
import { climbAll } from './chat.mjs';

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

/** `n` instances of one implementation on one Redis, named A, B, C...; all stopped again if one fails to start. */
export async function startInstances(impl, n, redisUrl, opts) {
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

async function setUp(impl, p, redis, opts, cleanup) {
  let instances;
  try {
    instances = await startInstances(impl, p.instances, redis.url, opts);
  } catch (err) {
    if (!err.startFailure) throw err;
    const first = String(err.message).split('\n').find((l) => /redis|engine|error/i.test(l) && !/exited with/.test(l)) ?? String(err.message).split('\n')[0];
    const reason = `refused to start with REDIS_URL: ${first.trim().slice(0, 300)}`;
    process.stdout.write(`  ${impl}: ${reason}\n`);
    return { impl, refused: reason };
  }
  cleanup.push(() => Promise.allSettled(instances.map((s) => s.stop())));
  const addresses = sourceAddresses();
  const secret = impl === 'ours' ? { secret: BENCH_SECRET } : {};
  const fleet = (name, o) => {
    const f = new ClientFleet(`${impl}-${name}`, { tenantId: BENCH_TENANT, addresses, ...secret, ...o });
    cleanup.unshift(() => f.close());
    return f;
  };
  return { impl, instances, fleet, servers: [...instances, { name: 'redis', cpuMicros: redis.cpuMicros }], result: { instances: instances.length, fanout: [], spreadFanout: [] } };
}

/** Cross-instance fan-out: the publisher on A, the subscribers on the other instances. */
async function fanoutFleets(side, p) {
  const others = side.instances.slice(1);
  const per = Math.ceil(p.fanoutClients / others.length);
  const subs = others.map((s, i) => side.fleet(`fan-${s.name}`, { url: s.url, count: per, indexBase: i * per, userPrefix: 'xfan-', workers: per >= 500 ? 2 : 1 }));
  const pub = side.fleet('publisher', { url: side.instances[0].url, count: 1, userPrefix: 'xpub-' });
  for (const f of [...subs, pub]) await f.connect();
  for (const f of [...subs, pub]) await f.join({ room: 'xfanout' });
  return { subs, pub, members: per * others.length };
}

/** Fan-out with the subscribers spread evenly over every instance, the publisher on A. */
async function spreadFleets(side, p) {
  const per = Math.ceil(p.fanoutClients / side.instances.length);
  const subs = side.instances.map((s, i) => side.fleet(`spread-${s.name}`, { url: s.url, count: per, indexBase: i * per, userPrefix: 'sfan-', workers: per >= 500 ? 2 : 1 }));
  const pub = side.fleet('spread-publisher', { url: side.instances[0].url, count: 1, userPrefix: 'spub-' });
  for (const f of [...subs, pub]) await f.connect();
  for (const f of [...subs, pub]) await f.join({ room: 'sfanout' });
  return { subs, pub, members: per * side.instances.length };
}

/** " (subscribers on A: p50 3 / p99 9 ms, on B: ...)" when the subscribers are on several instances. */
function byInstance(step, subs) {
  if (!step.latencyByReceiver) return '';
  const parts = step.latencyByReceiver.map((l, i) => `${subs[i].name.replace(/^.*-/, '')}: p50 ${l.p50Ms} / p99 ${l.p99Ms} ms`);
  return ` (subscribers on ${parts.join(', on ')})`;
}

/** One fan-out phase (`key` in the result: fanout or spreadFanout), both implementations in turn at every rate. */
async function fanoutPhase(live, p, key, label, makeFleets, phaseBase) {
  for (const side of live) side[key] = { fleets: await makeFleets(side, p), stopped: false };
  await sleep(500);
  for (const [i, target] of p.deliveryTargets.entries()) {
    for (const side of i % 2 ? [...live].reverse() : live) {
      const phase = side[key];
      if (phase.stopped) continue;
      const { subs, pub, members } = phase.fleets;
      const step = await measureStep({ servers: side.servers, senders: pub, receivers: subs, rate: target / members, membersPerMessage: members, durationMs: p.stepMs, phase: phaseBase + i, settleMs: 500 });
      side.result[key].push(step);
      process.stdout.write(`  ${side.impl} ${label} ${target}/s: ${step.deliveriesPerSec}/s (${step.deliveredFraction}), p50 ${step.latency.p50Ms} ms, p99 ${step.latency.p99Ms} ms${byInstance(step, subs)}, ${step.cpuMicrosPerDelivery} µs/delivery, cpu ${step.cpu.map((c) => `${c.name} ${c.cpuPercent}%`).join(' ')}${pausesText(step)}\n`);
      if ((step.deliveredFraction ?? 1) < 0.5 || (step.latency.p99Ms ?? 0) > 5000) phase.stopped = true;
      await sleep(500);
    }
  }
  for (const side of live) await Promise.allSettled([...side[key].fleets.subs, side[key].fleets.pub].map((f) => f.close()));
}

/** Chat with every room spread over the instances. */
async function chatFleets(side, p) {
  const share = Math.max(1, Math.floor(p.roomSize / side.instances.length));
  const fleets = side.instances.map((s, i) => side.fleet(`chat-${s.name}`, { url: s.url, count: p.chatClientsPerInstance, userPrefix: `xchat${i}-` }));
  for (const f of fleets) await f.connect();
  for (const f of fleets) await f.join({ prefix: 'xchat-', groupSize: share });
  return { fleets, members: share * side.instances.length - 1 };
}

async function measureBoth(sides, p) {
  const live = sides.filter((s) => !s.refused);
  // 1. Cross-instance fan-out (every subscriber on the other instances), then spread over all of them.
  await fanoutPhase(live, p, 'fanout', 'cross-instance fan-out', fanoutFleets, 200);
  await fanoutPhase(live, p, 'spreadFanout', 'fan-out spread over the instances', spreadFleets, 250);
  // 3. Persistent chat, interleaved the same way.
  for (const side of live) side.chat = await chatFleets(side, p);
  await sleep(500);
  const climbed = await climbAll(
    live.map((side) => ({ label: `${side.impl} persistent`, servers: side.servers, fleets: side.chat.fleets, persistent: true, members: side.chat.members })),
    p,
  );
  live.forEach((side, k) => (side.result.persistentChat = climbed[k]));
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
  const cleanup = [];
  try {
    const sides = [await setUp('ours', p, redis, opts, cleanup), await setUp('bare', p, redis, opts, cleanup)];
    await measureBoth(sides, p);
    [ours, bare] = sides.map((s) => (s.refused ? { refused: s.refused } : s.result));
  } finally {
    for (const fn of cleanup) await fn().catch(() => {});
    await redis.stop();
  }
  const head = (steps) => steps?.find((s) => s.targetDeliveriesPerSec === p.deliveryTargets.at(-1)) ?? steps?.at(-1);
  const o = ours.refused ? undefined : head(ours.fanout);
  const b = bare.refused ? undefined : head(bare.fanout);
  const so = ours.refused ? undefined : head(ours.spreadFanout);
  const sb = bare.refused ? undefined : head(bare.spreadFanout);
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
    [`fan-out spread over the instances at ${so?.targetDeliveriesPerSec ?? sb?.targetDeliveriesPerSec ?? '-'}/s: deliveries/s`, so?.deliveriesPerSec, sb?.deliveriesPerSec, ratio(so?.deliveriesPerSec, sb?.deliveriesPerSec)],
    ['  delivered fraction', so?.deliveredFraction, sb?.deliveredFraction, ratio(so?.deliveredFraction, sb?.deliveredFraction)],
    ['  latency p50 ms', so?.latency.p50Ms, sb?.latency.p50Ms, ratio(so?.latency.p50Ms, sb?.latency.p50Ms)],
    ['  latency p99 ms', so?.latency.p99Ms, sb?.latency.p99Ms, ratio(so?.latency.p99Ms, sb?.latency.p99Ms)],
    ['  CPU µs / delivery (all instances)', so?.cpuMicrosPerDelivery, sb?.cpuMicrosPerDelivery, ratio(so?.cpuMicrosPerDelivery, sb?.cpuMicrosPerDelivery)],
    ['  CPU % per process', so?.cpu.map((c) => `${c.name} ${c.cpuPercent}`).join(', '), sb?.cpu.map((c) => `${c.name} ${c.cpuPercent}`).join(', '), null],
    [`persistent chat: max inbound msgs/s at p99 <= ${p.p99LimitMs} ms`, maxIn(ours), maxIn(bare), ratio(maxIn(ours), maxIn(bare))],
  ];
  const table = printTable(`cluster: ${p.instances} instances over Redis (bare: @socket.io/redis-adapter, ignores "persistent")`, rows);
  const result = { scenario: 'cluster', startedAt, machine: machine(), params: p, ours, bare, table };
  result.file = writeResult('cluster', result);
  return result;
}
