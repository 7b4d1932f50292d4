/**
 * Handshakes: how fast clients connect (open, CONNECT with a token, `connection:established`),
 * ours (authentication, admission, connection registry, revocation check, metrics) against
 * bare Socket.IO, all clients at once with a fixed number of handshakes in flight. One instance,
 * then three instances sharing one private redis-server. Each side runs `rounds` times, the order
 * alternating, and each round's clients disconnect before the next. Figures: connects/s (the
 * wall clock, load generator on the same cores) and server CPU µs per connect (the steadier one).
 */
import { ClientFleet, sourceAddresses } from '../lib/loadgen.mjs';
import { round } from '../lib/hist.mjs';
import { sleep } from '../lib/measure.mjs';
import { machine, printTable, ratio, writeResult } from '../lib/report.mjs';
import { BENCH_SECRET, BENCH_TENANT, startBare, startOurs, startRedis } from '../lib/servers.mjs';
import { startInstances } from './cluster.mjs';

export const CONNECT_DEFAULTS = { single: 8000, cluster: 12_000, instances: 3, rounds: 2, concurrency: 40, settleMs: 1500 };
export const CONNECT_SMOKE = { single: 60, cluster: 90, instances: 3, rounds: 1, concurrency: 10, settleMs: 100 };

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : null;
};

/** One round: `count` clients spread over `servers`, connected at once; then all disconnected. */
async function connectRound(impl, servers, count, p, tag) {
  const addresses = sourceAddresses();
  const per = Math.ceil(count / servers.length);
  const secret = impl === 'ours' ? { secret: BENCH_SECRET } : {};
  const fleets = servers.map(
    (s, i) => new ClientFleet(`${impl}-${tag}-${i}`, { url: s.url, tenantId: BENCH_TENANT, addresses, count: per, indexBase: i * per, userPrefix: `${tag}-`, concurrency: p.concurrency, ...secret }),
  );
  try {
    await Promise.all(fleets.map((f) => f.prepare()));
    const cpu0 = await Promise.all(servers.map((s) => s.probe()));
    const redis0 = p.redis?.cpuMicros() ?? null;
    const started = Date.now();
    const results = await Promise.all(fleets.map((f) => f.connect()));
    const ms = Date.now() - started;
    const cpu1 = await Promise.all(servers.map((s) => s.probe()));
    const redis1 = p.redis?.cpuMicros() ?? null;
    const connected = results.reduce((a, r) => a + r.connected, 0);
    const overloaded = results.reduce((a, r) => a + r.overloadedRefusals, 0);
    const cpuMicros = cpu1.reduce((a, c, i) => a + c.cpu.userMicros + c.cpu.systemMicros - cpu0[i].cpu.userMicros - cpu0[i].cpu.systemMicros, 0);
    const errs = await Promise.all(fleets.map((f) => f.collect()));
    const errors = errs.reduce((a, x) => a + x.errors, 0);
    const errorSamples = [...new Set(errs.flatMap((x) => x.errorSamples))].slice(0, 5);
    const r = {
      impl,
      instances: servers.length,
      target: per * servers.length,
      connected,
      ms,
      connectsPerSec: ms > 0 ? round((connected * 1000) / ms, 0) : null,
      serverCpuMicrosPerConnect: connected ? round(cpuMicros / connected, 1) : null,
      redisCpuMicrosPerConnect: connected && redis0 !== null && redis1 !== null ? round((redis1 - redis0) / connected, 1) : null,
      loopStallMaxMs: Math.max(...cpu1.map((c) => c.since?.loopStallMaxMs ?? 0)),
      overloadedRefusals: overloaded,
      errors,
      errorSamples,
    };
    process.stdout.write(
      `  ${impl} ${tag}: ${connected}/${r.target} in ${ms} ms, ${r.connectsPerSec} connects/s, ${r.serverCpuMicrosPerConnect} µs server CPU per connect` +
        `${r.redisCpuMicrosPerConnect !== null ? `, Redis ${r.redisCpuMicrosPerConnect} µs` : ''}, loop stalled up to ${r.loopStallMaxMs} ms` +
        `${overloaded ? `, ${overloaded} handshakes refused OVERLOADED and retried` : ''}${errors ? `, ${errors} errors (${errorSamples.join('; ')})` : ''}\n`,
    );
    return r;
  } finally {
    await Promise.allSettled(fleets.map((f) => f.close()));
    await sleep(p.settleMs);
  }
}

/** Both sides, `rounds` times each, alternating which goes first. */
async function alternate(p, start, count, tag) {
  const sides = { ours: await start('ours'), bare: await start('bare') };
  const runs = { ours: [], bare: [] };
  try {
    // Warm both up: code compiled on first use is not counted.
    for (const impl of ['ours', 'bare']) await connectRound(impl, sides[impl], Math.min(200, count), p, `${tag}-warm`);
    for (let k = 0; k < p.rounds; k++) {
      for (const impl of k % 2 === 0 ? ['ours', 'bare'] : ['bare', 'ours']) runs[impl].push(await connectRound(impl, sides[impl], count, p, `${tag}-${k}`));
    }
  } finally {
    await Promise.allSettled([...sides.ours, ...sides.bare].map((s) => s.stop()));
  }
  const summary = (rs) => ({
    connectsPerSec: median(rs.map((r) => r.connectsPerSec)),
    serverCpuMicrosPerConnect: median(rs.map((r) => r.serverCpuMicrosPerConnect)),
    redisCpuMicrosPerConnect: median(rs.map((r) => r.redisCpuMicrosPerConnect)),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    overloadedRefusals: rs.reduce((a, r) => a + r.overloadedRefusals, 0),
    connected: Math.min(...rs.map((r) => r.connected)),
    target: rs[0]?.target,
    rounds: rs,
  });
  return { ours: summary(runs.ours), bare: summary(runs.bare) };
}

export async function connect(params = CONNECT_DEFAULTS, opts = {}) {
  const p = { ...CONNECT_DEFAULTS, ...params };
  const startedAt = new Date().toISOString();
  const single = await alternate(p, async (impl) => [impl === 'ours' ? await startOurs({}, opts) : await startBare({}, opts)], p.single, 'one');
  let cluster;
  const redis = await startRedis();
  if (redis.error) cluster = { redisError: redis.error };
  else {
    try {
      cluster = await alternate({ ...p, redis }, (impl) => startInstances(impl, p.instances, redis.url, opts), p.cluster, 'three');
    } finally {
      await redis.stop();
    }
  }
  const rows = [];
  const add = (label, o, b) => {
    rows.push([`${label}: connects/s`, o.connectsPerSec, b.connectsPerSec, ratio(o.connectsPerSec, b.connectsPerSec)]);
    rows.push([`${label}: server CPU µs per connect`, o.serverCpuMicrosPerConnect, b.serverCpuMicrosPerConnect, ratio(o.serverCpuMicrosPerConnect, b.serverCpuMicrosPerConnect)]);
    if (o.redisCpuMicrosPerConnect !== null) rows.push([`${label}: Redis CPU µs per connect`, o.redisCpuMicrosPerConnect, b.redisCpuMicrosPerConnect, ratio(o.redisCpuMicrosPerConnect, b.redisCpuMicrosPerConnect)]);
    rows.push([`${label}: connected / errors`, `${o.connected} / ${o.errors}`, `${b.connected} / ${b.errors}`, null]);
    rows.push([`${label}: refused OVERLOADED, retried`, o.overloadedRefusals, b.overloadedRefusals, null]);
  };
  add(`one instance, ${p.single} clients`, single.ours, single.bare);
  if (cluster?.redisError) rows.push([`${p.instances} instances over Redis`, `redis-server not available: ${cluster.redisError}`, '-', null]);
  else add(`${p.instances} instances over Redis, ${p.cluster} clients`, cluster.ours, cluster.bare);
  const table = printTable(`handshakes: all at once, ${p.concurrency} in flight per load worker (median of ${p.rounds})`, rows);
  const result = { scenario: 'connect', startedAt, machine: machine(), params: p, single, cluster, table };
  result.file = writeResult('connect', result);
  return result;
}
